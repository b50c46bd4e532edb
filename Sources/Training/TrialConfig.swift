import Config
import Foundation
import NTK
import TextData
import TrialContract
import Transformer

/// One trial: a configuration in, a stream of metrics and one result out. The unit of work of
/// a sweep. Defaults follow the paper's recipe (paper-notes.md).
public struct TrialConfig: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        case lp, ft, lpft = "lp-ft", lora, lplora = "lp-lora", noop

        /// Whether the method starts with a linear-probing stage.
        public var probesFirst: Bool { self == .lp || self == .lpft || self == .lplora }
        /// Whether the method has a fine-tuning stage (full or LoRA).
        public var fineTunes: Bool { self == .ft || self == .lpft || self == .lora || self == .lplora }
        public var usesLoRA: Bool { self == .lora || self == .lplora }
    }

    /// A dataset: a task fetched by `lpft data fetch`, or explicit files.
    public struct TaskSpec: Sendable, Equatable {
        public var name: String
        public var train: String?
        public var validation: String?
        public var test: String?
        public var format: DatasetFormat = .generic()
        public var encoding: TextEncoding = .utf8
        /// Label names in index order; by default those of the fetched task or the sorted labels of the training file.
        public var labels: [String]?

        public var isFetched: Bool { train == nil && validation == nil && test == nil }
    }

    public struct LP: Sendable, Equatable {
        public enum Solver: String, Sendable, CaseIterable { case sgd, logistic }
        public var solver: Solver = .logistic
        public var epochs = 10
        public var lr: Double = 1e-3
        public var batchSize = 32
    }

    public struct FT: Sendable, Equatable {
        /// What picks the FT epoch whose parameters the trial reports, on validation.
        public enum Selection: String, Sendable, CaseIterable {
            case accuracy, macroF1 = "macro_f1", nll
        }

        public var epochs = 10
        /// Nil: the paper's rate for the method (FT and LP-FT 1e-5, LoRA 1e-3, LP-LoRA 5e-4).
        public var lr: Double?
        public var batchSize = 16
        public var weightDecay: Double = 0
        public var warmupRatio: Double = 0
        public var clipNorm: Double? = 1
        /// Validation accuracy, the paper's rule, by default.
        public var selectBy = Selection.accuracy
        /// Stop after this many epochs without a better selection score (nil: run every epoch).
        public var patience: Int?
    }

    /// The NTK at the start of the FT stage, on seeded samples of the training and validation splits.
    public struct NTK: Sendable, Equatable {
        public var examples = 250
        public var evalExamples = 250
        public var budgetMiB = NTKBudget.defaultMiB
    }

    public enum Temperature: Sendable, Equatable {
        case fit
        case fixed(Double)
    }

    public var model = "all-MiniLM-L6-v2"
    public var task: TaskSpec
    public var ood: [TaskSpec] = []
    public var method: Method
    public var lp = LP()
    public var ft = FT()
    public var lora = LoRAConfig()
    public var headScale: Double = 1
    /// What φ(x) reads, for the head, the linear probe, the feature statistics and the NTK.
    public var pooling: Pooling = .cls
    public var temperature: Temperature = .fit
    public var maxLength = 128
    /// A seeded subsample of the training split; nil keeps all of it.
    public var trainExamples: Int?
    /// A fixed subsample (the same for every seed) of the validation, test and each OOD test
    /// split; nil evaluates on all of them.
    public var evalExamples: Int?
    public var seed: UInt64 = 1001
    /// 0: every core.
    public var threads = 0
    /// `noop` only: how long to pretend to train.
    public var durationMs = 0
    /// Which resumable FT checkpoints are kept (`true` is `last`, `false` is `none`).
    public var checkpoints = CheckpointPolicy.last
    /// Compute the NTK at the start of the FT stage (nil: do not).
    public var ntk: NTK?

    /// The fine-tuning learning rate actually used.
    public var fineTuningRate: Double {
        if let lr = ft.lr { return lr }
        switch method {
        case .lora: return 1e-3
        case .lplora: return 5e-4
        default: return 1e-5
        }
    }

    public init(task: TaskSpec, method: Method) {
        self.task = task
        self.method = method
    }
}

extension TrialConfig.TaskSpec {
    public init(name: String) { self.name = name }
}

extension TrialConfig {
    /// Reads a trial config from YAML or JSON, rejecting unknown keys, wrong types and
    /// impossible values with the file, key and reason.
    public init(yaml text: String, file: String) throws {
        try self.init(reader: try ConfigReader.parse(text, file: file))
    }

    /// Reads a trial config from an already parsed mapping (a sweep's resolved trial), as
    /// `init(yaml:file:)` reads it from text; `label` names it in errors.
    public init(mapping: [String: Any], file label: String) throws {
        try self.init(reader: ConfigReader(mapping, file: label))
    }

