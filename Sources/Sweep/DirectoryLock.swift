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
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let other = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw JournalError(path: directory.path, reason: "another \(holder) (pid \(other)) is using this directory; stop it first or choose another directory")
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit { close(descriptor) }

    /// The lock a sweep's coordinator holds on its directory while it runs.
    public static let coordinator = "coordinator.lock"

    /// Whether some process holds the lock `name` on `directory` now; takes nothing (a
    /// shared lock tried and let go, refused while another process holds it exclusively).
    public static func isHeld(_ directory: URL, name: String) -> Bool {
        let descriptor = open(directory.appendingPathComponent(name).path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_SH | LOCK_NB) != 0
    }
}
