import Foundation
import TextData
import TestSupport
import XCTest

final class TokenizerTests: XCTestCase {
    func testIdsEqualHuggingFaceForEveryFixtureCase() throws {
        let tokenizer = try WordPieceTokenizer(modelDirectory: try Support.miniLM())
        let cases = try XCTUnwrap(try Fixtures.value("tokenizer-minilm.json") as? [[String: Any]])
        XCTAssertEqual(cases.count, 89)
        var pairs = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let expected = try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init)
            let got = tokenizer.encode(text, pair: c["text_pair"] as? String, maxLength: 128)
            XCTAssertEqual(got.ids, expected, "text: \(text.debugDescription)")
            if let types = c["token_type_ids"] as? [Int] {
                pairs += 1
                XCTAssertEqual(got.tokenTypeIDs, types.map(Int32.init))
            }
        }
        XCTAssertGreaterThan(pairs, 0, "the fixture includes a text pair")
    }

    /// Thousands of random and adversarial strings (`Tests/Fixtures/tokenizer-minilm-adversarial.json`,
    /// written by `bench/hf_tokenizer_fixture.py` with Hugging Face `tokenizers` from the model's
    /// own tokenizer.json): every case's ids and token types equal exactly.
    func testIdsEqualHuggingFaceOnEveryAdversarialCase() throws {
        let tokenizer = try WordPieceTokenizer(modelDirectory: try Support.miniLM())
        let url = Support.projectRoot.appendingPathComponent("Tests/Fixtures/tokenizer-minilm-adversarial.json")
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 4000)
        var mismatches: [String] = []
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String), pair = c["text_pair"] as? String
            let expected = (try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init), try XCTUnwrap(c["token_type_ids"] as? [Int]).map(Int32.init))
            let got = tokenizer.encode(text, pair: pair, maxLength: 128)
            if got.ids != expected.0 || got.tokenTypeIDs != expected.1 {
                mismatches.append("\(text.unicodeScalars.map { String($0.value, radix: 16) })\(pair.map { " + \($0.debugDescription)" } ?? ""): \(got.ids) ≠ \(expected.0)")
            }
        }
        XCTAssertEqual(mismatches.count, 0, "of \(cases.count):\n" + mismatches.prefix(30).joined(separator: "\n"))
    }

    func tinyTokenizer(lowercase: Bool = true) throws -> WordPieceTokenizer {
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "b", "c", "!", "é", "cafe", "café", "Café", "Cafe", "x"]
        return WordPieceTokenizer(vocabulary: try Vocabulary(tokens: tokens), lowercase: lowercase)
    }

    func testWordPieceGreedyLongestMatchAndUnknowns() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(t.tokens("unaffable!"), ["un", "##aff", "##able", "!"])
        XCTAssertEqual(t.tokens("unaffablex"), ["[UNK]"], "an unmatched remainder makes the whole word [UNK]")
        XCTAssertEqual(t.tokens(String(repeating: "a", count: 101)), ["[UNK]"], "over 100 characters")
        XCTAssertEqual(t.tokens("CAFÉ Café"), ["cafe", "cafe"], "uncased: lowercase and strip accents")
        XCTAssertEqual(t.tokens("a\u{0}b\u{FFFD}c\u{200B}"), ["abc"].flatMap { _ in ["[UNK]"] }, "NUL, U+FFFD, format chars are dropped: one word")
        XCTAssertEqual(try tinyTokenizer(lowercase: false).tokens("Café Cafe café"), ["Café", "Cafe", "café"], "cased keeps case and accents")
    }

    func testPairTruncationIsLongestFirst() throws {
        let t = try tinyTokenizer()
        let first = "a a a a a a", second = "b b"
        // 6 + 2 + 3 specials = 11; max 8 removes 3, all from the longer first text.
        let enc = t.encode(first, pair: second, maxLength: 8)
        XCTAssertEqual(enc.ids.map { t.vocabulary.tokens[Int($0)] }, ["[CLS]", "a", "a", "a", "[SEP]", "b", "b", "[SEP]"])
        XCTAssertEqual(enc.tokenTypeIDs, [0, 0, 0, 0, 0, 1, 1, 1])
        // Neither fits in half the room: halves, the odd token to the longer side (the second on ties).
        XCTAssertEqual(t.encode("a a", pair: "b b", maxLength: 6).ids.map { t.vocabulary.tokens[Int($0)] },
                       ["[CLS]", "a", "[SEP]", "b", "b", "[SEP]"])
        XCTAssertEqual(t.encode("a a a a a", pair: "b b b b", maxLength: 6).ids.map { t.vocabulary.tokens[Int($0)] },
                       ["[CLS]", "a", "a", "[SEP]", "b", "[SEP]"])
        XCTAssertEqual(t.encode("a b c a b c", maxLength: 4).ids.count, 4)
    }

    func testVocabularyWithoutSpecialTokensIsRejected() {
        XCTAssertThrowsError(try Vocabulary(tokens: ["a", "b"])) { XCTAssertTrue("\($0)".contains("[UNK]")) }
    }
}
