import Foundation
import TrialContract
import Wire

/// One trial running under a worker: a child process (``TrialCommandLine``) or, for trials the
/// worker runs itself, a thread. Either way its events arrive as ``TrialEvent`` lines on a pipe.
///
/// The child's stdin is a pipe the worker holds open: when the worker dies, the child reads
/// end-of-file and exits, so no trial outlives its worker unseen.
final class TrialExecution {
    let assignment: Assign
    /// Where a child runs; nil for a thread.
    let directory: TrialDirectory?
    private(set) var events: Int32
    private(set) var log: Int32 = -1
    private let pid: pid_t
    private var stdinWrite: Int32 = -1
    private let stopFlag = StopFlag()
    /// Reused by every read: a trial streams many small writes.
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private var pending = [UInt8]()
    private var logPending = [UInt8]()
    private var logFile: FileHandle?
    private var nextSeq = 0
    private var resultLine: [String: Any]?
    /// Checkpoints the trial has said are whole, not yet taken by the worker.
    private var checkpoints: [String] = []
    private var exitStatus: Int32?
    /// The last lines the trial wrote to stderr (or its thread reported).
    private(set) var logTail: [String] = []
    /// Held while a child runs in its trial directory.
    private let lockDescriptor: Int32

    /// Starts `lpft train` in a child process, with `environment` over the worker's own.
    init(assignment: Assign, executable: String, arguments: [String], environment: [String: String] = [:], directory: TrialDirectory, lock: Int32) throws {
        self.assignment = assignment
        self.directory = directory
        lockDescriptor = lock
        let input = try Self.pipe(), output = try Self.pipe(), errors = try Self.pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var inherited = ProcessInfo.processInfo.environment
        inherited.merge(environment) { _, new in new }
        let envp = inherited.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, executable, &actions, nil, argv, envp)
        close(input.read)
        close(output.write)
        close(errors.write)
        guard rc == 0 else {
            [input.write, output.read, errors.read].forEach { close($0) }
            throw WorkerError("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdinWrite = input.write
        events = output.read
        log = errors.read
        logFile = Self.openLog(directory, attempt: assignment.attempt)
    }

    /// Runs `body` on a thread of this process; it writes event lines through the given function.
    init(assignment: Assign, body: @escaping InProcessTrial) throws {
        self.assignment = assignment
        directory = nil
        lockDescriptor = -1
        pid = 0
        let output = try Self.pipe()
        events = output.read
        let write = output.write, stop = stopFlag, config = assignment.config
        Thread.detachNewThread {
            body(config, { line in
                let bytes = Array((line + "\n").utf8)
                var offset = 0
                while offset < bytes.count {
                    let n = bytes[offset...].withUnsafeBytes { Glibc.write(write, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    offset += n
                }
            }, { stop.isSet })
            close(write)
        }
    }

    deinit {
        if events >= 0 { close(events) }
        if log >= 0 { close(log) }
        if stdinWrite >= 0 { close(stdinWrite) }
        if lockDescriptor >= 0 { close(lockDescriptor) }
    }

    /// Descriptors to poll while the trial still has output.
    var descriptors: [Int32] { [events, log].filter { $0 >= 0 } }

    /// Reads what `fd` has; returns the metric rows among the complete lines.
    func read(_ fd: Int32) -> [MetricRow] {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return [] }
        let atEnd = n <= 0
        let bytes = atEnd ? [] : buffer[0..<n]
        if fd == log {
            try? logFile?.write(contentsOf: Data(bytes))  // a full disk must not take the worker down
            logPending += bytes
            if atEnd, !logPending.isEmpty { logPending.append(10) }
            for line in Self.takeLines(&logPending) { remember(line) }
            if atEnd {
                close(log)
                log = -1
            }
            return []
        }
        pending += bytes
        var rows: [MetricRow] = []
        for line in Self.takeLines(&pending) {
            switch TrialEvent(line: line) {
            case let .metric(name, value, epoch, step):
                rows.append(MetricRow(seq: nextSeq, name: name, value: value, epoch: epoch, step: step))
                nextSeq += 1
            case .checkpoint(let name):
                checkpoints.append(name)
            case .result(let object):
                resultLine = object
            case nil:
                remember(line)  // not an event: keep it as a log line
            }
        }
        if atEnd {
            close(events)
            events = -1
        }
        return rows
    }

    /// The names of the checkpoints the trial has written since the last call, oldest first.
    func takeCheckpoints() -> [String] {
        defer { checkpoints.removeAll() }
        return checkpoints
    }

    /// The trial's outcome once its output is closed and (for a child) it has exited.
    func outcome() -> TrialReport? {
        guard events < 0, log < 0 else { return nil }
        if pid != 0, exitStatus == nil {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == 0 || (reaped < 0 && errno == EINTR) { return nil }
            // -1: not our child any more (e.g. SIGCHLD ignored); its output has ended, so it has too.
            exitStatus = reaped == pid ? status : (1 << 8)
        }
        var result: String?
        var status = TrialReport.Status.failed
        var reason: String?
        if let line = resultLine {
            result = (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
            status = TrialReport.Status(TrialResultSchema.status(of: line))
            reason = TrialResultSchema.error(of: line)
        }
        if let raw = exitStatus {
            let signal = raw & 0x7f, code = (raw >> 8) & 0xff
            if signal != 0 {
                status = .failed
                reason = "killed by signal \(signal)" + (signal == SIGKILL ? " (SIGKILL: often the out-of-memory killer)" : "")
            } else if code != 0, status == .completed {
                status = .failed
                reason = "exit code \(code) after reporting completion"
            } else if code != 0, reason == nil {
                reason = "exit code \(code)"
            }
        }
        if resultLine == nil, reason == nil { reason = "the trial ended without a result" }
        if status != .completed, reason == nil { reason = status.rawValue }
        return TrialReport(trial: assignment.trial, lease: assignment.lease, status: status, reason: reason, logTail: logTail, result: result)
    }

    /// Asks the trial to stop at its next step (SIGTERM for a child).
    func stop() {
        stopFlag.set()
        if pid != 0 { kill(pid, SIGTERM) }
    }

    private func remember(_ line: String) {
        logTail.append(line)
        if logTail.count > 20 { logTail.removeFirst(logTail.count - 20) }
    }

    private static func takeLines(_ buffer: inout [UInt8]) -> [String] {
        guard let last = buffer.lastIndex(of: 10) else { return [] }
        let lines = buffer[...last].split(separator: 10).map { String(decoding: $0, as: UTF8.self) }
        buffer.removeFirst(last + 1)
        return lines
    }

    private static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw WorkerError("pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec, so no other child inherits this trial's pipes and hides their end.
        // (Only the worker's own thread spawns children, so nothing can fork in between.)
        fds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    private static func openLog(_ directory: TrialDirectory, attempt: Int) -> FileHandle? {
        let url = directory.attemptLog(attempt)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { return nil }
        return try? FileHandle(forWritingTo: url)
    }
}

public struct WorkerError: Error, CustomStringConvertible {
    public let description: String
    package init(_ description: String) { self.description = description }
}

extension TrialReport.Status {
    /// The wire's status for a trial's result.
    init(_ status: TrialResultSchema.Status) {
        switch status {
        case .completed: self = .completed
        case .interrupted: self = .interrupted
        case .failed: self = .failed
        }
    }
}
