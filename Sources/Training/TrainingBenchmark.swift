import Compute
import Dispatch
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

        public var medianStep: Double {
            let s = stepSeconds.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        public var examplesPerSecond: Double { Double(benchCase.batchSize) / medianStep }
        public var totalSeconds: Double { stepSeconds.reduce(0, +) }
        /// Dense-layer GEMMs plus the attention block (itself GEMM-dominated), over the step.
        public var gemmShare: Double { (profile.linearGEMM + profile.attention) / totalSeconds }
        public var linearGEMMShare: Double { profile.linearGEMM / totalSeconds }
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
        return Result(benchCase: c, stepSeconds: times, profile: trainer.workspace.profile)
    }
}
