import Foundation
import TestSupport
@testable import TextData
import XCTest

/// The byte-level BPE against Hugging Face: `RobertaTokenizerFast`'s ids for the tiny RoBERTa's
/// fixture cases, and `tokenizers`' for thousands of adversarial ones.
final class ByteLevelBPETests: XCTestCase {
    var modelDirectory: URL { Fixtures.directory.appendingPathComponent("tiny-roberta") }

    func assertFixtureCases(_ tokenizer: ByteLevelBPETokenizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let cases = try XCTUnwrap(try Fixtures.value("tokenizer-tiny-roberta.json") as? [[String: Any]])
        XCTAssertEqual(cases.count, 89, file: file, line: line)
        var pairs = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String), pair = c["text_pair"] as? String
            let got = tokenizer.encode(text, pair: pair, maxLength: 128)
            XCTAssertEqual(got.ids, try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init), "text: \(text.debugDescription)", file: file, line: line)
            XCTAssertEqual(got.tokenTypeIDs, [Int32](repeating: 0, count: got.ids.count), "RoBERTa has one token type", file: file, line: line)
            if pair != nil { pairs += 1 }
        }
        XCTAssertEqual(pairs, 2, "the fixture ends with two text pairs", file: file, line: line)
    }

    func testIdsEqualRobertaTokenizerFastForEveryFixtureCase() throws {
        let tokenizer = try ByteLevelBPETokenizer(modelDirectory: modelDirectory)
        XCTAssertTrue(tokenizer.sourceFile.hasSuffix("tokenizer.json"), "tokenizer.json is preferred, as RobertaTokenizerFast prefers it")
        XCTAssertEqual(tokenizer.vocabularySize, 2000)
        try assertFixtureCases(tokenizer)
        XCTAssertEqual(tokenizer.tokens("I love this"), ["I", "Ġlove", "Ġthis"])
    }

    /// vocab.json + merges.txt alone load as RobertaTokenizerFast converts them: the same ids,
    /// and `<mask>` strips the space on its left (roberta-base's flags, the adversarial fixture's
    /// `roberta-base` variant).
    func testVocabularyAndMergesFilesGiveTheSameTokenizer() throws {
        let dir = try temporaryDirectory(self)
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: modelDirectory.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let tokenizer = try ByteLevelBPETokenizer(modelDirectory: dir)
        XCTAssertTrue(tokenizer.sourceFile.hasSuffix("vocab.json"))
        try assertFixtureCases(tokenizer)
        let variant = try XCTUnwrap(try adversarialFixture().variants.first { $0["name"] as? String == "roberta-base" })
        try assertCases(of: variant, tokenizer)
    }

    // MARK: Adversarial cases

    func adversarialFixture() throws -> (kinds: [String: [[Int]]], variants: [[String: Any]]) {
        let url = Support.projectRoot.appendingPathComponent("Tests/Fixtures/tokenizer-tiny-roberta-adversarial.json")
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        return (try XCTUnwrap(fixture["kinds"] as? [String: [[Int]]]), try XCTUnwrap(fixture["variants"] as? [[String: Any]]))
    }

    func assertCases(of variant: [String: Any], _ tokenizer: ByteLevelBPETokenizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let cases = try XCTUnwrap(variant["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 2000, file: file, line: line)
        var mismatches: [String] = []
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String), pair = c["text_pair"] as? String
            let expected = try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init)
            let got = tokenizer.encode(text, pair: pair, maxLength: try XCTUnwrap(c["max_length"] as? Int)).ids
            if got != expected {
                mismatches.append("\(text.debugDescription)\(pair.map { " + \($0.debugDescription)" } ?? "") at \(c["max_length"]!): \(got) ≠ \(expected)")
            }
        }
        XCTAssertEqual(mismatches.count, 0, "\(variant["name"]!), of \(cases.count):\n" + mismatches.prefix(20).joined(separator: "\n"), file: file, line: line)
    }

    /// Each variant's tokenizer.json is the fixture's with the variant's added tokens and
    /// add_prefix_space: flags as tokenizer.json states them, read as a user's file would be.
    func testIdsEqualTokenizersOnEveryAdversarialCase() throws {
        var spec = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: modelDirectory.appendingPathComponent("tokenizer.json"))) as? [String: Any])
        let variants = try adversarialFixture().variants
        XCTAssertEqual(variants.map { $0["name"] as? String }, ["as-is", "roberta-base", "flags"])
        for variant in variants {
            spec["added_tokens"] = variant["added_tokens"]
            var pre = try XCTUnwrap(spec["pre_tokenizer"] as? [String: Any])
            pre["add_prefix_space"] = variant["add_prefix_space"]
            spec["pre_tokenizer"] = pre
            let file = try temporaryDirectory(self).appendingPathComponent("tokenizer.json")
            try JSONSerialization.data(withJSONObject: spec).write(to: file)
            try assertCases(of: variant, try ByteLevelBPETokenizer(tokenizerJSON: file))
        }
    }

    /// Every code point's kind in the GPT-2 pattern (letter, number, whitespace, other) equals
    /// the one `tokenizers`' own pre-tokeniser shows.
    func testEveryCodePointHasThePreTokenizersKind() throws {
        let kinds = try adversarialFixture().kinds
        let names: [ByteLevelPreTokenizer.Kind: String] = [.letter: "letter", .number: "number", .whitespace: "whitespace", .other: "other"]
        var wrong: [String] = []
        var checked = 0
        for (name, ranges) in kinds {
            for range in ranges {
                for v in range[0]...range[1] {
                    let kind = ByteLevelPreTokenizer.kind(Unicode.Scalar(UInt32(v))!)
                    checked += 1
                    if names[kind] != name { wrong.append("U+\(String(v, radix: 16, uppercase: true)) \(names[kind]!) ≠ \(name)") }
                }
            }
        }
        XCTAssertEqual(checked, 0x110000 - 0x800, "every code point but the surrogates")
        XCTAssertEqual(wrong.count, 0, wrong.prefix(30).joined(separator: "\n"))
    }

    // MARK: Bad files

    func testBadFilesAreErrorsThatNameTheFileAndTheReason() throws {
        let dir = try temporaryDirectory(self)
        func failure(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let json = dir.appendingPathComponent("tokenizer.json")
        try #"{"model": {"type": "WordPiece", "vocab": {}}}"#.write(to: json, atomically: true, encoding: .utf8)
        XCTAssertEqual(failure { try ByteLevelBPETokenizer(tokenizerJSON: json) }, "\(json.path): model type WordPiece is not BPE")
        try "not json".write(to: json, atomically: true, encoding: .utf8)
        XCTAssertEqual(failure { try ByteLevelBPETokenizer(tokenizerJSON: json) }, "\(json.path): is not valid JSON")

        let vocab = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
        try FileManager.default.copyItem(at: modelDirectory.appendingPathComponent("vocab.json"), to: vocab)
        try "#version: 0.2\nĠ t\nĠt he extra\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertEqual(failure { try ByteLevelBPETokenizer(vocabularyJSON: vocab, merges: merges, tokenizerConfig: nil) },
                       "\(merges.path):3: a merge is two symbols separated by one space")
        try "#version: 0.2\nĠ q\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertTrue(failure { try ByteLevelBPETokenizer(vocabularyJSON: vocab, merges: merges, tokenizerConfig: nil) }
            .hasPrefix("\(vocab.path): merge 1 \"Ġ q\" joins symbols that are not all in the vocabulary"))
        try #"{"<s>": 0, "</s>": 1, "a": 2}"#.write(to: vocab, atomically: true, encoding: .utf8)
        XCTAssertTrue(failure { try ByteLevelBPETokenizer(vocabularyJSON: vocab, merges: merges, tokenizerConfig: nil) }
            .hasPrefix("\(vocab.path): the vocabulary has no symbol for byte 0x0"))
        XCTAssertEqual(failure { try ByteLevelBPETokenizer(modelDirectory: dir.appendingPathComponent("none")) },
                       "\(dir.appendingPathComponent("none").path): no byte-level BPE tokenizer: neither tokenizer.json nor vocab.json + merges.txt")
    }
}
