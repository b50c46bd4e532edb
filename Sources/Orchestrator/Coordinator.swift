import CZeroMQ
import Foundation
import Logs
import Sweep
import Wire

/// A snapshot for progress lines.
public struct SweepProgress: Sendable {
    public var completed: Int
    public var failed: Int
    public var running: Int
    public var workers: Int
    public var metricRows: Int
    public var droppedMessages: Int
    public var rejectedHandshakes: Int
    /// Asked to drain: no new attempts start.
    public var draining = false
    /// Trials stopped at a rung by the spec's `prune:` rule.
    public var pruned = 0
}

/// The coordinator's ZAP handler (RFC 27): admits a CURVE client only if its public key is
/// on the allow-list and it asks for our domain. Without a bound handler libzmq 4.3 admits
/// any client that knows the server's public key, so this is what makes the list binding.
final class Authenticator {
    static let domain = "lpft"
    let socket: ZeroMQSocket
    private let allowed: Set<String>
    private(set) var rejected = 0

    init(context: ZeroMQContext, allowed: Set<String>) throws {
        self.allowed = allowed
        socket = try ZeroMQSocket(context, .rep)
        try socket.set(ZMQ_LINGER, Int32(0))
        try socket.bind("inproc://zeromq.zap.01")
    }

    /// Answers every waiting request; returns a description of each rejected one.
    func answer() -> [String] {
        var rejections: [String] = []
        while let request = socket.receive() {
            let text = request.map { String(decoding: $0, as: UTF8.self) }
            guard request.count >= 6, text[0] == "1.0" else {
                // Not a ZAP request we can parse; REP still owes a reply.
                socket.send([Array("1.0".utf8), request.count > 1 ? request[1] : [], Array("500".utf8), Array("malformed ZAP request".utf8), [], []])
                continue
            }
            let (domain, address, mechanism) = (text[2], text[3], text[5])
            let key = request.count > 6 ? CurveKeyPair.z85(request[6]) : nil
            var reason: String?
            if mechanism != "CURVE" { reason = "mechanism \(mechanism), only CURVE is accepted" }
            else if domain != Self.domain { reason = "domain \(String(reflecting: domain)), expected \(String(reflecting: Self.domain))" }
            else if key == nil || !allowed.contains(key!) { reason = "public key \(key ?? "?") is not on the allow-list" }
            if let reason {
                rejected += 1
                rejections.append("from \(address.isEmpty ? "an unknown address" : address): \(reason)")
            }
            socket.send([Array("1.0".utf8), request[1], Array((reason == nil ? "200" : "400").utf8),
                         Array((reason ?? "OK").utf8), Array((reason == nil ? key! : "").utf8), []])
        }
        return rejections
    }
}

/// The coordinator: a ROUTER socket, the dispatcher's state machine and the journal, driven
/// by one thread. Each turn reads every waiting message, applies them and the clock in one
/// journal transaction, and only then sends the ACKs and ASSIGNs that transaction made true.
public final class Coordinator {
    public let journal: Journal
    public let dispatcher: Dispatcher
    /// Liveness, leases and backoff run on it, and journal times come from it (see `SteadyClock`).
    private let clock = SteadyClock()
    private let socket: ZeroMQSocket
    /// What the socket is bound to (a `*` port resolved).
    public let endpoint: String
    public var onProgress: (SweepProgress) -> Void = { _ in }
    private let authenticator: Authenticator?
    /// Ships pinned inputs, and stored checkpoints, to workers that lack them.
    private let content: ContentServer
    /// Fetches the checkpoints workers offer into `<sweep>/checkpoints`.
    private let uploads: CheckpointUploads
    /// The stored checkpoint files `content` serves, told apart from the pinned inputs it also
    /// serves, which stay when a checkpoint is retired.
    private var servedCheckpoints = Set<String>()

