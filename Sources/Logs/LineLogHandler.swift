import Foundation
import Logging
import Synchronization

/// How log lines look: `text` for people (`lpft: message`, the words `lpft` has always
/// printed), `json` for cluster log collectors (one object per line).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A swift-log handler that turns each event into one line and hands it to `write`.
///
/// Text lines keep the messages' words and add the level only when it is a warning or worse,
/// so `lpft: worker w1 joined …` reads as before and trouble stands out. JSON lines carry
/// the time, level, logger label, message and metadata, escaped by `JSONSerialization`.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level, format: LogFormat, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { _, new in new }
        write(line(level: event.level, message: event.message.description, metadata: fields) + "\n")
    }

    func line(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        switch format {
        case .text:
            let prefix = level >= .warning ? "\(level): " : ""
            let extra = metadata.keys.sorted().map { " \($0)=\(metadata[$0]!)" }.joined()
            return "lpft: " + prefix + message + extra
        case .json:
            var object: [String: String] = ["time": Self.timestamp(Date()), "level": level.rawValue, "logger": label, "message": message]
            for (key, value) in metadata where object[key] == nil { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// RFC 3339 with milliseconds in UTC, what log collectors parse without configuration.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// The process's logging: swift-log's `LoggingSystem` may be bootstrapped only once per
/// process, so `bootstrap` installs (once) handlers that take their level and format from
/// what `configure` last set, at the time each `Logger` is made: a command configures its
/// `--log-level` and `--log-format` first thing, before it makes any.
public enum LogSetup {
    /// Whether `bootstrap` has run, and the settings loggers are made with; any thread may read them.
    private static let state = Mutex<(bootstrapped: Bool, settings: (level: Logger.Level, format: LogFormat))>((false, (.info, .text)))

    /// Routes every `Logger` to stderr as lines of the configured format.
    public static func bootstrap() {
        let first = state.withLock { state -> Bool in
            defer { state.bootstrapped = true }
            return !state.bootstrapped
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            let (level, format) = state.withLock { $0.settings }
            return LineLogHandler(label: label, level: level, format: format) { line in
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    /// The level and format of the loggers made from now on.
    public static func configure(level: Logger.Level, format: LogFormat) {
        state.withLock { $0.settings = (level, format) }
    }
}
