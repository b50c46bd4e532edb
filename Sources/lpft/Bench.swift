import ArgumentParser
import Compute
import Foundation
import NTK
import TextData
import Training
import Transformer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the speed of the core and the orchestrator.",
        subcommands: [TrainBench.self, TokenizeBench.self, NTKBench.self, DispatchBench.self])
}

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Examples/second of a training step (forward, backward, AdamW) on random weights.",
        discussion: """
        Build with `swift build -c release` for meaningful numbers. Each row reports the median \
        of the timed steps and where the time went: `gemm%` is dense-layer GEMMs plus the \
        attention block, `linear%` the dense-layer GEMMs alone. Compare with \
        bench/torch_train.py, run in the same session on the same machine.
        """)

    @Option(help: "Comma-separated model shapes: minilm (all-MiniLM-L6-v2 sized), tiny.")
    var models = "minilm,tiny"
    @Option(help: "Comma-separated sequence lengths.") var lengths = "128,64"
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Examples per step.") var batchSize = 16
    @Option(help: "Timed steps per case.") var steps = 10
    @Option(help: "Untimed warm-up steps per case.") var warmup = 2

    func run() throws {
        func ints(_ s: String, _ flag: String) throws -> [Int] {
            try s.split(separator: ",").map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v > 0 else {
                    throw ValidationError("\(flag): \"\($0)\" is not a positive integer")
                }
                return v
            }
        }
        let shapes: [(String, BertConfig)] = try models.split(separator: ",").map {
            switch $0.trimmingCharacters(in: .whitespaces) {
            case "minilm": return ("minilm", .miniLM())
            case "tiny": return ("tiny", .tiny())
            default: throw ValidationError("--models: unknown shape \"\($0)\" (minilm, tiny)")
            }
        }
        print("OpenBLAS: \(BLAS.configuration)")
        print("model    batch  len  threads  ex/s     step_ms  gemm%  linear%")
        for (name, config) in shapes {
            for length in try ints(lengths, "--lengths") {
                for t in try ints(threads, "--threads") {
                    let c = TrainingBenchmark.Case(name: name, config: config, batchSize: batchSize, sequenceLength: length, threads: t)
                    let r = try TrainingBenchmark().run(c, steps: steps, warmup: warmup)
                    print(String(format: "%-8@ %5d %4d %8d  %7.1f %8.1f  %5.1f  %7.1f", name, batchSize, length, t,
                                 r.examplesPerSecond, r.medianStep * 1000, 100 * r.gemmShare, 100 * r.linearGEMMShare))
                }
            }
        }
    }
}

struct TokenizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Texts/second of the WordPiece tokenizer on a shipped task's training texts.",
        discussion: "Needs `lpft model fetch` and `lpft data fetch`. Build with -c release for meaningful numbers.")

    @OptionGroup var model: ModelOption
    @Option(help: "The fetched task whose training texts are tokenised.") var task = "rt-polarity"
    @Option(help: "How many texts (cycled if the task has fewer).") var count = 10_000
    @Option(help: "Timed repetitions; the median is reported.") var repeats = 5

    func run() throws {
        let r = try TokenizerBenchmark(modelDirectory: try model.directory(), task: task, count: count).run(repeats: repeats)
        print(String(format: "%d texts (%d tokens) in %.3f s median of %d: %.0f texts/s", count, r.tokens, r.medianSeconds, repeats, Double(count) / r.medianSeconds))
    }
}

struct NTKBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ntk",
        abstract: "Time the exact FT-effective kernel F of a fetched model on rt-polarity training texts.",
        discussion: """
        F over the whole backbone, word embeddings included, for --examples texts truncated to \
        --length tokens, with a fresh head from --seed (C = 2). --export writes the token ids and \
        the head as JSON for bench/torch_ntk.py, so the PyTorch peer computes the same kernel.
        """)

    @OptionGroup var model: ModelOption
    @Option(help: "Examples (the first of rt-polarity's training split).") var examples = 250
    @Option(help: "Maximum tokens per example.") var length = 64
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Memory budget, MiB: captured activations plus Jacobian slabs.") var budgetMib = NTKBudget.defaultMiB
    @Option(help: "Seed for the fresh head.") var seed: UInt64 = 1001
    @Option(help: "Write the ids and head used here, for bench/torch_ntk.py.") var export: String?

    func run() throws {
        let (batch, ntk, seconds) = try NTKBenchmark.run(modelDirectory: try model.directory(), examples: examples, length: length, threads: threads,
                                                         budgetMiB: budgetMib, seed: seed, export: export.map(URL.init(fileURLWithPath:)))
        let fro = Elementwise.sumOfSquares(ntk.ftEffective, count: ntk.ftEffective.count).squareRoot()
        print(String(format: "F for %d examples x %d classes (mean %.1f tokens): %.1f s, %d backward passes, ||F||_F = %.6g",
                     batch.count, ntk.classes, Double(batch.map(\.ids.count).reduce(0, +)) / Double(batch.count), seconds, ntk.backwardPasses, fro))
        print(ntk.phases.map { String(format: "%@ %.1f s", $0.name, $0.seconds) }.joined(separator: ", "))
        for (name, k) in ntk.groups {
            print(String(format: "  %-20@ ||F_g||_F = %.6g", name, Elementwise.sumOfSquares(k, count: k.count).squareRoot()))
        }
    }
}
