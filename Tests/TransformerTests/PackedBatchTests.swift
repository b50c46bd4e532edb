import Compute
import TestSupport
import Transformer
import XCTest

/// Packed batches (no padding) against each sequence run on its own, which is what a padded
/// batch's attention mask stands for: lengths from 1 to the model's maximum in one batch.
///
/// Tolerance reasoning: a sequence alone and inside a packed batch goes through the same
/// arithmetic except how the row-blocked GEMMs split their rows and in what order the weight
/// gradients sum over tokens; in float32 (ε ≈ 6e-8) over a few dozen tokens and widths ≤ 24
/// that reorders sums to ~1e-6 relative, so 1e-5 bounds it, far below the O(1) error of a
/// token attending across a sequence boundary or a dropped token.
final class PackedBatchTests: XCTestCase {
    let lengths = [12, 1, 5, 3, 12, 2, 7]

    /// The gradient check's model (vocabulary 20, 12 positions, 2 layers, LayerNorms perturbed).
    func makeModel() throws -> (BertClassifier, FloatBuffer) {
        let (model, parameters, _, _) = try ModelGradientCheckTests.makeModel()
        return (model, FloatBuffer(parameters))
    }

    func sequences() -> (ids: [[Int32]], types: [[Int32]]) {
        let rng = RandomStream(seed: 21)
        var ids: [[Int32]] = [], types: [[Int32]] = []
        for (s, length) in lengths.enumerated() {
            ids.append((0..<length).map { Int32(1 + rng.bits(at: UInt64(s * 100 + $0)) % 19) })
            types.append((0..<length).map { $0 < length / 2 ? 0 : 1 })
        }
        return (ids, types)
    }

    /// Logits and every parameter's gradient for `dLogits` (one row per sequence).
    func run(_ model: BertClassifier, _ p: FloatBuffer, _ batch: TokenBatch, dLogits: [Float], dropout: RandomStream? = nil) throws -> (logits: [Float], gradients: [Float]) {
        let ws = model.makeWorkspace(maxBatchSize: lengths.count, maxSequenceLength: 12)
        try model.forward(p.pointer, batch, workspace: ws, dropout: dropout)
        let logits = Array(ws.logits.buffer.prefix(batch.batchSize * model.config.classCount))
        let g = FloatBuffer(count: model.parameterCount)
        dLogits.withUnsafeBufferPointer { model.backward(p.pointer, dLogits: $0.baseAddress!, gradients: g.pointer, workspace: ws) }
        return (logits, g.toArray())
    }

    func testAPackedBatchEqualsEachSequenceAlone() throws {
        let (model, p) = try makeModel()
        let (ids, types) = sequences()
        let c = model.config.classCount
        let dLogits = (0..<(lengths.count * c)).map { Float(($0 * 7) % 5) - 2 }
        let packed = try run(model, p, try TokenBatch(sequences: ids, tokenTypes: types), dLogits: dLogits)

        var logits: [Float] = [], gradients = [Float](repeating: 0, count: model.parameterCount)
        for s in ids.indices {
            let alone = try run(model, p, try TokenBatch(sequences: [ids[s]], tokenTypes: [types[s]]), dLogits: Array(dLogits[(s * c)..<((s + 1) * c)]))
            logits += alone.logits
            for i in gradients.indices { gradients[i] += alone.gradients[i] }
        }
        XCTAssertLessThan(relativeError(packed.logits, logits), 1e-5, "logits")
        for view in model.layout.parameters.views {
            let batch = Array(packed.gradients[view.range]), sum = Array(gradients[view.range])
            // key.bias is analytically zero (softmax ignores a shift over keys): both sides are noise.
            if view.name.hasSuffix("key.bias") { continue }
            XCTAssertLessThan(relativeError(batch, sum), 1e-5, view.name)
        }
    }

