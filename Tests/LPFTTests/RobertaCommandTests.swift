import Foundation
import TestSupport
import Training
import XCTest

/// The tiny RoBERTa through the library and through `lpft tokenize`, `lpft embed` and `lpft ntk`,
/// against Hugging Face and PyTorch; and model directories lpft must refuse, each with one line
/// that names the file.
final class RobertaCommandTests: XCTestCase {
    let model = Fixtures.directory.appendingPathComponent("tiny-roberta")

    func json(_ line: Substring) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testTokenizeCommandEqualsRobertaTokenizerFast() throws {
        let cases = try XCTUnwrap(try Fixtures.value("tokenizer-tiny-roberta.json") as? [[String: Any]])
        let singles = cases.filter { $0["text_pair"] == nil }
        let run = try Support.lpft(["tokenize", "--model", model.path] + singles.map { $0["text"] as! String })
        XCTAssertEqual(run.status, 0, run.output)
        let lines = run.output.split(separator: "\n")
        XCTAssertEqual(lines.count, singles.count)
        for (line, expected) in zip(lines, singles) {
            XCTAssertEqual(try json(line)["ids"] as? [Int], expected["ids"] as? [Int], "\(expected["text"]!)")
        }
        for pair in cases.filter({ $0["text_pair"] != nil }) {
            let run = try Support.lpft(["tokenize", "--model", model.path, "--pair", pair["text_pair"] as! String, pair["text"] as! String])
            let line = try json(try XCTUnwrap(run.output.split(separator: "\n").first))
            XCTAssertEqual(line["ids"] as? [Int], pair["ids"] as? [Int])
            XCTAssertEqual(line["token_type_ids"] as? [Int], (pair["ids"] as! [Int]).map { _ in 0 }, "one token type")
        }
    }

    /// `--pair` for BERT: the MiniLM fixture's text pair, ids and token types.
    func testTokenizePairForBERT() throws {
        let cases = try XCTUnwrap(try Fixtures.value("tokenizer-minilm.json") as? [[String: Any]])
        let pair = try XCTUnwrap(cases.last { $0["text_pair"] != nil })
        let run = try Support.lpft(["tokenize", "--model", try Support.miniLM().path, "--pair", pair["text_pair"] as! String, pair["text"] as! String])
        XCTAssertEqual(run.status, 0, run.output)
        let line = try json(try XCTUnwrap(run.output.split(separator: "\n").first))
        XCTAssertEqual(line["ids"] as? [Int], pair["ids"] as? [Int])
        XCTAssertEqual(line["token_type_ids"] as? [Int], pair["token_type_ids"] as? [Int])
    }

    /// `<s>` hidden states of 30 real texts, batched and padded by Hugging Face (max length 64),
    /// within the fixture README's float32 bound, from the library and from `lpft embed`.
    func testHiddenStatesMatchHuggingFace() throws {
        let cases = try XCTUnwrap(try Fixtures.value("tiny-roberta-forward.json") as? [[String: Any]])
        XCTAssertEqual(cases.count, 30)
        let texts = try cases.map { try XCTUnwrap($0["text"] as? String) }
        func assertMatches(_ got: [(ids: [Int], hidden: [Double])], _ via: String) throws {
            XCTAssertEqual(got.count, cases.count, via)
            var worst = 0.0
            for (g, expected) in zip(got, cases) {
                XCTAssertEqual(g.ids, expected["ids"] as? [Int], via)
                let reference = try XCTUnwrap(expected["cls_hidden"] as? [Double])
                XCTAssertEqual(g.hidden.count, 32, via)
                worst = max(worst, zip(g.hidden, reference).map { abs($0 - $1) }.max() ?? .infinity)
            }
            XCTAssertLessThan(worst, 1e-4, "\(via): max abs error of the <s> hidden states")
        }
        let embedder = try TextEmbedder(modelDirectory: model, maxLength: 64, batchSize: 8, threads: 2)
        try assertMatches(try embedder.embed(texts).map { ($0.ids.map(Int.init), $0.clsHidden.map(Double.init)) }, "library")

        let run = try Support.lpft(["embed", "--model", model.path, "--max-length", "64", "--threads", "2"] + texts)
        XCTAssertEqual(run.status, 0, run.output)
        try assertMatches(try run.output.split(separator: "\n").map { line in
            let object = try json(line)
            return (try XCTUnwrap(object["ids"] as? [Int]), try XCTUnwrap(object["cls_hidden"] as? [Double]))
        }, "lpft embed")
    }

