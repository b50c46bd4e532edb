import Compute
import Config
import Foundation

/// A trial's directory could not be written.
public struct TrialOutputError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// The version of lpft written into every result.
public enum LPFTVersion {
    public static let current = "0.1.0"
}

/// Writes a trial's directory: `config.json` (fully resolved), `metrics.jsonl` (one object per
/// metric event, appended and flushed as they happen) and `result.json` (atomically, last).
public final class TrialOutput {
    public let directory: URL
    private let metricsHandle: FileHandle

    /// - Parameter resuming: keep the directory's metrics and append to them.
    public init(directory: URL, config: TrialConfig, resuming: Bool = false) throws {
        self.directory = directory
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.json(config.jsonObject()).write(to: directory.appendingPathComponent("config.json"), options: .atomic)
        let metrics = directory.appendingPathComponent("metrics.jsonl")
        if !(resuming && fm.fileExists(atPath: metrics.path)) {
            guard fm.createFile(atPath: metrics.path, contents: nil) else {
                throw TrialOutputError(path: metrics.path, reason: String(cString: strerror(errno)))
            }
        }
        metricsHandle = try FileHandle(forWritingTo: metrics)
        try metricsHandle.seekToEnd()
    }

    /// Where the trial's FT checkpoints go.
    public var checkpoints: URL { directory.appendingPathComponent("checkpoints") }

    /// Whether `directory` already holds a trial (so a fresh run must not overwrite it).
    public static func holdsTrial(_ directory: URL) -> Bool {
        ["result.json", "checkpoints", "metrics.jsonl"].contains { FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path) }
    }

    deinit { try? metricsHandle.close() }

    /// Appends `{"epoch": …, "step": …, "<name>": value}`.
    public func record(_ event: MetricEvent) {
        var o: [String: Any] = [event.name: Self.number(event.value)]
        o["epoch"] = event.epoch
        o["step"] = event.step
        if let line = try? Self.json(o) {
            metricsHandle.write(line + Data("\n".utf8))
        }
    }

    /// Writes `result.json`; `status` is "completed", "interrupted" or "failed". Returns the
    /// object written.
    @discardableResult
    public func finish(status: String, config: TrialConfig, result: TrialResult?, error: String? = nil) throws -> [String: Any] {
        var o: [String: Any] = [
            "status": status, "config": config.jsonObject(),
            "versions": ["lpft": LPFTVersion.current, "openblas": BLAS.configuration],
        ]
        if let result {
            o["metrics"] = result.metrics.mapValues(Self.number)
            o["best_epoch"] = result.bestEpoch
            o["timings"] = result.timings
            if !result.reliability.isEmpty {
                o["reliability"] = result.reliability.mapValues { bins in bins.map { [$0.confidence, $0.accuracy, Double($0.count)] } }
            }
        }
        o["error"] = error
        try Self.json(o, pretty: true).write(to: directory.appendingPathComponent("result.json"), options: .atomic)
        return o
    }

    /// The line `lpft train --events` prints for a metric event (read by `lpft worker`).
    public static func eventLine(_ event: MetricEvent) -> String {
        var o: [String: Any] = ["event": "metric", "name": event.name, "value": number(event.value)]
        o["epoch"] = event.epoch
        o["step"] = event.step
        return String(decoding: (try? json(o)) ?? Data(), as: UTF8.self)
    }

    /// The last line of `lpft train --events`: the result object.
    public static func resultLine(_ result: [String: Any]) -> String {
        String(decoding: (try? json(result.merging(["event": "result"]) { _, new in new })) ?? Data(), as: UTF8.self)
    }

    /// JSON has no NaN or infinity: a diverged metric is written as the string "nan", "inf" or "-inf".
    static func number(_ v: Double) -> Any {
        v.isFinite ? v : v.isNaN ? "nan" : v > 0 ? "inf" : "-inf"
    }

    static func json(_ object: Any, pretty: Bool = false) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes])
    }
}
