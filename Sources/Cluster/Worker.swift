import CZeroMQ
import Foundation
import Logging
import Logs
import Sweep
import TrialContract

public struct WorkerSettings: Sendable {
    public var endpoint: String
    /// Trials run at once.
    public var slots = 1
    /// Unique per worker; a restarted worker with the same name and directory reclaims its leases.
    public var name: String
    public var host: String
    /// The worker's own directory: its lock and its outbox of unacknowledged results.
    public var directory: URL
    /// Where trial directories go (`<runs>/<trial id>`); may be shared between workers.
    public var runs: URL
    /// The `lpft` executable that runs trials (``TrialCommandLine``).
    public var executable: String
    /// Extra arguments for `lpft train` (e.g. `--threads 2`).
    public var trainArguments: [String] = []
    public var heartbeatInterval = Liveness.heartbeatInterval
    /// Heartbeats the coordinator may miss before the worker reconnects.
    public var liveness = Liveness.missedHeartbeats
    /// Exit after this many seconds without a coordinator (nil: wait for ever).
    public var maxIdle: Double?
    /// CURVE: this worker's keypair and the coordinator's public key; nil for none.
    public var curve: (keys: CurveKeyPair, serverKey: String)?
    /// Its build and machine, for HELLO.
    public var facts: WorkerFacts?
    /// Where pinned inputs' names relative to `$LPFT_HOME` are looked for, and where shipped
    /// ones are kept (``ContentCache``).
    public var home = LPFTHome()

    public init(endpoint: String, name: String, host: String, directory: URL, runs: URL, executable: String) {
        self.endpoint = endpoint
        self.name = name
        self.host = host
        self.directory = directory
        self.runs = runs
        self.executable = executable
    }
}

/// A worker: a DEALER socket and its trials, served by one thread (the trials run in child
/// processes or threads of their own, so heartbeats never wait behind a training step).
///
/// The worker's side of the protocol: HELLO with the leases it still holds, then READY for its
/// free slots. A trial whose pinned inputs are not all here with their pinned content waits
/// while they are fetched (``InputFetcher``), then runs on a view of exactly those files
/// (``TrialInputView``). Metric rows and results stay queued until ACKed; results also wait on
/// disk in the outbox, so a worker restarted on the same directory resends them. Silence from the
/// coordinator for `liveness` heartbeats makes it reconnect with a fresh socket, backing off
/// up to 30 s, for ever (or until `maxIdle`).
public final class Worker {
    public let settings: WorkerSettings
    /// Which trials run on a thread of this process instead of a child; nil: all in children.
    public var inProcess: ((_ config: String) -> InProcessTrial?)?
    /// Where the worker says what happens to it; each line starts with `worker NAME:`.
    public var logger = Logger(label: "lpft.worker")
    /// Dropped messages, logged through this: a broken coordinator decides how many arrive.
    private var dropWarnings = WarningThrottle()
    /// Whether any coordinator answered: a worker that idles out without one was pointed at
    /// the wrong place (or nothing listens there), which is a failure, not a finished sweep.
    public private(set) var heardFromCoordinator = false

    private let context: ZeroMQContext
    private var socket: ZeroMQSocket?
    private var trials: [Lease: TrialExecution] = [:]
    /// Trials waiting for inputs to arrive, and the hashes each still waits for.
    private var staged: [Lease: (assignment: Assign, waiting: Set<String>)] = [:]
    private let fetcher: InputFetcher
    private let localDigests = ContentCache.LocalDigests()
    private var unackedMetrics = UnackedMetrics()
    private let outbox: Outbox
    /// Outbox results this connection's coordinator called another sweep's: kept, not resent
    /// to it (a later connection may be to their own coordinator).
    private var foreign = Set<Lease>()
    private var advertised = 0
    private var lastHeard = 0.0
    private var lastSent = 0.0
    /// Liveness and backoff timers run on it (see `SteadyClock`).
    private let clock = SteadyClock()
    private var lastResend: Double
    private var silenceAllowed: Double
    private var lastCoordinator: Double
    private var shuttingDown: String?
    private let lock: DirectoryLock
    /// Random per process, in HELLO: another process under this name is told apart from this one.
    private let instance = UUID().uuidString
    /// When a coordinator that refused this worker expects the next HELLO.
    private var helloAt: Double?
    private var lastRefusal: String?
    /// Trials this worker failed to start in a row, and until when it takes no new ones.
    private var startFailures = 0
    private var pausedUntil = 0.0

