import Crypto
import Foundation
import GRDB
import TrialContract

/// What planning found of the trials' inputs.
public struct InputCheck: Sendable {
    /// The plan with each trial's id as it now is: the config's id, or a new one for trials
    /// whose inputs changed since the journal first recorded them.
    public var planned: [PlannedTrial]
    /// One line per input file whose content changed: which, from and to what, how many trials.
    public var changes: [String]
    /// Trials already in the journal from before it recorded inputs, whose inputs are pinned now.
    public var pinnedLate: Int
}

extension PlannedTrial {
    /// This trial under another id (its inputs changed).
    func renamed(_ id: String) -> PlannedTrial { PlannedTrial(id: id, axes: axes, canonicalConfig: canonicalConfig) }
}

extension JournalWriter {
    /// Pins every planned trial to the SHA-256 of the files it reads (`inputs`). A trial id
    /// stays its config's as long as its files are those the journal first recorded for it;
    /// when one has changed, the trial gets a new id (of its config and its inputs' hashes), so
    /// results of the old and the new file never mix under one id, and the change is named.
    /// Journals that predate input pinning keep their ids: what is there now is pinned.
    /// Hashes are cached by path, size and modification time: a re-plan reads only changed files.
    public func pinInputs(_ planned: [PlannedTrial], inputs: (PlannedTrial) throws -> [InputFile]) throws -> InputCheck {
        var digests: [String: String] = [:]
        var changed: [String: (old: String, new: String, trials: Int)] = [:]
        var pinnedLate = 0
        let result = try planned.map { trial -> PlannedTrial in
            var current: [String: String] = [:]
            for file in try inputs(trial) {
                if digests[file.name] == nil { digests[file.name] = try digest(of: file) }
                current[file.name] = digests[file.name]
            }
            let recorded = try pinned(trial.id)
            if recorded.isEmpty {
                if try trialExists(trial.id), !current.isEmpty { pinnedLate += 1 }
                try pin(trial.id, current)
                return trial
            }
            guard recorded != current else { return trial }
            for name in Set(recorded.keys).union(current.keys).sorted() where recorded[name] != current[name] {
                let entry = changed[name] ?? (recorded[name] ?? "none", current[name] ?? "none", 0)
                changed[name] = (entry.old, entry.new, entry.trials + 1)
            }
            let lines = current.keys.sorted().map { "\($0)=\(current[$0]!)" }.joined(separator: "\n")
            let id = PlannedTrial.id(hashing: trial.id + "\n" + lines)
            if try pinned(id).isEmpty { try pin(id, current) }
            return trial.renamed(id)
        }
        let changes = changed.keys.sorted().map { name in
            let c = changed[name]!
            return "\(name) changed since this sweep first planned it (sha256 \(c.old.prefix(12)) → \(c.new.prefix(12))): "
                + "\(c.trials) trial(s) that read it get new ids and run again; results under the old ids stay as they were"
        }
        return InputCheck(planned: result, changes: changes, pinnedLate: pinnedLate)
    }

    private func pinned(_ trial: String) throws -> [String: String] {
        let rows = try Row.fetchAll(db, sql: "SELECT name, sha256 FROM trial_inputs WHERE trial = ?", arguments: [trial])
        return Dictionary(rows.map { row -> (String, String) in (row[0], row[1]) }) { first, _ in first }
    }

    private func pin(_ trial: String, _ inputs: [String: String]) throws {
        for (name, sha256) in inputs {
            try db.execute(sql: "INSERT OR REPLACE INTO trial_inputs (trial, name, sha256) VALUES (?, ?, ?)", arguments: [trial, name, sha256])
        }
    }

