import Compute
@testable import NTK
import Transformer
import TestSupport
import XCTest

final class NTKTests: XCTestCase {
    /// The fixture's inputs, unpadded; RoBERTa's have no token types (type 0 throughout).
    func fixtureBatch(_ fixture: String = "tiny-bert-ntk.json") throws -> ([(ids: [Int32], tokenTypeIDs: [Int32])], [String: Any]) {
        let json = try Fixtures.json(fixture)
        let ids = try XCTUnwrap(json["input_ids"] as? [[Int]]), mask = try XCTUnwrap(json["attention_mask"] as? [[Int]])
        let types = json["token_type_ids"] as? [[Int]] ?? ids.map { $0.map { _ in 0 } }
        // Unpadded rows: padding never changes an example's kernel entries (masked keys get exactly 0).
        let batch = (0..<ids.count).map { i -> (ids: [Int32], tokenTypeIDs: [Int32]) in
            let length = mask[i].reduce(0, +)
            return (ids[i].prefix(length).map(Int32.init), types[i].prefix(length).map(Int32.init))
        }
        return (batch, json)
    }

    /// Both families: RoBERTa's position rows start at padding_idx + 1, which only relabels
    /// the position columns of J, so the captured path needs nothing of its own.
    func testKernelsMatchPyTorch() throws {
        for (model, fixture) in Fixtures.tinyModels { try assertKernelsMatchPyTorch(model, fixture) }
    }

    func assertKernelsMatchPyTorch(_ model: String, _ fixture: String) throws {
        let (batch, json) = try fixtureBatch(fixture)
        let pooling = try XCTUnwrap(Pooling(rawValue: Fixtures.pooling(json)), fixture)
        let loaded = try Checkpoint.load(directory: try Fixtures.url(model), threads: 2, pooling: pooling)
        let ntk = try NTKComputer(model: loaded.model, parameters: loaded.parameters).compute(batch)
        XCTAssertEqual(ntk.backwardPasses, 3, "one batched backward pass per class")
        // README bound for kernels: relative Frobenius error < 1e-3.
        XCTAssertLessThan(relativeError(ntk.pretrainEffective, flatFloats(json["ntk_pretrain_effective"])), 1e-3, fixture)
        XCTAssertLessThan(relativeError(ntk.ftEffective, flatFloats(json["ntk_ft_effective"])), 1e-3, fixture)
        XCTAssertLessThan(relativeError(ntk.features, flatFloats(json["features"])), 1e-4, fixture)
        XCTAssertLessThan(relativeError(ntk.logits, flatFloats(json["logits"])), 1e-4, fixture)
        // The groups partition F.
        var sum = [Float](repeating: 0, count: ntk.ftEffective.count)
        for (_, k) in ntk.groups { for i in sum.indices { sum[i] += k[i] } }
        XCTAssertEqual(sum, ntk.ftEffective)
        XCTAssertEqual(ntk.groups.map(\.name), ["embeddings.word", "embeddings.other", "layer.0.attention", "layer.0.ffn", "layer.1.attention", "layer.1.ffn"])
    }

    /// With `.mean` pooling too, where the last layer's sites keep every token.
    func testASmallBudgetRecomputesButGivesTheSameKernel() throws {
        for pooling in Pooling.allCases { try assertASmallBudgetRecomputesButGivesTheSameKernel(pooling) }
    }

