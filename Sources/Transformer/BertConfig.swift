import Foundation

/// The checkpoint families this encoder runs. They share every layer; a family is what its
/// tensors are named and how it counts positions (and, through PretrainedModel, its tokenizer).
public enum ModelFamily: String, CaseIterable, Sendable {
    /// BERT, MiniLM and other `model_type: bert` checkpoints: positions from 0, token types.
    case bert
    /// RoBERTa (the paper's model): positions from `pad_token_id + 1`, one token type.
    case roberta

    /// The prefix of the encoder's tensor names in a `…ForSequenceClassification` checkpoint;
    /// checkpoints of the bare model (`BertModel`, `RobertaModel`) have none.
    public var parameterPrefix: String { rawValue + "." }

    /// The `architectures` entry of the config.json this classifier writes.
    var architecture: String {
        switch self {
        case .bert: "BertForSequenceClassification"
        case .roberta: "RobertaForSequenceClassification"
        }
    }
}

/// The architecture of a BERT-family encoder, read from a Hugging Face `config.json`.
public struct BertConfig: Equatable, Sendable {
    public var family: ModelFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenDropout: Float
    public var attentionDropout: Float
    public var initializerRange: Float
    /// `pad_token_id`: RoBERTa's positions start after it (Hugging Face's `padding_idx`).
    public var paddingID: Int
    /// Class names in label-id order; their count is the head's output size.
    public var labels: [String]

    public var classCount: Int { labels.count }
    public var headSize: Int { hiddenSize / headCount }

    /// The row of the position table a sequence's first token reads: 0 for BERT; for RoBERTa
    /// `padding_idx + 1`, as Hugging Face numbers the real tokens of a right-padded row.
    public var positionOffset: Int {
        switch family {
        case .bert: 0
        case .roberta: paddingID + 1
        }
    }

    /// The row of the position table each token of `batch` reads, as Hugging Face numbers
    /// them. BERT: the token's place in its sequence. RoBERTa
    /// (`create_position_ids_from_input_ids`): a `<pad>` token reads row `padding_idx` and is
    /// not counted, the others count from `padding_idx + 1`; so a literal "<pad>" in a text
    /// moves none of the positions after it, which counting places did (a `<s>` state off by 1e-3).
    public func positionRows(_ batch: TokenBatch) -> [Int32] {
        guard family == .roberta else { return batch.positions }
        let pad = Int32(paddingID)
        var rows: [Int32] = []
        rows.reserveCapacity(batch.tokenCount)
        for b in 0..<batch.batchSize {
            var next = pad + 1
            for id in batch.inputIDs[batch.offsets[b]..<batch.offsets[b + 1]] {
                rows.append(id == pad ? pad : next)
                if id != pad { next += 1 }
            }
        }
        return rows
    }

    /// The longest sequence the position table holds (roberta-base: 514 rows, 512 tokens).
    public var maxSequenceLength: Int { maxPositions - positionOffset }

    public init(
        family: ModelFamily = .bert, vocabSize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int,
        maxPositions: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
        hiddenDropout: Float = 0.1, attentionDropout: Float = 0.1, initializerRange: Float = 0.02,
        paddingID: Int? = nil, labels: [String] = ["LABEL_0", "LABEL_1"]
    ) {
        self.family = family
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.initializerRange = initializerRange
        // Hugging Face's defaults: BertConfig pads with 0, RobertaConfig with 1.
        self.paddingID = paddingID ?? (family == .roberta ? 1 : 0)
        self.labels = labels
    }

    /// all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, FFN 1536, vocab 30,522).
    public static func miniLM(labels: [String] = ["LABEL_0", "LABEL_1"]) -> BertConfig {
        BertConfig(vocabSize: 30522, hiddenSize: 384, layerCount: 6, headCount: 12, intermediateSize: 1536, labels: labels)
    }

    /// A 2-layer, hidden-32 model for tests and demos.
    public static func tiny(vocabSize: Int = 120, labels: [String] = ["LABEL_0", "LABEL_1", "LABEL_2"]) -> BertConfig {
        BertConfig(vocabSize: vocabSize, hiddenSize: 32, layerCount: 2, headCount: 4, intermediateSize: 64, maxPositions: 128, labels: labels)
    }

