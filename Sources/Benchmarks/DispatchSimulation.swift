import Foundation
import Logging
import Orchestrator
import Sweep
import TrialContract
import Wire

/// The simulation's knobs: its size, its workload and how often each fault strikes.
/// Fault rates are per worker (or, for partitions, per sweep) per hour of virtual time.
public struct SimulationSettings: Sendable {
    public var workers: Int
    public var trials: Int
    public var seed: UInt64
    /// Trials a worker runs at once.
    public var slots = 1
    /// Trial durations are log-normal around this median (σ 0.5 of the log).
    public var medianTrialSeconds = 30.0
    /// METRIC rows each trial streams, spread over its duration.
    public var metricRowsPerTrial = 3
    /// One-way latency of a message: this much, plus an exponential part with mean `latencySpread`.
    public var latency = 0.0002
    public var latencySpread = 0.002
    /// Chance that an attempt fails (charged to its trial, which is retried).
    public var failureRate = 0.01
    /// Worker processes killed (their running trials die with them).
    public var deathsPerWorkerHour = 0.1
    /// Of the killed, the share restarted on the same directory, under the same name, after
    /// `restartDelay` seconds; the others never come back (never more than half of the workers).
    public var restartShare = 0.7
    public var restartDelay = 0.5...10.0
    /// Of the deaths, the share that strikes a worker between keeping a result in its outbox
    /// and sending it: restarted within the lease timeout, it resends the result and its lease
    /// is adopted; later, the result is late.
    public var deathAtResultShare = 0.3
    /// Workers whose loop stops (SIGSTOP, swap) for `stallSeconds`, past the lease timeout,
    /// while their trials run on; then they resume and send what they have, late.
    public var stallsPerWorkerHour = 0.1
    public var stallSeconds = 6.0...30.0
    /// Network partitions: each cuts `partitionShare` of the workers off (messages dropped both
    /// ways) for `partitionSeconds`, then heals.
    public var partitionsPerHour = 6.0
    public var partitionShare = 0.02
    public var partitionSeconds = 2.0...60.0
    /// ACKs of results lost on the way: their workers send the result again.
    public var ackLossRate = 0.005
    /// The coordinator's settings; attempts are plentiful, so that faults delay trials but do
    /// not fail them and every trial must end completed.
    public var dispatch: DispatchSettings = {
        var s = DispatchSettings()
        s.maxAttempts = 20
        return s
    }()

    /// While messages wait, a coordinator turn starts the dispatcher's `turnSpacing` (at most
    /// `maxTurnSpacing`) after the previous one, as the coordinator's does: what arrives
    /// meanwhile is the next turn's batch. On the virtual clock, so a run replays exactly.
    public init(workers: Int, trials: Int, seed: UInt64, maxTurnSpacing: Double = DispatchSettings().maxTurnSpacing) {
        self.workers = workers
        self.trials = trials
        self.seed = seed
        dispatch.maxTurnSpacing = maxTurnSpacing
    }
}

/// What a simulation measured and whether its invariants held.
public struct SimulationReport: Sendable {
    public var settings: SimulationSettings
    /// Virtual seconds from the first HELLO to the last trial's end.
    public var virtualSeconds: Double
    public var wallSeconds: Double
    /// Thread CPU seconds spent in the coordinator's turns: dispatcher, wire encoding and journal.
    public var coordinatorCPU: Double
    public var turns: Int
    public var messagesToCoordinator: Int
    public var messagesFromCoordinator: Int
    /// The process's peak resident set, simulated workers and event queue included.
    public var peakResidentBytes: Int
    /// The journal's database and write-ahead log at the end.
    public var journalBytes: Int
    public var attempts: Int
    public var metricRows: Int
    /// Faults injected and what the coordinator made of them (its journal's events), by kind.
    public var events: [String: Int]
    /// Broken invariants; empty when the run is sound.
    public var violations: [String]

