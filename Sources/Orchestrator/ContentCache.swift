import Foundation
import Sweep

/// A worker box's store of shipped inputs, by content: `<root>/sha256/<first two hex digits>/<hash>`,
/// under `$LPFT_HOME/content` and so shared by every worker, trial and sweep of the box. A
/// file is only ever there whole and verified: pieces go to a partial file of the fetching
/// worker's own, renamed into place (atomically) once its hash is checked.
public struct ContentCache: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// Where content `sha256` is (or would be) kept.
    public func url(of sha256: String) -> URL {
        root.appendingPathComponent("sha256/\(sha256.prefix(2))/\(sha256)")
    }

    /// Whether `text` is a SHA-256 as the cache names content (64 lowercase hex digits), so
    /// a name from the wire never leaves the cache's directory.
    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public func contains(_ sha256: String) -> Bool {
        FileManager.default.fileExists(atPath: url(of: sha256).path)
    }

    /// Where `worker` gathers the pieces of `sha256`: its own file, so two workers of the box
    /// fetching the same content never write into one.
    func partialURL(of sha256: String, worker: String) -> URL {
        let safe = String(worker.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }.prefix(64))
        return url(of: sha256).appendingPathExtension("partial-\(safe)")
    }

    /// Moves a verified partial file into place, read-only: every trial on the box shares it.
    func commit(_ partial: URL, as sha256: String) throws {
        let target = url(of: sha256)
        guard rename(partial.path, target.path) == 0 else {
            throw WorkerError("cannot move \(partial.path) into the content cache: \(String(cString: strerror(errno)))")
        }
        chmod(target.path, 0o444)
    }

    /// Hashes being a second's work for a model, a local file's hash is looked up by path,
    /// size and modification time.
    final class LocalDigests {
        private var known: [String: (stamp: FileStamp, sha256: String)] = [:]

        /// The SHA-256 of the file at `path`, or nil if there is none (or it cannot be read).
        func sha256(ofFileAt path: String) -> String? {
            // A directory has a stamp but no digest (reading it fails): nil as for no file.
            guard let stamp = try? FileStamp(ofFileAt: path) else { return nil }
            if let k = known[path], k.stamp == stamp { return k.sha256 }
            guard let digest = try? ContentDigest.sha256(of: URL(fileURLWithPath: path)) else { return nil }
            known[path] = (stamp, digest)
            return digest
        }
    }
}
