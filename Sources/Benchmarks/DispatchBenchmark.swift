import Foundation
import Logging
import Orchestrator
import Sweep
import SweepApp
import TrialContract
import Wire

/// `lpft bench dispatch`: the orchestrator's overhead with real worker processes against an
/// in-process coordinator over IPC, with a real journal in a temporary directory.
public struct DispatchBenchmark {
    public let workers: Int
    public let metricRows: Int
    /// Rows per METRIC message in the ingest benchmark.
    public let batch: Int
    /// Encrypt and authenticate with CURVE (as across machines).
    public let curve: Bool
    public let durability: JournalDurability

    public init(workers: Int, metricRows: Int, batch: Int, curve: Bool, durability: JournalDurability = .normal) {
        self.workers = workers
        self.metricRows = metricRows
        self.batch = batch
        self.curve = curve
        self.durability = durability
    }

    /// Runs the three parts `repeats` times, telling `say` each round's figures as it ends,
    /// and then their medians.
    public func run(quickTrials: Int, shortTrials: Int, shortMs: Int, repeats: Int, say: (String) -> Void) throws {
        var quick: [(rate: Double, cpu: Double)] = []
        var short: [Double] = []
        var ingest: [Double] = []
        for r in 1...repeats {
            let (wall, cpu, _) = try sweep(trials: quickTrials, durationMs: 0)
            quick.append((Double(quickTrials) / wall, cpu / Double(quickTrials)))
            say(String(format: "[%d] (a) %d zero-duration trials on %d workers: %.2f s, %.0f trials/s, coordinator CPU %.3f ms/trial",
                       r, quickTrials, workers, wall, quick.last!.rate, quick.last!.cpu * 1000))
            let (shortWall, _, _) = try sweep(trials: shortTrials, durationMs: shortMs)
            let ideal = Double(shortTrials * shortMs) / 1000 / Double(workers)
            short.append(ideal / shortWall)
            say(String(format: "[%d] (b) %d × %d ms trials on %d workers: %.2f s (ideal %.2f s), efficiency %.1f%%",
                       r, shortTrials, shortMs, workers, shortWall, ideal, 100 * short.last!))
            ingest.append(try ingestRate())
            say(String(format: "[%d] (c) %d metric rows in batches of %d: %.0f rows/s", r, metricRows, batch, ingest.last!))
        }
        say(String(format: "median: (a) %.0f trials/s, %.3f ms coordinator CPU per trial; (b) efficiency %.1f%%; (c) %.0f metric rows/s",
                   median(quick.map(\.rate)), median(quick.map(\.cpu)) * 1000, 100 * median(short), median(ingest)))
    }

    /// Runs a noop sweep on `workers` worker processes; returns wall seconds, coordinator CPU
    /// seconds and the trials pruned (with `settings.prune`: they count as settled too).
    public func sweep(trials: Int, durationMs: Int, settings: DispatchSettings = DispatchSettings()) throws -> (Double, Double, Int) {
        let setup = try BenchSweep(curve: curve, durability: durability, configs: (0..<trials).map { "{\"method\":\"noop\",\"duration_ms\":\(durationMs),\"seed\":\($0)}" })
        defer { setup.remove() }
        let pool = try LocalWorkers(count: workers, endpoint: setup.endpoint, sweep: setup.directory, threads: nil, heartbeat: Liveness.heartbeatInterval, liveness: Liveness.missedHeartbeats,
                                    extraArguments: setup.security.workerArguments)
        defer { pool.stop() }
        let coordinator = try setup.coordinator(settings: settings)
        // Timing starts once every worker has joined: process start-up is not dispatch.
        while coordinator.dispatcher.workerCount < workers { _ = try coordinator.turn() }
        let cpu0 = processCPUSeconds(), t0 = Date()
        guard case .finished(let completed, _) = try coordinator.run(), completed + coordinator.dispatcher.pruned == trials else { throw DispatchBenchmarkError("the benchmark sweep did not complete; its coordinator log above says why") }
        return (Date().timeIntervalSince(t0), processCPUSeconds() - cpu0, coordinator.dispatcher.pruned)
    }

