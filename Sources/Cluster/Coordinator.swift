import CZeroMQ
import Foundation
import Sweep

/// A snapshot for progress lines.
public struct SweepProgress: Sendable {
    public var completed: Int
    public var failed: Int
    public var running: Int
    public var workers: Int
    public var metricRows: Int
    public var droppedMessages: Int
}

/// The coordinator: a ROUTER socket, the dispatcher's state machine and the journal, driven
/// by one thread. Each turn reads every waiting message, applies them and the clock in one
/// journal transaction, and only then sends the ACKs and ASSIGNs that transaction made true.
public final class Coordinator {
    public let journal: Journal
    public let dispatcher: Dispatcher
    private let socket: ZeroMQSocket
    /// What the socket is bound to (a `*` port resolved).
    public let endpoint: String
    public var onProgress: (SweepProgress) -> Void = { _ in }

    public init(journal: Journal, settings: DispatchSettings, bind endpoint: String, context: ZeroMQContext) throws {
        self.journal = journal
        dispatcher = try Dispatcher(journal: journal, settings: settings, now: Date().timeIntervalSince1970)
        socket = try ZeroMQSocket(context, .router)
        try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
        try socket.set(ZMQ_MAXMSGSIZE, WireProtocol.maxMessageSize)
        try socket.set(ZMQ_SNDHWM, Int32(100_000))
        try socket.set(ZMQ_RCVHWM, Int32(100_000))
        try socket.bind(endpoint)
        self.endpoint = socket.lastEndpoint
    }

    public enum Outcome: Sendable, Equatable {
        /// Every trial is completed or failed.
        case finished(completed: Int, failed: Int)
        /// Stopped by a signal; running attempts were recorded as interrupted.
        case stopped
    }

    /// Runs until the sweep is finished or `stopSignal` (a file descriptor, e.g. a signal
    /// pipe) becomes readable.
    public func run(stopSignal: Int32? = nil) throws -> Outcome {
        try journal.write { try $0.event("coordinator started", at: Date().timeIntervalSince1970, detail: "bound to \(endpoint), pid \(getpid())") }
        while true {
            if let outcome = try turn(stopSignal: stopSignal) { return outcome }
        }
    }

    private var batch: [[[UInt8]]] = []
    private var lastProgress = 0.0

    /// One turn: waits up to a tick for messages, applies them and the clock in one journal
    /// transaction, then sends what that transaction made true. Returns the outcome once the
    /// sweep is over.
    public func turn(stopSignal: Int32? = nil) throws -> Outcome? {
        var items: [Poller.Item] = [.socket(socket)]
        if let stopSignal { items.append(.descriptor(stopSignal)) }
        let readable = Poller.wait(items, timeout: min(0.1, dispatcher.settings.heartbeatInterval / 2))
        let stopRequested = readable.count > 1 && readable[1]
        batch.removeAll(keepingCapacity: true)
        while batch.count < 4096, let frames = socket.receive() { batch.append(frames) }
        let now = Date().timeIntervalSince1970
        try journal.write { w in
            for frames in batch where frames.count >= 2 {
                try dispatcher.receive(from: frames[0], frames: frames[1...], now: now, journal: w)
            }
            if stopRequested {
                try dispatcher.stop(now: now, journal: w, reason: "the coordinator was stopped")
            } else {
                try dispatcher.tick(now: now, journal: w)
            }
        }
        if dispatcher.isFinished { dispatcher.finish(now: now) }
        flush(now: now)
        if now - lastProgress >= 1 || dispatcher.isFinished || stopRequested {
            lastProgress = now
            onProgress(progress)
        }
        if stopRequested { return .stopped }
        guard dispatcher.isFinished else { return nil }
        try journal.write { try $0.event("sweep finished", at: now, detail: "\(dispatcher.completed) completed, \(dispatcher.failed) failed this run") }
        return .finished(completed: dispatcher.completed, failed: dispatcher.failed)
    }

    public var progress: SweepProgress {
        SweepProgress(completed: dispatcher.completed, failed: dispatcher.failed, running: dispatcher.runningCount,
                      workers: dispatcher.workerCount, metricRows: dispatcher.metricRows, droppedMessages: dispatcher.droppedMessages)
    }

    private func flush(now: Double) {
        for (peer, message) in dispatcher.takeOutgoing() {
            socket.send([peer] + message.frames())
        }
        for peer in dispatcher.heartbeatsDue(now: now) {
            socket.send([peer] + Message.heartbeat.frames())
        }
    }
}

/// SIGINT and SIGTERM as a readable pipe, so a poll loop wakes for them. A second signal
/// exits at once: everything committed is already safe in the journal.
public final class SignalPipe {
    public let readEnd: Int32
    private let writeEnd: Int32
    private var sources: [DispatchSourceSignal] = []
    private var count = 0

    public init(onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        let queue = DispatchQueue(label: "lpft.signals")
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [unowned self] in
                count += 1
                if count > 1 {
                    FileHandle.standardError.write(Data("\nlpft: second signal, exiting now\n".utf8))
                    Foundation.exit(130)
                }
                onFirst(number)
                var byte: UInt8 = 1
                _ = write(writeEnd, &byte, 1)
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
        close(readEnd)
        close(writeEnd)
    }
}
