import ArgumentParser
import Foundation
import NTK
import Training
import Transformer

struct NTKCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ntk",
        abstract: "Compute the NTK split into its pre-train-effective (P) and FT-effective (F) parts.",
        discussion: """
        P(x, x′) = (⟨φ(x), φ(x′)⟩ + 1)·I from the head; F = V·J_φ·J_φᵀ·Vᵀ from the backbone (or, with \
        --lora-rank, from fresh LoRA adapters only), exact, word embeddings included. Writes \
        pretrain_effective and ft_effective as [N][C][N][C] arrays, their Frobenius norms, traces and \
        ranks, the FT ratio, the kernel classifier's training accuracy, the per-group breakdown, the \
        logits f(x) of the --data examples as [N][C], and timings. --data may hold text rows or pre-tokenised input_ids rows (JSONL, CSV, TSV).
        """)

    @OptionGroup var model: ModelOption
    @Option(help: "Examples (text or input_ids, with labels).") var data: String
    @Option(help: "Evaluation examples: the kernel classifier is also scored on these.") var evalData: String?
    @Option(help: "How many examples to sample (seeded).") var examples = 250
    @Option(help: "How many evaluation examples to sample (seeded).") var evalExamples = 250
    @Option(help: "LoRA rank: F from fresh adapters (B = 0) instead of the backbone.") var loraRank: Int?
    @Option(help: "LoRA alpha.") var loraAlpha: Double = 8
    @Flag(help: "Fit a linear probe (L2 logistic regression) for the head first, as LP-FT starts.") var lp = false
    @Flag(help: "Use a fresh N(0, 0.02²) head from --seed, as FT starts.") var freshHead = false
    @Option(help: "Seed for sampling and fresh heads/adapters.") var seed: UInt64 = 1001
    @Option(help: "Truncate texts to this many tokens.") var maxLength = 128
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Memory budget, MiB: captured activations plus Jacobian slabs; below what the captures need, backward passes are recomputed.") var budgetMib = NTKBudget.defaultMiB
    @Option(help: "What the features φ(x) read: cls (the first token's final state, the paper's) or mean (the mean of every token's).") var pooling = Pooling.cls
    @Option(help: "Output JSON file.") var out: String

    func validate() throws {
        if lp && freshHead { throw ValidationError("choose one of --lp and --fresh-head") }
        if examples < 1 { throw ValidationError("--examples must be at least 1") }
    }

    func run() throws {
        var analysis = NTKAnalysis(modelDirectory: try model.directory(), data: URL(fileURLWithPath: data))
        analysis.examples = examples
        analysis.evalData = evalData.map { URL(fileURLWithPath: $0) }
        analysis.evalExamples = evalExamples
        analysis.lora = loraRank.map { LoRAConfig(rank: $0, alpha: Float(loraAlpha)) }
        analysis.head = lp ? .linearProbe : freshHead ? .fresh : .model
        analysis.seed = seed
        analysis.maxLength = maxLength
        analysis.threads = threads
        analysis.memoryBudget = NTKBudget.bytes(mib: budgetMib)
        analysis.pooling = pooling
        if pooling != .cls && !lp && !freshHead {
            FileHandle.standardError.write(Data("lpft: warning: --pooling \(pooling.rawValue) with the model's own classifier head, which reads what it was trained on (a Hugging Face head reads [CLS], through a pooler lpft does not run); --lp or --fresh-head give a head made for these features\n".utf8))
        }
        let result = try analysis.run()
        try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]).write(to: URL(fileURLWithPath: out), options: .atomic)
        if let s = result["statistics"] as? [String: Any] {
            print("FT ratio \(s["ft_ratio"] ?? "?"); wrote \(out)")
        }
    }
}
