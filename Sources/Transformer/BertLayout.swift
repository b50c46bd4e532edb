/// The parameter views of a BERT-family encoder with a linear classification head, named as in
/// Hugging Face's `BertForSequenceClassification` (`RobertaForSequenceClassification`: the same
/// names under `roberta.`; its two-layer head is not the paper's, so the head is `classifier.*`).
///
/// Storage order differs from Hugging Face's in one place, on purpose: each layer's query,
/// key and value weights are adjacent (and so are their biases), so the three projections
/// run as one [3h, h] GEMM.
public struct BertLayout: Sendable {
    public struct Embeddings: Sendable {
        public let word, position, tokenType, normWeight, normBias: ParameterView
    }

    public struct Layer: Sendable {
        /// Query, key and value weights are adjacent, one [3h, h] block at `qkvOffset`; their
        /// biases likewise, [3h] at `qkvBiasOffset`.
        public let query, key, value, queryBias, keyBias, valueBias: ParameterView
        public let attentionOutput, attentionOutputBias, attentionNormWeight, attentionNormBias: ParameterView
        public let intermediate, intermediateBias, output, outputBias, outputNormWeight, outputNormBias: ParameterView
        public var qkvOffset: Int { query.offset }
        public var qkvBiasOffset: Int { queryBias.offset }
    }

    public struct Head: Sendable {
        public let weight, bias: ParameterView
    }

    /// One LoRA adapter on a projection of one layer.
    public struct Adapter: Sendable {
        public let target: LoRAConfig.Target
        /// A [rank, hidden] and B [hidden, rank].
        public let a, b: ParameterView
    }

    public let parameters: ParameterLayout
    public let embeddings: Embeddings
    public let layers: [Layer]
    public let head: Head
    public let lora: LoRAConfig?
    /// adapters[l] are layer l's LoRA adapters, in `lora.targets` order.
    public let adapters: [[Adapter]]

    /// The pre-trained backbone θ_φ (everything before the head) is one leading range.
    public var backboneRange: Range<Int> { 0..<head.weight.offset }
    /// The head V, b.
    public var headRange: Range<Int> { head.weight.offset..<(head.bias.offset + head.bias.count) }
    /// The LoRA adapters, stored after the head (empty without LoRA).
    public var loraRange: Range<Int> { headRange.upperBound..<parameters.count }

    public init(_ c: BertConfig, lora: LoRAConfig? = nil) {
        var p = ParameterLayout()
        let h = c.hiddenSize
        let prefix = c.family.parameterPrefix
        let e = prefix + "embeddings."
        embeddings = Embeddings(
            word: p.append(e + "word_embeddings.weight", [c.vocabSize, h]),
            position: p.append(e + "position_embeddings.weight", [c.maxPositions, h]),
            tokenType: p.append(e + "token_type_embeddings.weight", [c.typeVocabSize, h]),
            normWeight: p.append(e + "LayerNorm.weight", [h]),
            normBias: p.append(e + "LayerNorm.bias", [h]))
        layers = (0..<c.layerCount).map { l in
            let n = prefix + "encoder.layer.\(l)."
            return Layer(
                query: p.append(n + "attention.self.query.weight", [h, h]),
                key: p.append(n + "attention.self.key.weight", [h, h]),
                value: p.append(n + "attention.self.value.weight", [h, h]),
                queryBias: p.append(n + "attention.self.query.bias", [h]),
                keyBias: p.append(n + "attention.self.key.bias", [h]),
                valueBias: p.append(n + "attention.self.value.bias", [h]),
                attentionOutput: p.append(n + "attention.output.dense.weight", [h, h]),
                attentionOutputBias: p.append(n + "attention.output.dense.bias", [h]),
                attentionNormWeight: p.append(n + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: p.append(n + "attention.output.LayerNorm.bias", [h]),
                intermediate: p.append(n + "intermediate.dense.weight", [c.intermediateSize, h]),
                intermediateBias: p.append(n + "intermediate.dense.bias", [c.intermediateSize]),
                output: p.append(n + "output.dense.weight", [h, c.intermediateSize]),
                outputBias: p.append(n + "output.dense.bias", [h]),
                outputNormWeight: p.append(n + "output.LayerNorm.weight", [h]),
                outputNormBias: p.append(n + "output.LayerNorm.bias", [h]))
        }
        head = Head(weight: p.append("classifier.weight", [c.classCount, h]), bias: p.append("classifier.bias", [c.classCount]))
        // PEFT's names, so adapters can be exported to and compared with Hugging Face.
        adapters = (0..<c.layerCount).map { l in
            (lora?.targets ?? []).map { target in
                let n = prefix + "encoder.layer.\(l).attention.self.\(target.rawValue)."
                return Adapter(target: target, a: p.append(n + "lora_A.weight", [lora!.rank, h]), b: p.append(n + "lora_B.weight", [h, lora!.rank]))
            }
        }
        self.lora = lora
        parameters = p
    }
}
