import Compute
import TestSupport
import Transformer
import XCTest

/// The whole classifier's backward (embeddings, attention with a padding mask, FFN,
/// LayerNorms, dropout, head, cross-entropy) against central finite differences, for both
/// families (RoBERTa: positions from padding_idx + 1, one token type).
///
/// Tolerance reasoning: the loss is float32 end to end, relative rounding ~1e-6 on a loss ~1,
/// so with h = 1e-2 the difference quotient carries ~5e-5 of noise; weights are drawn with
/// σ = 0.3 so that each group's checked gradient has norm ≳ 1e-2, and a 2e-2 relative
/// Frobenius bound sits well above noise and far below the O(1) error of a wrong backward.
final class ModelGradientCheckTests: XCTestCase {
    let h: Float = 1e-2

    static func makeModel(_ family: ModelFamily = .bert, pooling: Pooling = .cls) throws -> (BertClassifier, [Float], TokenBatch, [Int]) {
        var config = BertConfig(family: family, vocabSize: 20, hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 24,
                                maxPositions: 12, typeVocabSize: family == .bert ? 2 : 1, labels: ["a", "b", "c"])
        config.initializerRange = 0.3
        let model = try BertClassifier(config: config, threads: 2, pooling: pooling)
        let p = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, p.pointer, seed: 3)
        // Perturb LayerNorm γ/β and biases away from 1/0 so their gradients are generic.
        for view in model.layout.parameters.views where view.shape.count == 1 {
            for i in view.range { p[i] += 0.2 * RandomStream(seed: 4).normal(at: UInt64(i)) }
        }
        let types: [[Int32]] = [[0, 0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0]]
        let batch = try TokenBatch(sequences: [[1, 5, 7, 9, 3, 11, 2], [1, 4, 4, 13, 2], [1, 19, 2]],
                                   tokenTypes: family == .bert ? types : types.map { $0.map { _ in 0 } })
        return (model, p.toArray(), batch, [2, 0, 1])
    }

    func loss(_ model: BertClassifier, _ p: [Float], _ batch: TokenBatch, _ labels: [Int], dropout: RandomStream?, ws: BertWorkspace) throws -> Double {
        try p.withUnsafeBufferPointer { try model.forward($0.baseAddress!, batch, workspace: ws, dropout: dropout) }
        return Double(CrossEntropy.forwardBackward(logits: ws.logits.pointer, labels: labels, classes: model.config.classCount, dLogits: nil))
    }

    func check(dropout: RandomStream?, family: ModelFamily = .bert, pooling: Pooling = .cls) throws {
        let (model, params, batch, labels) = try Self.makeModel(family, pooling: pooling)
        let firstPosition = model.config.positionOffset
        let ws = model.makeWorkspace(maxBatchSize: 3, maxSequenceLength: 7)
        _ = try loss(model, params, batch, labels, dropout: dropout, ws: ws)
        let dLogits = FloatBuffer(count: 3 * model.config.classCount)
        CrossEntropy.forwardBackward(logits: ws.logits.pointer, labels: labels, classes: model.config.classCount, dLogits: dLogits.pointer)
        let grads = FloatBuffer(count: model.parameterCount)
        params.withUnsafeBufferPointer { model.backward($0.baseAddress!, dLogits: dLogits.pointer, gradients: grads.pointer, workspace: ws) }

        var p = params
        for view in model.layout.parameters.views {
            if view.name.hasSuffix("key.bias") {
                // Analytically zero (softmax is shift-invariant over keys): only rounding noise.
                XCTAssertLessThan(Elementwise.sumOfSquares(grads.pointer + view.offset, count: view.count).squareRoot(), 1e-5, view.name)
                continue
            }
            // Up to 12 coordinates spread over the tensor; for embeddings, rows of tokens in the batch.
            var indices = stride(from: view.offset, to: view.offset + view.count, by: max(1, view.count / 12)).map { $0 }
            if view.name.contains("word_embeddings") {
                indices = [5, 13, 19].flatMap { row in (0..<4).map { view.offset + row * 16 + $0 * 3 } }
            } else if view.name.contains("position_embeddings") {
                // RoBERTa's id 1 (each sequence's first token here) is its pad id: it reads row `padding_idx`.
                let rows = [0, 2, 5].map { firstPosition + $0 } + (family == .roberta ? [model.config.paddingID] : [])
                indices = rows.flatMap { row in (0..<4).map { view.offset + row * 16 + $0 * 4 } }
            }
            let numerical = centralDifferences(&p, indices: indices, h: h) {
                try! loss(model, $0, batch, labels, dropout: dropout, ws: ws)
            }
            let analytic = indices.map { grads[$0] }
            let relative = relativeError(analytic, numerical)
            XCTAssertGreaterThan(numerical.map { Double($0 * $0) }.reduce(0, +), 1e-8, "\(view.name): gradient ~0, check proves nothing")
            XCTAssertLessThan(relative, 2e-2, "\(view.name) (dropout: \(dropout != nil), pooling: \(pooling))")
        }
        // Unused rows get exactly zero: the pad id 0 only occurs at masked positions.
        let word = model.layout.embeddings.word
        XCTAssertTrue((0..<16).allSatisfy { grads[word.offset + $0] == 0 }, "pad row gradient must be zero")
        XCTAssertTrue((0..<16).allSatisfy { grads[word.offset + 17 * 16 + $0] == 0 }, "absent token 17 gets no gradient")
        let position = model.layout.embeddings.position
        let unread = (0..<firstPosition).filter { family == .bert || $0 != model.config.paddingID }
        XCTAssertTrue(unread.allSatisfy { row in (0..<16).allSatisfy { grads[position.offset + row * 16 + $0] == 0 } },
                      "rows before the first position are never read (but RoBERTa's padding_idx, by its pad id)")
    }

    func testEvalModeGradients() throws { try check(dropout: nil) }

    func testTrainingModeGradientsWithDropout() throws { try check(dropout: RandomStream(seed: 11).derived(5)) }

    func testRobertaEvalModeGradients() throws { try check(dropout: nil, family: .roberta) }

    func testRobertaTrainingModeGradientsWithDropout() throws { try check(dropout: RandomStream(seed: 11).derived(5), family: .roberta) }

    /// Every token's last-layer state reaches φ(x), and the head's dropout sits on the mean.
    func testMeanPooledTrainingModeGradientsWithDropout() throws {
        try check(dropout: RandomStream(seed: 11).derived(5), pooling: .mean)
    }

    func testDropoutChangesTheOutputAndIsReproducible() throws {
        let (model, params, batch, labels) = try Self.makeModel()
        let ws = model.makeWorkspace(maxBatchSize: 3, maxSequenceLength: 7)
        let eval = try loss(model, params, batch, labels, dropout: nil, ws: ws)
        let a = try loss(model, params, batch, labels, dropout: RandomStream(seed: 1), ws: ws)
        let b = try loss(model, params, batch, labels, dropout: RandomStream(seed: 1), ws: ws)
        let c = try loss(model, params, batch, labels, dropout: RandomStream(seed: 2), ws: ws)
        XCTAssertEqual(a, b, "same stream, same numbers")
        XCTAssertNotEqual(a, eval)
        XCTAssertNotEqual(a, c)
    }

    func testPaddingDoesNotChangeAnExample() throws {
        // The same sequence alone and padded inside a longer batch gives the same logits.
        let (model, params, _, _) = try Self.makeModel()
        let ws = model.makeWorkspace(maxBatchSize: 3, maxSequenceLength: 7)
        let alone = try TokenBatch(sequences: [[1, 19, 2]])
        let padded = try TokenBatch(sequences: [[1, 5, 7, 9, 3, 11, 2], [1, 19, 2]])
        let c = model.config.classCount
        let one: [Float] = try params.withUnsafeBufferPointer {
            try model.forward($0.baseAddress!, alone, workspace: ws)
            return Array(ws.logits.buffer.prefix(c))
        }
        let two: [Float] = try params.withUnsafeBufferPointer {
            try model.forward($0.baseAddress!, padded, workspace: ws)
            return Array(ws.logits.buffer[c..<(2 * c)])
        }
        for (x, y) in zip(one, two) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(x))) }
    }

    func testBadBatchesAreRejectedWithTheReason() throws {
        let (model, params, _, _) = try Self.makeModel()
        let ws = model.makeWorkspace(maxBatchSize: 2, maxSequenceLength: 7)
        func error(_ batch: TokenBatch) -> String {
            do {
                try params.withUnsafeBufferPointer { try model.forward($0.baseAddress!, batch, workspace: ws) }
                return ""
            } catch { return "\(error)" }
        }
        XCTAssertTrue(error(try TokenBatch(sequences: [[1, 25]])).contains("token id 25 outside the vocabulary of 20"))
        XCTAssertTrue(error(try TokenBatch(sequences: [[1, 2]], tokenTypes: [[0, 2]])).contains("token type 2"))
        XCTAssertTrue(error(try TokenBatch(sequences: [[1], [1], [1]])).contains("exceeds the workspace"))
        XCTAssertThrowsError(try TokenBatch(batchSize: 1, sequenceLength: 2, inputIDs: [1, 2], attentionMask: [0, 1]))
        // RoBERTa's 12 position rows hold 10 tokens: its positions start at padding_idx + 1 = 2.
        let (roberta, robertaParams, _, _) = try Self.makeModel(.roberta)
        let long = try TokenBatch(sequences: [[Int32](repeating: 5, count: 11)])
        XCTAssertThrowsError(try robertaParams.withUnsafeBufferPointer {
            try roberta.forward($0.baseAddress!, long, workspace: roberta.makeWorkspace(maxBatchSize: 1, maxSequenceLength: 11))
        }) { XCTAssertTrue("\($0)".contains("sequence length 11 exceeds the 10 positions of max_position_embeddings 12"), "\($0)") }
    }
}
