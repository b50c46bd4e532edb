import ArgumentParser
import Foundation
import Orchestrator
import Sweep
import TrialContract

struct DispatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Orchestrator overhead: zero-length trials per second, efficiency on short trials, metric ingest.",
        discussion: """
        Runs real `lpft worker` processes against an in-process coordinator over IPC, with a \
        real journal in a temporary directory. (a) --quick-trials zero-duration noop trials: \
        trials/s and coordinator CPU per trial; (b) --short-trials trials of --short-ms: wall \
        time against the ideal (trials × ms / workers) as an efficiency; (c) one simulated \
        worker streams --metric-rows rows in batches of --batch: rows/s committed and ACKed. \
        Each part runs --repeats times; medians are printed.
        """)

    @Option(help: "Worker processes.") var workers = 16
    @Option(help: "Zero-duration trials for (a).") var quickTrials = 5000
    @Option(help: "Trials for (b).") var shortTrials = 400
    @Option(help: "Milliseconds per trial in (b).") var shortMs = 200
    @Option(help: "Metric rows for (c).") var metricRows = 200_000
    @Option(help: "Rows per METRIC message in (c).") var batch = 100
    @Option(help: "Repetitions of each part.") var repeats = 3
    @Flag(help: "Encrypt and authenticate with CURVE (as across machines).") var curve = false
    // A string, not `JournalDurability`: its ArgumentParser conformance is the command line's
    // (`sweep run --durability`), and one conformance in two modules would be ambiguous.
    @Option(help: "The journal's durability: normal or full (a sync per commit).") var durability = JournalDurability.normal.rawValue
    @Flag(help: "Instead of (a)–(c): --quick-trials zero-duration trials with and without a prune rule (ft/loss at epochs 1 and 2, eta 3), interleaved, --repeats times each; the coordinator's CPU per trial of both and their ratio.") var prune = false

    func validate() throws {
        guard JournalDurability(rawValue: durability) != nil else { throw ValidationError("--durability is normal or full, not \(durability)") }
    }

    func run() throws {
        let benchmark = DispatchBenchmark(workers: workers, metricRows: metricRows, batch: batch, curve: curve, durability: JournalDurability(rawValue: durability) ?? .normal)
        if prune { return try PruningBenchmark(dispatch: benchmark, trials: quickTrials).run(repeats: repeats) { print($0) } }
        try benchmark.run(quickTrials: quickTrials, shortTrials: shortTrials, shortMs: shortMs, repeats: repeats) { print($0) }
    }
}

struct SimulateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Coordinator CPU, memory and journal size per trial at scale: the real dispatcher and journal against simulated, faulty workers.",
        discussion: "A seeded discrete-event simulation on a virtual clock, without sockets: workers die, stall past their leases, are partitioned and lose ACKs. Exits 1 unless every trial completed exactly once, no lease is left held and no late result counted. Build with -c release.")

    @Option(help: "Simulated workers.") var workers = 1000
    @Option(help: "Trials.") var trials = 100_000
    @Option(help: "Seed of every random draw: the same seed replays the same run.") var seed: UInt64 = 1
    @Option(help: "The most seconds the coordinator lets messages gather into one turn (20 µs per worker up to this).") var maxTurnSpacing = DispatchSettings().maxTurnSpacing
    @Option(help: "Leave the journal in this new sweep directory (default: a temporary one, removed).") var keep: String?

    func run() throws {
        print(try DispatchSimulation.run(SimulationSettings(workers: workers, trials: trials, seed: seed, maxTurnSpacing: maxTurnSpacing), keeping: keep.map(URL.init(fileURLWithPath:))).text)
    }
}

