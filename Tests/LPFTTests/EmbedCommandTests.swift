import Foundation
import TestSupport
import XCTest

/// `lpft embed --data` reads through the dataset readers: the same inputs as text, as
/// pre-tokenised rows, as CSV or TSV give the same features.
final class EmbedCommandTests: XCTestCase {
    let model = Fixtures.directory.appendingPathComponent("tiny-bert").path

    func embed(_ file: URL, _ extra: [String] = []) throws -> [[String: Any]] {
        let run = try Support.lpft(["embed", "--model", model, "--threads", "1", "--data", file.path] + extra)
        XCTAssertEqual(run.status, 0, run.output)
        return try run.output.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func assertSameFeatures(_ a: [[String: Any]], _ b: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            for key in ["ids", "cls_hidden", "mean_pooled"] {
                XCTAssertEqual(x[key] as? NSArray, y[key] as? NSArray, key, file: file, line: line)
            }
        }
    }

    func testPreTokenisedCSVAndTSVGiveTheFeaturesOfTheText() throws {
        let dir = try temporaryDirectory(self)
        let texts = ["tok5 tok6 tok7", "tok8", "tok9 tok10 tok11 tok12 tok13"]
        let plain = dir.appendingPathComponent("texts.txt")
        try (texts.joined(separator: "\n") + "\n").write(to: plain, atomically: true, encoding: .utf8)
        let reference = try embed(plain)
        XCTAssertEqual(reference.count, texts.count)

        let tokenised = dir.appendingPathComponent("ids.jsonl")
        let rows = try reference.map { r -> String in
            let ids = try XCTUnwrap(r["ids"] as? [Int])
            return String(decoding: try JSONSerialization.data(withJSONObject: ["input_ids": ids, "token_type_ids": ids.map { _ in 0 }]), as: UTF8.self)
        }
        try rows.joined(separator: "\n").write(to: tokenised, atomically: true, encoding: .utf8)
        assertSameFeatures(try embed(tokenised), reference)

        let csv = dir.appendingPathComponent("texts.csv")
        try ("label,text\n" + texts.map { "x,\"\($0)\"" }.joined(separator: "\n")).write(to: csv, atomically: true, encoding: .utf8)
        assertSameFeatures(try embed(csv), reference)

        // No label column: embedding input needs none.
        let tsv = dir.appendingPathComponent("texts.tsv")
        try ("sentence\n" + texts.joined(separator: "\n")).write(to: tsv, atomically: true, encoding: .utf8)
        assertSameFeatures(try embed(tsv, ["--text", "sentence"]), reference)
    }

    func testTextPairsAndGLUE() throws {
        let dir = try temporaryDirectory(self)
        let pairs = dir.appendingPathComponent("pairs.jsonl")
        try #"{"a": "tok5 tok6", "b": "tok7"}"#.write(to: pairs, atomically: true, encoding: .utf8)
        let jsonl = try embed(pairs, ["--text", "a", "--text-pair", "b"])
        let ids = try XCTUnwrap(jsonl.first?["ids"] as? [Int])
        XCTAssertEqual(ids.count, 6, "[CLS] a a [SEP] b [SEP]")

        let rte = dir.appendingPathComponent("dev.tsv")
        try "index\tsentence1\tsentence2\tlabel\n0\ttok5 tok6\ttok7\tentailment\n".write(to: rte, atomically: true, encoding: .utf8)
        assertSameFeatures(try embed(rte, ["--glue", "rte"]), jsonl)
    }

    func testMalformedRowNamesFileAndLine() throws {
        let dir = try temporaryDirectory(self)
        let bad = dir.appendingPathComponent("bad.jsonl")
        try "{\"text\": \"tok5\"}\n{\"input_ids\": [2, -1, 3]}\n".write(to: bad, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["embed", "--model", model, "--data", bad.path]), contains: "\(bad.path):2: \"input_ids\" must be")

        let csv = dir.appendingPathComponent("bad.csv")
        try "text,label\ntok5,a\n\"tok6,b\n".write(to: csv, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["embed", "--model", model, "--data", csv.path]), contains: "\(csv.path):3:")
    }
}