    /// Checks that the numbers describe a model this encoder can run.
    public func validate() throws {
        func require(_ ok: Bool, _ reason: String) throws {
            if !ok { throw ModelError.invalidConfig(reason) }
        }
        try require(vocabSize > 0 && hiddenSize > 0 && layerCount >= 0 && intermediateSize > 0,
                    "vocab_size \(vocabSize), hidden_size \(hiddenSize), intermediate_size \(intermediateSize) must be positive and num_hidden_layers \(layerCount) not negative")
        try require(headCount > 0 && hiddenSize % headCount == 0,
                    "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(headCount)")
        try require(maxPositions > 0 && typeVocabSize > 0, "max_position_embeddings and type_vocab_size must be positive")
        try require(paddingID >= 0 && maxSequenceLength > 0,
                    "max_position_embeddings \(maxPositions) leaves no position after pad_token_id \(paddingID) (\(family.rawValue) positions start at \(positionOffset))")
        try require(classCount >= 1, "the model needs at least one label")
        try require((0..<1).contains(hiddenDropout) && (0..<1).contains(attentionDropout), "dropout probabilities must be in [0, 1)")
    }
}

extension BertConfig {
    /// Reads a Hugging Face `config.json`. Only `model_type` `bert` and `roberta` encoders with
    /// absolute positions and the exact-erf `gelu` are accepted; anything else is an error
    /// that says which key is unsupported.
    public init(contentsOf url: URL, labelsOverride: [String]? = nil) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.unreadable(url.path, error.localizedDescription)
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidConfig("\(url.path) is not a JSON object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let raw = json[key] else {
                if let value { return value }
                throw ModelError.invalidConfig("\(url.path): missing integer \"\(key)\"")
            }
            guard let v = raw as? Int else {
                throw ModelError.invalidConfig("\(url.path): \"\(key)\" must be an integer, got \(raw)")
            }
            return v
        }
        func float(_ key: String, default value: Float) throws -> Float {
            guard let raw = json[key] else { return value }
            guard let v = raw as? Double else { throw ModelError.invalidConfig("\(url.path): \"\(key)\" is not a number") }
            return Float(v)
        }
        let modelType = json["model_type"] as? String ?? ModelFamily.bert.rawValue
        guard let family = ModelFamily(rawValue: modelType) else {
            throw ModelError.invalidConfig("\(url.path): model_type \"\(modelType)\" is not a family lpft runs (\(ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let act = json["hidden_act"] as? String ?? "gelu"
        guard act == "gelu" else {
            throw ModelError.invalidConfig("\(url.path): hidden_act \"\(act)\" is not supported (only the exact erf \"gelu\")")
        }
        let positions = json["position_embedding_type"] as? String ?? "absolute"
        guard positions == "absolute" else {
            throw ModelError.invalidConfig("\(url.path): position_embedding_type \"\(positions)\" is not supported (only \"absolute\")")
        }
        var labels: [String]
        let labelCount = json["num_labels"] as? Int
        if let map = json["id2label"] as? [String: String], !map.isEmpty, labelCount == nil || labelCount == map.count {
            let pairs = try map.map { key, name -> (Int, String) in
                guard let id = Int(key) else { throw ModelError.invalidConfig("\(url.path): id2label key \"\(key)\" is not an integer") }
                return (id, name)
            }.sorted { $0.0 < $1.0 }
            guard pairs.map(\.0) == Array(0..<pairs.count) else {
                throw ModelError.invalidConfig("\(url.path): id2label ids must be 0..<\(pairs.count)")
            }
            labels = pairs.map(\.1)
        } else {
            // An explicit num_labels that id2label does not cover (a config edited by hand) sizes the head.
            labels = (0..<(try int("num_labels", default: 2))).map { "LABEL_\($0)" }
        }
        if let labelsOverride { labels = labelsOverride }
        self.init(
            family: family, vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
            layerCount: try int("num_hidden_layers"), headCount: try int("num_attention_heads"),
            intermediateSize: try int("intermediate_size"),
            maxPositions: try int("max_position_embeddings", default: 512),
            typeVocabSize: try int("type_vocab_size", default: 2),
            layerNormEps: try float("layer_norm_eps", default: 1e-12),
            hiddenDropout: try float("hidden_dropout_prob", default: 0.1),
            attentionDropout: try float("attention_probs_dropout_prob", default: 0.1),
            initializerRange: try float("initializer_range", default: 0.02),
            paddingID: json["pad_token_id"] as? Int,
            labels: labels)
        try validate()
    }

    /// The `config.json` a Hugging Face `BertForSequenceClassification` (or Roberta…) reads.
    public func jsonObject() -> [String: Any] {
        [
            "model_type": family.rawValue, "architectures": [family.architecture], "pad_token_id": paddingID,
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "num_hidden_layers": layerCount,
            "num_attention_heads": headCount, "intermediate_size": intermediateSize,
            "max_position_embeddings": maxPositions, "type_vocab_size": typeVocabSize,
            "layer_norm_eps": Double(layerNormEps), "hidden_act": "gelu", "position_embedding_type": "absolute",
            "hidden_dropout_prob": Double(hiddenDropout), "attention_probs_dropout_prob": Double(attentionDropout),
            "initializer_range": Double(initializerRange),
            "id2label": Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0.offset), $0.element) }),
            "label2id": Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) }),
        ]
    }
}