    public var text: String {
        let n = Double(settings.trials)
        var lines = [
            String(format: "%d trials on %d workers (%d slot(s) each), seed %llu: %.0f virtual s in %.1f wall s",
                   settings.trials, settings.workers, settings.slots, settings.seed, virtualSeconds, wallSeconds),
            String(format: "coordinator CPU %.3f ms per trial (%.2f s over %d turns, %d messages in, %d out)",
                   coordinatorCPU / n * 1000, coordinatorCPU, turns, messagesToCoordinator, messagesFromCoordinator),
            String(format: "peak RSS %.1f MiB; journal %.2f MiB, %.0f bytes per trial; %d attempts, %d metric rows",
                   Double(peakResidentBytes) / 1_048_576, Double(journalBytes) / 1_048_576, Double(journalBytes) / n, attempts, metricRows),
            "events: " + events.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
        ]
        lines.append(violations.isEmpty ? "invariants hold" : "INVARIANTS BROKEN (\(violations.count)):\n  " + violations.prefix(20).joined(separator: "\n  "))
        return lines.joined(separator: "\n")
    }
}

/// A seeded discrete-event simulation of a sweep: the real `Dispatcher` and a real journal
/// (SQLite in `directory`), driven through the coordinator's own turn, against workers that
/// run the real worker's rules (a ``WorkerSession`` each: HELLO with held leases, READY
/// credit, METRIC rows numbered per lease, RESULT kept until ACKed, heartbeats, reconnecting
/// on silence) with simulated trials, over a virtual clock and a network with latency, with
/// worker deaths, stalls, partitions and lost ACKs. No sockets and no sleeps: a large sweep runs in minutes. Every
/// draw comes from the seed; between runs of one seed only the order of the dispatcher's
/// hashed sets and the journal's random first lease differ, which shifts the interleaving.
public final class DispatchSimulation {
    public let settings: SimulationSettings
    public let journal: Journal
    let dispatcher: Dispatcher
    private var rng: SplitMix64
    private var queue = EventQueue()
    /// Virtual time: Unix seconds, from a fixed start.
    private var now = DispatchSimulation.epoch
    private static let epoch = 1_800_000_000.0
    private var workers: [SimulatedHost] = []
    /// Open connections by routing id; a closed socket's id routes nowhere (ROUTER_MANDATORY).
    private var routes: [Dispatcher.Peer: Int] = [:]
    private var nextConnection: UInt32 = 0
    private var partitioned = Set<Int>()
    private var inbox: [[[UInt8]]] = []
    private var nextTurn: Double?
    private var lastTurn = -Double.infinity
    private var permanentDeaths = 0
    /// A death waiting for the next worker about to send a result.
    private var dieAtNextResult = false
    private var report: SimulationReport
    /// Workers pass through their loop at least this often (the real one polls every 0.1 s; a
    /// coarser pass changes only when heartbeats and resends go out, by less than this).
    private var wakeInterval: Double { settings.dispatch.heartbeatInterval / 4 }

    /// - Parameter directory: the sweep directory for the journal (it is left there).
    public init(settings: SimulationSettings, directory: URL) throws {
        self.settings = settings
        rng = SplitMix64(state: settings.seed)
        journal = try Journal(directory: directory)
        let methods = ["lp", "ft", "lp-ft", "lora"]
        try journal.write { w in
            for i in 0..<settings.trials {
                let axes = "{\"lr\":\(1 + i / methods.count % 25)e-5,\"method\":\"\(methods[i % methods.count])\",\"seed\":\(i / 100)}"
                let config = "{\"axes\":\(axes),\"epochs\":\(settings.metricRowsPerTrial),\"model\":\"sentence-transformers/all-MiniLM-L6-v2\",\"task\":\"rt-polarity\",\"threads\":1}"
                try w.addTrial(id: String(format: "%016x", i), position: i, axes: axes, config: config, at: Self.epoch)
            }
        }
        dispatcher = try Dispatcher(journal: journal, settings: settings.dispatch, now: Self.epoch)
        dispatcher.logger = Logger(label: "lpft.simulation") { _ in SwiftLogNoOpLogHandler() }
        report = SimulationReport(settings: settings, virtualSeconds: 0, wallSeconds: 0, coordinatorCPU: 0, turns: 0, messagesToCoordinator: 0,
                                  messagesFromCoordinator: 0, peakResidentBytes: 0, journalBytes: 0, attempts: 0, metricRows: 0, events: [:], violations: [])
    }

