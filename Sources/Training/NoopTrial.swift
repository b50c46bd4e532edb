import Foundation
import TrialContract

/// `noop` trials run on a worker thread: the same runner as `lpft train`, the same event lines.
public enum NoopTrial {
    /// The in-process trial for a `noop` config; nil for any other method (those run in a child).
    public static func inProcess(_ config: String) -> InProcessTrial? {
        // Assignments carry canonical JSON: read the two fields a noop uses without the YAML
        // parser, which took about 1% of a 200 ms trial.
        guard let object = try? JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any],
              object["method"] as? String == TrialConfig.Method.noop.rawValue else { return nil }
        var trial = TrialConfig(task: .init(name: "none"), method: .noop)
        trial.durationMs = (object["duration_ms"] as? Int) ?? 0
        trial.seed = UInt64((object["seed"] as? Int) ?? Int(trial.seed))
        let noop = trial
        return { _, emit, shouldStop in
            let runner = TrialRunner(config: noop)
            runner.shouldStop = shouldStop
            runner.onMetric = { emit(TrialEvent($0).line) }
            var result = TrialResultSchema.header(status: .completed)
            do {
                let r = try runner.run()
                result["metrics"] = r.metrics
                result["timings"] = r.timings
            } catch {
                result = TrialResultSchema.header(status: error is TrialError ? .interrupted : .failed, error: "\(error)")
            }
            emit(TrialEvent.result(result).line)
        }
    }
}
