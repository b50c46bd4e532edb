import Foundation
import TestSupport
import XCTest

/// all-MiniLM-L6-v2's hidden states against Hugging Face, through the `lpft embed` command.
final class MiniLMForwardTests: XCTestCase {
    func testEmbedMatchesHuggingFaceHiddenStates() throws {
        let cases = try XCTUnwrap(try Fixtures.value("minilm-forward.json") as? [[String: Any]])
        let model = try Support.miniLM()
        let input = try temporaryDirectory(self).appendingPathComponent("texts.jsonl")
        let texts = try cases.map { try XCTUnwrap($0["text"] as? String) }
        let rows = try texts.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) }
        try rows.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)

        // The fixture padded all inputs into one batch, to the longest, at max length 64.
        let run = try Support.lpft(["embed", "--model", model.path, "--max-length", "64", "--batch-size", "\(texts.count)", "--threads", "2", "--data", input.path])
        XCTAssertEqual(run.status, 0)
        let lines = run.output.split(separator: "\n")
        XCTAssertEqual(lines.count, cases.count)

        var worst = 0.0
        for (line, expected) in zip(lines, cases) {
            let got = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(got["ids"] as? [Int], expected["ids"] as? [Int])
            for key in ["cls_hidden", "mean_pooled"] {
                let a = try XCTUnwrap(got[key] as? [Double]), b = try XCTUnwrap(expected[key] as? [Double])
                XCTAssertEqual(a.count, 384)
                worst = max(worst, zip(a, b).map { abs($0 - $1) }.max() ?? .infinity)
            }
        }
        // The fixture README's bound for a correct float32 implementation.
        XCTAssertLessThan(worst, 2e-4, "max abs error of hidden states")
    }
}