    /// - Parameter curve: the coordinator's keypair and the workers' allowed public keys;
    ///   nil runs without encryption or authentication (loopback, IPC, or `--insecure`).
    public init(journal: Journal, settings: DispatchSettings, bind endpoint: String, context: ZeroMQContext, curve: (keys: CurveKeyPair, allowed: Set<String>)? = nil) throws {
        self.journal = journal
        dispatcher = try Dispatcher(journal: journal, settings: settings, now: clock.now())
        content = ContentServer(files: try journal.pinnedFiles())
        uploads = CheckpointUploads(directory: URL(fileURLWithPath: journal.path).deletingLastPathComponent())
        // The ZAP handler must be bound before a CURVE socket takes its first handshake.
        authenticator = try curve.map { try Authenticator(context: context, allowed: $0.allowed) }
        socket = try ZeroMQSocket(context, .router)
        if let curve {
            try socket.set(ZMQ_CURVE_SERVER, Int32(1))
            try socket.set(ZMQ_CURVE_SECRETKEY, curve.keys.secretKey)
            try socket.set(ZMQ_ZAP_DOMAIN, Authenticator.domain)
        }
        try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
        try socket.set(ZMQ_MAXMSGSIZE, WireProtocol.maxMessageSize)
        try socket.set(ZMQ_SNDHWM, Int32(100_000))
        try socket.set(ZMQ_RCVHWM, Int32(100_000))
        try socket.bind(endpoint)
        self.endpoint = socket.lastEndpoint
        uploads.log = { [dispatcher] in dispatcher.logger.info("checkpoint upload: \($0)") }
        try journal.write { [dispatcher, uploads, clock] in
            try dispatcher.forgetCheckpoints(unless: { $0.files.allSatisfy { uploads.store.contains($0.sha256) } },
                                             now: clock.now(), journal: $0)
        }
        dispatcher.checkpoints.values.forEach { serve($0.manifest) }
    }

    public enum Outcome: Sendable, Equatable {
        /// Every trial is completed or failed.
        case finished(completed: Int, failed: Int)
        /// Stopped by a signal; running attempts were recorded as interrupted.
        case stopped
        /// Drained: asked to start no new attempts, and stopped once the running ones ended.
        case drained
    }

    /// Runs until the sweep is finished, `stopSignal` (a file descriptor, e.g. a signal pipe)
    /// becomes readable, or, once `drainSignal` has, no attempt runs any more.
    public func run(stopSignal: Int32? = nil, drainSignal: Int32? = nil) throws -> Outcome {
        try journal.write { try $0.event(CoordinatorEvent.started, at: clock.now(), detail: "bound to \(endpoint), pid \(getpid())") }
        while true {
            if let outcome = try turn(stopSignal: stopSignal, drainSignal: drainSignal) { return outcome }
        }
    }

    private var batch: [[[UInt8]]] = []
    /// Anyone who can reach the port can fail handshakes, as often as they like.
    /// Rejected handshakes and flooding peers: warned about, never once per message.
    private var peerWarnings = WarningThrottle()
    private var lastProgress = 0.0
    private var lastTurn = -Double.infinity
    /// When the last turn's wait ended; turns are a wait (≤ 0.1 s) apart, so a longer gap is
    /// the coordinator's own pause (SIGSTOP, a suspended VM), not its workers' silence.
    private var lastAwake: Double?
    /// A drain asked for and not yet applied in a journal transaction.
    private var drainAsked = false