    public init(settings: WorkerSettings, context: ZeroMQContext) throws {
        self.settings = settings
        self.context = context
        silenceAllowed = settings.heartbeatInterval * Double(settings.liveness)
        (lastResend, lastCoordinator) = (clock.now(), clock.now())
        let fm = FileManager.default
        lock = try DirectoryLock(settings.directory, name: "worker.lock", holder: "worker")
        try fm.createDirectory(at: settings.runs, withIntermediateDirectories: true)
        var unreadable: [String] = []
        outbox = try Outbox(url: settings.directory.appendingPathComponent("outbox.jsonl")) { unreadable.append($0) }
        unreadable.forEach { FileHandle.standardError.write(Data("lpft: \($0)\n".utf8)) }
        fetcher = InputFetcher(cache: ContentCache(root: settings.home.content), worker: settings.name)
        fetcher.log = { [unowned self] in say(.info, $0) }
    }

    /// A worker in the first of `directories` that no other worker holds (each worker locks
    /// its directory), with the settings `settings` gives for it; the last error if none is free.
    public static func inFirstFreeDirectory(_ directories: [URL], context: ZeroMQContext, settings: (URL) -> WorkerSettings) throws -> Worker {
        var lastError: Error = WorkerError("no worker directory to try")
        for directory in directories {
            do { return try Worker(settings: settings(directory), context: context) } catch { lastError = error }
        }
        throw lastError
    }

    public enum Exit: Sendable, Equatable {
        case shutdown(String)
        case idle
    }

    /// Serves until the coordinator says SHUTDOWN, no coordinator was heard for `maxIdle`,
    /// `stopSignal` (a signal pipe) becomes readable, or `lifeline` (a ``ParentLifeline``)
    /// ends: then its trials are stopped, their interrupted results sent (an interruption is
    /// not charged to a trial) and kept in the outbox until acknowledged, and it returns.
    public func run(stopSignal: Int32? = nil, lifeline: Int32? = nil) throws -> Exit {
        connect(now: clock.now())
        while true {
            let executions = Array(trials.values)
            var items: [Poller.Item] = [.socket(socket!)]
            var owners: [(TrialExecution, Int32)] = []
            for e in executions {
                for fd in e.descriptors {
                    items.append(.descriptor(fd))
                    owners.append((e, fd))
                }
            }
            // Both stay readable once they fire: watched only until the worker is stopping.
            let stops = shuttingDown == nil ? [stopSignal, lifeline].compactMap { $0 } : []
            items += stops.map { .descriptor($0) }
            let exiting = executions.contains { $0.descriptors.isEmpty }
            let readable = Poller.wait(items, timeout: exiting ? 0.01 : min(0.1, settings.heartbeatInterval / 2))
            let now = clock.now()
            for (fd, fired) in zip(stops, readable.suffix(stops.count)) where fired {
                if fd == stopSignal {
                    shutDown("stopped by a signal")
                } else if ParentLifeline.hasEnded(fd) {
                    shutDown("the coordinator that started this worker has exited")
                }
            }
            if readable[0] { receive(now: now) }
            for (i, (execution, fd)) in owners.enumerated() where readable[i + 1] {
                let rows = execution.read(fd)
                if !rows.isEmpty { report(rows, of: execution.assignment, now: now) }
            }
            for (lease, execution) in trials {
                guard let result = execution.outcome() else { continue }
                trials[lease] = nil
                finish(result, of: execution.assignment, now: now)
            }
            if let reason = shuttingDown, trials.isEmpty, staged.isEmpty, unsentResults.isEmpty || now - lastHeard > settings.heartbeatInterval * 2 {
                return .shutdown(reason)
            }
            if let at = helloAt {
                if now >= at {
                    // The coordinator's "wait" was its word: silence counts from this HELLO,
                    // not from the refusal, or every retry would look like a dead link.
                    lastHeard = now
                    say(.debug, "saying HELLO again, as the coordinator asked")
                    hello(now: now)
                }
            } else {
                fetcher.checkStalls(now: now)
                for fetch in fetcher.requests(now: now) { send(.fetch(fetch), now: now) }
                if shuttingDown == nil, now >= pausedUntil { advertise(now: now) }
                if now - lastSent >= settings.heartbeatInterval { send(.heartbeat, now: now) }
            }
            // A result whose ACK has not come within a lease timeout is sent again (the
            // coordinator takes a repeat as a repeat).
            if !unsentResults.isEmpty, now - lastResend > silenceAllowed { resendResults(now: now) }
            if helloAt == nil, now - lastHeard > silenceAllowed {
                if let maxIdle = settings.maxIdle, trials.isEmpty, now - lastCoordinator > maxIdle { return .idle }
                say(.warning, String(format: "no word from the coordinator for %.1f s; reconnecting", now - lastHeard)
                      + (settings.curve == nil ? "" : " (if this repeats: is this worker's public key on the coordinator's allow-list?)"))
                silenceAllowed = min(silenceAllowed * 2, max(30, settings.heartbeatInterval * Double(settings.liveness)))
                connect(now: now)
            }
        }
    }

