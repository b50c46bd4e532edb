import Compute
import Foundation
import Transformer
import TestSupport
import XCTest

final class CheckpointTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes a raw safetensors file from (name, dtype, shape, bytes).
    func writeRaw(_ entries: [(String, String, [Int], [UInt8])], to path: URL, header override: String? = nil) throws {
        var header: [String: Any] = [:]
        var data = [UInt8](), offset = 0
        for (name, dtype, shape, bytes) in entries {
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.count]]
            data += bytes
            offset += bytes.count
        }
        let json = try override.map { Data($0.utf8) } ?? JSONSerialization.data(withJSONObject: header)
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(contentsOf: data)
        try file.write(to: path)
    }

    func testRoundTripAndHalfPrecisionConversion() throws {
        let path = directory.appendingPathComponent("t.safetensors").path
        let values: [Float] = [1.5, -2.25, 0, 3e-3, 65504, -1e-8]
        try values.withUnsafeBufferPointer {
            try SafeTensorsWriter.write([.init(name: "a", shape: [2, 3], values: $0)], metadata: ["k": "v"], to: path)
        }
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(try file.floats("a"), values)
        XCTAssertEqual(file.tensors["a"]?.shape, [2, 3])
        XCTAssertEqual(file.metadata["k"], "v")

        let half: [Float] = [1.5, -2.25, 0.099975586, 65504]
        let f16 = half.flatMap { v in withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { Array($0) } }
        let bf16 = half.flatMap { v in withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { Array($0) } }
        let raw = directory.appendingPathComponent("h.safetensors")
        try writeRaw([("h", "F16", [4], f16), ("b", "BF16", [2, 2], bf16)], to: raw)
        let h = try SafeTensorsFile(path: raw.path)
        XCTAssertEqual(try h.floats("h"), half)
        XCTAssertEqual(try h.floats("b"), half.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
    }

    func testCorruptFilesNameTheProblem() throws {
        let path = directory.appendingPathComponent("bad.safetensors")
        func message() -> String {
            do { _ = try SafeTensorsFile(path: path.path); return "" } catch { return "\(error)" }
        }
        try Data([1, 2, 3]).write(to: path)
        XCTAssertTrue(message().contains("shorter than the 8-byte header"), message())

        try writeRaw([("w", "F32", [4], [UInt8](repeating: 0, count: 16))], to: path)
        let whole = try Data(contentsOf: path)
        try whole.prefix(whole.count - 4).write(to: path)
        XCTAssertTrue(message().contains("tensor w: data_offsets [0, 16] outside"), message())

        try whole.prefix(12).write(to: path)
        XCTAssertTrue(message().contains("runs past the end"), message())

        try writeRaw([], to: path, header: "{not json")
        XCTAssertTrue(message().contains("header is not a JSON object"), message())

        try writeRaw([("w", "F32", [5], [UInt8](repeating: 0, count: 16))], to: path)
        XCTAssertTrue(message().contains("tensor w: 16 bytes for shape [5]"), message())

        try writeRaw([("w", "Q4", [2], [UInt8](repeating: 0, count: 16))], to: path)
        XCTAssertTrue(message().contains("unknown dtype Q4"), message())

        try writeRaw([("ids", "I64", [2], [UInt8](repeating: 0, count: 16))], to: path)
        let ints = try SafeTensorsFile(path: path.path)
        XCTAssertEqual(ints.tensors["ids"]?.shape, [2], "integer buffers are listed")
        XCTAssertThrowsError(try ints.floats("ids")) { XCTAssertTrue("\($0)".contains("has dtype I64; weights must be")) }
    }

    /// A tiny model with seeded weights, saved as a model directory named `name`.
    func savedTinyModel(_ name: String, seed: UInt64, family: ModelFamily = .bert) throws -> (BertClassifier, FloatBuffer, URL) {
        var config = BertConfig.tiny()
        config.family = family
        let model = try BertClassifier(config: config)
        let params = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, params.pointer, seed: seed)
        let dir = directory.appendingPathComponent(name)
        try Checkpoint.save(model, parameters: params.pointer, to: dir)
        return (model, params, dir)
    }

    func testModelDirectoryRoundTripWithAndWithoutPrefixAndHead() throws {
        for family in ModelFamily.allCases { try assertRoundTripWithAndWithoutPrefixAndHead(family) }
    }

    func assertRoundTripWithAndWithoutPrefixAndHead(_ family: ModelFamily) throws {
        let (model, params, saved) = try savedTinyModel("model-\(family)", seed: 9, family: family)
        XCTAssertTrue(model.layout.parameters.views[0].name.hasPrefix(family.parameterPrefix))
        let loaded = try Checkpoint.load(directory: saved)
        XCTAssertTrue(loaded.headLoaded)
        XCTAssertEqual(loaded.model.config, model.config, "config.json keeps the family")
        XCTAssertEqual(loaded.parameters.toArray(), params.toArray())

        // A bare-model export (sentence-transformers, or roberta-base's own): no family prefix,
        // a pooler, RoBERTa's masked-LM head, no classifier.
        let file = try SafeTensorsFile(path: saved.appendingPathComponent("model.safetensors").path)
        var tensors: [(String, [Int], [Float])] = try model.layout.parameters.views.compactMap { v in
            v.name.hasPrefix("classifier.") ? nil : (String(v.name.dropFirst(family.parameterPrefix.count)), v.shape, try file.floats(v.name))
        }
        tensors.append(("pooler.dense.bias", [32], [Float](repeating: 0, count: 32)))
        if family == .roberta { tensors.append(("lm_head.bias", [120], [Float](repeating: 0, count: 120))) }
        try writeTensors(tensors, to: saved.appendingPathComponent("model.safetensors").path)
        let bare = try Checkpoint.load(directory: saved, seed: 5)
        XCTAssertFalse(bare.headLoaded)
        XCTAssertEqual(Array(bare.parameters.buffer[model.layout.backboneRange]), Array(params.buffer[model.layout.backboneRange]))
        let head = Array(bare.parameters.buffer[model.layout.head.weight.range])
        let std = (head.map { Double($0 * $0) }.reduce(0, +) / Double(head.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.006, "fresh head ~ N(0, 0.02²)")  // 96 draws: σ of the estimate ≈ 0.0015
        XCTAssertTrue(bare.parameters.buffer[model.layout.head.bias.range].allSatisfy { $0 == 0 })
        XCTAssertEqual(try Checkpoint.load(directory: saved, seed: 5).parameters.toArray(), bare.parameters.toArray(), "seeded head init")
    }

    func writeTensors(_ tensors: [(String, [Int], [Float])], to path: String) throws {
        let storage = tensors.map { $0.2 }
        var views: [SafeTensorsWriter.Tensor] = []
        var buffers: [UnsafeMutableBufferPointer<Float>] = []
        defer { buffers.forEach { $0.deallocate() } }
        for (i, t) in tensors.enumerated() {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: storage[i].count)
            _ = b.initialize(from: storage[i])
            buffers.append(b)
            views.append(.init(name: t.0, shape: t.1, values: UnsafeBufferPointer(b)))
        }
        try SafeTensorsWriter.write(views, to: path)
    }

    func testMissingExtraAndMisshapedTensorsAreNamed() throws {
        let (model, _, dir) = try savedTinyModel("m", seed: 1)
        let path = dir.appendingPathComponent("model.safetensors").path
        let all = try model.layout.parameters.views.map { v in (v.name, v.shape, try SafeTensorsFile(path: path).floats(v.name)) }
        func loadError() -> String {
            do { _ = try Checkpoint.load(directory: dir); return "" } catch { return "\(error)" }
        }

        try writeTensors(all.filter { $0.0 != "bert.encoder.layer.1.output.dense.weight" }, to: path)
        XCTAssertTrue(loadError().contains("tensor bert.encoder.layer.1.output.dense.weight [32, 64] is missing"), loadError())

        try writeTensors(all.map { $0.0 == "bert.embeddings.LayerNorm.bias" ? ($0.0, [31], Array($0.2.prefix(31))) : $0 }, to: path)
        XCTAssertTrue(loadError().contains("tensor bert.embeddings.LayerNorm.bias has shape [31], the config needs [32]"), loadError())

        try writeTensors(all + [("bert.encoder.layer.7.extra", [2], [0, 0])], to: path)
        XCTAssertTrue(loadError().contains("bert.encoder.layer.7.extra"), loadError())

        try writeTensors(all.filter { $0.0 != "classifier.bias" }, to: path)
        XCTAssertTrue(loadError().contains("classifier.bias [3] is missing"), loadError())
    }

    func testAFreshHeadIgnoresAStoredHeadOfAnotherSize() throws {
        let dir = try Fixtures.url("tiny-bert")
        XCTAssertThrowsError(try Checkpoint.load(directory: dir, labels: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("classifier.weight has shape [3, 32], the config needs [2, 32]"), "\($0)")
        }
        let fresh = try Checkpoint.load(directory: dir, labels: ["a", "b"], freshHead: true, seed: 4)
        XCTAssertFalse(fresh.headLoaded)
        XCTAssertEqual(fresh.model.config.classCount, 2)
    }

    func testLoRAAdaptersSaveAndLoad() throws {
        let model = try BertClassifier(config: .tiny(), lora: LoRAConfig(rank: 2, alpha: 4))
        let params = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, params.pointer, seed: 6)
        for i in model.layout.loraRange { params[i] = Float(i % 7) * 0.01 }
        let dir = directory.appendingPathComponent("lora")
        try Checkpoint.save(model, parameters: params.pointer, to: dir)
        let loaded = try Checkpoint.load(directory: dir, lora: LoRAConfig(rank: 2, alpha: 4))
        XCTAssertEqual(loaded.parameters.toArray(), params.toArray(), "adapters come back as saved")
    }

    func testConfigReaderAcceptsHuggingFaceAndRejectsUnsupported() throws {
        let tiny = try BertConfig(contentsOf: try Fixtures.url("tiny-bert/config.json"))
        XCTAssertEqual(tiny.hiddenSize, 32)
        XCTAssertEqual(tiny.headCount, 4)
        XCTAssertEqual(tiny.labels, ["label_0", "label_1", "label_2"])
        XCTAssertEqual(tiny.layerNormEps, 1e-12)

        let path = directory.appendingPathComponent("config.json")
        func error(_ json: String) -> String {
            try! Data(json.utf8).write(to: path)
            do { _ = try BertConfig(contentsOf: path); return "" } catch { return "\(error)" }
        }
        let base = #""vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 16"#
        XCTAssertTrue(error("{\(base), \"num_attention_heads\": 3}").contains("not a multiple of num_attention_heads 3"))
        XCTAssertTrue(error("{\(base), \"num_attention_heads\": 2, \"hidden_act\": \"gelu_new\"}").contains("hidden_act \"gelu_new\" is not supported"))
        XCTAssertTrue(error("{\"hidden_size\": 8}").contains("missing integer \"vocab_size\""))
        XCTAssertTrue(error("{\(base), \"num_attention_heads\": \"2\"}").contains("\"num_attention_heads\" must be an integer, got 2"))
        XCTAssertTrue(error("[1]").contains("is not a JSON object"))
        XCTAssertEqual(error("{\(base), \"num_attention_heads\": 2, \"num_labels\": 4}"), "")
        XCTAssertEqual(try BertConfig(contentsOf: path).classCount, 4)

        // RoBERTa: its family, padding-aware positions, eps from the file; num_labels sizes the
        // head when id2label (as the fixture's config, edited by hand) names fewer labels.
        let roberta = try BertConfig(contentsOf: try Fixtures.url("tiny-roberta/config.json"))
        XCTAssertEqual(roberta.family, .roberta)
        XCTAssertEqual(roberta.paddingID, 1)
        XCTAssertEqual(roberta.positionOffset, 2)
        XCTAssertEqual(roberta.maxSequenceLength, 64)
        XCTAssertEqual(roberta.typeVocabSize, 1)
        XCTAssertEqual(roberta.layerNormEps, 1e-5)
        XCTAssertEqual(roberta.labels, ["LABEL_0", "LABEL_1", "LABEL_2"])
        XCTAssertTrue(error("{\(base), \"num_attention_heads\": 2, \"model_type\": \"gpt2\"}")
            .hasSuffix("model_type \"gpt2\" is not a family lpft runs (bert, roberta)"))
        XCTAssertTrue(error("{\(base), \"num_attention_heads\": 2, \"model_type\": \"roberta\", \"max_position_embeddings\": 2}")
            .contains("max_position_embeddings 2 leaves no position after pad_token_id 1"))
    }
}
