import Compute
import Config
import Dispatch
import Foundation
import TextData
import Training
import Transformer

/// Times full training steps (forward, backward, AdamW) on random weights and tokens.
public struct TrainingBenchmark {
    public struct Case: Sendable {
        public let name: String
        public let config: BertConfig
        public let batchSize: Int
        public let sequenceLength: Int
        public let threads: Int

        public init(name: String, config: BertConfig, batchSize: Int, sequenceLength: Int, threads: Int) {
            self.name = name
            self.config = config
            self.batchSize = batchSize
            self.sequenceLength = sequenceLength
            self.threads = threads
        }
    }

    public struct Result: Sendable {
        public let benchCase: Case
        /// Wall-clock seconds of each timed step.
        public let stepSeconds: [Double]
        /// Where the time went in the forward and backward passes, summed over the timed steps
        /// (the optimiser update is the rest of the step time).
        public let profile: StepProfile
        /// The dense GEMMs' FLOP/s over the timed steps, and sgemm's in the same process.
        public let linearFLOPS: Double
        public let sgemmPeak: Double

        public var medianStep: Double {
            let s = stepSeconds.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        public var examplesPerSecond: Double { Double(benchCase.batchSize) / medianStep }
        public var totalSeconds: Double { stepSeconds.reduce(0, +) }
        /// Dense-layer GEMMs plus the attention block (itself GEMM-dominated), over the step.
        public var gemmShare: Double { (profile.linearGEMM + profile.attention) / totalSeconds }
        public var linearGEMMShare: Double { profile.linearGEMM / totalSeconds }

        public static let tableHeader = "model    batch  len  threads  ex/s     step_ms  gemm%  linear%  linear_GFLOP/s  of_sgemm_peak"
        public var tableRow: String {
            let c = benchCase
            return String(format: "%-8@ %5d %4d %8d  %7.1f %8.1f  %5.1f  %7.1f  %14.1f  %12.0f%%", c.name, c.batchSize, c.sequenceLength, c.threads,
                          examplesPerSecond, medianStep * 1000, 100 * gemmShare, 100 * linearGEMMShare, linearFLOPS * 1e-9, 100 * linearFLOPS / sgemmPeak)
        }
    }

    /// The shapes `lpft bench train` knows, by name.
    public static let shapes: [String: BertConfig] = ["minilm": .miniLM(), "tiny": .tiny()]

    /// Every (shape, length, threads) case, in that order of nesting; an unknown shape name is an error.
    public static func cases(shapes names: [String], lengths: [Int], threads: [Int], batchSize: Int) throws -> [Case] {
        try names.flatMap { name in
            guard let config = shapes[name] else {
                throw ConfigError(file: "command line", path: "--models", reason: "unknown shape \"\(name)\" (\(shapes.keys.sorted().joined(separator: ", ")))")
            }
            return lengths.flatMap { length in
                threads.map { Case(name: name, config: config, batchSize: batchSize, sequenceLength: length, threads: $0) }
            }
        }
    }

    public init() {}

    public func run(_ c: Case, steps: Int, warmup: Int = 2, seed: UInt64 = 0) throws -> Result {
        let model = try BertClassifier(config: c.config, threads: c.threads)
        let parameters = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, parameters.pointer, seed: seed)
        let trainer = ClassifierTrainer(model: model, parameters: parameters, maxBatchSize: c.batchSize,
                                        maxSequenceLength: c.sequenceLength, seed: seed)
        let rng = RandomStream(seed: seed, stream: 7)
        let examples = (0..<c.batchSize).map { row in
            LabeledSequence(
                inputIDs: (0..<c.sequenceLength).map { Int32(rng.bits(at: UInt64(row * c.sequenceLength + $0)) % UInt64(c.config.vocabSize)) },
                label: row % c.config.classCount)
        }
        for _ in 0..<warmup { try trainer.step(examples[...], learningRate: 1e-5) }
        trainer.workspace.resetProfile()
        var times: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.step(examples[...], learningRate: 1e-5)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        let flops = DenseWork.trainingStepFLOPs(c.config, lengths: Array(repeating: c.sequenceLength, count: c.batchSize)) * Double(steps)
        return Result(benchCase: c, stepSeconds: times, profile: trainer.workspace.profile, linearFLOPS: flops / trainer.workspace.profile.linearGEMM,
                      sgemmPeak: DenseWork.sgemmPeak(threads: c.threads))
    }
}

/// One fine-tuning pass over real examples, as a trial's FT stage runs it: shuffled batches,
/// dropout, mean cross-entropy, backward, clipping at 1 and AdamW. The figure users feel, where
/// short texts of unequal length make a padded batch mostly padding.
public struct FineTuningPassBenchmark {
    public struct Result: Sendable {
        public let seconds: Double
        public let examples: Int
        /// Real tokens, and what batches padded to their longest member would have held.
        public let tokens: Int
        public let paddedTokens: Int
        /// Dense-layer GEMM time over the pass, and their multiply–adds ×2.
        public let linearGEMMSeconds: Double
        public let linearFLOPs: Double