    /// Stops taking trials and asks the running ones to stop; `run` returns once they have.
    /// Logs `message` as this worker's (`worker NAME: …`, the words `lpft worker` has always printed).
    private func say(_ level: Logger.Level, _ message: String) {
        logger.log(level: level, "worker \(settings.name): \(message)")
    }

    private func shutDown(_ reason: String) {
        guard shuttingDown == nil else { return }
        shuttingDown = reason
        say(.info, "\(reason); stopping running trials")
        trials.values.forEach { $0.stop() }
        let waiting = staged.values.map(\.assignment)
        staged.removeAll()
        for a in waiting {
            finish(TrialReport(trial: a.trial, lease: a.lease, status: .interrupted, reason: "worker \(settings.name) is stopping: \(reason)",
                               logTail: [], result: nil), of: a, now: clock.now())
        }
    }

    // MARK: Connection

    private func connect(now: Double) {
        socket?.close()
        let s = try! ZeroMQSocket(context, .dealer)
        try? s.set(ZMQ_MAXMSGSIZE, WireProtocol.maxMessageSize)
        try? s.set(ZMQ_LINGER, Int32(0))
        try? s.set(ZMQ_RECONNECT_IVL, Int32(100))
        try? s.set(ZMQ_RECONNECT_IVL_MAX, Int32(2000))
        // Sends never block; a queue this deep does not fill before heartbeats notice trouble.
        try? s.set(ZMQ_SNDHWM, Int32(100_000))
        if let curve = settings.curve { try? s.useCurve(curve.keys, serverKey: curve.serverKey) }
        do { try s.connect(settings.endpoint) } catch { say(.error, "\(error)") }
        socket = s
        foreign.removeAll()
        fetcher.connectionReset()
        lastHeard = now
        hello(now: now)
    }

    /// Introduces the worker and resends everything unacknowledged, in order.
    private func hello(now: Double) {
        let held = Set(trials.keys).union(staged.keys).union(outbox.pending.keys).sorted().map { lease in
            LeaseReference(trial: trials[lease]?.assignment.trial ?? staged[lease]?.assignment.trial ?? outbox.pending[lease]!.trial, lease: lease)
        }
        advertised = 0
        helloAt = nil
        send(.hello(Hello(worker: settings.name, host: settings.host, slots: settings.slots, held: held, instance: instance, facts: settings.facts)), now: now)
        for batch in unackedMetrics.batches { send(.metrics(batch), now: now) }
        resendResults(now: now)
    }

    /// The outbox's results this connection's coordinator may still take, by lease.
    private var unsentResults: [Lease] { outbox.pending.keys.filter { !foreign.contains($0) }.sorted() }

    private func resendResults(now: Double) {
        lastResend = now
        for lease in unsentResults { send(.result(outbox.pending[lease]!), now: now) }
    }

    private func send(_ message: Message, now: Double) {
        socket?.send(message.frames())
        lastSent = now
    }

    /// Offers the free slots the coordinator does not know of yet.
    private func advertise(now: Double) {
        let free = settings.slots - trials.count - staged.count - advertised
        if free > 0 {
            advertised += free
            send(.ready(Ready(credit: free)), now: now)
        }
    }