    func testAPaddedBatchPacksToTheSameTokens() throws {
        let (ids, types) = sequences()
        let t = lengths.max()!
        let padded = try TokenBatch(batchSize: ids.count, sequenceLength: t,
                                    inputIDs: ids.flatMap { $0 + [Int32](repeating: 0, count: t - $0.count) },
                                    tokenTypeIDs: types.flatMap { $0 + [Int32](repeating: 0, count: t - $0.count) },
                                    attentionMask: ids.flatMap { [Float](repeating: 1, count: $0.count) + [Float](repeating: 0, count: t - $0.count) })
        let packed = try TokenBatch(sequences: ids, tokenTypes: types)
        XCTAssertEqual(padded.inputIDs, packed.inputIDs)
        XCTAssertEqual(padded.tokenTypeIDs, packed.tokenTypeIDs)
        XCTAssertEqual(padded.positions, packed.positions)
        XCTAssertEqual(padded.offsets, packed.offsets)
        XCTAssertEqual(packed.tokenCount, lengths.reduce(0, +))
        XCTAssertEqual(packed.sequenceLength, 12)
    }

    func testDropoutMasksDoNotDependOnTheLayout() throws {
        // The first sequence trained with dropout alone, beside a short one and beside a long one:
        // its masks are keyed by (sequence, position), so its logits and gradients stay the same.
        let (model, p) = try makeModel()
        let (ids, types) = sequences()
        let c = model.config.classCount
        let stream = RandomStream(seed: 5).derived(3)
        let first = Array(repeating: Float(1), count: c)
        func firstSequence(besides other: Int?) throws -> (logits: [Float], gradients: [Float]) {
            let members = [2] + (other.map { [$0] } ?? [])
            let batch = try TokenBatch(sequences: members.map { ids[$0] }, tokenTypes: members.map { types[$0] })
            let out = try run(model, p, batch, dLogits: first + [Float](repeating: 0, count: (members.count - 1) * c), dropout: stream)
            return (Array(out.logits.prefix(c)), out.gradients)
        }
        let alone = try firstSequence(besides: nil)
        let eval = try run(model, p, try TokenBatch(sequences: [ids[2]], tokenTypes: [types[2]]), dLogits: first)
        XCTAssertGreaterThan(relativeError(alone.logits, eval.logits), 1e-3, "dropout must change the output")
        for other in [1, 0] {
            let beside = try firstSequence(besides: other)
            XCTAssertLessThan(relativeError(beside.logits, alone.logits), 1e-5, "beside sequence \(other)")
            XCTAssertLessThan(relativeError(beside.gradients, alone.gradients), 1e-5, "gradients beside sequence \(other)")
        }
    }

    func testTheLastLayerForTheHeadOnlyEqualsTheFullLayer() throws {
        // φ(x) and every gradient from ∂/∂φ(x), with the last layer run for every token and for
        // the first tokens only, in eval mode and with dropout (the first tokens' masks are keyed
        // the same either way).
        let (model, p) = try makeModel()
        let (ids, types) = sequences()
        let batch = try TokenBatch(sequences: ids, tokenTypes: types)
        let h = model.config.hiddenSize
        let dFeatures = FloatBuffer((0..<(lengths.count * h)).map { Float(($0 * 5) % 7) - 3 })
        for dropout in [nil, RandomStream(seed: 9).derived(1)] {
            func pass(everyToken: Bool) throws -> (features: [Float], gradients: [Float]) {
                let ws = model.makeWorkspace(maxBatchSize: lengths.count, maxSequenceLength: 12)
                try model.encode(p.pointer, batch, workspace: ws, dropout: dropout, everyToken: everyToken)
                let g = FloatBuffer(count: model.parameterCount)
                model.encoderBackward(p.pointer, dFeatures: dFeatures.pointer, gradients: g.pointer, workspace: ws)
                return (Array(ws.features.buffer.prefix(lengths.count * h)), g.toArray())
            }
            let full = try pass(everyToken: true), first = try pass(everyToken: false)
            XCTAssertLessThan(relativeError(first.features, full.features), 1e-6, "features (dropout: \(dropout != nil))")
            for view in model.layout.parameters.views where !view.name.hasSuffix("key.bias") {
                XCTAssertLessThan(relativeError(Array(first.gradients[view.range]), Array(full.gradients[view.range])), 1e-5,
                                  "\(view.name) (dropout: \(dropout != nil))")
            }
        }
    }
}