    /// Simulates a sweep in `directory`, which must not exist and is left there, or in a
    /// temporary directory removed afterwards; throws the report if an invariant broke, so
    /// that a command fails with it.
    public static func run(_ settings: SimulationSettings, keeping directory: URL? = nil) throws -> SimulationReport {
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-simulation-\(UUID().uuidString)")
        if let directory, FileManager.default.fileExists(atPath: directory.path) {
            throw DispatchBenchmarkError("\(directory.path) exists: the simulation writes a new sweep directory")
        }
        defer { if directory == nil { try? FileManager.default.removeItem(at: temporary) } }
        let report = try DispatchSimulation(settings: settings, directory: directory ?? temporary).run()
        guard report.violations.isEmpty else { throw DispatchBenchmarkError(report.text) }
        return report
    }

    /// Runs the sweep to its end (every trial completed or failed), then checks the invariants.
    public func run() throws -> SimulationReport {
        let wall = Date(), start = now
        for i in 0..<settings.workers {
            workers.append(SimulatedHost(name: String(format: "w%04d", i), slots: settings.slots, settings: settings.dispatch))
            // Workers start over the first second, and wake on staggered phases.
            let joins = now + rng.uniform(0...1)
            queue.push(joins, .restart(i))
            queue.push(joins + rng.uniform(0...wakeInterval), .wake(i))
        }
        schedule(.death, rate: settings.deathsPerWorkerHour * Double(settings.workers))
        schedule(.stall, rate: settings.stallsPerWorkerHour * Double(settings.workers))
        schedule(.partition, rate: settings.partitionsPerHour)
        queue.push(now + 0.1, .turn)
        nextTurn = now + 0.1
        // Ten times the ideal makespan plus an hour: far more than any fault rate here costs.
        let deadline = now + 3600 + 10 * Double(settings.trials) / Double(settings.workers * settings.slots) * settings.medianTrialSeconds
        while !dispatcher.isFinished, now < deadline, let (time, event) = queue.pop() {
            now = time
            try handle(event)
        }
        report.virtualSeconds = now - start
        report.wallSeconds = Date().timeIntervalSince(wall)
        report.peakResidentBytes = peakResidentBytes()
        report.journalBytes = ["", "-wal"].map { (try? FileManager.default.attributesOfItem(atPath: journal.path + $0)[.size] as? Int) ?? 0 }.reduce(0, +)
        report.metricRows = try journal.metricCount()
        for kind in ["late result", "lease adopted", "worker refused", "worker lost", "trial not started"] {
            report.events["journal: " + kind] = try journal.events(kind: kind).count
        }
        report.violations = try Self.violations(in: journal, trials: settings.trials)
        if !dispatcher.isFinished { report.violations.append(String(format: "the sweep had not finished after %.0f virtual s", now - start)) }
        if dispatcher.runningCount != 0 { report.violations.append("the dispatcher still holds \(dispatcher.runningCount) lease(s)") }
        if dispatcher.completed != settings.trials { report.violations.append("the dispatcher counted \(dispatcher.completed) completions of \(settings.trials) trials") }
        report.attempts = try journal.attempts().count
        return report
    }

