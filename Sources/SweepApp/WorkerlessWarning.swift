import Foundation
import Logging
import Orchestrator

/// Warns when a running coordinator has had no worker for a while: a coordinator started
/// without `--local-workers` (a hint copied without them, say) otherwise waits in silence.
/// Once per stretch without workers, with the command that starts one.
final class WorkerlessWarning {
    private let delay: Double
    private let message: String
    private let logger: Logger
    /// When the coordinator last had no worker after having had one, or started; nil while it has one.
    private var alone: Double? = ProcessInfo.processInfo.systemUptime
    private var warned = false

    /// - Parameter message: what to do about it (the command that starts a worker).
    init(after delay: Double, message: String, logger: Logger) {
        (self.delay, self.message, self.logger) = (delay, message, logger)
    }

    func update(_ progress: SweepProgress) {
        let now = ProcessInfo.processInfo.systemUptime
        guard progress.workers == 0 else { return (alone, warned) = (nil, false) }
        let since = alone ?? now
        alone = since
        if !warned, now - since >= delay {
            warned = true
            logger.warning("no worker for \(String(format: "%.0f", now - since)) s, so no trial runs: \(message)")
        }
    }
}
