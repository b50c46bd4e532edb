import Foundation

/// The files of one trial's directory. This is the only place their names are spelled: the
/// trial process writes them (`lpft train`), the worker reads and clears them, and a rename
/// here moves both sides at once.
///
/// - `config.json`: the fully resolved trial config, written first;
/// - `metrics.jsonl`: one JSON object per metric event, appended as they happen;
/// - `result.json`: the ``TrialResultSchema`` object, written atomically, last;
/// - `checkpoints/`: FT checkpoints a retried attempt resumes from;
/// - `assigned.json`: the config as the coordinator assigned it (worker only);
/// - `inputs/`: the view of the trial's pinned inputs it reads (worker only);
/// - `attempt-N.log`: what attempt N wrote on stderr (worker only).
public struct TrialDirectory: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    /// The names, for help texts and messages.
    public enum Name {
        public static let config = "config.json"
        public static let metrics = "metrics.jsonl"
        public static let result = "result.json"
        public static let checkpoints = "checkpoints"
        public static let assignedConfig = "assigned.json"
        public static let inputs = "inputs"
    }

    public var config: URL { url.appendingPathComponent(Name.config) }
    public var metrics: URL { url.appendingPathComponent(Name.metrics) }
    public var result: URL { url.appendingPathComponent(Name.result) }
    public var checkpoints: URL { url.appendingPathComponent(Name.checkpoints) }
    public var assignedConfig: URL { url.appendingPathComponent(Name.assignedConfig) }
    public func attemptLog(_ attempt: Int) -> URL { url.appendingPathComponent("attempt-\(attempt).log") }
    /// The worker's view of the trial's pinned inputs; a config's absolute paths are moved
    /// under `inputs/root`.
    public var inputs: URL { url.appendingPathComponent(Name.inputs) }
    public var inputsRoot: URL { inputs.appendingPathComponent("root") }

    /// `configJSON` as any box would have it: a worker moves the config's absolute paths into
    /// this directory's input view, whose place differs from box to box, so a checkpoint
    /// carries the config with that prefix taken off (the content behind the paths is pinned
    /// by hash, and the trial id names the config as planned). A checkpoint written on one
    /// box is then recognised as the same trial's on another.
    public func portable(configJSON: String) -> String {
        configJSON.replacingOccurrences(of: "\"" + inputsRoot.standardizedFileURL.path + "/", with: "\"/")
    }

    /// Where a file of a travelling checkpoint goes, from its name relative to this directory
    /// (`checkpoints/<checkpoint>/<file>`); nil for a name that would leave that place, so a
    /// name from the wire never writes elsewhere.
    public func checkpointFile(_ relative: String, of checkpoint: String) -> URL? {
        Self.isCheckpointFile(relative, of: checkpoint) ? url.appendingPathComponent(relative) : nil
    }

    /// Whether `relative` names a file of `checkpoint`: `checkpoints/<checkpoint>/<file>`,
    /// each part a plain name.
    public static func isCheckpointFile(_ relative: String, of checkpoint: String) -> Bool {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        return parts.count == 3 && parts[0] == Name.checkpoints && parts[1] == checkpoint && isPlainName(checkpoint) && isPlainName(parts[2])
    }

    /// A single path component that names something in its directory (not `.`, `..` or hidden).
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\0")
    }
    /// Whether the directory holds a trial a fresh start must not overwrite: one with
    /// checkpoints, one that completed or was interrupted, or one killed before its result.
    /// A trial that failed before its first checkpoint (while loading its data, say) is not
    /// one: resuming it would only repeat its config, so a corrected rerun may replace it.
    public var holdsTrial: Bool {
        let fm = FileManager.default
        if fm.fileExists(atPath: checkpoints.path) { return true }
        guard let data = fm.contents(atPath: result.path) else { return fm.fileExists(atPath: metrics.path) }
        let object = TrialJSON.value(data) as? [String: Any]
        return object.map { TrialResultSchema.status(of: $0) != .failed } ?? true
    }

    /// Whether an earlier attempt left checkpoints and its config, so `--resume` can continue it.
    public var canResume: Bool {
        [checkpoints, config].allSatisfy { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Removes what an earlier attempt wrote that a fresh start would otherwise append to or
    /// be mistaken for (its checkpoints are kept: they are harmless without a config).
    public func removeStaleOutput() {
        for file in [metrics, result, config] { try? FileManager.default.removeItem(at: file) }
    }

    /// Makes the directory ready for a new trial (`lpft train --config`): clears a failed
    /// start's files, and refuses to overwrite any other trial unless `replacing` (`--force`),
    /// which clears its checkpoints too, since the new run would resume from them.
    public func prepareForNewTrial(replacing: Bool) throws {
        if holdsTrial && !replacing {
            throw TrialDirectoryInUse(description: "\(url.path) already holds a trial: resume it with --resume \(url.path), start it afresh with --force, or choose another --out")
        }
        removeStaleOutput()
        try? FileManager.default.removeItem(at: checkpoints)
    }
}

/// A new trial was asked for in a directory that holds one worth keeping.
public struct TrialDirectoryInUse: Error, CustomStringConvertible {
    public let description: String
}