    /// The invariants, checked against the journal alone: every trial completed, by exactly
    /// one completed attempt whose result is the trial's; no attempt left running; a late
    /// result kept only as its own attempt's history.
    public static func violations(in journal: Journal, trials expected: Int) throws -> [String] {
        var found: [String] = []
        let trials = try journal.trials()
        if trials.count != expected { found.append("\(trials.count) trials in the journal, expected \(expected)") }
        let attempts = Dictionary(grouping: try journal.attempts(), by: \.trial)
        for t in trials {
            let mine = attempts[t.id] ?? []
            let won = mine.filter { $0.state == .completed }
            if t.state != .completed { found.append("trial \(t.id) is \(t.state.rawValue)") }
            if won.count != 1 { found.append("trial \(t.id) has \(won.count) completed attempts") }
            if let w = won.first, w.result != t.result { found.append("trial \(t.id)'s result is not its completed attempt's (lease \(w.lease))") }
            for a in mine where a.state == .running { found.append("attempt \(a.lease) of trial \(t.id) is still running") }
            for a in mine where a.late && a.state == .completed { found.append("late result of lease \(a.lease) counted as trial \(t.id)'s completion") }
        }
        return found
    }

    // MARK: Events

    private func handle(_ event: Event) throws {
        switch event {
        case .turn:
            guard nextTurn == now else { return }
            try turn()
        case .arrive(let w, let frames):
            guard !partitioned.contains(w) else { return count("messages lost in partitions") }
            inbox.append(frames)
            let at = max(now, lastTurn + dispatcher.turnSpacing)
            if nextTurn.map({ at < $0 }) ?? true {
                nextTurn = at
                queue.push(at, .turn)
            }
        case .wake(let w):
            queue.push(now + wakeInterval, event)
            if !workers[w].stalled { act(w) { _, _ in [] } }
        case .deliver(let w, _, _), .metric(let w, _, _, _), .trialEnd(let w, _, _):
            if case .deliver = event, partitioned.contains(w) { return count("messages lost in partitions") }
            // A stalled worker's socket and trial pipes fill; it reads them when it resumes.
            if workers[w].stalled { workers[w].backlog.append(event) } else { handleByWorker(event) }
        case .death:
            schedule(.death, rate: settings.deathsPerWorkerHour * Double(settings.workers))
            if rng.uniform(0...1) < settings.deathAtResultShare { return dieAtNextResult = true }
            let w = rng.below(workers.count)
            if workers[w].alive { kill(w) }
        case .restart(let w):
            if workers[w].process > 0 { count("worker restarts") }
            let hello = workers[w].start(at: now)
            act(w) { _, _ in hello }
        case .stall:
            schedule(.stall, rate: settings.stallsPerWorkerHour * Double(settings.workers))
            let w = rng.below(workers.count)
            guard workers[w].alive, !workers[w].stalled else { return }
            workers[w].stalled = true
            count("worker stalls")
            queue.push(now + rng.uniform(settings.stallSeconds), .resume(w, workers[w].process))
        case .resume(let w, let process):
            guard workers[w].process == process else { return }
            workers[w].stalled = false
            // Its socket is read before its trials' pipes, as in `Worker.run`.
            let backlog = workers[w].backlog
            workers[w].backlog = []
            backlog.filter(\.isDelivery).forEach(handleByWorker)
            backlog.filter { !$0.isDelivery }.forEach(handleByWorker)
            act(w) { _, _ in [] }
        case .partition:
            schedule(.partition, rate: settings.partitionsPerHour)
            let cut = (0..<max(1, Int(Double(workers.count) * settings.partitionShare))).map { _ in rng.below(workers.count) }
            let new = Set(cut).subtracting(partitioned)
            partitioned.formUnion(new)
            count("partitions")
            report.events["workers partitioned", default: 0] += new.count
            queue.push(now + rng.uniform(settings.partitionSeconds), .heal(Array(new)))
        case .heal(let cut):
            partitioned.subtract(cut)
        }
    }

