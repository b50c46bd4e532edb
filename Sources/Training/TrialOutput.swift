import Compute
import Config
import Foundation
import TrialContract

/// A trial's directory could not be written.
public struct TrialOutputError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes a trial's ``TrialDirectory``: its config (fully resolved), its metrics (one object
/// per metric event, appended and flushed as they happen) and its result (atomically, last).
public final class TrialOutput {
    public let directory: TrialDirectory
    private let metricsHandle: FileHandle

    /// - Parameter resuming: keep the directory's metrics and append to them (until
    ///   ``discardEarlierMetrics()``: the resumed run found nothing to resume from).
    public init(directory: TrialDirectory, config: TrialConfig, resuming: Bool = false) throws {
        self.directory = directory
        let fm = FileManager.default
        try fm.createDirectory(at: directory.url, withIntermediateDirectories: true)
        try JSONNumber.data(config.jsonObject()).write(to: directory.config, options: .atomic)
        let metrics = directory.metrics
        if !(resuming && fm.fileExists(atPath: metrics.path)) {
            guard fm.createFile(atPath: metrics.path, contents: nil) else {
                throw TrialOutputError(path: metrics.path, reason: String(cString: strerror(errno)))
            }
        }
        metricsHandle = try FileHandle(forWritingTo: metrics)
        try metricsHandle.seekToEnd()
    }

    deinit { try? metricsHandle.close() }

    /// Empties the metrics file: the run starts from the beginning, and lines of an earlier
    /// run would repeat its epochs.
    public func discardEarlierMetrics() throws {
        try metricsHandle.truncate(atOffset: 0)
    }

    /// Appends `{"epoch": …, "step": …, "<name>": value}`.
    public func record(_ event: MetricEvent) {
        var o: [String: Any] = [event.name: JSONNumber.encode(event.value)]
        o["epoch"] = event.epoch
        o["step"] = event.step
        if let line = try? JSONNumber.data(o) {
            metricsHandle.write(line + Data("\n".utf8))
        }
    }

    /// Writes the result (``TrialResultSchema``). Returns the object written.
    @discardableResult
    public func finish(status: TrialResultSchema.Status, config: TrialConfig, result: TrialResult?, error: String? = nil) throws -> [String: Any] {
        var o = TrialResultSchema.header(status: status, error: error)
        o["config"] = config.jsonObject()
        o["versions"] = ["lpft": LPFTVersion.current, "build": LPFTVersion.build, "openblas": BLAS.configuration]
        if let result {
            o["metrics"] = result.metrics.mapValues(JSONNumber.encode)
            o["best_epoch"] = result.bestEpoch
            o["timings"] = result.timings
            if !result.reliability.isEmpty {
                o["reliability"] = result.reliability.mapValues { bins in bins.map { [$0.confidence, $0.accuracy, Double($0.count)] } }
            }
            o["labels"] = result.labels
            o[TrialResultSchema.predictionsKey] = result.predictions?.jsonObject()
        } else {
            // What a stopped or failed trial cost still counts (a pruned one's CPU is a search's price).
            o["timings"] = ["cpu": processCPUSeconds()]
        }
        try JSONNumber.data(o, pretty: true).write(to: directory.result, options: .atomic)
        return o
    }
}

extension TrialEvent {
    /// The event line `lpft train --events` prints for a metric event.
    public init(_ event: MetricEvent) {
        self = .metric(name: event.name, value: event.value, epoch: event.epoch, step: event.step)
    }
}