    func assertASmallBudgetRecomputesButGivesTheSameKernel(_ pooling: Pooling) throws {
        let (batch, _) = try fixtureBatch()
        let loaded = try Checkpoint.load(directory: try Fixtures.url("tiny-bert"), threads: 1, pooling: pooling)
        let roomy = try NTKComputer(model: loaded.model, parameters: loaded.parameters).compute(batch)
        // Room for about one layer's feed-forward block (18 rows × ~4.2k parameters) at a time.
        let tight = try NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: 18 * 4_300 * 4).compute(batch)
        XCTAssertGreaterThan(tight.backwardPasses, roomy.backwardPasses, "\(pooling): recomputed rather than exceeding the budget")
        XCTAssertLessThan(relativeError(tight.ftEffective, roomy.ftEffective), 1e-6, "\(pooling)")
        XCTAssertThrowsError(try NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: 1000).compute(batch))
        XCTAssertThrowsError(try NTKComputer(model: loaded.model, parameters: loaded.parameters).compute([])) { error in
            XCTAssertEqual("\(error)", "the NTK needs at least one example")
        }

        // The captured-gradient path with the narrowest slab it accepts, one output row of the
        // widest weight: every weight is formed a row at a time, in many slabs per group.
        let config = loaded.model.config, widest = max(config.hiddenSize, config.intermediateSize)
        let narrow = NTKComputer(model: loaded.model, parameters: loaded.parameters,
                                 memoryBudget: NTKComputer(model: loaded.model, parameters: loaded.parameters).captureBytes(for: batch) + 18 * widest * 4)
        XCTAssertEqual(narrow.slabColumns(for: batch), widest)
        // The partial kernels (one 18 × 18 block per group and thread) are part of the budget.
        let bare = JacobianCapture.bytes(sites: narrow.capturedSites, tokens: batch.reduce(0) { $0 + $1.ids.count }, rows: 18, classes: 3,
                                         columns: narrow.vectorColumns(for: batch))
        XCTAssertNil(NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: bare + 18 * widest * 4).slabColumns(for: batch))
        let split = try narrow.compute(batch)
        XCTAssertEqual(split.backwardPasses, roomy.backwardPasses, "still one batched pass per class")
        for ((name, a), (_, b)) in zip(split.groups, roomy.groups) {
            XCTAssertLessThan(relativeError(a, b), 1e-6, "\(pooling): \(name)")
        }
    }

    /// Every dense weight by forming its rows of J, and every one by token Gram matrices (in
    /// runs of a few examples, so that runs meet other runs and themselves), give the same kernels.
    func testGramAndFormedRoutesAgree() throws {
        for pooling in Pooling.allCases { try assertGramAndFormedRoutesAgree(pooling) }
    }

    func assertGramAndFormedRoutesAgree(_ pooling: Pooling) throws {
        let (batch, _) = try fixtureBatch()
        let loaded = try Checkpoint.load(directory: try Fixtures.url("tiny-bert"), threads: 2, pooling: pooling)
        var formed = NTKComputer(model: loaded.model, parameters: loaded.parameters)
        formed.gramRule = .never
        var gram = formed
        gram.gramRule = .always
        gram.gramRunTokens = 12
        XCTAssertGreaterThan(batch.reduce(0) { $0 + $1.ids.count }, 3 * gram.gramRunTokens, "several runs")
        let a = try formed.compute(batch), b = try gram.compute(batch)
        for ((name, x), (_, y)) in zip(a.groups, b.groups) {
            XCTAssertLessThan(relativeError(x, y), 1e-6, "\(pooling): \(name)")
        }
        XCTAssertGreaterThan(Elementwise.sumOfSquares(a.ftEffective, count: a.ftEffective.count), 1e-6)
    }
}

