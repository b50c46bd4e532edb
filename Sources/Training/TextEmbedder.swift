import Compute
import Foundation
import TextData
import Transformer

/// Text in, encoder features out: tokenises, batches, and runs a model in eval mode.
public final class TextEmbedder {
    public struct Embedding: Sendable {
        public let ids: [Int32]
        /// Final hidden state of the first token ([CLS], RoBERTa's `<s>`): the φ(x) of `pooling: cls`.
        public let clsHidden: [Float]
        /// Mean of the final hidden states over the input's tokens: the φ(x) of `pooling: mean`.
        public let meanPooled: [Float]
    }

    public let model: BertClassifier
    public let parameters: FloatBuffer
    public let tokenizer: any Tokenizer
    public let maxLength: Int
    public let batchSize: Int
    let workspace: BertWorkspace

    public init(modelDirectory: URL, maxLength: Int = 128, batchSize: Int = 32, threads: Int = 1) throws {
        let pretrained = try PretrainedModel(directory: modelDirectory)
        // The classifier's own mean pooling, so `lpft embed`'s `mean_pooled` is the φ(x) a `pooling: mean` trial reads.
        let loaded = try pretrained.loadWeights(threads: threads, pooling: .mean)
        model = loaded.model
        parameters = loaded.parameters
        tokenizer = pretrained.tokenizer
        self.maxLength = min(maxLength, model.config.maxSequenceLength)
        self.batchSize = batchSize
        workspace = model.makeWorkspace(maxBatchSize: batchSize, maxSequenceLength: self.maxLength)
    }

    /// Embeds texts, a batch at a time.
    public func embed(_ texts: [String]) throws -> [Embedding] {
        try embed(tokenized: texts.map { tokenizer.encode($0, maxLength: maxLength) })
    }

    /// The inputs of a dataset file, read without labels by `format`'s reader (JSONL text or
    /// pre-tokenised rows, CSV, TSV, GLUE, SuperGLUE; any other generic file is plain text,
    /// one input per line), tokenised for this model.
    public func inputs(from url: URL, format: DatasetFormat = .generic()) throws -> [(ids: [Int32], tokenTypeIDs: [Int32])] {
        try format.reader(for: url, labelled: false).read(url).examples.map { $0.modelInput(tokenizer, maxLength: maxLength) }
    }

    /// Embeds already tokenised inputs (ids with special tokens, and token types).
    public func embed(tokenized: [(ids: [Int32], tokenTypeIDs: [Int32])]) throws -> [Embedding] {
        let h = model.config.hiddenSize
        var out: [Embedding] = []
        for start in stride(from: 0, to: tokenized.count, by: batchSize) {
            let chunk = tokenized[start..<min(tokenized.count, start + batchSize)]
            let batch = try TokenBatch(sequences: chunk.map(\.ids), tokenTypes: chunk.map(\.tokenTypeIDs))
            try model.encode(parameters.pointer, batch, workspace: workspace, everyToken: true)
            let states = workspace.finalHiddenStates, means = workspace.features.buffer
            for (row, item) in chunk.enumerated() {
                let first = batch.offsets[row] * h
                out.append(Embedding(ids: item.ids, clsHidden: Array(states[first..<(first + h)]),
                                     meanPooled: Array(means[(row * h)..<((row + 1) * h)])))
            }
        }
        return out
    }
}

extension Example {
    /// The model's input for this example: its pre-tokenised ids (cut to `maxLength`), or its
    /// text encoded by `tokenizer`.
    func modelInput(_ tokenizer: any Tokenizer, maxLength: Int) -> (ids: [Int32], tokenTypeIDs: [Int32]) {
        if let ids = inputIDs {
            let types = tokenTypeIDs ?? [Int32](repeating: 0, count: ids.count)
            return (Array(ids.prefix(maxLength)), Array(types.prefix(maxLength)))
        }
        return tokenizer.encode(text ?? "", pair: textPair, maxLength: maxLength)
    }
}