    /// One turn: waits up to a tick for messages (and, once they come, lets them gather for
    /// up to `turnSpacing`), applies them and the clock in one journal transaction, then sends
    /// what that transaction made true. Returns the outcome once the sweep is over.
    public func turn(stopSignal: Int32? = nil, drainSignal: Int32? = nil) throws -> Outcome? {
        var items: [Poller.Item] = [.socket(socket)]
        if let authenticator { items.append(.socket(authenticator.socket)) }
        let signals = [stopSignal, drainSignal].compactMap { $0 }
        items += signals.map { .descriptor($0) }
        // Pieces still to serve: look at the socket and go on serving.
        let readable = Poller.wait(items, timeout: content.isBusy ? 0 : min(0.1, dispatcher.settings.heartbeatInterval / 2))
        var flags = readable.suffix(signals.count).makeIterator()
        var stopRequested = stopSignal != nil && flags.next()!
        if let drainSignal, flags.next()! {
            Self.empty(drainSignal)
            drainAsked = true
        }
        let awake = clock.now()
        let pause = lastAwake.map { awake - $0 } ?? 0
        lastAwake = awake
        if pause > dispatcher.settings.leaseTimeout / 2 {
            dispatcher.resumeAfterPause(now: awake)
            dispatcher.logger.warning("the coordinator did not run for \(Int(pause)) s (stopped or suspended); workers' silence is counted from now")
        }
        if readable[0], !stopRequested { stopRequested = gather(stopSignal: stopSignal) }
        // Checked before this turn's messages: a drain stops in the turn after the last attempt ends.
        let drained = !stopRequested && dispatcher.isDrained
        lastTurn = clock.now()
        batch.removeAll(keepingCapacity: true)
        while batch.count < 4096, let frames = socket.receive() { batch.append(frames) }
        let now = clock.now()
        let rejected = authenticator?.answer() ?? []
        let stopReason = stopRequested ? "the coordinator was stopped" : drained ? CoordinatorEvent.drainedStop : nil
        try dispatcher.turn(batch, now: now, journal: journal, stopReason: stopReason, before: { w in
            if pause > dispatcher.settings.leaseTimeout / 2 {
                try w.event(CoordinatorEvent.paused, at: now, detail: String(format: "did not run for %.1f s; workers' silence counted from its wake-up", pause))
            }
            if drainAsked {
                try dispatcher.drain(now: now, journal: w)
                drainAsked = false
            }
            for r in rejected.prefix(100) {
                try w.event("handshake rejected", at: now, detail: r)
                peerWarnings.warn(dispatcher.logger, key: "rejected handshakes", now: now, "rejected a handshake: \(r)")
            }
        }) { peer, frames in socket.send([peer] + frames) }
        let dropped = content.dropped
        content.enqueue(dispatcher.takeFetches())
        if content.dropped > dropped {
            peerWarnings.warn(dispatcher.logger, key: "fetch flood", now: now,
                                   "dropped \(content.dropped - dropped) file-piece request(s) from a worker that had \(content.queuedPerPeer) waiting (an lpft fetcher keeps 8)")
        }
        content.serve { peer, frames in _ = socket.send([peer] + frames) }
        try moveCheckpoints(now: now)
        if now - lastProgress >= 1 || dispatcher.isFinished || stopReason != nil {
            lastProgress = now
            onProgress(progress)
        }
        if stopRequested { return .stopped }
        if drained { return .drained }
        guard dispatcher.isFinished else { return nil }
        try journal.write { try $0.event(CoordinatorEvent.finished, at: now, detail: "\(dispatcher.completed) completed, \(dispatcher.failed) failed"
                                       + (dispatcher.pruned > 0 ? ", \(dispatcher.pruned) pruned" : "") + " this run") }
        return .finished(completed: dispatcher.completed, failed: dispatcher.failed)
    }

    /// Lets messages gather until the dispatcher's `turnSpacing` has passed since the last
    /// turn (one journal transaction for all of them), watching only for a stop. Serving file
    /// pieces skips this: shipping runs at a piece batch per turn. Returns whether a stop was
    /// requested.
    private func gather(stopSignal: Int32?) -> Bool {
        let wait = lastTurn + dispatcher.turnSpacing - clock.now()
        guard wait > 0, !content.isBusy else { return false }
        let readable = Poller.wait(stopSignal.map { [.descriptor($0)] } ?? [], timeout: wait)
        return readable.first ?? false
    }

