import ArgumentParser
import Cluster
import Foundation
import Sweep

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
    @Option(help: "The journal's durability: normal or full (a sync per commit).") var durability = JournalDurability.normal

    func run() throws {
        let bench = DispatchBenchmark(workers: workers, metricRows: metricRows, batch: batch, curve: curve, durability: durability)
        var quick: [(rate: Double, cpu: Double)] = []
        var short: [Double] = []
        var ingest: [Double] = []
        for r in 1...repeats {
            let (wall, cpu) = try bench.sweep(trials: quickTrials, durationMs: 0)
            quick.append((Double(quickTrials) / wall, cpu / Double(quickTrials)))
            print(String(format: "[%d] (a) %d zero-duration trials on %d workers: %.2f s, %.0f trials/s, coordinator CPU %.3f ms/trial",
                         r, quickTrials, workers, wall, quick.last!.rate, quick.last!.cpu * 1000))
            let (shortWall, _) = try bench.sweep(trials: shortTrials, durationMs: shortMs)
            let ideal = Double(shortTrials * shortMs) / 1000 / Double(workers)
            short.append(ideal / shortWall)
            print(String(format: "[%d] (b) %d × %d ms trials on %d workers: %.2f s (ideal %.2f s), efficiency %.1f%%",
                         r, shortTrials, shortMs, workers, shortWall, ideal, 100 * short.last!))
            ingest.append(try bench.ingestRate())
            print(String(format: "[%d] (c) %d metric rows in batches of %d: %.0f rows/s", r, metricRows, batch, ingest.last!))
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        print(String(format: "median: (a) %.0f trials/s, %.3f ms coordinator CPU per trial; (b) efficiency %.1f%%; (c) %.0f metric rows/s",
                     median(quick.map(\.rate)), median(quick.map(\.cpu)) * 1000, 100 * median(short), median(ingest)))
    }
}
