import CZeroMQ
import Foundation
import Logging
import Logs
import Sweep
import Synchronization
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
    /// How long a stopping worker waits for the coordinator to take the checkpoints its
    /// trials wrote as they stopped: within SLURM's and Kubernetes' 30 s between SIGTERM and
    /// SIGKILL, with time to spare for the exit.
    public var uploadGrace = 25.0
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
///
/// Each whole checkpoint a trial writes is offered to the coordinator, which fetches it from
/// the worker's ``ContentServer`` as workers fetch inputs; an ASSIGN that names one this box
/// lacks has its files fetched and placed in the trial directory, and the trial resumes there.
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
    /// Serves the checkpoints this worker's trials offered to the coordinator that fetches them.
    private lazy var checkpointServer = ContentServer(files: [:], budget: 4 << 20, owner: "worker \(settings.name)", unknown: "this worker offers no checkpoint file with content",
                                                          changed: "since it was offered, so it is not served")
    /// The hashes each lease's offered checkpoint is served under.
    private var served: [Lease: Set<String>] = [:]
    private let hasher = CheckpointHasher()
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
            let readable = Poller.wait(items, timeout: checkpointServer.isBusy ? 0 : exiting ? 0.01 : min(0.1, settings.heartbeatInterval / 2))
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
            for execution in executions {
                guard let directory = execution.directory else { continue }
                for name in execution.takeCheckpoints() {
                    session.hashing(execution.assignment.lease)
                    hasher.hash(name, in: directory, of: execution.assignment)
                }
            }
            for hashed in hasher.take() { try offer(hashed, now: now) }
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
            checkpointServer.serve { _, frames in _ = socket?.send(frames) }
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
            case .serve(let fetch): checkpointServer.enqueue([([], fetch)])
            case .withdraw(let lease): withdraw(lease)
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
            var a = a
            // Names from the wire become paths here: only a checkpoint's own files are taken.
            if let checkpoint = a.checkpoint, checkpoint.files.isEmpty || !checkpoint.files.allSatisfy({ TrialDirectory.isCheckpointFile($0.name, of: checkpoint.name) }) {
                withoutCheckpoint(&a, "its files are not all named checkpoints/\(String(reflecting: checkpoint.name))/<file>")
            }
            if let checkpoint = a.checkpoint, !hasCheckpoint(checkpoint, of: a.trial) {
                session.say(.info, "trial \(a.trial) resumes from checkpoint \(checkpoint.name) (\(InputFetcher.megabytes(checkpoint.bytes))), uploaded by an earlier attempt")
                for file in checkpoint.files where !fetcher.cache.contains(file.sha256) {
                    switch try fetcher.fetch(file, now: now) {
                    case nil: missing.insert(file.sha256)
                    case .fetched?: continue
                    case .failed(_, let reason)?:
                        withoutCheckpoint(&a, reason)
                        missing.subtract(checkpoint.files.map(\.sha256))
                    }
                    if a.checkpoint == nil { break }
                }
            }
            if missing.isEmpty { try launch(a) } else { staged[a.lease] = (a, missing) }
        } catch {
            try couldNotStart(a, "\(error)", now: now)
        }
    }

    /// Whether the trial directory this box would run `trial` in already holds `checkpoint`.
    private func hasCheckpoint(_ checkpoint: CheckpointManifest, of trial: String) -> Bool {
        let directory = TrialDirectory(settings.runs.appendingPathComponent(trial))
        return FileManager.default.fileExists(atPath: directory.checkpoints.appendingPathComponent(checkpoint.name).path)
    }

    /// A checkpoint that cannot be had costs the trial its progress, not its attempt: it
    /// starts from the beginning (or from what this box holds).
    private func withoutCheckpoint(_ a: inout Assign, _ reason: String) {
        session.say(.warning, "trial \(a.trial) starts without checkpoint \(a.checkpoint?.name ?? "?"): \(reason)")
        if let checkpoint = a.checkpoint { forget(checkpoint, of: a.lease) }
        a.checkpoint = nil
    }

    /// Once a trial goes without its checkpoint, the transfers of the checkpoint's other files
    /// stop and leave no partial file, unless another trial here waits for the same content.
    /// Files already whole stay in the box's cache: every worker of the box shares it, and
    /// another may be about to place them. (A stopping worker forgets nothing: its partial
    /// files are what a retry on this box resumes from.)
    private func forget(_ checkpoint: CheckpointManifest, of lease: Lease) {
        let wanted = Set(staged.filter { $0.key != lease }.values.flatMap(\.waiting))
        for file in checkpoint.files where !wanted.contains(file.sha256) { fetcher.cancel(file.sha256) }
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
            case .failed(let sha256, let reason) where entry.waiting.contains(sha256) && !(entry.assignment.inputs ?? []).contains { $0.sha256 == sha256 }:
                // Only a checkpoint's file: the trial goes on without it.
                var a = entry.assignment
                let waiting = entry.waiting.subtracting(a.checkpoint?.files.map(\.sha256) ?? [])
                withoutCheckpoint(&a, reason)
                staged[lease] = (a, waiting)
                if waiting.isEmpty {
                    staged[lease] = nil
                    do { try launch(a) } catch { try couldNotStart(a, "\(error)", now: now) }
                }
            case .failed(let sha256, let reason) where entry.waiting.contains(sha256):
                // An input failed: the trial goes back, and its checkpoint's transfers with it.
                staged[lease] = nil
                if let checkpoint = entry.assignment.checkpoint { forget(checkpoint, of: lease) }
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
                    let view = try TrialInputView.build(in: directory, files: files)
                    config = try view.rewrite(config: config, names: inputs.map(\.name))
                    environment["LPFT_HOME"] = view.home.path
                }
                if let checkpoint = a.checkpoint { try place(checkpoint, in: directory, config: config) }
                trials[a.lease] = try TrialExecution(assignment: a, executable: settings.executable, arguments: try trainArguments(a, config: config, directory),
                                                     environment: environment, directory: directory, lock: lock)
            } catch {
                close(lock)
                throw error
            }
        }
        session.started(a.lease)
    }

    /// Moves a fetched checkpoint from the content cache into `directory` (whole or not at
    /// all: gathered in `<name>.partial` and renamed, as the trial writes its own), with the
    /// config `--resume` reads, so the trial continues from it.
    private func place(_ checkpoint: CheckpointManifest, in directory: TrialDirectory, config: String) throws {
        let fm = FileManager.default
        let target = directory.checkpoints.appendingPathComponent(checkpoint.name)
        guard !fm.fileExists(atPath: target.path) else { return }
        let sources = checkpoint.files.map { fetcher.cache.url(of: $0.sha256) }
        guard sources.allSatisfy({ fm.fileExists(atPath: $0.path) }) else {
            session.say(.warning, "checkpoint \(checkpoint.name) of trial \(directory.url.lastPathComponent) is no longer in the content cache; the trial starts without it")
            return
        }
        let partial = target.appendingPathExtension("partial")
        try? fm.removeItem(at: partial)
        try fm.createDirectory(at: partial, withIntermediateDirectories: true)
        for (file, source) in zip(checkpoint.files, sources) {
            guard let destination = directory.checkpointFile(file.name, of: checkpoint.name) else {
                throw WorkerError("checkpoint \(checkpoint.name) names a file outside it: \(String(reflecting: file.name))")
            }
            let placed = partial.appendingPathComponent(destination.lastPathComponent)
            // A checkpoint is read by this one trial only: moved out of the box's cache, not copied.
            if rename(source.path, placed.path) != 0 { try fm.copyItem(at: source, to: placed) }
        }
        guard rename(partial.path, target.path) == 0 else {
            throw WorkerError("cannot move checkpoint \(checkpoint.name) into \(directory.checkpoints.path): \(String(cString: strerror(errno)))")
        }
        if !fm.fileExists(atPath: directory.config.path) { try Data(config.utf8).write(to: directory.config, options: .atomic) }
    }

    /// Offers a checkpoint a trial wrote, once hashed, in place of the lease's earlier one.
    private func offer(_ hashed: CheckpointHasher.Hashed, now: Double) throws {
        switch hashed.result {
        case .success(let (manifest, files)):
            let hashes = Set(manifest.files.map(\.sha256))
            for (file, sha256) in zip(files, manifest.files.map(\.sha256)) { checkpointServer.add(file, as: sha256) }
            let superseded = served[hashed.assignment.lease, default: []].subtracting(hashes)
            served[hashed.assignment.lease] = hashes
            stopServing(superseded)
            try perform(session.offer(Offer(trial: hashed.assignment.trial, lease: hashed.assignment.lease, checkpoint: manifest), now: now), now: now)
        case .failure(let error):
            // A newer checkpoint may have replaced it (`checkpoints: last` keeps one): it is offered instead.
            session.hashed(hashed.assignment.lease)
            session.say(.info, "checkpoint of trial \(hashed.assignment.trial) not offered: \(error)")
        }
    }

    /// The coordinator has the lease's checkpoint, or needs it no more.
    private func withdraw(_ lease: Lease) {
        stopServing(served.removeValue(forKey: lease) ?? [])
    }

    private func stopServing(_ hashes: Set<String>) {
        let stillServed = served.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for sha256 in hashes where !stillServed.contains(sha256) { checkpointServer.remove(sha256) }
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

/// Hashes the checkpoints trials write, off the worker's thread: a BERT-base checkpoint is
/// about 1.3 GB (BENCHMARKS.md), seconds of SHA-256 that heartbeats must not wait behind. One
/// serial queue, so a trial's checkpoints are offered in the order it wrote them.
final class CheckpointHasher: Sendable {
    struct Hashed: Sendable {
        let assignment: Assign
        /// The manifest and, for the worker's ``ContentServer``, the files behind it.
        let result: Result<(CheckpointManifest, [PinnedFile]), WorkerError>
    }

    private let queue = DispatchQueue(label: "lpft.checkpoint-hasher")
    private let done = Mutex<[Hashed]>([])

    func hash(_ name: String, in directory: TrialDirectory, of assignment: Assign) {
        queue.async { [self] in
            let result = Result { try Self.manifest(name, in: directory) }.mapError { WorkerError("\($0)") }
            done.withLock { $0.append(Hashed(assignment: assignment, result: result)) }
        }
    }

    /// The checkpoints hashed since the last call, in the order they were written.
    func take() -> [Hashed] {
        done.withLock { hashed in
            defer { hashed.removeAll() }
            return hashed
        }
    }

    /// The files of `checkpoints/<name>` by content, each named relative to the trial directory.
    static func manifest(_ name: String, in directory: TrialDirectory) throws -> (CheckpointManifest, [PinnedFile]) {
        let folder = directory.checkpoints.appendingPathComponent(name)
        var inputs: [PinnedInput] = [], files: [PinnedFile] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let relative = "\(TrialDirectory.Name.checkpoints)/\(name)/\(file)"
            guard let url = directory.checkpointFile(relative, of: name) else { continue }
            let stamp = try FileStamp(ofFileAt: url.path)
            inputs.append(PinnedInput(name: relative, sha256: try ContentDigest.sha256(of: url), size: stamp.size))
            files.append(PinnedFile(name: relative, path: url.path, size: stamp.size, mtime: stamp.mtime))
        }
        guard !inputs.isEmpty else { throw WorkerError("\(folder.path) holds no files") }
        return (CheckpointManifest(name: name, files: inputs), files)
    }
}