struct ShipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ship",
        abstract: "Shipping a pinned input to a worker that lacks it: MB/s plain and with CURVE, and dispatch's rate while it runs.",
        discussion: """
        An in-process coordinator ships a --megabytes file over IPC to a fetching worker thread \
        (the real fetcher: pieces verified, hashed and committed to a content cache). Then \
        --workers `lpft worker` processes run --trials zero-duration trials, once with the \
        fetcher idle and once with it fetching the file over and over: the ratio of the two \
        rates is the transfer's cost to dispatch. Each part runs plain and with CURVE, \
        --repeats times; medians are printed. Build with -c release.
        """)

    @Option(help: "The shipped file's size in MB.") var megabytes = 256
    @Option(help: "Worker processes in the dispatch part (0 skips it).") var workers = 4
    @Option(help: "Zero-duration trials in the dispatch part.") var trials = 2000
    @Option(help: "Repetitions of each part.") var repeats = 3

    func run() throws {
        try ShippingBenchmark(megabytes: megabytes, workers: workers, trials: trials).run(repeats: repeats) { print($0) }
    }
}

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Reading a journal's JSON as a report does: every trial's axes, config and result, by JSONText against Foundation's JSONSerialization.",
        discussion: """
        Decodes each text of the sweep's journal into a `ConfigValue` two ways, after a warm-up \
        pass of each, --repeats times, taking turns at going first: `ConfigValue.parse(json:)` \
        (JSONText's strict reader, what reports use) and `JSONSerialization` bridged by \
        `ConfigValue(_: Any)` (how reports read axes and configs before; results they read \
        with JSONSerialization too, but bridged only four fields, so for results the peer does \
        a little more than they did). Prints the median CPU µs per trial of each, their ratio, \
        and how far apart the values are (JSONSerialization on Linux reads some numbers a few \
        units in the last place away). Build with -c release.
        """)

    @Argument(help: "A sweep directory (its journal.sqlite is read, never written).") var sweep: String
    @Option(help: "Repetitions of each way.") var repeats = 5

    func run() throws {
        let rows = try Journal(readingDirectory: URL(fileURLWithPath: sweep)).trialTexts()
        guard !rows.isEmpty else { throw ValidationError("\(sweep): the journal has no trials") }
        let texts = rows.flatMap { [$0.axes, $0.config] + ($0.result.map { [$0] } ?? []) }, trials = Double(rows.count)
        func foundation(_ text: String) -> ConfigValue? {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))).map(ConfigValue.init)
        }
        // CPU seconds, not wall time: steadier on a shared machine, and both ways run on one thread.
        func cpuSeconds(_ body: () -> Void) -> Double {
            let start = processCPUSeconds()
            body()
            return processCPUSeconds() - start
        }
        let readTheirs = { cpuSeconds { for t in texts { _ = foundation(t) } } }
        let readOurs = { cpuSeconds { for t in texts { _ = ConfigValue(json: t) } } }
        _ = (readTheirs(), readOurs())
        var ours: [Double] = [], theirs: [Double] = []
        for i in 0..<max(1, repeats) {
            if i % 2 == 0 {
                theirs.append(readTheirs())
                ours.append(readOurs())
            } else {
                ours.append(readOurs())
                theirs.append(readTheirs())
            }
        }
        let pairs = texts.map { (foundation($0), ConfigValue(json: $0)) }
        let different = pairs.filter { $0 != $1 }.count
        let distances = pairs.map { a, b in a.flatMap { a in b.flatMap { Self.ulps(a, $0) } } ?? (a == nil && b == nil ? 0 : nil) }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        print(String(format: "%d trials, %d texts, %.1f MB", Int(trials), texts.count, Double(texts.reduce(0) { $0 + $1.utf8.count }) / 1e6))
        print(String(format: "JSONSerialization: %.1f µs per trial (median of %d)", median(theirs) / trials * 1e6, theirs.count))
        print(String(format: "JSONText:          %.1f µs per trial; ratio %.3f (median of the %d ratios)", median(ours) / trials * 1e6,
                     median(zip(ours, theirs).map { $0 / $1 }), ours.count))
        print("texts read to different values: \(different) of \(texts.count), of which \(distances.filter { $0 == nil }.count) differ in more than numbers' last digits; "
              + "numbers at most \(Int(distances.compactMap { $0 }.max() ?? 0)) units in the last place apart")
        if median(theirs) == 0 { print("(too few texts to time: the CPU clock did not advance)") }
    }

    /// The most units in the last place any number of `a` is from the same number of `b` (by
    /// their bit patterns, so counted exactly across a power of two); nil when they differ in
    /// anything but numbers' values, or in a number's sign.
    static func ulps(_ a: ConfigValue, _ b: ConfigValue) -> Double? {
        if let x = a.double, let y = b.double {
            guard x != y else { return 0 }
            guard x.sign == y.sign, x.isFinite, y.isFinite else { return nil }
            return Double(x.bitPattern > y.bitPattern ? x.bitPattern - y.bitPattern : y.bitPattern - x.bitPattern)
        }
        switch (a, b) {
        case let (.list(x), .list(y)):
            guard x.count == y.count else { return nil }
            return zip(x, y).reduce(0) { worst, pair in worst.flatMap { w in ulps(pair.0, pair.1).map { max(w, $0) } } }
        case let (.mapping(x), .mapping(y)):
            guard x.count == y.count else { return nil }
            return x.reduce(0) { worst, entry in worst.flatMap { w in y[entry.key].flatMap { ulps(entry.value, $0) }.map { max(w, $0) } } }
        default: return a == b ? 0 : nil
        }
    }
}