    /// `lpft ntk` with the checkpoint's own head on the fixture's six inputs: logits within 1e-4
    /// and P and F within 1e-3 relative of PyTorch's.
    func testNTKCommandMatchesPyTorch() throws {
        let fixture = try XCTUnwrap(try Fixtures.value("tiny-roberta-ntk.json") as? [String: Any])
        let ids = try XCTUnwrap(fixture["input_ids"] as? [[Int]]), mask = try XCTUnwrap(fixture["attention_mask"] as? [[Int]])
        let labels = try XCTUnwrap(fixture["labels"] as? [Int])
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("inputs.jsonl")
        // The config's labels: num_labels 3 with no names for them, so LABEL_0…LABEL_2.
        let rows = try ids.indices.map { i -> String in
            let row: [String: Any] = ["input_ids": Array(ids[i].prefix(mask[i].reduce(0, +))), "label": "LABEL_\(labels[i])"]
            return String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self)
        }
        try rows.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("ntk.json")
        let run = try Support.lpft(["ntk", "--model", model.path, "--data", data.path, "--examples", "6", "--threads", "2", "--out", out.path])
        XCTAssertEqual(run.status, 0, run.output)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertLessThan(relativeError(flatFloats(result["logits"]), flatFloats(fixture["logits"])), 1e-4)
        XCTAssertLessThan(relativeError(flatFloats(result["pretrain_effective"]), flatFloats(fixture["ntk_pretrain_effective"])), 1e-3)
        XCTAssertLessThan(relativeError(flatFloats(result["ft_effective"]), flatFloats(fixture["ntk_ft_effective"])), 1e-3)
    }

    // MARK: Directories lpft refuses

    /// A copy of the tiny RoBERTa with `edit` applied to its config.json.
    func modelCopy(editingConfig edit: (inout String) -> Void = { _ in }) throws -> URL {
        let dir = try temporaryDirectory(self).appendingPathComponent("model")
        try FileManager.default.copyItem(at: model, to: dir)
        let config = dir.appendingPathComponent("config.json")
        var text = try String(contentsOf: config, encoding: .utf8)
        edit(&text)
        try text.write(to: config, atomically: true, encoding: .utf8)
        return dir
    }

    func testADirectoryOfNeitherFamilyOrAMismatchedTokenizerIsAOneLineError() throws {
        let xlnet = try modelCopy { $0 = $0.replacingOccurrences(of: "\"model_type\": \"roberta\"", with: "\"model_type\": \"xlnet\"") }
        for arguments in [["embed", "--model", xlnet.path, "x"], ["tokenize", "--model", xlnet.path, "x"], ["model", "describe", xlnet.path]] {
            assertRuntimeFailure(try runLPFT(arguments), contains: "\(xlnet.path)/config.json: model_type \"xlnet\" is not a family lpft runs (bert, roberta)")
        }

        let wider = try modelCopy { $0 = $0.replacingOccurrences(of: "\"vocab_size\": 2000", with: "\"vocab_size\": 2100") }
        assertRuntimeFailure(try runLPFT(["tokenize", "--model", wider.path, "x"]),
                             contains: "\(wider.path)/tokenizer.json: has 2000 tokens but config.json's vocab_size is 2100")

        let bare = try modelCopy()
        for name in ["tokenizer.json", "vocab.json"] { try FileManager.default.removeItem(at: bare.appendingPathComponent(name)) }
        assertRuntimeFailure(try runLPFT(["embed", "--model", bare.path, "x"]), contains: "\(bare.path) is not a model directory: missing a tokenizer")
    }

    func testModelDescribeNamesFamilyShapeVocabularyAndParameters() throws {
        let run = try Support.lpft(["model", "describe", model.path])
        XCTAssertEqual(run.status, 0, run.output)
        for line in ["family: roberta", "layers: 2", "hidden size: 32 (4 heads, feed-forward 64)", "vocabulary: 2000 tokens (\(model.path)/tokenizer.json)",
                     "max length: 64 tokens", "parameters: 83296 in the backbone; a classification head adds 33 per label",
                     "classification head: trained, in model.safetensors: 99 parameters for the labels LABEL_0, LABEL_1, LABEL_2 (`lpft ntk` reads it unless --lp or --fresh-head; a trial makes its own)"] {
            XCTAssertTrue(run.output.contains(line + "\n"), "\(line) in:\n\(run.output)")
        }
        let bert = try Support.lpft(["model", "describe", Fixtures.directory.appendingPathComponent("tiny-bert").path])
        XCTAssertTrue(bert.output.contains("family: bert\n") && bert.output.contains("vocabulary: 120 tokens"), bert.output)
    }
}