    private func receive(now: Double) {
        while let frames = socket?.receive() {
            lastHeard = now
            lastCoordinator = now
            heardFromCoordinator = true
            silenceAllowed = settings.heartbeatInterval * Double(settings.liveness)
            let message: Message
            do { message = try Message(frames: frames) } catch {
                dropWarnings.warn(logger, key: "malformed messages", now: now, "worker \(settings.name): dropped a message from the coordinator: \(error)")
                continue
            }
            switch message {
            case .assign(let a): start(a, now: now)
            case .chunk(let c):
                if let event = fetcher.receive(c, now: now) { inputsArrived(event, now: now) }
            case .ack(let a): acknowledge(a)
            case .cancel(let c):
                say(.info, "lease \(c.lease) cancelled: \(c.reason)")
                trials[c.lease]?.stop()
                staged[c.lease] = nil
            case .reconnect(let notice):
                if let delay = notice.retryAfter {
                    if notice.reason != lastRefusal { say(.warning, "the coordinator says: \(notice.reason); trying again every \(delay) s") }
                    lastRefusal = notice.reason
                    helloAt = now + delay
                } else {
                    fetcher.connectionReset()  // a new session: pieces asked on the old one will not come
                    hello(now: now)
                }
            case .shutdown(let notice):
                shutDown("coordinator says: \(notice.reason)")
            case .heartbeat:
                break
            case .hello, .ready, .metrics, .result, .fetch:
                dropWarnings.warn(logger, key: "messages not a coordinator's", now: now, "worker \(settings.name): dropped \(message.command) from the coordinator: not a coordinator's message")
            }
        }
    }

    // MARK: Trials

    private func start(_ a: Assign, now: Double) {
        advertised = max(0, advertised - 1)
        guard trials[a.lease] == nil, staged[a.lease] == nil, outbox.pending[a.lease] == nil else { return }
        if let reason = shuttingDown {
            return finish(TrialReport(trial: a.trial, lease: a.lease, status: .interrupted, reason: "worker \(settings.name) is stopping: \(reason)",
                                      logTail: [], result: nil), of: a, now: now)
        }
        do {
            var missing = Set<String>()
            for input in a.inputs ?? [] where copy(of: input) == nil {
                switch try fetcher.fetch(input, now: now) {
                case nil: missing.insert(input.sha256)
                case .fetched?: continue
                case .failed(_, let reason)?: throw WorkerError(reason)
                }
            }
            if missing.isEmpty { try launch(a) } else { staged[a.lease] = (a, missing) }
        } catch {
            handBack(a, couldNotStart: "\(error)", now: now)
        }
    }

    /// A verified copy of `input` on this box: the content cache's, or the file its name
    /// points to here if that holds the pinned content.
    private func copy(of input: PinnedInput) -> URL? {
        let cache = fetcher.cache
        if cache.contains(input.sha256) { return cache.url(of: input.sha256) }
        let local = input.name.hasPrefix("/") ? URL(fileURLWithPath: input.name) : settings.home.root.appendingPathComponent(input.name)
        return localDigests.sha256(ofFileAt: local.path) == input.sha256 ? local : nil
    }

    /// Starts the trials an ended transfer was holding back (or hands them back if it failed).
    private func inputsArrived(_ event: InputFetcher.Event, now: Double) {
        for (lease, entry) in staged {
            switch event {
            case .fetched(let sha256) where entry.waiting.contains(sha256):
                let waiting = entry.waiting.subtracting([sha256])
                guard waiting.isEmpty else {
                    staged[lease]!.waiting = waiting
                    continue
                }
                staged[lease] = nil
                do { try launch(entry.assignment) } catch { handBack(entry.assignment, couldNotStart: "\(error)", now: now) }
            case .failed(let sha256, let reason) where entry.waiting.contains(sha256):
                staged[lease] = nil
                handBack(entry.assignment, couldNotStart: reason, now: now)
            default:
                continue
            }
        }
    }

    /// Runs `a` now: on a thread, or in a child process in its trial directory, on a view of
    /// its pinned inputs when it has them.
    private func launch(_ a: Assign) throws {
        if let body = inProcess?(a.config) {
            trials[a.lease] = try TrialExecution(assignment: a, body: body)
        } else {
            let (directory, lock) = try trialDirectory(a.trial, lease: a.lease)
            do {
                var config = a.config, environment: [String: String] = [:]
                if let inputs = a.inputs, !inputs.isEmpty {
                    let files = try inputs.map { input -> (String, URL) in
                        guard let copy = copy(of: input) else {
                            throw WorkerError("\(input.name) is neither in this box's content cache nor, with its pinned content, at its path (removed since it was fetched?)")
                        }
                        return (input.name, copy)
                    }
                    let view = try TrialInputView.build(at: directory.url.appendingPathComponent("inputs"), files: files)
                    config = try view.rewrite(config: config, names: inputs.map(\.name))
                    environment["LPFT_HOME"] = view.home.path
                }
                trials[a.lease] = try TrialExecution(assignment: a, executable: settings.executable, arguments: try trainArguments(a, config: config, directory),
                                                     environment: environment, directory: directory, lock: lock)
            } catch {
                close(lock)
                throw error
            }
        }
        startFailures = 0
    }

