import ArgumentParser
import Compute
import Foundation
import Training
import Transformer

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small BERT classifier end to end on a built-in synthetic task and print its metrics.",
        discussion: """
        Needs no downloads: the task is "which token group occurs most often", which a model \
        can only solve by attending over the whole sequence. Loss falls and test accuracy rises \
        well above chance (1/3) within a few epochs.
        """)

    @Option(help: "Training epochs.") var epochs = 4
    @Option(help: "Training examples.") var trainExamples = 2048
    @Option(help: "Held-out test examples.") var testExamples = 512
    @Option(help: "Examples per step.") var batchSize = 16
    @Option(help: "Peak AdamW learning rate (linear warm-up over 10% of steps, then linear decay).") var lr: Float = 1e-3
    @Option(help: "Threads for BLAS and attention.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Seed for data, initialisation and dropout.") var seed: UInt64 = 0

    func validate() throws {
        guard epochs > 0, trainExamples > 0, testExamples > 0, batchSize > 0 else {
            throw ValidationError("epochs, example counts and batch size must be positive")
        }
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {

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

        print("model: BERT \(config.layerCount) layers, hidden \(config.hiddenSize), \(model.parameterCount) parameters; \(threads) thread(s)")
        print("task: synthetic majority-group, \(train.count) train / \(test.count) test, 3 classes (chance 0.333)")
        print("epoch  train_loss  train_acc  test_acc  examples/s")
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
            let line = String(format: "%5d  %10.4f  %9.3f  %8.3f  %10.1f", epoch, lossSum / Double(stepsPerEpoch),
                              try trainer.accuracy(train), try trainer.accuracy(test), Double(train.count) / seconds)
            print(line)
        }
    }
}
