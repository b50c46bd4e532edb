import Compute
import Foundation
import Transformer
import TestSupport
import XCTest

/// The tiny BERT and the tiny RoBERTa against PyTorch: logits, loss, features and every
/// parameter's gradient (RoBERTa's positions counting from padding_idx + 1, its names under `roberta.`).
final class ReferenceFixtureTests: XCTestCase {
    struct Reference {
        let loaded: Checkpoint.Loaded
        let batch: TokenBatch
        let labels: [Int]
        let json: [String: Any]
    }

    /// The fixture's padded batch; RoBERTa's has no token types (it has one).
    func loadReference(_ model: String, _ fixture: String) throws -> Reference {
        let json = try Fixtures.json(fixture)
        let pooling = try XCTUnwrap(Pooling(rawValue: Fixtures.pooling(json)), fixture)
        let loaded = try Checkpoint.load(directory: try Fixtures.url(model), threads: 2, pooling: pooling)
        let ids = try XCTUnwrap(json["input_ids"] as? [[Int]])
        let batch = try TokenBatch(batchSize: ids.count, sequenceLength: ids[0].count,
                                   inputIDs: flatInts(json["input_ids"]), tokenTypeIDs: json["token_type_ids"].map { flatInts($0) },
                                   attentionMask: flatFloats(json["attention_mask"]))
        let labels = try XCTUnwrap(json["labels"] as? [Int])
        return Reference(loaded: loaded, batch: batch, labels: labels, json: json)
    }

    func testLogitsLossAndFeaturesMatchPyTorch() throws {
        for (name, fixture) in Fixtures.tinyModels { try assertLogitsLossAndFeatures(name, fixture) }
    }

    func assertLogitsLossAndFeatures(_ name: String, _ fixture: String) throws {
        let ref = try loadReference(name, fixture)
        XCTAssertTrue(ref.loaded.headLoaded, "the fixture carries classifier.weight/bias")
        let model = ref.loaded.model
        let ws = model.makeWorkspace(maxBatchSize: 8, maxSequenceLength: ref.batch.sequenceLength)
        try model.forward(ref.loaded.parameters.pointer, ref.batch, workspace: ws)
        let c = model.config.classCount, h = model.config.hiddenSize, b = ref.batch.batchSize
        let logits = Array(ws.logits.buffer.prefix(b * c))
        // float32 through 2 layers of width 32: relative error ~1e-6 expected; README bound 1e-4.
        XCTAssertLessThan(relativeError(logits, flatFloats(ref.json["logits"])), 1e-4, fixture)
        XCTAssertLessThan(relativeError(Array(ws.features.buffer.prefix(b * h)), flatFloats(ref.json["features"])), 1e-4, fixture)
        let loss = logits.withUnsafeBufferPointer {
            CrossEntropy.forwardBackward(logits: $0.baseAddress!, labels: ref.labels, classes: c, dLogits: nil)
        }
        let expected = try XCTUnwrap(ref.json["mean_cross_entropy"] as? Double)
        XCTAssertEqual(Double(loss), expected, accuracy: expected * 1e-4, fixture)
    }

    func testEveryParameterGradientMatchesPyTorch() throws {
        for (name, fixture) in Fixtures.tinyModels { try assertEveryParameterGradient(name, fixture) }
    }

    func assertEveryParameterGradient(_ name: String, _ fixture: String) throws {
        let ref = try loadReference(name, fixture)
        let model = ref.loaded.model
        let ws = model.makeWorkspace(maxBatchSize: 6, maxSequenceLength: ref.batch.sequenceLength)
        let p = ref.loaded.parameters.pointer
        try model.forward(p, ref.batch, workspace: ws)
        let c = model.config.classCount
        let dLogits = FloatBuffer(count: ref.batch.batchSize * c)
        CrossEntropy.forwardBackward(logits: ws.logits.pointer, labels: ref.labels, classes: c, dLogits: dLogits.pointer)
        let grads = FloatBuffer(count: model.parameterCount)
        model.backward(p, dLogits: dLogits.pointer, gradients: grads.pointer, workspace: ws)

        let expected = try XCTUnwrap(ref.json["loss_gradient"] as? [String: Any])
        XCTAssertEqual(Set(expected.keys), Set(model.layout.parameters.views.map(\.name)), "\(name): one reference gradient per parameter")
        let totalNorm = Elementwise.sumOfSquares(grads.pointer, count: grads.count).squareRoot()
        for view in model.layout.parameters.views {
            let ours = Array(grads.buffer[view.range])
            let theirs = flatFloats(expected[view.name])
            XCTAssertEqual(ours.count, theirs.count, view.name)
            guard ours.count == theirs.count else { continue }
            if view.name.hasSuffix("key.bias") {
                // Analytically zero: softmax over keys is invariant to a shift shared by all keys,
                // so both sides hold only rounding noise. Check it is noise-sized (float32 eps ≈ 1e-7).
                let noise = Elementwise.sumOfSquares(ours, count: ours.count).squareRoot()
                XCTAssertLessThan(noise, 1e-6 * totalNorm, "\(fixture): \(view.name)")
                continue
            }
            XCTAssertLessThan(relativeError(ours, theirs), 1e-3, "\(fixture): \(view.name)")
        }
    }

    /// Hugging Face numbers RoBERTa's positions by token id (`create_position_ids_from_input_ids`):
    /// a `<pad>` token reads row `padding_idx` and is not counted, the others count from
    /// `padding_idx + 1`.
    func testRobertaPositionRowsOfALiteralPadAreHuggingFaces() throws {
        let config = try Checkpoint.load(directory: try Fixtures.url("tiny-roberta"), threads: 1).model.config
        let pad = Int32(config.paddingID), ids: [Int32] = [0, 45, pad, 1697, pad, 811, 2]
        var counted: Int32 = 0
        let huggingFace = ids.map { id -> Int32 in
            guard id != pad else { return pad }
            counted += 1
            return pad + counted
        }
        XCTAssertEqual(huggingFace, [2, 3, 1, 4, 1, 5, 6])
        XCTAssertEqual(config.positionRows(try TokenBatch(sequences: [ids, [0, 45, 2]])), huggingFace + [2, 3, 4])
    }

    /// So a literal `<pad>` moved to the end of a text leaves its `<s>` state as it was:
    /// attention knows no order but the positions', and the other tokens keep theirs. Counting
    /// places instead gave the tokens after the `<pad>` other rows (issue 36: 1.4e-3 off).
    func testALiteralPadMovesNoOtherTokensPosition() throws {
        let loaded = try Checkpoint.load(directory: try Fixtures.url("tiny-roberta"), threads: 1)
        let model = loaded.model, pad = Int32(model.config.paddingID), h = model.config.hiddenSize
        func firstTokenState(_ ids: [Int32]) throws -> [Float] {
            let ws = model.makeWorkspace(maxBatchSize: 1, maxSequenceLength: ids.count)
            try model.forward(loaded.parameters.pointer, try TokenBatch(sequences: [ids]), workspace: ws)
            return Array(ws.features.buffer.prefix(h))
        }
        let inside = try firstTokenState([0, 45, pad, 1697, 811, 2]), atTheEnd = try firstTokenState([0, 45, 1697, 811, 2, pad])
        XCTAssertLessThan(relativeError(inside, atTheEnd), 1e-5)
    }
}
