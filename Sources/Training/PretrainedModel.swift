import Foundation
import TextData
import Transformer
import TrialContract

/// A model directory as every command opens it: its `config.json`, which names the family, and
/// that family's tokenizer, checked against each other. The weights load separately
/// (`loadWeights`), since each command chooses its own head, adapters and threads.
public struct PretrainedModel: Sendable {
    public let directory: URL
    public let config: BertConfig
    public let tokenizer: any Tokenizer
    /// The file the tokenizer was read from (vocab.txt, tokenizer.json or vocab.json).
    public let tokenizerFile: String

    public init(directory: URL) throws {
        self.directory = directory
        config = try BertConfig(contentsOf: directory.appendingPathComponent("config.json"))
        switch config.family {
        case .bert:
            tokenizer = try WordPieceTokenizer(modelDirectory: directory)
            tokenizerFile = directory.appendingPathComponent("vocab.txt").path
        case .roberta:
            let bpe = try ByteLevelBPETokenizer(modelDirectory: directory)
            tokenizer = bpe
            tokenizerFile = bpe.sourceFile
        }
        guard tokenizer.vocabularySize == config.vocabSize else {
            throw TextDataError.tokenizer(file: tokenizerFile, reason: "has \(tokenizer.vocabularySize) tokens but config.json's vocab_size is \(config.vocabSize): it is not this model's tokenizer")
        }
    }

    /// A `--model` argument: a model directory, or the name of a fetched model.
    public init(resolving nameOrPath: String, home: LPFTHome = LPFTHome()) throws {
        try self.init(directory: try ModelStore(home: home).resolve(nameOrPath))
    }

    /// The weights; see `Checkpoint.load` for the head, adapters and seed.
    public func loadWeights(labels: [String]? = nil, lora: LoRAConfig? = nil, freshHead: Bool = false, threads: Int = 1,
                            seed: UInt64 = 0, pooling: Pooling = .cls) throws -> Checkpoint.Loaded {
        try Checkpoint.load(directory: directory, labels: labels, lora: lora, freshHead: freshHead, threads: threads, seed: seed, pooling: pooling)
    }

    /// What `lpft model describe` prints, as (key, value) lines: the family, the shape, the
    /// vocabulary, the parameters of the backbone and of a classification head (which grows
    /// with the task's labels), and whether the model comes with a trained head and who reads
    /// it (trials never do: they start their own, as the paper does).
    public func summary() throws -> [(key: String, value: String)] {
        let layout = BertLayout(config)
        let weights = try SafeTensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        let trainedHead = weights.tensors[layout.head.weight.name] != nil
        let labels = config.labels.count, head = layout.headRange.count
        return [
            ("family", config.family.rawValue),
            ("layers", "\(config.layerCount)"),
            ("hidden size", "\(config.hiddenSize) (\(config.headCount) heads, feed-forward \(config.intermediateSize))"),
            ("vocabulary", "\(config.vocabSize) tokens (\(tokenizerFile))"),
            ("max length", "\(config.maxSequenceLength) tokens"),
            ("parameters", "\(layout.backboneRange.count) in the backbone; a classification head adds \(head / labels) per label"),
            ("classification head", trainedHead
                ? "trained, in model.safetensors: \(head) parameters for the labels \(config.labels.joined(separator: ", ")) (`lpft ntk` reads it unless --lp or --fresh-head; a trial makes its own)"
                : "none in model.safetensors: a trial makes its own for its task's labels (random for FT and LoRA, fitted by a linear probe for LP, LP-FT and LP-LoRA)"),
        ]
    }
}