    public init(contentsOf url: URL) throws {
        try self.init(yaml: try ConfigReader.text(contentsOf: url), file: url.path)
    }

    init(reader r: ConfigReader) throws {
        guard let method = try r.choice("method", Method.self) else { throw r.fail("method", "required (\(Method.allCases.map(\.rawValue).joined(separator: ", ")))") }
        let task: TaskSpec
        if method == .noop, !r.has("task") {
            task = TaskSpec(name: "none")
        } else {
            guard let t = try Self.taskSpec(r, "task") else { throw r.fail("task", "required: a fetched task name or {train, validation, test} files") }
            task = t
        }
        self.init(task: task, method: method)
        if let v = try r.string("model") { model = v }
        if let v = r.raw("ood") {
            let list = (v as? [Any]) ?? [v]
            ood = try list.enumerated().map { i, item in
                let holder = ConfigReader(["\(i)": item], file: r.file, path: r.key("ood"))
                return try Self.taskSpec(holder, "\(i)")!
            }
        }
        if let s = try r.section("lp") {
            if let v = try s.choice("solver", LP.Solver.self) { lp.solver = v }
            if let v = try s.int("epochs", range: 1...100_000) { lp.epochs = v }
            if let v = try s.double("lr", range: 1e-12...10) { lp.lr = v }
            if let v = try s.int("batch_size", range: 1...65_536) { lp.batchSize = v }
            try s.finish()
        }
        if let s = try r.section("ft") {
            if let v = try s.int("epochs", range: 1...100_000) { ft.epochs = v }
            if let v = try s.double("lr", range: 1e-12...10) { ft.lr = v }
            if let v = try s.int("batch_size", range: 1...65_536) { ft.batchSize = v }
            if let v = try s.double("weight_decay", range: 0...10) { ft.weightDecay = v }
            if let v = try s.double("warmup_ratio", range: 0...1) { ft.warmupRatio = v }
            if s.isNull("clip_norm") { ft.clipNorm = nil }  // explicit null: no clipping
            if let v = try s.double("clip_norm", range: 1e-12...1e12) { ft.clipNorm = v }
            if let v = try s.choice("select_by", FT.Selection.self) { ft.selectBy = v }
            if let v = try s.int("patience", range: 1...100_000) { ft.patience = v }
            try s.finish()
        }
        if let s = try r.section("lora") {
            if let v = try s.int("rank", range: 1...4096) { lora.rank = v }
            if let v = try s.double("alpha", range: 1e-6...1e6) { lora.alpha = Float(v) }
            if let v = try s.strings("targets") {
                lora.targets = try v.map {
                    guard let t = LoRAConfig.Target(rawValue: $0) else { throw s.fail("targets", "\"\($0)\" is not one of query, key, value") }
                    return t
                }
                guard !lora.targets.isEmpty, Set(lora.targets).count == lora.targets.count else { throw s.fail("targets", "must be distinct and non-empty") }
            }
            try s.finish()
        }
        if let s = try r.section("ntk") {
            var n = NTK()
            if let v = try s.int("examples", range: 1...100_000) { n.examples = v }
            if let v = try s.int("eval_examples", range: 0...100_000) { n.evalExamples = v }
            if let v = try s.int("budget_mib", range: 16...1_048_576) { n.budgetMiB = v }
            try s.finish()
            ntk = n
        }
        if let v = try r.double("head_scale", range: 1e-6...1e6) { headScale = v }
        if let v = try r.choice("pooling", Pooling.self) { pooling = v }
        if let v = r.raw("temperature") {
            if let s = v as? String, s == "fit" {
                temperature = .fit
            } else if let t = v as? Double ?? (v as? Int).map(Double.init), (1e-3...1e3).contains(t) {
                temperature = .fixed(t)
            } else {
                throw r.fail("temperature", "expected \"fit\" or a number in 0.001…1000, got \(ConfigReader.describe(v))")
            }
        }
        if let v = try r.int("max_length", range: 2...100_000) { maxLength = v }
        if let v = try r.int("train_examples", range: 1...Int.max) { trainExamples = v }
        if let v = try r.int("eval_examples", range: 1...Int.max) { evalExamples = v }
        if let v = try r.int("seed", range: 0...Int.max) { seed = UInt64(v) }
        if let v = try r.int("threads", range: 0...1024) { threads = v }
        if let v = try r.int("duration_ms", range: 0...86_400_000) { durationMs = v }
        if let v = r.raw("checkpoints") as? Bool {
            checkpoints = v ? .last : .none
        } else if let v = try r.choice("checkpoints", CheckpointPolicy.self) {
            checkpoints = v
        }
        try r.finish()
        if method != .noop && durationMs != 0 { throw r.fail("duration_ms", "only applies to method noop") }
        if ntk != nil && !method.fineTunes { throw r.fail("ntk", "is measured where the FT stage starts; method \(method.rawValue) has none") }
    }