extension NTKTests {
    /// A two-layer LoRA model (rank 2, fresh adapters: B = 0) with wide weights, and three examples.
    func tinyLoRA(threads: Int, seed: UInt64) throws -> (BertClassifier, FloatBuffer, [(ids: [Int32], tokenTypeIDs: [Int32])]) {
        var config = BertConfig(vocabSize: 20, hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 24, maxPositions: 12, labels: ["a", "b", "c"])
        config.initializerRange = 0.3
        let model = try BertClassifier(config: config, lora: LoRAConfig(rank: 2, alpha: 4), threads: threads)
        let params = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, params.pointer, seed: seed)
        Initializer.initializeLoRA(model, params.pointer, seed: seed)
        return (model, params, [([1, 5, 7, 2], [0, 0, 0, 0]), ([1, 9, 2], [0, 0, 0]), ([1, 4, 4, 13, 11, 2], [0, 0, 0, 1, 1, 1])])
    }

    /// LoRA at its start (B = 0): F comes from the B blocks alone (the A-gradients vanish), and
    /// equals J Jᵀ for the Jacobian of V·φ(x) in the adapter parameters taken by finite differences.
    func testLoRAKernelAtBZeroMatchesFiniteDifferences() throws {
        let (model, params, batch) = try tinyLoRA(threads: 1, seed: 2)
        let computer = NTKComputer(model: model, parameters: params)
        XCTAssertNotNil(computer.slabColumns(for: batch), "the captured path")
        let ntk = try computer.compute(batch)
        XCTAssertEqual(ntk.groups.map(\.name), ["layer.0.lora", "layer.1.lora"])

        let layout = model.layout, h = 16, c = 3
        let adapterParams = layout.adapters.flatMap { $0.flatMap { Array($0.a.range) + Array($0.b.range) } }
        let ws = model.makeWorkspace(maxBatchSize: 1, maxSequenceLength: 6)
        func outputs(_ p: UnsafePointer<Float>) throws -> [Double] {
            try batch.flatMap { e -> [Double] in
                try model.encode(p, try TokenBatch(sequences: [e.ids], tokenTypes: [e.tokenTypeIDs]), workspace: ws)
                return (0..<c).map { k in (0..<h).reduce(0.0) { $0 + Double(p[layout.head.weight.offset + k * h + $1]) * Double(ws.features[$1]) } }
            }
        }
        let rows = batch.count * c
        var jacobian = [[Double]](repeating: [], count: rows)
        let step: Float = 1e-2
        for j in adapterParams {
            let saved = params[j]
            params[j] = saved + step
            let up = try outputs(params.pointer)
            params[j] = saved - step
            let down = try outputs(params.pointer)
            params[j] = saved
            for r in 0..<rows { jacobian[r].append((up[r] - down[r]) / (2 * Double(step))) }
        }
        let aColumns = layout.adapters.flatMap { $0.flatMap { Array($0.a.range) } }
        for (column, j) in adapterParams.enumerated() where aColumns.contains(j) {
            XCTAssertTrue((0..<rows).allSatisfy { abs(jacobian[$0][column]) < 1e-4 }, "A-gradients vanish while B = 0")
        }
        var expected = [Float](repeating: 0, count: rows * rows)
        for a in 0..<rows {
            for b in 0..<rows { expected[a * rows + b] = Float(zip(jacobian[a], jacobian[b]).reduce(0.0) { $0 + $1.0 * $1.1 }) }
        }
        // Central differences of a float32 forward pass (h = 1e-2): ~1e-4 relative noise.
        XCTAssertLessThan(relativeError(ntk.ftEffective, expected), 1e-2)
        XCTAssertGreaterThan(Elementwise.sumOfSquares(expected, count: expected.count), 1e-8, "a nonzero kernel, or the check proves nothing")
    }

    /// Mid-training (B ≠ 0, so A's gradients count too): the captured path, where each adapter's
    /// A and B are dense layers of their own, equals one backward pass per row.
    func testLoRAKernelsFromCapturesMatchRecomputation() throws {
        let (model, params, batch) = try tinyLoRA(threads: 2, seed: 3)
        for adapter in model.layout.adapters.joined() {
            for j in adapter.b.range { params[j] = 0.3 * sin(Float(j)) }
        }
        let captured = NTKComputer(model: model, parameters: params)
        XCTAssertNotNil(captured.slabColumns(for: batch))
        let recomputing = NTKComputer(model: model, parameters: params, memoryBudget: 2_000)
        XCTAssertNil(recomputing.slabColumns(for: batch))
        let a = try captured.compute(batch), b = try recomputing.compute(batch)
        XCTAssertEqual(a.backwardPasses, 3)
        XCTAssertGreaterThan(b.backwardPasses, 9)
        for ((name, x), (_, y)) in zip(a.groups, b.groups) {
            XCTAssertLessThan(relativeError(x, y), 1e-5, name)
        }
        XCTAssertGreaterThan(Elementwise.sumOfSquares(a.ftEffective, count: a.ftEffective.count), 1e-6)
    }
}
