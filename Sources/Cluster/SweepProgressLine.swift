import Foundation

/// Progress of a running sweep on stderr: a redrawn line on a terminal, a line every 10 s otherwise.
public final class SweepProgressLine {
    private let total: Int
    private let alreadyDone: Int
    private let terminal = isatty(STDERR_FILENO) != 0
    private let start = Date()
    private var lastLine = Date.distantPast

    public init(total: Int, alreadyDone: Int) {
        self.total = total
        self.alreadyDone = alreadyDone
    }

    public func show(_ p: SweepProgress) {
        let done = alreadyDone + p.completed + p.failed
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(p.completed + p.failed) / max(elapsed, 1e-9)
        let eta = rate > 0 ? String(format: "%.0fs", Double(total - done) / rate) : "?"
        let text = String(format: "%d/%d done (%d failed), %d running on %d worker(s), %d metric rows, ETA %@",
                          done, total, p.failed, p.running, p.workers, p.metricRows, eta)
        if terminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        } else if Date().timeIntervalSince(lastLine) >= 10 {
            lastLine = Date()
            FileHandle.standardError.write(Data("lpft: \(text)\n".utf8))
        }
    }

    public func end() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
