import CZeroMQ
import Foundation
import Logging
import Logs
import Sweep
import TrialContract
import Wire

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

    /// Silence after which the worker takes its coordinator for gone and resends results not
    /// ACKed: the coordinator's lease timeout, when both ends use the same heartbeat settings.
    var leaseTimeout: Double { heartbeatInterval * Double(liveness) }
}

/// A worker: a DEALER socket and its trials, served by one thread (the trials run in child
/// processes or threads of their own, so heartbeats never wait behind a training step).
///
/// The protocol's rules are its ``WorkerSession``'s; the worker carries out what the session
/// asks (connect, send, start and stop trials, keep results in the outbox on disk) and feeds
/// it what the socket, the trials and the clock bring. A trial whose pinned inputs are not all
/// here with their pinned content waits while they are fetched (``InputFetcher``), then runs
/// on a view of exactly those files (``TrialInputView``).
public final class Worker {
    public let settings: WorkerSettings
    /// Which trials run on a thread of this process instead of a child; nil: all in children.
    public var inProcess: ((_ config: String) -> InProcessTrial?)?
    /// Where the worker says what happens to it; each line starts with `worker NAME:`.
    public var logger: Logger {
        get { session.logger }
        set { session.logger = newValue }
    }
    /// Whether any coordinator answered: a worker that idles out without one was pointed at
    /// the wrong place (or nothing listens there), which is a failure, not a finished sweep.
    public var heardFromCoordinator: Bool { session.heardFromCoordinator }

    private var session: WorkerSession
    private let context: ZeroMQContext
    private var socket: ZeroMQSocket?
    private var trials: [Lease: TrialExecution] = [:]
    /// Trials waiting for inputs to arrive, and the hashes each still waits for.
    private var staged: [Lease: (assignment: Assign, waiting: Set<String>)] = [:]
    private let fetcher: InputFetcher
    private let localDigests = ContentCache.LocalDigests()
    private let outbox: Outbox
    /// Liveness and backoff timers run on it (see `SteadyClock`).
    private let clock = SteadyClock()
    private let lock: DirectoryLock
    /// Set when the session says to exit.
    private var exit: Exit?

    public init(settings: WorkerSettings, context: ZeroMQContext) throws {
        self.settings = settings
        self.context = context
        session = WorkerSession(settings: settings, instance: UUID().uuidString)
        let fm = FileManager.default
        lock = try DirectoryLock(settings.directory, name: "worker.lock", holder: "worker")
        try fm.createDirectory(at: settings.runs, withIntermediateDirectories: true)
        var unreadable: [String] = []
        outbox = try Outbox(url: settings.directory.appendingPathComponent("outbox.jsonl")) { unreadable.append($0) }
        unreadable.forEach { FileHandle.standardError.write(Data("lpft: \($0)\n".utf8)) }
        fetcher = InputFetcher(cache: ContentCache(root: settings.home.content), worker: settings.name)
        fetcher.log = { [unowned self] in session.say(.info, $0) }
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
        try perform(session.start(outbox: outbox.pending, now: clock.now()), now: clock.now())
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
            let stops = session.shuttingDown == nil ? [stopSignal, lifeline].compactMap { $0 } : []
            items += stops.map { .descriptor($0) }
            let exiting = executions.contains { $0.descriptors.isEmpty }
            let readable = Poller.wait(items, timeout: exiting ? 0.01 : min(0.1, settings.heartbeatInterval / 2))
            let now = clock.now()
            for (fd, fired) in zip(stops, readable.suffix(stops.count)) where fired {
                if fd == stopSignal {
                    try perform(session.shutDown("stopped by a signal", now: now), now: now)
                } else if ParentLifeline.hasEnded(fd) {
                    try perform(session.shutDown("the coordinator that started this worker has exited", now: now), now: now)
                }
            }
            if readable[0] {
                while let frames = socket?.receive() { try perform(session.receive(frames, now: now), now: now) }
            }
            for (i, (execution, fd)) in owners.enumerated() where readable[i + 1] {
                let rows = execution.read(fd)
                if !rows.isEmpty { try perform(session.report(rows, lease: execution.assignment.lease, now: now), now: now) }
            }
            for (lease, execution) in trials {
                guard let result = execution.outcome() else { continue }
                trials[lease] = nil
                try perform(session.finished(result, now: now), now: now)
            }
            var fetches: [Fetch] = []
            if session.coordinatorListens {
                fetcher.checkStalls(now: now)
                fetches = fetcher.requests(now: now)
            }
            try perform(session.tick(now: now, fetches: fetches), now: now)
            if let exit { return exit }
        }
    }

    /// Carries out what the session asked, in order.
    private func perform(_ actions: [WorkerSession.Action], now: Double) throws {
        for action in actions {
            switch action {
            case .connect: try connect()
            case .send(let message): socket?.send(message.frames())
            case .start(let a): try start(a, now: now)
            case .stop(let lease):
                trials[lease]?.stop()
                staged[lease] = nil
            case .keep(let result):
                do { try outbox.add(result) } catch {
                    session.say(.warning, "cannot keep the result of lease \(result.lease) on disk (\(error)); it is sent from memory only")
                }
            case .discard(let lease):
                do { try outbox.acknowledge(lease) } catch { session.say(.warning, "cannot update the outbox: \(error)") }
            case .takeChunk(let chunk):
                if let event = fetcher.receive(chunk, now: now) { try inputsArrived(event, now: now) }
            case .resetFetches: fetcher.connectionReset()
            case .exit(let exit): self.exit = exit
            }
        }
    }

    // MARK: Connection

    /// A fresh socket: what was in flight on the old one will not come. A socket that cannot be
    /// made (the process is out of descriptors, say) ends the worker with the reason.
    private func connect() throws {
        socket?.close()
        let s = try ZeroMQSocket(context, .dealer)
        try? s.set(ZMQ_MAXMSGSIZE, WireProtocol.maxMessageSize)
        try? s.set(ZMQ_LINGER, Int32(0))
        try? s.set(ZMQ_RECONNECT_IVL, Int32(100))
        try? s.set(ZMQ_RECONNECT_IVL_MAX, Int32(2000))
        // Sends never block; a queue this deep does not fill before heartbeats notice trouble.
        try? s.set(ZMQ_SNDHWM, Int32(100_000))
        if let curve = settings.curve { try? s.useCurve(curve.keys, serverKey: curve.serverKey) }
        do { try s.connect(settings.endpoint) } catch { session.say(.error, "\(error)") }
        socket = s
        fetcher.connectionReset()
    }

    // MARK: Trials

    /// Starts `a`, or stages it while its missing inputs are fetched.
    private func start(_ a: Assign, now: Double) throws {
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
            try couldNotStart(a, "\(error)", now: now)
        }
    }

    private func couldNotStart(_ a: Assign, _ reason: String, now: Double) throws {
        try perform(session.couldNotStart(a.lease, reason: reason, now: now), now: now)
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
    private func inputsArrived(_ event: InputFetcher.Event, now: Double) throws {
        for (lease, entry) in staged {
            switch event {
            case .fetched(let sha256) where entry.waiting.contains(sha256):
                let waiting = entry.waiting.subtracting([sha256])
                guard waiting.isEmpty else {
                    staged[lease]!.waiting = waiting
                    continue
                }
                staged[lease] = nil
                do { try launch(entry.assignment) } catch { try couldNotStart(entry.assignment, "\(error)", now: now) }
            case .failed(let sha256, let reason) where entry.waiting.contains(sha256):
                staged[lease] = nil
                try couldNotStart(entry.assignment, reason, now: now)
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
        session.started(a.lease)
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
}