    /// The worker's fault, not the trial's: hands `a` back uncharged, and backs off so that a
    /// broken worker (missing program, full disk) neither spins nor burns other trials'
    /// attempts. Assignments already under way when the pause began don't lengthen it.
    private func handBack(_ a: Assign, couldNotStart reason: String, now: Double) {
        if now >= pausedUntil {
            startFailures += 1
            let pause = min(60, Double(1 << min(startFailures - 1, 6)))
            pausedUntil = now + pause
            say(.warning, "could not start trial \(a.trial): \(reason); handed back, no new trials for \(Int(pause)) s")
        }
        finish(TrialReport(trial: a.trial, lease: a.lease, status: .interrupted, reason: "worker \(settings.name) could not start it: \(reason)",
                           logTail: [], result: nil, notStarted: true), of: a, now: now)
    }

    /// `<runs>/<trial>`, locked while the attempt runs; if another worker still runs an older
    /// attempt there (its lease expired behind a cut link), this attempt gets its own directory.
    private func trialDirectory(_ trial: String, lease: Lease) throws -> (TrialDirectory, Int32) {
        for name in [trial, "\(trial).\(lease)"] {
            let directory = TrialDirectory(settings.runs.appendingPathComponent(name))
            let fd = open(settings.runs.appendingPathComponent(name + ".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw WorkerError("cannot create a lock in \(settings.runs.path): \(String(cString: strerror(errno)))") }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
                return (directory, fd)
            }
            close(fd)
        }
        throw WorkerError("trial \(trial) is locked by another worker")
    }

    /// A new trial, or the continuation of an earlier attempt's checkpoints in the same place.
    private func trainArguments(_ a: Assign, config text: String, _ directory: TrialDirectory) throws -> [String] {
        if directory.canResume {
            return TrialCommandLine.resume(directory) + settings.trainArguments
        }
        directory.removeStaleOutput()
        let config = directory.assignedConfig
        try Data(text.utf8).write(to: config, options: .atomic)
        return TrialCommandLine.start(config: config.path, directory: directory) + settings.trainArguments
    }

    private func report(_ rows: [MetricRow], of a: Assign, now: Double) {
        unackedMetrics.add(rows, lease: a.lease, trial: a.trial)
        send(.metrics(MetricBatch(trial: a.trial, lease: a.lease, rows: rows)), now: now)
    }

    /// Keeps the result of `a` on disk until the coordinator ACKs it, then sends it, naming
    /// the sweep that assigned it.
    private func finish(_ result: TrialReport, of a: Assign, now: Double) {
        var result = result
        result.sweep = a.sweep
        // The resend timer runs from the oldest result still unacknowledged: counted from an
        // earlier send, the result of a trial that outlasted the interval went out twice in a
        // row (and a coordinator booked the second as a late result of its attempt).
        if unsentResults.isEmpty { lastResend = now }
        do { try outbox.add(result) } catch {
            say(.warning, "cannot keep the result of lease \(result.lease) on disk (\(error)); it is sent from memory only")
        }
        send(.result(result), now: now)
    }

    private func acknowledge(_ ack: Ack) {
        switch ack.kind {
        case .metrics:
            guard let seq = ack.seq else { return }
            unackedMetrics.acknowledge(ack.lease, upTo: seq, running: trials[ack.lease] != nil)
        case .result:
            unackedMetrics.forget(ack.lease)
            do { try outbox.acknowledge(ack.lease) } catch { say(.warning, "cannot update the outbox: \(error)") }
        case .foreign:
            guard let pending = outbox.pending[ack.lease], foreign.insert(ack.lease).inserted else { return }
            say(.warning, "the coordinator at \(settings.endpoint) runs another sweep than the one that assigned lease \(ack.lease) (trial \(pending.trial), sweep \(pending.sweep ?? "?")); its result stays in \(settings.directory.path) for that sweep's coordinator")
        }
    }
}
