import Foundation
import TestSupport
import XCTest

/// `lpft ntk` on the fixture's model and inputs against PyTorch's P and F.
final class NTKCommandTests: XCTestCase {
    func flat(_ value: Any?) -> [Double] {
        if let n = value as? Double { return [n] }
        if let n = value as? Int { return [Double(n)] }
        return (value as? [Any])?.flatMap(flat) ?? []
    }

    func relative(_ a: [Double], _ b: [Double]) -> Double {
        XCTAssertEqual(a.count, b.count)
        let diff = zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (diff / max(b.reduce(0.0) { $0 + $1 * $1 }, 1e-300)).squareRoot()
    }

    func testPretrainAndFTEffectiveKernelsMatchPyTorch() throws {
        for name in ["tiny-bert-ntk.json", "tiny-bert-mean-ntk.json"] { try assertKernelsMatchPyTorch(name) }
    }

    func assertKernelsMatchPyTorch(_ name: String) throws {
        let fixture = try XCTUnwrap(try Fixtures.value(name) as? [String: Any])
        let pooling = Fixtures.pooling(fixture)
        let ids = try XCTUnwrap(fixture["input_ids"] as? [[Int]]), types = try XCTUnwrap(fixture["token_type_ids"] as? [[Int]])
        let mask = try XCTUnwrap(fixture["attention_mask"] as? [[Int]]), labels = try XCTUnwrap(fixture["labels"] as? [Int])
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("inputs.jsonl")
        let rows = try ids.indices.map { i -> String in
            let n = mask[i].reduce(0, +)
            let row: [String: Any] = ["input_ids": Array(ids[i].prefix(n)), "token_type_ids": Array(types[i].prefix(n)), "label": "label_\(labels[i])"]
            return String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self)
        }
        try rows.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("ntk.json")
        let model = Fixtures.directory.appendingPathComponent("tiny-bert").path
        let run = try runLPFT(["ntk", "--model", model, "--data", data.path, "--eval-data", data.path, "--examples", "6", "--threads", "2",
                               "--pooling", pooling, "--out", out.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.errors)
        // The fixture's head is the model's own, so mean pooling is warned about, not refused.
        XCTAssertEqual(run.errors.contains("warning: --pooling mean with the model's own classifier head"), pooling == "mean", run.errors)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertEqual(result["pooling"] as? String, pooling)
        XCTAssertLessThan(relative(flat(result["pretrain_effective"]), flat(fixture["ntk_pretrain_effective"])), 1e-3, name)
        XCTAssertLessThan(relative(flat(result["ft_effective"]), flat(fixture["ntk_ft_effective"])), 1e-3, name)
        let stats = try XCTUnwrap(result["statistics"] as? [String: Any])
        XCTAssertTrue((0...1).contains(try XCTUnwrap(stats["ft_ratio"] as? Double)))
        // Evaluated on its own training examples, the kernel classifier scores as on them.
        XCTAssertEqual(stats["accuracy_eval"] as? Double, stats["accuracy_train"] as? Double)
        XCTAssertEqual(result["eval_examples"] as? Int, 6)
    }
}