    /// Fetches the checkpoints workers offered, records those stored (their workers are told
    /// by ACK), serves them to the workers their trials' retries go to, and removes the files
    /// no unfinished trial needs any more.
    private func moveCheckpoints(now: Double) throws {
        let retired = dispatcher.checkpointsRetired
        let (offers, chunks) = dispatcher.takeUploads()
        uploads.dropUploads(unless: dispatcher.isConnected)
        var events: [CheckpointUploads.Event] = []
        for (peer, offer) in offers { events += uploads.take(offer, from: peer, now: now) }
        for (peer, chunk) in chunks { events += uploads.receive(chunk, from: peer, now: now) }
        if !events.isEmpty {
            try journal.write { w in
                for event in events {
                    switch event {
                    case .stored(let offer, let peer): try dispatcher.stored(offer, from: peer, now: now, journal: w)
                    case .failed(let offer, let peer, let reason): try dispatcher.declined(offer, from: peer, reason: reason, now: now, journal: w)
                    }
                }
            }
            for (peer, message) in dispatcher.takeOutgoing() { _ = socket.send([peer] + message.frames()) }
        }
        if retired || !events.isEmpty {
            let kept = dispatcher.checkpointsInUse
            kept.forEach(serve)
            let keptHashes = Set(kept.flatMap { $0.files.map(\.sha256) })
            for sha256 in servedCheckpoints.subtracting(keptHashes) { content.remove(sha256) }
            servedCheckpoints.formIntersection(keptHashes)
            uploads.collect(keeping: kept)
        }
        for (peer, fetch) in uploads.requests(now: now) { _ = socket.send([peer] + Message.fetch(fetch).frames()) }
    }

    /// Serves a stored checkpoint's files to workers, as pinned inputs are.
    private func serve(_ checkpoint: CheckpointManifest) {
        for file in checkpoint.files where !servedCheckpoints.contains(file.sha256) {
            let url = uploads.store.url(of: file.sha256)
            guard let stamp = try? FileStamp(ofFileAt: url.path) else { continue }  // gone: a worker asking is refused and starts without it
            content.add(PinnedFile(name: file.name, path: url.path, size: stamp.size, mtime: stamp.mtime), as: file.sha256)
            servedCheckpoints.insert(file.sha256)
        }
    }

    public var progress: SweepProgress {
        SweepProgress(completed: dispatcher.completed, failed: dispatcher.failed, running: dispatcher.runningCount,
                      workers: dispatcher.workerCount, metricRows: dispatcher.metricRows, droppedMessages: dispatcher.droppedMessages,
                      rejectedHandshakes: authenticator?.rejected ?? 0, draining: dispatcher.draining, pruned: dispatcher.pruned)
    }

    /// Reads what a signal pipe holds, so that it is not readable again for the same signals
    /// (one read: the pipe a caller passes need not be non-blocking, as `SignalPipe`'s is).
    private static func empty(_ descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 256)
        _ = read(descriptor, &buffer, buffer.count)
    }
}

extension Dispatcher {
    /// A coordinator's turn once its messages are read: applies them (`frames[0]` of each is
    /// the routing id) and the clock in one journal transaction, then sends what that
    /// transaction made true and the heartbeats due. `send` hands frames to the transport and
    /// says whether their peer could be routed to (ROUTER_MANDATORY): an ASSIGN that could not
    /// is ended in a second transaction and its trial dispatched again next turn. The
    /// coordinator and `DispatchSimulation` both run this, so the simulation measures the turn
    /// the coordinator runs rather than a copy of it.
    public func turn(_ batch: [[[UInt8]]], now: Double, journal: Journal, stopReason: String? = nil,
                     before: (JournalWriter) throws -> Void = { _ in }, send: (Peer, [[UInt8]]) -> Bool) throws {
        try journal.write { w in
            try before(w)
            for frames in batch where frames.count >= 2 {
                try receive(from: frames[0], frames: frames[1...], now: now, journal: w)
            }
            if let stopReason {
                try stop(now: now, journal: w, reason: stopReason)
            } else {
                try tick(now: now, journal: w)
            }
        }
        if isFinished { finish(now: now) }
        var undelivered: [(Peer, Assign)] = []
        for (peer, message) in takeOutgoing() {
            if !send(peer, message.frames()), case .assign(let a) = message { undelivered.append((peer, a)) }
        }
        for peer in heartbeatsDue(now: now) { _ = send(peer, Message.heartbeat.frames()) }
        if !undelivered.isEmpty {
            try journal.write { w in
                for (peer, a) in undelivered { try undeliverable(a, to: peer, now: now, journal: w) }
            }
        }
    }
}
