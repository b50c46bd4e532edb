import Foundation

/// A flag set from one thread (a signal handler, the worker loop) and polled from another.
public final class StopFlag: @unchecked Sendable {
    // Safe: `value` is only read and written under `lock`.
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}

/// SIGINT and SIGTERM as a readable pipe, so a poll loop wakes for them. A second signal
/// exits at once (code ``TrialExitCode/interrupted``): everything committed is already safe.
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
                    Foundation.exit(TrialExitCode.interrupted)
                }
                onFirst(number)
                var byte: UInt8 = 1
                _ = write(writeEnd, &byte, 1)
            }
            source.resume()
            sources.append(source)
        }
        // libdispatch installs its handler on its own thread, after `resume()` returns; until
        // then SIG_IGN is in force and a signal would be lost. Wait (briefly) until it is in.
        for _ in 0..<1000 where [SIGINT, SIGTERM].contains(where: Self.isIgnored) { usleep(1000) }
    }

    private static func isIgnored(_ number: Int32) -> Bool {
        var action = sigaction()
        sigaction(number, nil, &action)
        return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    deinit {
        sources.forEach { $0.cancel() }
        close(readEnd)
        close(writeEnd)
    }
}
