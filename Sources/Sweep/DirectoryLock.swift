import Foundation

/// An exclusive lock on a directory for as long as this object lives (flock on a file in it,
/// released by the kernel however the process ends), so two coordinators never write one journal.
public final class DirectoryLock {
    private let descriptor: Int32

    /// - Parameter holder: who takes it, for the error another process sees.
    public init(_ directory: URL, name: String, holder: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw JournalError(path: path, reason: String(cString: strerror(errno))) }
        // `isHeld` takes a shared lock for an instant: try again for up to a second before giving up.
        var locked = false
        for attempt in 0..<50 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                locked = true
                break
            }
            guard errno == EWOULDBLOCK, attempt < 49 else { break }
            usleep(20_000)
        }
        guard locked else {
            let other = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? "?"
            close(descriptor)
            throw JournalError(path: directory.path, reason: "another \(holder) (pid \(other)) is using this directory; stop it first or choose another directory")
        }
        ftruncate(descriptor, 0)
        let holder = "\(getpid())\n\(Self.hostName)\n"
        _ = holder.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit { close(descriptor) }

    /// The file of the lock a sweep's coordinator holds on its directory while it runs.
    public static let coordinatorFileName = "coordinator.lock"

    /// Whether another process holds the lock `name` on `directory` now: a shared lock is
    /// tried and, when granted, let go at once (a lock being taken meanwhile waits for it).
    public static func isHeld(_ directory: URL, name: String) -> Bool {
        let descriptor = open(directory.appendingPathComponent(name).path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// The process holding the lock `name` on `directory`, as it wrote itself down: its pid
    /// and its machine's name (a directory on a shared file system can be locked from another
    /// machine, where the pid means nothing). Nil when none holds it.
    public static func holder(_ directory: URL, name: String) -> (pid: pid_t, host: String)? {
        guard isHeld(directory, name: name),
              let text = try? String(contentsOfFile: directory.appendingPathComponent(name).path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        guard let pid = lines.first.flatMap({ pid_t($0) }) else { return nil }
        return (pid, lines.count > 1 ? lines[1] : "")
    }

    /// This machine's name, as `gethostname` gives it.
    public static var hostName: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count) == 0 else { return "" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