    /// A message, metric row or trial end reaching a worker that is not stalled.
    private func handleByWorker(_ event: Event) {
        switch event {
        case .deliver(let w, let connection, let message):
            if workers[w].connection == connection { act(w) { $0.session!.receive(message, now: $1) } }
        case .metric(let w, let process, let lease, let seq):
            if workers[w].process == process { act(w) { $0.report(seq, of: lease, at: $1) } }
        case .trialEnd(let w, let process, let lease):
            let fails = rng.uniform(0...1) < settings.failureRate
            if workers[w].process == process { act(w) { $0.finish(lease, failing: fails, at: $1) } }
        default:
            break
        }
    }

    /// Kills worker `w`'s process (its trials die with it; its outbox stays on disk) and
    /// restarts it after a while, or never.
    private func kill(_ w: Int) {
        close(w)
        workers[w].die()
        count("worker deaths")
        if rng.uniform(0...1) < settings.restartShare || (permanentDeaths + 1) * 2 > workers.count {
            queue.push(now + rng.uniform(settings.restartDelay), .restart(w))
        } else {
            permanentDeaths += 1
            count("workers gone for good")
        }
    }

    /// Lets live worker `w` act and run its loop, then starts the trials it took and sends
    /// what it said.
    private func act(_ w: Int, _ body: (inout SimulatedHost, Double) -> [WorkerSession.Action]) {
        guard workers[w].alive else { return }
        let actions = body(&workers[w], now) + workers[w].session!.tick(now: now)
        let (sent, started, reconnected) = workers[w].carryOut(actions)
        if dieAtNextResult, sent.contains(where: { if case .result = $0 { true } else { false } }) {
            dieAtNextResult = false
            count("worker deaths with a result unsent")
            return kill(w)
        }
        let process = workers[w].process
        for (lease, stopAfter) in started {
            if let stopAfter {
                queue.push(now + stopAfter, .trialEnd(w, process, lease))
                continue
            }
            let duration = rng.logNormal(median: settings.medianTrialSeconds, sigma: 0.5)
            for seq in 0..<settings.metricRowsPerTrial {
                queue.push(now + duration * Double(seq + 1) / Double(settings.metricRowsPerTrial + 1), .metric(w, process, lease, seq))
            }
            queue.push(now + duration, .trialEnd(w, process, lease))
        }
        if reconnected {
            close(w)
            open(w)
            count("reconnects")
        }
        for message in sent {
            var frames = message.frames()
            frames.insert(workers[w].peer, at: 0)
            report.messagesToCoordinator += 1
            queue.push(workers[w].toCoordinator.next(now + latency()), .arrive(w, frames))
        }
    }

    /// The coordinator's turn on the waiting messages, timed on this thread's CPU clock.
    private func turn() throws {
        let batch = Array(inbox.prefix(4096))
        inbox.removeFirst(batch.count)
        var out: [(Dispatcher.Peer, [[UInt8]])] = []
        let cpu = threadCPUSeconds()
        try dispatcher.turn(batch, now: now, journal: journal) { peer, frames in
            out.append((peer, frames))
            return routes[peer] != nil
        }
        report.coordinatorCPU += threadCPUSeconds() - cpu
        report.turns += 1
        lastTurn = now
        for (peer, frames) in out {
            guard let w = routes[peer], let message = try? Message(frames: frames) else { continue }
            report.messagesFromCoordinator += 1
            if case .ack(let ack) = message, ack.kind == .result, rng.uniform(0...1) < settings.ackLossRate {
                count("result ACKs lost")
                continue
            }
            queue.push(workers[w].toWorker.next(now + latency()), .deliver(w, workers[w].connection, message))
        }
        // The coordinator polls at least every 0.1 s, and at once when messages wait.
        let next = inbox.isEmpty ? now + 0.1 : now + dispatcher.turnSpacing
        nextTurn = next
        queue.push(next, .turn)
    }

    // MARK: Network

    private func open(_ w: Int) {
        nextConnection += 1
        let id = nextConnection
        workers[w].connection = id
        workers[w].peer = [0] + withUnsafeBytes(of: id.bigEndian, Array.init)
        workers[w].toCoordinator = FIFO()
        workers[w].toWorker = FIFO()
        routes[workers[w].peer] = w
    }

