import Foundation

/// The `result.json` object (and the result event line, which is the same object):
///
/// `{"schema": 1, "status": "completed" | "interrupted" | "failed", "error"?: …,
///   "config"?: {…}, "metrics"?: {name: number}, "best_epoch"?: n, "timings"?: {…},
///   "reliability"?: {…}, "versions"?: {"lpft": …, "build": …, "openblas": …},
///   "labels"?: [class names in index order], "predictions"?: {…} (``TrialPredictions``)}`
///
/// Numbers go through ``JSONNumber``. Readers need only `status` and `error`; the rest is
/// kept whole in the journal for the reports.
public enum TrialResultSchema {
    /// Bumped when a key changes meaning or goes away (adding a key does not).
    public static let version = 1

    public enum Status: String, Sendable {
        case completed, interrupted, failed
    }

    /// The keys every result starts with.
    public static func header(status: Status, error: String? = nil) -> [String: Any] {
        var o: [String: Any] = ["schema": version, "status": status.rawValue]
        o["error"] = error
        return o
    }

    /// The status a result reports (a missing or unknown one is a failure).
    public static func status(of result: [String: Any]) -> Status {
        Status(rawValue: result["status"] as? String ?? "") ?? .failed
    }

    public static func error(of result: [String: Any]) -> String? { result["error"] as? String }

    /// The CPU seconds a result says its process used (`timings.cpu`), if it says so with a
    /// finite, non-negative number.
    public static func cpuSeconds(_ result: String?) -> Double? {
        guard let result, let object = TrialJSON.value(result) as? [String: Any],
              let cpu = ((object["timings"] as? [String: Any])?["cpu"] as? NSNumber)?.doubleValue, cpu.isFinite, cpu >= 0 else { return nil }
        return cpu
    }
}

/// Which lpft this is, written into every result and named by workers in HELLO.
public enum LPFTVersion {
    public static let current = "0.1.0"
    /// The git commit it was built from (12 digits), `-dirty` when the checkout had
    /// uncommitted changes, `unknown` when built without git.
    public static let commit = buildCommit
    /// The version and commit, e.g. `0.1.0+0a2d032ab1c4`: two binaries with the same build compute alike.
    public static let build = "\(current)+\(commit)"
    /// The day (UTC, `2025-01-31`) the binary was built: not part of ``build``, since two
    /// builds of one commit compute alike whatever the day.
    public static let date = buildDate
    /// What `lpft --version` prints.
    public static let description = "lpft \(current), commit \(commit), built \(date)"
}
