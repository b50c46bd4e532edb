import Foundation

/// One line a trial prints on stdout under `lpft train --events`, read by the worker:
///
/// - `{"event": "metric", "name": …, "value": …, "epoch": …, "step": …}` per metric event;
/// - `{"event": "checkpoint", "name": …}` when a whole checkpoint is in `checkpoints/<name>`
///   (its worker offers it to the coordinator, so a retry elsewhere can resume from it);
/// - `{"event": "result", "status": …, …}` once, last: the trial's ``TrialResultSchema`` object.
///
/// Lines are single-line JSON with sorted keys; any other line is a log line.
public enum TrialEvent {
    case metric(name: String, value: Double, epoch: Int?, step: Int?)
    case checkpoint(name: String)
    case result([String: Any])

    /// The event as one line (no newline).
    public var line: String {
        let object: [String: Any]
        switch self {
        case let .metric(name, value, epoch, step):
            var o: [String: Any] = ["event": "metric", "name": name, "value": JSONNumber.encode(value)]
            o["epoch"] = epoch
            o["step"] = step
            object = o
        case .checkpoint(let name):
            object = ["event": "checkpoint", "name": name]
        case .result(let result):
            object = result.merging(["event": "result"]) { _, new in new }
        }
        return String(decoding: (try? JSONNumber.data(object)) ?? Data(), as: UTF8.self)
    }

    /// The event a line carries, or nil for a line that is not an event (a log line).
    /// A result comes back without its `event` key: it is the `result.json` object again.
    public init?(line: String) {
        guard let object = TrialJSON.value(line) as? [String: Any] else { return nil }
        switch object["event"] as? String {
        case "metric":
            guard let name = object["name"] as? String, let value = JSONNumber.decode(object["value"]) else { return nil }
            self = .metric(name: name, value: value, epoch: object["epoch"] as? Int, step: object["step"] as? Int)
        case "checkpoint":
            guard let name = object["name"] as? String else { return nil }
            self = .checkpoint(name: name)
        case "result":
            var result = object
            result["event"] = nil
            self = .result(result)
        default:
            return nil
        }
    }
}

/// JSON has no NaN or infinity: a diverged metric is written as the string "nan", "inf" or
/// "-inf", in event lines, `metrics.jsonl` and `result.json` alike.
public enum JSONNumber {
    public static func encode(_ v: Double) -> Any {
        v.isFinite ? v : v.isNaN ? "nan" : v > 0 ? "inf" : "-inf"
    }

    public static func decode(_ any: Any?) -> Double? {
        switch any {
        case let d as Double: d
        case let i as Int: Double(i)
        case "nan" as String: .nan
        case "inf" as String: .infinity
        case "-inf" as String: -.infinity
        default: nil
        }
    }

    /// The house JSON form: sorted keys, slashes unescaped; `pretty` for files people read.
    public static func data(_ object: Any, pretty: Bool = false) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes])
    }
}
