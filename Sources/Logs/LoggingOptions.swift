import ArgumentParser
import Logging

/// `--log-level` and `--log-format`, for the commands that run for long (`sweep run`,
/// `worker`, `sweep serve`) and whose logs cluster tools collect.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical.") public var logLevel: Logger.Level = .info
    @Option(help: "text (lpft: …) or json (one object per line: time, level, logger, message).") public var logFormat: LogFormat = .text

    public init() {}

    /// The same options for a child process (a local worker logs as its coordinator does).
    public var arguments: [String] { ["--log-level", logLevel.rawValue, "--log-format", logFormat.rawValue] }

    /// Sets the process's logging to these options; call before making any `Logger`.
    public func apply() {
        LogSetup.configure(level: logLevel, format: logFormat)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
