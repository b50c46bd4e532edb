import Compute
import Dispatch
import Foundation
import Transformer

/// `lpft demo`: a small BERT classifier trained from scratch on `SyntheticTask`, which needs
/// no downloads and is solved only by attending over the whole sequence.
public struct SyntheticDemo {
    public var epochs = 4
    public var trainExamples = 2048
    public var testExamples = 512
    public var batchSize = 16
    /// Peak AdamW learning rate (linear warm-up over 10% of steps, then linear decay).
    public var lr: Float = 1e-3
    public var threads = 1
    public var seed: UInt64 = 0

    public init() {}

    public struct Epoch {
        public let epoch: Int
        public let meanLoss: Double
        public let trainAccuracy: Double
        public let testAccuracy: Double
        public let examplesPerSecond: Double
    }

    /// Trains; `describe` gets what is trained on what (two lines) before the first step, and
    /// `onEpoch` each epoch's numbers.
    public func run(describe: (String) -> Void, onEpoch: (Epoch) -> Void) throws {
        let task = SyntheticTask()
        let train = task.examples(trainExamples, seed: seed, split: 0)
        let test = task.examples(testExamples, seed: seed, split: 1)
        var config = BertConfig.tiny(vocabSize: task.vocabularySize, labels: ["group_0", "group_1", "group_2"])
        config.hiddenSize = 64
        config.intermediateSize = 128
        let model = try BertClassifier(config: config, threads: threads)
        let parameters = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, parameters.pointer, seed: seed)
        let trainer = ClassifierTrainer(model: model, parameters: parameters, maxBatchSize: batchSize,
                                        maxSequenceLength: train.map(\.inputIDs.count).max()!, seed: seed)
        let stepsPerEpoch = (train.count + batchSize - 1) / batchSize
        let schedule = LinearSchedule(peak: lr, totalSteps: epochs * stepsPerEpoch, warmupRatio: 0.1)

        describe("model: BERT \(config.layerCount) layers, hidden \(config.hiddenSize), \(model.parameterCount) parameters; \(threads) thread(s)\n"
                 + "task: synthetic majority-group, \(train.count) train / \(test.count) test, 3 classes (chance 0.333)")
        for epoch in 1...epochs {
            let start = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0
            for s in 0..<stepsPerEpoch {
                let lo = s * batchSize
                let loss = try trainer.step(train[lo..<min(train.count, lo + batchSize)],
                                            learningRate: schedule.learningRate(at: trainer.optimizer.step))
                lossSum += Double(loss)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            onEpoch(Epoch(epoch: epoch, meanLoss: lossSum / Double(stepsPerEpoch), trainAccuracy: try trainer.accuracy(train),
                          testAccuracy: try trainer.accuracy(test), examplesPerSecond: Double(train.count) / seconds))
        }
    }
}
