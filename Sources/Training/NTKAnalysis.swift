import Compute
import Dispatch
import Foundation
import NTK
import TextData
import Transformer

/// `lpft ntk`: the NTK of a model (with its own head, an LP head, or a fresh one) on examples
/// from a dataset file, with its statistics, as one JSON document.
public struct NTKAnalysis {
    public enum HeadSource: Sendable {
        /// The model directory's `classifier.*` tensors (an error if it has none).
        case model
        /// L2 logistic regression on the examples' features (the LP of LP-FT).
        case linearProbe
        /// A fresh N(0, 0.02²) head from the seed (the FT method's starting point).
        case fresh
    }

    public var modelDirectory: URL
    public var data: URL
    /// Evaluation examples: the kernel classifier is fitted on `data` and scored on these too.
    public var evalData: URL?
    public var examples = 250
    public var evalExamples = 250
    public var lora: LoRAConfig?
    public var head: HeadSource = .model
    public var seed: UInt64 = 1001
    public var maxLength = 128
    public var threads = 1
    public var memoryBudget = NTKBudget.bytes(mib: NTKBudget.defaultMiB)
    public var pooling: Pooling = .cls

    public init(modelDirectory: URL, data: URL) {
        self.modelDirectory = modelDirectory
        self.data = data
    }

    public func run() throws -> [String: Any] {
        var timings: [String: Double] = [:]
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { timings[name] = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
            return try body()
        }
        func examples(_ url: URL) throws -> [Example] {
            let all = try DatasetFormat.generic().reader(for: url).read(url).examples
            guard !all.isEmpty else { throw TextDataError.invalidDataset("\(url.path) has no examples") }
            return all
        }
        let trainSet = NTKMeasurement.trainSample(try examples(data), count: self.examples, seed: seed)
        let evalSet = try evalData.map { NTKMeasurement.evalSample(try examples($0), count: evalExamples, seed: seed) } ?? []
        let chosen = trainSet + evalSet
        let pretrained = try PretrainedModel(directory: modelDirectory)
        let labels = head == .model ? LabelSet(pretrained.config.labels) : LabelSet(of: chosen)
        let loaded = try pretrained.loadWeights(labels: labels.names, lora: lora, freshHead: head != .model, threads: threads, seed: seed, pooling: pooling)
        if head == .model, !loaded.headLoaded {
            throw TextDataError.invalidDataset("\(modelDirectory.path) has no classifier head; use --lp to fit one or --fresh-head")
        }
        let batch = chosen.map { $0.modelInput(pretrained.tokenizer, maxLength: maxLength) }
        let targets = try chosen.map { e -> Int in
            guard let i = labels.index(of: e.label) else { throw TextDataError.invalidDataset("\(e.source): label \"\(e.label)\" is not one of [\(labels.names.joined(separator: ", "))]") }
            return i
        }
        let computer = NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: memoryBudget)
        if head == .linearProbe {
            try timed("lp") {
                let features = try computer.features(Array(batch.prefix(trainSet.count)))
                let fit = LinearProbe.fitLogistic(features: features, labels: Array(targets.prefix(trainSet.count)), classes: labels.names.count,
                                                  width: loaded.model.config.hiddenSize, seed: seed, threads: threads)
                fit.head.write(into: loaded.parameters, layout: loaded.model.layout)
            }
        }
        let measured = try NTKMeasurement(computer, batch: batch, labels: targets, trainCount: trainSet.count)
        timings["kernels"] = measured.seconds.kernels
        for phase in measured.kernel.phases { timings["kernels: \(phase.name)"] = phase.seconds }
        timings["statistics"] = measured.seconds.statistics
        return Self.json(measured.kernel, measured.summary, trainCount: trainSet.count, labels: labels, pooling: pooling, timings: timings)
    }

    static func json(_ ntk: NeuralTangentKernel, _ s: NTKSummary, trainCount n: Int, labels: LabelSet, pooling: Pooling,
                     timings: [String: Double]) -> [String: Any] {
        let c = ntk.classes, r = ntk.examples * c
        /// The train × train block as [N][C][N][C].
        func nested(_ k: [Float]) -> [[[[Double]]]] {
            (0..<n).map { a in (0..<c).map { i in (0..<n).map { b in (0..<c).map { j in Double(k[(a * c + i) * r + b * c + j]) } } } }
        }
        func stats(_ k: KernelStatistics) -> [String: Any] { ["frobenius": k.frobenius, "trace": k.trace, "rank": k.rank] }
        return [
            "examples": n, "eval_examples": ntk.examples - n, "classes": c, "labels": labels.names, "pooling": pooling.rawValue,
            "pretrain_effective": nested(ntk.pretrainEffective), "ft_effective": nested(ntk.ftEffective),
            "logits": (0..<n).map { a in (0..<c).map { Double(ntk.logits[a * c + $0]) } },
            "statistics": [
                "pretrain": stats(s.pretrain), "ft": stats(s.ft), "total": stats(s.total), "ft_ratio": s.ftRatio,
                "accuracy_train": s.trainAccuracy, "pair_accuracy_train": s.trainPairAccuracy,
                "accuracy_eval": s.evalAccuracy.map { $0 as Any } ?? NSNull(), "pair_accuracy_eval": s.evalPairAccuracy.map { $0 as Any } ?? NSNull(),
            ] as [String: Any],
            "groups": Dictionary(uniqueKeysWithValues: s.groups.map { ($0.name, stats($0.statistics)) }),
            "backward_passes": ntk.backwardPasses,
            "timings": timings,
        ]
    }
}