    private func close(_ w: Int) {
        routes[workers[w].peer] = nil
    }

    private func latency() -> Double {
        settings.latency + rng.exponential(mean: settings.latencySpread)
    }

    /// Schedules the next occurrence of a fault that strikes at `rate` per hour.
    private func schedule(_ event: Event, rate: Double) {
        guard rate > 0 else { return }
        queue.push(now + rng.exponential(mean: 3600 / rate), event)
    }

    private func count(_ kind: String) {
        report.events[kind, default: 0] += 1
    }
}

/// One simulated worker host: its directory, kept across restarts (the outbox), and while its
/// process lives, that process's ``WorkerSession`` — the real worker's rules — and its trials,
/// which the simulation plays in place of sockets and trial processes.
struct SimulatedHost {
    let settings: WorkerSettings
    /// Bumped by each death and start: events of an earlier process are ignored.
    var process = 0
    /// The live process's session; nil while the host is down.
    var session: WorkerSession?
    var stalled = false
    /// Events that arrived while stalled, handled on resume in order.
    var backlog: [Event] = []
    var connection: UInt32 = 0
    var peer: Dispatcher.Peer = []
    var toCoordinator = FIFO()
    var toWorker = FIFO()
    /// The process's trials, and whether each was asked to stop.
    private var trials: [Lease: (trial: String, stopping: Bool)] = [:]
    /// Results kept and not ACKed: on disk, so they survive a restart.
    private var outbox: [Lease: TrialReport] = [:]

    /// A worker with a real worker's settings for `slots`, on the coordinator's heartbeats.
    init(name: String, slots: Int, settings dispatch: DispatchSettings) {
        var settings = WorkerSettings(endpoint: "sim", name: name, host: "sim", directory: URL(fileURLWithPath: "/sim/\(name)"),
                                      runs: URL(fileURLWithPath: "/sim/\(name)/runs"), executable: "lpft")
        (settings.slots, settings.heartbeatInterval, settings.liveness) = (slots, dispatch.heartbeatInterval, dispatch.liveness)
        self.settings = settings
    }

    var alive: Bool { session != nil }

    mutating func die() {
        session = nil
        stalled = false
        backlog = []
        process += 1
        trials = [:]
    }

    /// A new process on the same directory: it connects and resends what its outbox holds.
    mutating func start(at now: Double) -> [WorkerSession.Action] {
        process += 1
        session = WorkerSession(settings: settings, instance: "\(settings.name)#\(process)")
        session!.logger = Logger(label: "lpft.simulation") { _ in SwiftLogNoOpLogHandler() }
        return session!.start(outbox: outbox, now: now)
    }

    /// Metric row `seq` of a trial still running (one asked to stop writes no more).
    mutating func report(_ seq: Int, of lease: Lease, at now: Double) -> [WorkerSession.Action] {
        guard let running = trials[lease], !running.stopping else { return [] }
        let row = MetricRow(seq: seq, name: TrialMetric.ftLoss, value: 1 / Double(seq + 2), epoch: seq + 1, step: seq)
        return session!.report([row], lease: lease, now: now)
    }

    mutating func finish(_ lease: Lease, failing: Bool, at now: Double) -> [WorkerSession.Action] {
        guard let running = trials.removeValue(forKey: lease) else { return [] }
        let report: TrialReport
        if running.stopping {
            report = TrialReport(trial: running.trial, lease: lease, status: .interrupted, reason: "stopped", logTail: [], result: nil)
        } else if failing {
            report = TrialReport(trial: running.trial, lease: lease, status: .failed, reason: "simulated failure", logTail: ["Traceback"], result: nil)
        } else {
            let accuracy = 0.7 + Double(lease % 1000) / 5000
            report = TrialReport(trial: running.trial, lease: lease, status: .completed, reason: nil, logTail: [],
                                 result: "{\"lease\":\(lease),\"metrics\":{\"\(TrialMetric.testAccuracy)\":\(accuracy),\"\(TrialMetric.test(.ece))\":\(1 - accuracy)},\"status\":\"completed\"}")
        }
        return session!.finished(report, now: now)
    }

