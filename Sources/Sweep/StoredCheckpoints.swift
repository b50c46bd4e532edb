import Foundation
import GRDB

/// A trial's checkpoint as it travels: its name (the directory under the trial's
/// `checkpoints/`, e.g. `epoch-3`) and its files by content, each named by its path relative to
/// the trial directory. A worker offers one when its trial writes it; the coordinator keeps the
/// newest whole one of each unfinished trial; an ASSIGN of a retry names it, and a worker that
/// lacks it fetches its files by hash as it fetches inputs.
public struct CheckpointManifest: Codable, Hashable, Sendable {
    public var name: String
    public var files: [PinnedInput]

    public init(name: String, files: [PinnedInput]) {
        self.name = name
        self.files = files
    }

    /// Its size in bytes (`Int64.max` if the sizes a worker claims add up past it).
    public var bytes: Int64 {
        files.reduce(0) { total, file in
            let (sum, overflow) = total.addingReportingOverflow(file.size ?? 0)
            return overflow ? .max : sum
        }
    }
}

/// A trial's checkpoint as the coordinator keeps it: uploaded by the attempt of `lease`.
public struct StoredCheckpoint: Equatable, Sendable {
    public var lease: Int64
    public var manifest: CheckpointManifest

    public init(lease: Int64, manifest: CheckpointManifest) {
        self.lease = lease
        self.manifest = manifest
    }
}

extension Journal {
    /// The checkpoint the coordinator keeps for each trial that has one, by trial id.
    public func storedCheckpoints() throws -> [String: StoredCheckpoint] {
        try read { db in
            guard try db.tableExists("checkpoints") else { return [:] }  // a read-only journal that predates them
            var byTrial: [String: StoredCheckpoint] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT trial, lease, manifest FROM checkpoints")
            while let row = try rows.next() {
                let text: String = row[2]
                guard let manifest = try? JSONDecoder().decode(CheckpointManifest.self, from: Data(text.utf8)) else {
                    throw JournalError(path: path, reason: "the stored checkpoint of trial \(row[0] as String) is not a manifest: \(text.prefix(80))")
                }
                byTrial[row[0]] = StoredCheckpoint(lease: row[1], manifest: manifest)
            }
            return byTrial
        }
    }
}

extension JournalWriter {
    /// Makes `checkpoint` the trial's stored one (replacing the one before).
    public func storeCheckpoint(_ checkpoint: StoredCheckpoint, trial: String, at time: Double) throws {
        let m = checkpoint.manifest
        let json = String(decoding: try JSONEncoder.sorted.encode(m), as: UTF8.self)
        try db.execute(sql: "INSERT OR REPLACE INTO checkpoints (trial, lease, name, bytes, manifest, stored_at) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [trial, checkpoint.lease, m.name, m.bytes, json, time])
    }

    /// Forgets the trial's stored checkpoint (it has finished, or its upload was superseded).
    public func dropCheckpoint(trial: String) throws {
        try db.execute(sql: "DELETE FROM checkpoints WHERE trial = ?", arguments: [trial])
    }
}

extension JSONEncoder {
    /// Sorted keys: the same manifest is the same text.
    fileprivate static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
