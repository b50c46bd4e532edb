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
        try DispatchBenchmark(workers: workers, metricRows: metricRows, batch: batch, curve: curve, durability: durability)
            .run(quickTrials: quickTrials, shortTrials: shortTrials, shortMs: shortMs, repeats: repeats) { print($0) }
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
    @Option(help: "Seconds between the coordinator's turns while messages wait.") var turnSpacing = 0.005
    @Option(help: "Leave the journal in this new sweep directory (default: a temporary one, removed).") var keep: String?

    func run() throws {
        print(try DispatchSimulation.run(SimulationSettings(workers: workers, trials: trials, seed: seed, turnSpacing: turnSpacing), keeping: keep.map(URL.init(fileURLWithPath:))).text)
    }
}