    /// Carries out what the session asked, as `Worker` does, except that sending is left to
    /// the simulation: the messages for the connection (a fresh one if `reconnected`), and the
    /// trials started (nil) or asked to stop (ending after this many seconds).
    mutating func carryOut(_ actions: [WorkerSession.Action]) -> (sent: [Message], started: [(lease: Lease, stopAfter: Double?)], reconnected: Bool) {
        var sent: [Message] = [], started: [(lease: Lease, stopAfter: Double?)] = [], reconnected = false
        for action in actions {
            switch action {
            case .connect:
                // The old socket closes with LINGER 0: what this pass sent on it is gone.
                (sent, reconnected) = ([], true)
            case .send(let message):
                sent.append(message)
            case .start(let a):
                trials[a.lease] = (a.trial, false)
                session!.started(a.lease)
                started.append((a.lease, nil))
            case .stop(let lease):
                // The trial ends (interrupted) at its next step.
                guard trials[lease]?.stopping == false else { continue }
                trials[lease]!.stopping = true
                started.append((lease, 0.05))
            case .keep(let report):
                outbox[report.lease] = report
            case .discard(let lease):
                outbox[lease] = nil
            case .takeChunk, .resetFetches, .serve, .withdraw, .exit:
                // Noop trials read no files and write no checkpoints; SHUTDOWN comes when the sweep is over, and the simulation ends there.
                break
            }
        }
        return (sent, started, reconnected)
    }
}

/// Delivery times on one connection in one direction: TCP keeps order, whatever each
/// message's own latency.
struct FIFO {
    private var last = -Double.infinity
    mutating func next(_ time: Double) -> Double {
        last = max(time, last.nextUp)
        return last
    }
}

indirect enum Event {
    case turn
    case arrive(Int, [[UInt8]])
    case deliver(Int, UInt32, Message)
    case wake(Int)
    case metric(Int, Int, Lease, Int)
    case trialEnd(Int, Int, Lease)
    case death, stall, partition
    case restart(Int)
    case resume(Int, Int)
    case heal([Int])

    var isDelivery: Bool {
        if case .deliver = self { true } else { false }
    }
}

/// A binary min-heap of events by time, ties in the order they were pushed.
struct EventQueue {
    private var heap: [(time: Double, order: Int, event: Event)] = []
    private var pushed = 0

    mutating func push(_ time: Double, _ event: Event) {
        pushed += 1
        heap.append((time, pushed, event))
        var i = heap.count - 1
        while i > 0, Self.before(heap[i], heap[(i - 1) / 2]) {
            heap.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    mutating func pop() -> (Double, Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, Self.before(heap[l], heap[m]) { m = l }
            if r < heap.count, Self.before(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.event)
    }

    private static func before(_ a: (time: Double, order: Int, event: Event), _ b: (time: Double, order: Int, event: Event)) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}

/// SplitMix64: small, fast and seeded, so a run replays exactly.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + Double(next() >> 11) / Double(1 << 53) * (range.upperBound - range.lowerBound)
    }
    mutating func exponential(mean: Double) -> Double { -mean * log(1 - uniform(0...1).nextDown) }
    /// Log-normal around `median`, σ `sigma` of the log (Box–Muller).
    mutating func logNormal(median: Double, sigma: Double) -> Double {
        let u = max(uniform(0...1), .leastNormalMagnitude), v = uniform(0...1)
        return median * exp(sigma * (-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
}

/// CPU time this thread has used, in seconds: the coordinator's share of a process that also
/// runs the simulated workers.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// The process's peak resident set in bytes (Linux reports kilobytes).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}