    private func trialExists(_ id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM trials WHERE id = ?)", arguments: [id]) ?? false
    }

    /// The file's SHA-256, from the cache when its path, size and modification time are unchanged.
    private func digest(of file: InputFile) throws -> String {
        let stamp: FileStamp
        do { stamp = try FileStamp(ofFileAt: file.url.path) } catch {
            throw JournalError(path: file.url.path, reason: "cannot read input \(file.name): \(error.localizedDescription)")
        }
        if let row = try Row.fetchOne(db, sql: "SELECT sha256 FROM inputs WHERE name = ? AND path = ? AND size = ? AND mtime = ?",
                                      arguments: [file.name, file.url.path, stamp.size, stamp.mtime]) {
            return row[0]
        }
        let sha256 = try ContentDigest.sha256(of: file.url)
        try db.execute(sql: "INSERT OR REPLACE INTO inputs (name, path, size, mtime, sha256) VALUES (?, ?, ?, ?, ?)",
                       arguments: [file.name, file.url.path, stamp.size, stamp.mtime, sha256])
        return sha256
    }
}

/// A file a trial reads, as the sweep pinned it: the name every machine knows it by (see
/// `InputFile`) and the SHA-256 of its content, which is also how a worker asks for it.
public struct PinnedInput: Codable, Hashable, Sendable {
    public var name: String
    public var sha256: String
    /// Its size in bytes, when the journal knows it.
    public var size: Int64?

    public init(name: String, sha256: String, size: Int64? = nil) {
        self.name = name
        self.sha256 = sha256
        self.size = size
    }
}

/// Where the coordinator's copy of a pinned input is, and what it was when it was hashed.
public struct PinnedFile: Sendable, Equatable {
    public var name: String
    public var path: String
    public var size: Int64
    public var mtime: Double

    public init(name: String, path: String, size: Int64, mtime: Double) {
        self.name = name
        self.path = path
        self.size = size
        self.mtime = mtime
    }
}

extension Journal {
    /// Each trial's pinned inputs, by trial id; trials that read no files are absent. Trials
    /// with the same inputs share one array.
    public func pinnedInputs() throws -> [String: [PinnedInput]] {
        try read { db in
            var byTrial: [String: [PinnedInput]] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT t.trial, t.name, t.sha256, i.size FROM trial_inputs t
                LEFT JOIN inputs i ON i.name = t.name AND i.sha256 = t.sha256 ORDER BY t.trial, t.name
                """)
            while let row = try rows.next() {
                byTrial[row[0], default: []].append(PinnedInput(name: row[1], sha256: row[2], size: row[3]))
            }
            var shared: [[PinnedInput]: [PinnedInput]] = [:]
            return byTrial.mapValues { inputs in
                if let first = shared[inputs] { return first }
                shared[inputs] = inputs
                return inputs
            }
        }
    }

    /// The coordinator's copy of every pinned input it can serve, by SHA-256: the files as
    /// last hashed, whose content some trial is pinned to.
    public func pinnedFiles() throws -> [String: PinnedFile] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT i.sha256, i.name, i.path, i.size, i.mtime FROM inputs i
                WHERE EXISTS (SELECT 1 FROM trial_inputs t WHERE t.sha256 = i.sha256)
                """)
            return Dictionary(rows.map { row -> (String, PinnedFile) in
                (row[0], PinnedFile(name: row[1], path: row[2], size: row[3], mtime: row[4]))
            }) { first, _ in first }
        }
    }
}

/// A file's size and modification time: while both are what they were when it was hashed, the
/// hash is taken as still true (the journal's cache of input hashes, the coordinator's check
/// before serving, a worker's cache of its local files' hashes).
public struct FileStamp: Equatable, Sendable {
    public var size: Int64
    public var mtime: Double

    public init(size: Int64, mtime: Double) {
        self.size = size
        self.mtime = mtime
    }

    /// The stamp of whatever is at `path` now; throws if nothing can be read there.
    public init(ofFileAt path: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        self.init(size: (attributes[.size] as? NSNumber)?.int64Value ?? -1,
                  mtime: (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
    }

    /// The stamp of the file open as `descriptor` (compare it only with stamps made this way).
    public init(ofDescriptor descriptor: Int32) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        self.init(size: Int64(info.st_size), mtime: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }
}

/// SHA-256 of a file's content, as the sweep pins it.
public enum ContentDigest {
    /// Read in 1 MiB pieces: memory stays bounded whatever the file's size.
    public static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().hexDigits
    }

    /// SHA-256 of bytes in memory, in the same hex.
    public static func sha256(of bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).hexDigits
    }
}
