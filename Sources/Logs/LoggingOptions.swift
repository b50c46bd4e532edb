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

    /// Sets up the process's logging with these options; call before anything logs.
    public func apply() {
        LogSetup.bootstrap(level: logLevel, format: logFormat)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
