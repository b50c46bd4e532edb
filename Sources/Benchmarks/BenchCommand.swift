import ArgumentParser
import Compute
import Config
import Foundation
import NTK
import TextData
import Training
import Transformer

/// `lpft bench`: the command line registers this group; its subcommands and all they measure
/// live here, so neither the libraries nor the command line carry benchmark code.
public struct Bench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Measure the speed of the core and the orchestrator.",
        subcommands: [TrainBench.self, FineTuneBench.self, TokenizeBench.self, NTKBench.self, DispatchBench.self, SimulateBench.self, ShipBench.self, DecodeBench.self])

    public init() {}
}

/// `--model`'s help in the benchmarks that load one (resolved as `lpft train` resolves it).
let modelHelp = ArgumentHelp("A model directory or the name of a fetched model (as `lpft model describe` takes it).")

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
        let cases = try TrainingBenchmark.cases(shapes: models.commaSeparated, lengths: try lengths.commaSeparatedPositiveIntegers(option: "--lengths"),
                                                threads: try threads.commaSeparatedPositiveIntegers(option: "--threads"), batchSize: batchSize)
        print("OpenBLAS: \(BLAS.configuration)")
        print(TrainingBenchmark.Result.tableHeader)
        for c in cases { print(try TrainingBenchmark().run(c, steps: steps, warmup: warmup).tableRow) }
    }
}

struct FineTuneBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Examples/second of one fine-tuning pass of a fetched model over real rt-polarity training snippets.",
        discussion: """
        A trial's FT stage: shuffled batches, dropout, AdamW at 1e-5, clipping at 1. Build with -c release. \
        --export writes the batches for bench/torch_finetune.py, the same pass in PyTorch with per-batch padding.
        """)

    @Option(help: modelHelp) var model = ModelStore.defaultModel
    @Option(help: "The first N training snippets (0: all).") var examples = 1000
    @Option(help: "Maximum tokens per snippet.") var maxLength = 128
    @Option(help: "Examples per step.") var batchSize = 16
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Seed of the shuffle, the head and dropout.") var seed: UInt64 = 1001
    @Option(help: "What the head reads: cls (the first token's final state) or mean (every token's, so the last layer runs for all).")
    var pooling = Pooling.cls
    @Option(help: "Write the batches as JSON for bench/torch_finetune.py.") var export: String?

    func validate() throws {
        if pooling != .cls && export != nil {
            throw ValidationError("--export is for bench/torch_finetune.py, whose head reads [CLS]: use it with --pooling cls")
        }
    }

    func run() throws {
        let r = try FineTuningPassBenchmark(batchSize: batchSize, seed: seed).runOnRTPolarity(
            modelDirectory: try ModelStore().resolve(model), examples: examples, maxLength: maxLength, threads: threads, pooling: pooling,
            export: export.map(URL.init(fileURLWithPath:)))
        print("OpenBLAS: \(BLAS.configuration)")
        print(String(format: "%d examples (%d real tokens, %.0f%% of a padded batch's would be padding) in %.1f s: %.1f examples/s, %.0f tokens/s; linear %.1f GFLOP/s",
                     r.examples, r.tokens, 100 * r.paddingShare, r.seconds, r.examplesPerSecond, r.tokensPerSecond, r.linearFLOPS * 1e-9))
    }
}

struct TokenizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Texts/second of a model's tokenizer (WordPiece or byte-level BPE) on a shipped task's training texts.",
        discussion: """
        Needs `lpft data fetch` (and `lpft model fetch` for the default model). Build with -c release \
        for meaningful numbers. Peer: bench/hf_tokenize.py, Hugging Face `tokenizers` on the same texts.
        """)

    @Option(help: modelHelp) var model = ModelStore.defaultModel
    @Option(help: "The fetched task whose training texts are tokenised.") var task = "rt-polarity"
    @Option(help: "How many texts (cycled if the task has fewer).") var count = 10_000
    @Option(help: "Timed repetitions; the median is reported.") var repeats = 5

    func run() throws {
        let pretrained = try PretrainedModel(resolving: model)
        let r = try TokenizerBenchmark(tokenizer: pretrained.tokenizer, task: task, count: count).run(repeats: repeats)
        print(String(format: "%@ (%@): %d texts (%d tokens) in %.3f s median of %d: %.0f texts/s", pretrained.config.family.rawValue,
                     pretrained.tokenizerFile, count, r.tokens, r.medianSeconds, repeats, Double(count) / r.medianSeconds))
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

    @Option(help: modelHelp) var model = ModelStore.defaultModel
    @Option(help: "Examples (the first of rt-polarity's training split).") var examples = 250
    @Option(help: "Maximum tokens per example.") var length = 64
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Memory budget, MiB: captured activations plus Jacobian slabs.") var budgetMib = NTKBudget.defaultMiB
    @Option(help: "Seed for the fresh head.") var seed: UInt64 = 1001
    @Option(help: "Write the ids and head used here, for bench/torch_ntk.py.") var export: String?

    func run() throws {
        let (batch, ntk, seconds) = try NTKBenchmark.run(modelDirectory: try ModelStore().resolve(model), examples: examples, length: length, threads: threads,
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

/// One conformance for every front end that takes `--pooling` (`lpft bench finetune`, `lpft ntk`):
/// Benchmarks is the lowest target that sees both ArgumentParser and Transformer, and `lpft` imports it.
extension Pooling: ExpressibleByArgument {}
