import Foundation
import Synchronization

/// A flag set from one thread (a signal handler, the worker loop) and polled from another.
public final class StopFlag: Sendable {
    private let value = Mutex(false)
    public init() {}
    public func set() { value.withLock { $0 = true } }
    public var isSet: Bool { value.withLock { $0 } }
}

/// Signals as a readable pipe, so a poll loop wakes for them: by default SIGINT and SIGTERM,
/// whose second exits at once (code ``TrialExitCode/interrupted``): everything committed is
/// already safe.
///
/// Signals within `sameRequest` (1 s) of the first are that request again, not a second one:
/// a scheduler stopping a job (SLURM's requeue or cancel, Kubernetes) signals every process
/// of it while each parent passes the stop on to its children too, so a worker and its trial
/// each receive SIGTERM twice within milliseconds, and must still save their work.
public final class SignalPipe {
    public let readEnd: Int32
    private let writeEnd: Int32
    private let numbers: [Int32]
    private var sources: [DispatchSourceSignal] = []
    private var count = 0
    private var firstAt: UInt64 = 0
    public static let sameRequest = 1.0

    /// - Parameter exitsOnSecond: whether a second signal exits the process (a stop asked for
    ///   twice) or is only written to the pipe again (a request, such as a drain, asked twice).
    public init(_ numbers: [Int32] = [SIGINT, SIGTERM], exitsOnSecond: Bool = true, onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.numbers = numbers
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        let queue = DispatchQueue(label: "lpft.signals")
        for number in numbers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [unowned self] in
                let now = DispatchTime.now().uptimeNanoseconds
                if count > 0, exitsOnSecond, Double(now - firstAt) / 1e9 < Self.sameRequest { return }
                if count == 0 { firstAt = now }
                count += 1
                if count > 1, exitsOnSecond {
                    FileHandle.standardError.write(Data("\nlpft: second signal, exiting now\n".utf8))
                    Foundation.exit(TrialExitCode.interrupted)
                }
                if count == 1 { onFirst(number) }
                var byte: UInt8 = 1
                _ = write(writeEnd, &byte, 1)
            }
            source.resume()
            sources.append(source)
        }
        // libdispatch installs its handler on its own thread, after `resume()` returns; until
        // then SIG_IGN is in force and a signal would be lost. Wait (briefly) until it is in.
        for _ in 0..<1000 where numbers.contains(where: Self.isIgnored) { usleep(1000) }
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

/// How `lpft sweep run` ties the processes it starts (local workers, its dashboard) to its own
/// life. Each child's standard input is a pipe whose only write end the parent holds; the kernel
/// closes that end however the parent ends (an error, a crash, or SIGKILL, which no handler
/// sees), and the child reads end of file. Without it, local workers of a coordinator that
/// died ran on until their idle timeout.
public enum ParentLifeline {
    /// The option that tells a child its standard input is a lifeline.
    public static let option = "--exit-with-parent"

    /// For the parent: a pipe for one child's `Process.standardInput`; keep it as long as the
    /// child should live. Its write end is close-on-exec, so no other child holds it open.
    public static func pipe() -> Pipe {
        let pipe = Pipe()
        _ = fcntl(pipe.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        return pipe
    }

    /// For the child, once a poll says `descriptor` is readable: whether the parent has gone
    /// (end of file), rather than having written something, which is read and ignored.
    public static func hasEnded(_ descriptor: Int32 = STDIN_FILENO) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(descriptor, &buffer, buffer.count)
        return count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN)
    }

    /// For a child without a poll loop: `onEnd` runs on a thread of its own once the parent has gone.
    public static func watch(_ descriptor: Int32 = STDIN_FILENO, onEnd: @escaping @Sendable () -> Void) {
        Thread.detachNewThread {
            while !hasEnded(descriptor) {}
            onEnd()
        }
    }
}
