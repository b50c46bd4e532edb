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
    }

    public var config: URL { url.appendingPathComponent(Name.config) }
    public var metrics: URL { url.appendingPathComponent(Name.metrics) }
    public var result: URL { url.appendingPathComponent(Name.result) }
    public var checkpoints: URL { url.appendingPathComponent(Name.checkpoints) }
    public var assignedConfig: URL { url.appendingPathComponent(Name.assignedConfig) }
    public func attemptLog(_ attempt: Int) -> URL { url.appendingPathComponent("attempt-\(attempt).log") }

    /// Whether the directory already holds a trial (so a fresh run must not overwrite it).
    public var holdsTrial: Bool {
        [result, checkpoints, metrics].contains { FileManager.default.fileExists(atPath: $0.path) }
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
}
