import Compute
import TestSupport
import Transformer
import XCTest

final class LoRATests: XCTestCase {
    let lora = LoRAConfig(rank: 3, alpha: 6, targets: [.query, .value])

    func makeModels() throws -> (base: BertClassifier, adapted: BertClassifier, params: [Float], batch: TokenBatch) {
        var config = BertConfig(vocabSize: 20, hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 24,
                                maxPositions: 12, labels: ["a", "b", "c"])
        config.initializerRange = 0.3
        let base = try BertClassifier(config: config, threads: 2)
        let adapted = try BertClassifier(config: config, lora: lora, threads: 2)
        let p = FloatBuffer(count: adapted.parameterCount)
        Initializer.initializeAll(adapted, p.pointer, seed: 3)
        // Nonzero B so the adapters matter (at initialisation B = 0 and they would not).
        for adapters in adapted.layout.adapters {
            for a in adapters { for i in a.b.range { p[i] = 0.3 * RandomStream(seed: 8).normal(at: UInt64(i)) } }
        }
        let batch = try TokenBatch(sequences: [[1, 5, 7, 9, 3, 11, 2], [1, 4, 4, 13, 2]], tokenTypes: [[0, 0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1]])
        return (base, adapted, p.toArray(), batch)
    }

    func logits(_ model: BertClassifier, _ p: [Float], _ batch: TokenBatch) throws -> [Float] {
        let ws = model.makeWorkspace(maxBatchSize: 2, maxSequenceLength: 7)
        try p.withUnsafeBufferPointer { try model.forward($0.baseAddress!, batch, workspace: ws) }
        return Array(ws.logits.buffer.prefix(batch.batchSize * model.config.classCount))
    }

    func testLoRAForwardEqualsTheMergedWeightForward() throws {
        let (base, adapted, p, batch) = try makeModels()
        // Merge: W ← W + (α/r)·B A, in Double; the base model uses the leading (non-LoRA) part.
        var merged = Array(p[0..<base.parameterCount])
        let h = 16
        for (l, adapters) in adapted.layout.adapters.enumerated() {
            for a in adapters {
                let w = a.target == .query ? base.layout.layers[l].query : base.layout.layers[l].value
                for o in 0..<h {
                    for i in 0..<h {
                        var delta = 0.0
                        for k in 0..<lora.rank { delta += Double(p[a.b.offset + o * lora.rank + k]) * Double(p[a.a.offset + k * h + i]) }
                        merged[w.offset + o * h + i] += Float(Double(lora.scale) * delta)
                    }
                }
            }
        }
        let x = try logits(adapted, p, batch), y = try logits(base, merged, batch)
        XCTAssertNotEqual(try logits(base, Array(p[0..<base.parameterCount]), batch), x, "the adapters change the output")
        // Same function, different float32 summation order: ~1e-6 relative.
        for (a, b) in zip(x, y) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
    }

    func testFreshAdaptersLeaveThePretrainedOutputUnchanged() throws {
        let (base, adapted, p, batch) = try makeModels()
        var fresh = p
        fresh.withUnsafeMutableBufferPointer { Initializer.initializeLoRA(adapted, $0.baseAddress!, seed: 1) }
        XCTAssertEqual(try logits(adapted, fresh, batch), try logits(base, Array(p[0..<base.parameterCount]), batch), "B = 0")
        let a = adapted.layout.adapters[0][0].a
        let bound = 1 / Float(16).squareRoot()
        XCTAssertTrue(fresh[a.range].allSatisfy { abs($0) <= bound }, "A ~ U(−1/√fan_in, 1/√fan_in)")
        XCTAssertTrue(fresh[a.range].contains { abs($0) > bound / 2 })
    }

    func testLoRAAndHeadGradientsByFiniteDifferencesWithTheBackboneFrozen() throws {
        let (_, model, params, batch) = try makeModels()
        let labels = [2, 0]
        let ws = model.makeWorkspace(maxBatchSize: 2, maxSequenceLength: 7)
        func loss(_ p: [Float]) -> Double {
            try! p.withUnsafeBufferPointer { try model.forward($0.baseAddress!, batch, workspace: ws) }
            return Double(CrossEntropy.forwardBackward(logits: ws.logits.pointer, labels: labels, classes: 3, dLogits: nil))
        }
        _ = loss(params)
        let dLogits = FloatBuffer(count: 6)
        CrossEntropy.forwardBackward(logits: ws.logits.pointer, labels: labels, classes: 3, dLogits: dLogits.pointer)
        let grads = FloatBuffer(count: model.parameterCount)
        params.withUnsafeBufferPointer { model.backward($0.baseAddress!, dLogits: dLogits.pointer, gradients: grads.pointer, workspace: ws, scope: .headAndLoRA) }

        XCTAssertTrue(grads.buffer[model.layout.backboneRange].allSatisfy { $0 == 0 }, "frozen weights get no gradient")
        var p = params
        let trained = model.layout.adapters.flatMap { $0.flatMap { [$0.a, $0.b] } } + [model.layout.head.weight, model.layout.head.bias]
        for view in trained {
            let indices = stride(from: view.offset, to: view.offset + view.count, by: max(1, view.count / 12)).map { $0 }
            // Tolerance as in ModelGradientCheckTests: float32 loss, h = 1e-2, σ = 0.3 weights.
            let numerical = centralDifferences(&p, indices: indices, h: 1e-2, loss)
            XCTAssertLessThan(relativeError(indices.map { grads[$0] }, numerical), 2e-2, view.name)
        }
    }

    func testInvalidLoRAConfigsAreRejected() {
        XCTAssertThrowsError(try BertClassifier(config: .tiny(), lora: LoRAConfig(rank: 0)))
        XCTAssertThrowsError(try BertClassifier(config: .tiny(), lora: LoRAConfig(targets: [.query, .query])))
    }
}
