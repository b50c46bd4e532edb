import Foundation
import Logging
import Logs
import Synchronization

/// Log lines collected in memory, for tests of what is logged and how much. A lock, because
/// swift-log may call handlers from any thread.
public final class CollectedLines: Sendable {
    private let stored = Mutex<[String]>([])

    public init() {}

    public var lines: [String] { stored.withLock { $0 } }

    /// A logger whose lines, formatted as on stderr, land here.
    public func logger(format: LogFormat = .text, level: Logger.Level = .info) -> Logger {
        Logger(label: "test") { label in LineLogHandler(label: label, level: level, format: format) { self.append($0) } }
    }

    private func append(_ line: String) { stored.withLock { $0.append(line) } }
}
