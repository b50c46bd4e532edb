import Dispatch
import Foundation

/// A one-line progress bar with rate and ETA on a terminal; plain lines per epoch otherwise.
public final class ProgressLine {
    private let console: FileHandle
    private let terminal: Bool
    private var stage = ""
    private var stageStart = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0

    public init(console: FileHandle = .standardOutput) {
        self.console = console
        terminal = isatty(console.fileDescriptor) != 0
    }

    public func update(_ p: TrialProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        if p.stage != stage {
            stage = p.stage
            stageStart = now
        }
        guard terminal, now - lastDraw > 100_000_000 || p.done == p.total else { return }
        lastDraw = now
        let elapsed = Double(now - stageStart) * 1e-9
        let rate = Double(p.done) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(p.total - p.done) / rate : 0
        let width = 30, filled = p.total > 0 ? width * p.done / p.total : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %@ %d/%d  %.1f/s  ETA %.0fs ", p.stage, bar, p.done, p.total, rate, eta)
        console.write(Data(line.utf8))
    }

    public func log(_ e: MetricEvent) {
        guard let epoch = e.epoch else { return }
        if terminal { console.write(Data("\r\u{1B}[K".utf8)) }
        console.write(Data(String(format: "epoch %d  %@ = %.5g\n", epoch, e.name, e.value).utf8))
    }

    public func finish() {
        if terminal { console.write(Data("\r\u{1B}[K".utf8)) }
    }
}