    /// One simulated worker streams metric rows for one trial; rows/s until the last ACK.
    public func ingestRate() throws -> Double {
        let setup = try BenchSweep(curve: curve, durability: durability, configs: ["{\"method\":\"noop\"}"])
        defer { setup.remove() }
        let coordinator = try setup.coordinator()
        let (journal, context, endpoint) = (setup.journal, setup.context, setup.endpoint)
        let rows = metricRows, batchSize = batch
        let workerCurve = setup.security.worker
        let elapsed = SendableBox(0.0)
        let worker = Thread {
            let socket = try! ZeroMQSocket(context, .dealer)
            if let (keys, server) = workerCurve { try! socket.useCurve(keys, serverKey: server) }
            try! socket.connect(endpoint)
            socket.send(Message.hello(Hello(worker: "bench", host: "local", slots: 1, held: [])).frames())
            socket.send(Message.ready(Ready(credit: 1)).frames())
            func next() -> Message {
                while true {
                    _ = Poller.wait([.socket(socket)], timeout: 1)
                    if let f = socket.receive(), let m = try? Message(frames: f), m != .heartbeat { return m }
                }
            }
            guard case .assign(let a) = next() else { return }
            let t0 = Date()
            var seq = 0
            while seq < rows {
                let n = min(batchSize, rows - seq)
                let batch = (seq..<seq + n).map { MetricRow(seq: $0, name: TrialMetric.ftLoss, value: Double($0) * 1e-6, epoch: 1, step: $0) }
                socket.send(Message.metrics(MetricBatch(trial: a.trial, lease: a.lease, rows: batch)).frames())
                seq += n
            }
            while case .ack(let ack) = next(), ack.seq != rows - 1 {}
            elapsed.value = Date().timeIntervalSince(t0)
            socket.send(Message.result(TrialReport(trial: a.trial, lease: a.lease, status: .completed, reason: nil, logTail: [], result: "{}")).frames())
            _ = next()
            socket.close()
        }
        worker.start()
        _ = try coordinator.run()
        guard try journal.metricCount() == rows else { throw DispatchBenchmarkError("only \(try journal.metricCount()) of \(rows) rows were stored") }
        return Double(rows) / elapsed.value
    }
}

public struct DispatchBenchmarkError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A benchmark's sweep in a temporary directory: journal with the given trial configs (the
/// first trial pinned to `firstReads`, which the coordinator can then ship), an IPC endpoint,
/// and keys when CURVE is on.
struct BenchSweep {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-bench-\(UUID().uuidString)")
    let journal: Journal
    let security: Security
    let context = ZeroMQContext()
    var endpoint: String { "ipc://\(directory.path)/c.ipc" }

    init(curve: Bool, durability: JournalDurability, configs: [String], firstReads: [InputFile] = []) throws {
        journal = try Journal(directory: directory, durability: durability)
        let planned = configs.map { PlannedTrial(canonicalConfig: $0) }
        try journal.write { w in
            if let first = planned.first, !firstReads.isEmpty { _ = try w.pinInputs([first]) { _ in firstReads } }
            for (i, trial) in planned.enumerated() {
                try w.addTrial(id: trial.id, position: i, axes: "{}", config: trial.canonicalConfig, at: 0)
            }
        }
        security = try Security(curve ? directory : nil)
    }

    /// A coordinator that logs nothing: the benchmark's output is its table.
    func coordinator(settings: DispatchSettings = DispatchSettings()) throws -> Coordinator {
        let coordinator = try Coordinator(journal: journal, settings: settings, bind: endpoint, context: context, curve: security.coordinator)
        coordinator.dispatcher.logger = Logger(label: "lpft.bench") { _ in SwiftLogNoOpLogHandler() }
        return coordinator
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// Keys for a benchmark with CURVE: the coordinator's and one shared by the workers.
struct Security {
    var coordinator: (keys: CurveKeyPair, allowed: Set<String>)?
    var worker: (CurveKeyPair, String)?
    var workerArguments: [String] = []

    init(_ directory: URL?) throws {
        guard let directory else { return }
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        try server.write(to: directory, name: "coordinator")
        try client.write(to: directory, name: "worker")
        coordinator = (server, [client.publicKey])
        worker = (client, server.publicKey)
        workerArguments = ["--curve-key", directory.appendingPathComponent("worker.key").path,
                           "--server-key", directory.appendingPathComponent("coordinator.pub").path]
    }
}

/// The middle of a benchmark's rounds (the upper middle of an even count).
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// A value the ingest benchmark's worker thread writes and the benchmark reads afterwards.
/// Safe without a lock: the thread writes it before it sends its RESULT, and the reader reads
/// it only after the coordinator has received that RESULT and returned.
final class SendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