        public var examplesPerSecond: Double { Double(examples) / seconds }
        public var tokensPerSecond: Double { Double(tokens) / seconds }
        public var paddingShare: Double { 1 - Double(tokens) / Double(paddedTokens) }
        /// The dense GEMMs' FLOP/s, as `TrainingBenchmark.Result.linearFLOPS`.
        public var linearFLOPS: Double { linearFLOPs / linearGEMMSeconds }
    }

    public let batchSize: Int
    public let seed: UInt64

    public init(batchSize: Int = 16, seed: UInt64 = 1001) {
        self.batchSize = batchSize
        self.seed = seed
    }

    /// The pass's batches: `examples` in a seeded shuffle, cut into `batchSize` runs. A peer
    /// given the same batches does the same work.
    public func batches(_ examples: [LabeledSequence]) -> [[LabeledSequence]] {
        let order = RandomStream(seed: seed, stream: 11).permutation(examples.count)
        return stride(from: 0, to: order.count, by: batchSize).map { start in
            order[start..<min(order.count, start + batchSize)].map { examples[$0] }
        }
    }

    /// The pass over the first `examples` (0: all) of rt-polarity's training split with a fresh
    /// head from `seed`, φ(x) read by `pooling`; `export` receives the batches' ids and labels
    /// for bench/torch_finetune.py.
    public func runOnRTPolarity(modelDirectory directory: URL, examples: Int, maxLength: Int, threads: Int, pooling: Pooling = .cls,
                                export: URL?) throws -> Result {
        let model = try PretrainedModel(directory: directory)
        var rows = try JSONLinesReader().read(try DataStore().task("rt-polarity").split("train")).examples
        if examples > 0 { rows = Array(rows.prefix(examples)) }
        let labels = LabelSet(of: rows)
        let batches = batches(rows.map {
            LabeledSequence(inputIDs: model.tokenizer.encode($0.text ?? "", maxLength: maxLength).ids, label: labels.index(of: $0.label)!)
        })
        if let export {
            let object = ["batches": batches.map { $0.map { ["input_ids": $0.inputIDs.map(Int.init), "label": $0.label] as [String: Any] } }]
            try JSONSerialization.data(withJSONObject: object).write(to: export)
        }
        let loaded = try model.loadWeights(labels: labels.names, threads: threads, seed: seed, pooling: pooling)
        return try run(model: loaded.model, parameters: loaded.parameters, batches: batches)
    }

    public func run(model: BertClassifier, parameters: FloatBuffer, batches: [[LabeledSequence]], learningRate: Float = 1e-5) throws -> Result {
        let longest = batches.joined().map(\.inputIDs.count).max() ?? 1
        let trainer = ClassifierTrainer(model: model, parameters: parameters, maxBatchSize: batchSize, maxSequenceLength: longest, seed: seed)
        trainer.workspace.resetProfile()
        let start = DispatchTime.now().uptimeNanoseconds
        for batch in batches { try trainer.step(batch[...], learningRate: learningRate) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let lengths = batches.map { $0.map(\.inputIDs.count) }
        return Result(seconds: seconds, examples: lengths.joined().count, tokens: lengths.joined().reduce(0, +),
                      paddedTokens: lengths.reduce(0) { $0 + $1.count * ($1.max() ?? 0) },
                      linearGEMMSeconds: trainer.workspace.profile.linearGEMM,
                      linearFLOPs: lengths.reduce(0) { $0 + DenseWork.trainingStepFLOPs(model.config, lengths: $1) })
    }
}

/// Floating-point work of the dense layers, to set achieved GEMM FLOP/s against the sgemm peak.
public enum DenseWork {
    /// 2 × multiply–adds of a training step's dense GEMMs for a batch of these lengths: the
    /// forward pass, then ∂x and ∂W in the backward (3× the forward), with the last layer past
    /// its keys and values on the first tokens only, as the model runs it. The head is negligible.
    public static func trainingStepFLOPs(_ c: BertConfig, lengths: [Int]) -> Double {
        let (h, inter) = (Double(c.hiddenSize), Double(c.intermediateSize))
        let tokens = Double(lengths.reduce(0, +)), sequences = Double(lengths.count)
        let qkv = 3 * h * h, rest = h * h + 2 * h * inter
        let forward = Double(c.layerCount) * tokens * qkv + Double(c.layerCount - 1) * tokens * rest + sequences * rest
        return 3 * 2 * forward
    }

    /// FLOP/s of OpenBLAS's sgemm on a large dense-layer-shaped product, split over `threads`
    /// as the model splits its GEMMs (median of `repeats`).
    public static func sgemmPeak(threads: Int, repeats: Int = 5) -> Double {
        let (m, k, n) = (2048, 384, 1536)
        let x = FloatBuffer(count: m * k), w = FloatBuffer(count: n * k), y = FloatBuffer(count: m * n)
        let rng = RandomStream(seed: 1)
        for i in 0..<x.count { x[i] = rng.uniform(at: UInt64(i)) }
        for i in 0..<w.count { w[i] = rng.uniform(at: UInt64(x.count + i)) }
        var seconds: [Double] = []
        BLAS.withSingleThread {
            for _ in 0...repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                Linear.forward(x.pointer, weight: w.pointer, bias: nil, y.pointer, rows: m, inFeatures: k, outFeatures: n, threads: threads)
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
            }
        }
        return 2 * Double(m * k * n) / seconds.dropFirst().sorted()[repeats / 2]
    }
}
