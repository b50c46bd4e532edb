import ArgumentParser
import Foundation
import Training

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
        var demo = SyntheticDemo()
        (demo.epochs, demo.trainExamples, demo.testExamples, demo.batchSize) = (epochs, trainExamples, testExamples, batchSize)
        (demo.lr, demo.threads, demo.seed) = (lr, threads, seed)
        try demo.run(describe: { print($0 + "\nepoch  train_loss  train_acc  test_acc  examples/s") }) { e in
            print(String(format: "%5d  %10.4f  %9.3f  %8.3f  %10.1f", e.epoch, e.meanLoss, e.trainAccuracy, e.testAccuracy, e.examplesPerSecond))
        }
    }
}
