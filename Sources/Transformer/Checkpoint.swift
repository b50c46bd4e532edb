import Compute
import Foundation

/// Reading and writing model directories in the Hugging Face layout (`config.json`,
/// `model.safetensors`, and for text models the family's tokenizer files).
public enum Checkpoint {
    /// A model and its weights, ready to run.
    public struct Loaded {
        public let model: BertClassifier
        public let parameters: FloatBuffer
        /// Whether `classifier.weight`/`classifier.bias` came from the file (else freshly initialised).
        public let headLoaded: Bool
    }

    /// Tensors a checkpoint may carry that this classifier deliberately does not use: the
    /// pooler (the paper's head reads φ(x) directly), position-id buffers of older exports, and
    /// RoBERTa's masked-LM head (`lm_head.*`, in roberta-base's own checkpoint).
    static func isIgnorable(_ name: String, family: ModelFamily) -> Bool {
        name.hasPrefix("pooler.") || name.hasPrefix(family.parameterPrefix + "pooler.") || name.hasSuffix("position_ids")
            || (family == .roberta && name.hasPrefix("lm_head."))
    }

    /// Loads `directory/config.json` and `directory/model.safetensors`.
    ///
    /// Tensors load with or without the family's prefix (`bert.`, `roberta.`). A missing head is initialised
    /// N(0, initializer_range²) with bias 0 from `seed`; `labels` overrides the config's
    /// labels (and so the head's size) when the head is to be trained afresh.
    /// With `lora`, adapters saved in the file are loaded and missing ones initialised afresh
    /// (A Kaiming-uniform, B = 0) from `seed`. With `freshHead`, any `classifier.*` tensors in the
    /// file are ignored (whatever their shape) and the head is initialised from `seed`.
    public static func load(directory: URL, labels: [String]? = nil, lora: LoRAConfig? = nil, freshHead: Bool = false,
                            threads: Int = 1, seed: UInt64 = 0, pooling: Pooling = .cls) throws -> Loaded {
        let config = try BertConfig(contentsOf: directory.appendingPathComponent("config.json"), labelsOverride: labels)
        let model = try BertClassifier(config: config, lora: lora, threads: threads, pooling: pooling)
        let weightsPath = directory.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ModelError.unreadable(weightsPath, "no such file (a model directory holds config.json and model.safetensors)")
        }
        let file = try SafeTensorsFile(path: weightsPath)
        let parameters = FloatBuffer(count: model.parameterCount)
        var used = Set<String>()
        var headLoaded = false
        Initializer.initializeLoRA(model, parameters.pointer, seed: seed)
        for view in model.layout.parameters.views {
            let isHead = view.name.hasPrefix("classifier.")
            let isAdapter = model.layout.loraRange.contains(view.offset)
            if isHead && freshHead { continue }
            let prefix = config.family.parameterPrefix
            let candidates = view.name.hasPrefix(prefix) ? [view.name, String(view.name.dropFirst(prefix.count))] : [view.name]
            guard let name = candidates.first(where: { file.tensors[$0] != nil }), let info = file.tensors[name] else {
                if isHead || isAdapter { continue }
                throw ModelError.missingTensor(name: view.name, expectedShape: view.shape, path: weightsPath)
            }
            guard info.shape == view.shape else {
                throw ModelError.shapeMismatch(name: name, expected: view.shape, found: info.shape, path: weightsPath)
            }
            try file.read(name, into: parameters.pointer + view.offset)
            used.insert(name)
            if isHead { headLoaded = true }
        }
        let head = model.layout.head
        let headNames: Set = [head.weight.name, head.bias.name]
        if headLoaded && !used.isSuperset(of: headNames) {
            let missing = headNames.subtracting(used).sorted()[0]
            throw ModelError.missingTensor(name: missing, expectedShape: model.layout.parameters[missing]!.shape, path: weightsPath)
        }
        let extra = file.tensors.keys.filter { !used.contains($0) && !isIgnorable($0, family: config.family) && !(freshHead && $0.hasPrefix("classifier.")) }.sorted()
        guard extra.isEmpty else { throw ModelError.unexpectedTensors(names: extra, path: weightsPath) }
        if !headLoaded {
            Initializer.initializeHead(model, parameters.pointer, seed: seed)
        }
        return Loaded(model: model, parameters: parameters, headLoaded: headLoaded)
    }

    /// Writes `config.json` and `model.safetensors` (atomically) into `directory`, creating it.
    public static func save(_ model: BertClassifier, parameters: UnsafePointer<Float>, to directory: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tensors = model.layout.parameters.views.map {
            SafeTensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer(start: parameters + $0.offset, count: $0.count))
        }
        try SafeTensorsWriter.write(tensors, metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                                    to: directory.appendingPathComponent("model.safetensors").path)
        let config = try JSONSerialization.data(withJSONObject: model.config.jsonObject(), options: [.prettyPrinted, .sortedKeys])
        try config.write(to: directory.appendingPathComponent("config.json"), options: .atomic)
    }
}

/// Hugging Face's BERT initialisation: N(0, initializer_range²) for linear and embedding
/// weights, zero biases, LayerNorm γ = 1 and β = 0. Deterministic in `seed`.
public enum Initializer {
    public static func initializeAll(_ model: BertClassifier, _ parameters: UnsafeMutablePointer<Float>, seed: UInt64) {
        let std = model.config.initializerRange
        for (index, view) in model.layout.parameters.views.enumerated() {
            let isNorm = view.name.contains("LayerNorm")
            let p = parameters + view.offset
            if isNorm && view.name.hasSuffix(".weight") {
                p.update(repeating: 1, count: view.count)
            } else if view.shape.count == 1 {
                p.update(repeating: 0, count: view.count)
            } else {
                fillNormal(p, count: view.count, std: std, stream: RandomStream(seed: seed, stream: UInt64(index)))
            }
        }
    }

    /// A fresh head: V ~ N(0, initializer_range²), b = 0 (the FT method's starting head).
    public static func initializeHead(_ model: BertClassifier, _ parameters: UnsafeMutablePointer<Float>, seed: UInt64) {
        let head = model.layout.head
        fillNormal(parameters + head.weight.offset, count: head.weight.count, std: model.config.initializerRange,
                   stream: RandomStream(seed: seed, stream: 0x4845_4144))  // "HEAD"
        (parameters + head.bias.offset).update(repeating: 0, count: head.bias.count)
    }

    /// LoRA as PEFT starts it: A Kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in),
    /// and B = 0, so the adapted model starts equal to the pre-trained one.
    public static func initializeLoRA(_ model: BertClassifier, _ parameters: UnsafeMutablePointer<Float>, seed: UInt64) {
        for (l, adapters) in model.layout.adapters.enumerated() {
            for (k, adapter) in adapters.enumerated() {
                let bound = 1 / Float(adapter.a.shape[1]).squareRoot()
                let stream = RandomStream(seed: seed, stream: 0x4C6F_5241_0000 + UInt64(l * 16 + k))  // "LoRA"
                for i in 0..<adapter.a.count { parameters[adapter.a.offset + i] = bound * (2 * stream.uniform(at: UInt64(i)) - 1) }
                (parameters + adapter.b.offset).update(repeating: 0, count: adapter.b.count)
            }
        }
    }

    static func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float, stream: RandomStream) {
        for i in 0..<count { p[i] = std * stream.normal(at: UInt64(i)) }
    }
}
