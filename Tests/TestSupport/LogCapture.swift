import Foundation
import Logging
import Logs

/// Log lines collected in memory, for tests of what is logged and how much. A lock, because
/// swift-log may call handlers from any thread.
public final class CollectedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    public init() {}

    public var lines: [String] { lock.withLock { stored } }

    /// A logger whose lines, formatted as on stderr, land here.
    public func logger(format: LogFormat = .text, level: Logger.Level = .info) -> Logger {
        Logger(label: "test") { label in LineLogHandler(label: label, level: level, format: format) { self.append($0) } }
    }

    private func append(_ line: String) { lock.withLock { stored.append(line) } }
}
