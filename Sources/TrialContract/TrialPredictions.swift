import Foundation

/// What a trial's model said about each evaluated example, at the epoch the trial reports: the
/// per-example evidence behind its accuracies, for paired tests over examples (bootstrap,
/// McNemar) and for exports.
///
/// Written by the trial process into its result under ``TrialResultSchema/predictionsKey``, it
/// travels with the result (so it is exactly-once like the result), and the journal keeps it in
/// a table of its own, so reading results stays cheap:
///
/// ```json
/// {"labels": ["neg", "pos"], "temperature": 1.7,
///  "splits": {"test": {"rows": [0, 1, …], "targets": [1, 0, …], "logits": "<base64 float32 LE>"}, …}}
/// ```
///
/// Logits are the model's outputs before temperature scaling, float32 as computed: exact, and
/// about 11 bytes an example of a binary task (base64 of 8 bytes plus the row and target).
public struct TrialPredictions: Sendable, Equatable {
    /// One evaluation split: `validation`, `test`, or `ood/<task>`.
    public struct Split: Sendable, Equatable {
        /// Each example's position among its file's examples (0-based; a header is not an
        /// example), so subsampled splits still name the rows they used.
        public var rows: [Int]
        /// Each example's class index into ``TrialPredictions/labels``.
        public var targets: [Int]
        /// `rows.count × labels.count` logits, row-major.
        public var logits: [Float]

        public init(rows: [Int], targets: [Int], logits: [Float]) {
            self.rows = rows
            self.targets = targets
            self.logits = logits
        }
    }

    /// The class names in index order (the label mapping the trial used).
    public var labels: [String]
    /// The temperature fitted (or fixed) for calibration; divide logits by it for scaled probabilities.
    public var temperature: Double
    public var splits: [String: Split]

    public init(labels: [String], temperature: Double, splits: [String: Split]) {
        self.labels = labels
        self.temperature = temperature
        self.splits = splits
    }

    public var classCount: Int { labels.count }

    /// The class with the largest logit for each row of row-major `logits` (the first on a
    /// tie, as the trial's accuracy counts it).
    public static func argmax(_ logits: [Float], classes: Int) -> [Int] {
        (0..<(classes > 0 ? logits.count / classes : 0)).map { i in
            var best = 0
            for c in 1..<max(1, classes) where logits[i * classes + c] > logits[i * classes + best] { best = c }
            return best
        }
    }

    /// Softmax of one example's logits divided by `temperature`, in Double.
    public static func probabilities(_ split: Split, example i: Int, classes: Int, temperature: Double = 1) -> [Double] {
        let z = (0..<classes).map { Double(split.logits[i * classes + $0]) / temperature }
        let top = z.max() ?? 0
        let e = z.map { Foundation.exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}

// MARK: - JSON

extension TrialPredictions {
    public enum DecodingError: Error, CustomStringConvertible {
        case malformed(String)

        public var description: String {
            switch self {
            case let .malformed(what): "predictions: \(what)"
            }
        }
    }

    public func jsonObject() -> [String: Any] {
        ["labels": labels, "temperature": JSONNumber.encode(temperature),
         "splits": splits.mapValues { s -> [String: Any] in
             ["rows": s.rows, "targets": s.targets, "logits": Self.base64(s.logits)]
         }]
    }

    public init(jsonObject o: Any) throws {
        guard let o = o as? [String: Any] else { throw DecodingError.malformed("not a JSON object") }
        guard let labels = o["labels"] as? [String], !labels.isEmpty else { throw DecodingError.malformed("labels missing") }
        guard let temperature = JSONNumber.decode(o["temperature"]) else { throw DecodingError.malformed("temperature missing") }
        guard let raw = o["splits"] as? [String: Any] else { throw DecodingError.malformed("splits missing") }
        var splits: [String: Split] = [:]
        for (name, value) in raw {
            guard let s = value as? [String: Any], let rows = s["rows"] as? [Int], let targets = s["targets"] as? [Int],
                  let text = s["logits"] as? String, let logits = Self.floats(base64: text)
            else { throw DecodingError.malformed("split \(name) is not {rows, targets, logits}") }
            guard targets.count == rows.count, logits.count == rows.count * labels.count,
                  targets.allSatisfy({ (0..<labels.count).contains($0) })
            else { throw DecodingError.malformed("split \(name): \(rows.count) rows, \(targets.count) targets, \(logits.count) logits for \(labels.count) classes") }
            splits[name] = Split(rows: rows, targets: targets, logits: logits)
        }
        self.init(labels: labels, temperature: temperature, splits: splits)
    }

    public init(json text: String) throws {
        guard let object = TrialJSON.value(text) else { throw DecodingError.malformed("not JSON") }
        try self.init(jsonObject: object)
    }

    public func json() -> String {
        String(decoding: (try? JSONNumber.data(jsonObject())) ?? Data(), as: UTF8.self)
    }

    static func base64(_ values: [Float]) -> String {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data.base64EncodedString()
    }

    static func floats(base64 text: String) -> [Float]? {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

extension TrialResultSchema {
    /// The result key that holds a trial's ``TrialPredictions``.
    public static let predictionsKey = "predictions"

    /// Splits a result's JSON text into the result without its predictions and the predictions'
    /// JSON text, so a journal stores the two apart. A result without predictions (or text that is
    /// not a JSON object) comes back as it was. The check for the key is a substring search, so
    /// results without predictions (the noop trials of the simulation) are never parsed.
    public static func separatingPredictions(_ result: String) -> (result: String, predictions: String?) {
        guard result.contains("\"\(predictionsKey)\""),
              var object = TrialJSON.value(result) as? [String: Any],
              let predictions = object.removeValue(forKey: predictionsKey),
              let predictionsText = try? JSONNumber.data(predictions),
              let rest = try? JSONNumber.data(object)
        else { return (result, nil) }
        return (String(decoding: rest, as: UTF8.self), String(decoding: predictionsText, as: UTF8.self))
    }
}

/// The names of the splits a trial evaluates, as its predictions name them.
public enum PredictionSplit {
    public static let validation = "validation"
    public static let test = "test"
    public static func ood(_ task: String) -> String { "ood/\(task)" }
}