    static func taskSpec(_ r: ConfigReader, _ name: String) throws -> TaskSpec? {
        guard let v = r.raw(name) else { return nil }
        if let s = v as? String { return TaskSpec(name: s) }
        guard let mapping = v as? [String: Any] else {
            throw r.fail(name, "expected a task name or a mapping of files, got \(ConfigReader.describe(v))")
        }
        let section = ConfigReader(mapping, file: r.file, path: r.key(name))
        var spec = TaskSpec(name: try section.string("name") ?? "custom")
        spec.train = try section.string("train")
        spec.validation = try section.string("validation")
        spec.test = try section.string("test")
        let format = try section.string("format") ?? "auto"
        let text = try section.string("text") ?? "text", pair = try section.string("text_pair"), label = try section.string("label") ?? "label"
        switch format {
        case "auto", "jsonl", "csv", "tsv": spec.format = .generic(text: text, textPair: pair, label: label)
        case "glue":
            guard let t = try section.string("glue_task") else { throw section.fail("glue_task", "required with format glue") }
            spec.format = .glue(task: t)
        case "superglue":
            guard let t = try section.string("superglue_task") else { throw section.fail("superglue_task", "required with format superglue") }
            spec.format = .superGLUE(task: t)
        default: throw section.fail("format", "\"\(format)\" is not one of auto, jsonl, csv, tsv, glue, superglue")
        }
        if let e = try section.string("encoding") {
            guard let enc = TextEncoding(rawValue: e) else { throw section.fail("encoding", "\"\(e)\" is not utf-8 or latin-1") }
            spec.encoding = enc
        }
        spec.labels = try section.strings("labels")
        try section.finish()
        return spec
    }
}

extension TrialConfig {
    /// The fully resolved configuration, every default written out, as JSON-ready values.
    /// Two configs that run the same trial have the same `jsonObject()`.
    public func jsonObject() -> [String: Any] {
        var o: [String: Any] = [
            "model": model, "task": Self.json(task), "ood": ood.map(Self.json), "method": method.rawValue,
            "lp": ["solver": lp.solver.rawValue, "epochs": lp.epochs, "lr": lp.lr, "batch_size": lp.batchSize],
            "ft": ["epochs": ft.epochs, "lr": fineTuningRate, "batch_size": ft.batchSize, "weight_decay": ft.weightDecay,
                   "warmup_ratio": ft.warmupRatio, "clip_norm": ft.clipNorm.map { $0 as Any } ?? NSNull()] as [String: Any],
            "lora": ["rank": lora.rank, "alpha": Double(lora.alpha), "targets": lora.targets.map(\.rawValue)],
            "head_scale": headScale, "max_length": maxLength, "seed": Int(seed), "threads": threads,
            // `last` and `none` are written as the booleans they were, so those trials keep their ids.
            "checkpoints": checkpoints == .last ? true : checkpoints == .none ? false : checkpoints.rawValue as Any,
            "train_examples": trainExamples.map { $0 as Any } ?? NSNull(),
            "eval_examples": evalExamples.map { $0 as Any } ?? NSNull(),
        ]
        switch temperature {
        case .fit: o["temperature"] = "fit"
        case let .fixed(t): o["temperature"] = t
        }
        if method == .noop { o["duration_ms"] = durationMs }
        // Written only when not the default, so the trials planned before they existed keep their ids.
        if var f = o["ft"] as? [String: Any] {
            if ft.selectBy.rawValue != OmittedDefaults.ftSelectBy { f["select_by"] = ft.selectBy.rawValue }
            f["patience"] = ft.patience
            o["ft"] = f
        }
        if pooling.rawValue != OmittedDefaults.pooling { o["pooling"] = pooling.rawValue }
        if let ntk { o["ntk"] = ["examples": ntk.examples, "eval_examples": ntk.evalExamples, "budget_mib": ntk.budgetMiB] }
        return o
    }

    static func json(_ t: TaskSpec) -> Any {
        if t.isFetched && t.labels == nil { return t.name }
        var o: [String: Any] = ["name": t.name, "encoding": t.encoding.rawValue]
        o["train"] = t.train
        o["validation"] = t.validation
        o["test"] = t.test
        o["labels"] = t.labels
        switch t.format {
        case let .generic(text, pair, label):
            o["format"] = "auto"
            o["text"] = text
            o["text_pair"] = pair
            o["label"] = label
        case let .glue(task):
            o["format"] = "glue"
            o["glue_task"] = task
        case let .superGLUE(task):
            o["format"] = "superglue"
            o["superglue_task"] = task
        }
        return o
    }

    /// Canonical JSON text of `jsonObject()`: sorted keys, no whitespace.
    public func canonicalJSON() -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }
}
