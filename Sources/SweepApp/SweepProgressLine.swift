import Foundation
import Logging
import Orchestrator
import Sweep

/// Progress of a running sweep: a line redrawn on stderr on a terminal, otherwise a log line every 10 s.
public final class SweepProgressLine {
    private let total: Int
    private let alreadyDone: Int
    private let journal: Journal
    private let logger: Logger
    private let terminal = isatty(STDERR_FILENO) != 0
    private var lastLine = Date.distantPast
    /// The ETA reads every trial's timing from the journal: at most every 5 s, not every redraw.
    private var eta: (text: String, at: Date) = ("?", .distantPast)

    public init(total: Int, alreadyDone: Int, journal: Journal, logger: Logger) {
        self.total = total
        self.alreadyDone = alreadyDone
        self.journal = journal
        self.logger = logger
    }

    public func show(_ p: SweepProgress) {
        let done = alreadyDone + p.completed + p.failed + p.pruned
        if Date().timeIntervalSince(eta.at) >= 5 || done == total {
            let seconds = (try? journal.trialTimings()).flatMap { SweepETA.seconds($0, now: Date().timeIntervalSince1970) }
            eta = (seconds.map { String(format: "%.0fs", $0) } ?? "?", Date())
        }
        let text = String(format: "%d/%d done (%d failed%@), %d running on %d worker(s), %d metric rows, ETA %@",
                          done, total, p.failed, p.pruned > 0 ? ", \(p.pruned) pruned" : "", p.running, p.workers, p.metricRows, eta.text)
            + (p.draining ? "; draining: no new trials start" : "")
        if terminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        } else if Date().timeIntervalSince(lastLine) >= 10 {
            lastLine = Date()
            logger.info("\(text)")
        }
    }

    public func end() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
