import Foundation
import TextData
import TestSupport
import XCTest

/// Every reader on small files written here, including each kind of bad row.
final class ReaderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try temporaryDirectory(self) }

    func file(_ name: String, _ content: String) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(content.utf8).write(to: url)
        return url
    }

    func read(_ url: URL, _ format: DatasetFormat = .generic(), skip: Bool = false) throws -> DatasetFile {
        try format.reader(for: url, skipBadRows: skip).read(url)
    }

    /// The error message of reading `url`, or "" when it reads.
    func failure(_ url: URL, _ format: DatasetFormat = .generic()) -> String {
        do { _ = try read(url, format); return "" } catch { return "\(error)" }
    }

    func testCSVRoundTripWithQuotingAndEmbeddedNewlines() throws {
        let url = try file("train.csv", "label,text,extra\npositive,\"Fine, \"\"really\"\" fine\",x\nnegative,\"two\nlines\",y\r\nneutral,plain,z\n")
        let examples = try read(url).examples
        XCTAssertEqual(examples.map(\.label), ["positive", "negative", "neutral"])
        XCTAssertEqual(examples.map(\.text), ["Fine, \"really\" fine", "two\nlines", "plain"])
        XCTAssertEqual(examples.map { $0.source.hasSuffix("/train.csv:2") || $0.source.hasSuffix("/train.csv:3") || $0.source.hasSuffix("/train.csv:5") }, [true, true, true])
        XCTAssertEqual(examples.map { $0.source.split(separator: ":").last! }, ["2", "3", "5"], "the record's first line")
        XCTAssertEqual(LabelSet(of: examples).names, ["negative", "neutral", "positive"], "sorted: a stable order")
    }

    func testTSVWithTextPairs() throws {
        let url = try file("dev.tsv", "premise\thypothesis\tlabel\nA man.\tA person.\tentailment\n")
        let e = try read(url, .generic(text: "premise", textPair: "hypothesis")).examples
        XCTAssertEqual(e, [Example(text: "A man.", textPair: "A person.", label: "entailment", source: url.path + ":2")])
    }

    func testJSONLinesTextPairsLabelTypesAndPreTokenized() throws {
        let url = try file("d.jsonl", """
        {"text": "good", "label": "positive"}
        {"text": "3", "label": 1}

        {"text": "yes", "label": true}
        {"input_ids": [101, 7, 102], "token_type_ids": [0, 0, 0], "label": "negative"}
        """)
        let e = try read(url).examples
        XCTAssertEqual(e.map(\.label), ["positive", "1", "true", "negative"])
        XCTAssertEqual(e[3].inputIDs, [101, 7, 102])
        XCTAssertEqual(e[3].tokenTypeIDs, [0, 0, 0])
        XCTAssertNil(e[3].text)
    }

    func testTheReferencePreTokenizedFixtureReads() throws {
        let url = try Fixtures.url("tiny-bert-inputs.jsonl")
        let e = try read(url).examples
        XCTAssertEqual(e.count, 6)
        XCTAssertEqual(e[1].inputIDs, [1, 105, 12, 12, 115, 40, 98])
        XCTAssertEqual(LabelSet(of: e).names, ["label_0", "label_1", "label_2"])
    }

    func testGLUELayouts() throws {
        let sst = try file("sst.tsv", "sentence\tlabel\nit 's a \"charming\" film \t1\n")
        XCTAssertEqual(try read(sst, .glue(task: "sst2")).examples.first?.text, "it 's a \"charming\" film ", "bare quotes are text")
        let cola = try file("cola.tsv", "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n")
        XCTAssertEqual(try read(cola, .glue(task: "cola")).examples.map(\.label), ["1", "0"])
        let mrpc = try file("mrpc.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA b.\tB a.\n")
        let m = try read(mrpc, .glue(task: "mrpc")).examples[0]
        XCTAssertEqual([m.text, m.textPair, m.label], ["A b.", "B a.", "1"])
        let rte = try file("rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tP.\tH.\tnot_entailment\n")
        XCTAssertEqual(try read(rte, .glue(task: "rte")).examples[0].label, "not_entailment")
        XCTAssertTrue(failure(rte, .glue(task: "stsb")).contains("unknown GLUE task"))
    }

    func testSuperGLUELayouts() throws {
        let boolq = try file("val.jsonl", #"{"question": "is it?", "passage": "It is.", "idx": 0, "label": false}"#)
        let b = try read(boolq, .superGLUE(task: "boolq")).examples[0]
        XCTAssertEqual([b.text, b.textPair, b.label], ["is it?", "It is.", "false"])
        let cb = try file("cb.jsonl", #"{"premise": "P", "hypothesis": "H", "label": "neutral", "idx": 3}"#)
        XCTAssertEqual(try read(cb, .superGLUE(task: "cb")).examples[0].label, "neutral")
    }

    func testUnlabelledReadingIgnoresLabelsAndReadsPlainText() throws {
        func unlabelled(_ url: URL, _ format: DatasetFormat = .generic()) throws -> [Example] {
            try format.reader(for: url, labelled: false).read(url).examples
        }
        let jsonl = try file("u.jsonl", "{\"text\": \"a\"}\n\n{\"input_ids\": [101, 7, 102]}\n")
        XCTAssertEqual(try unlabelled(jsonl), [Example(text: "a", label: "", source: jsonl.path + ":1"),
                                              Example(inputIDs: [101, 7, 102], label: "", source: jsonl.path + ":3")])
        XCTAssertTrue(failure(jsonl).contains(":1: missing field \"label\""))
        let csv = try file("u.csv", "text\nb\n")
        XCTAssertEqual(try unlabelled(csv).map(\.text), ["b"])
        let cola = try file("cola.tsv", "src\t1\t\tIt works.\n")
        XCTAssertEqual(try unlabelled(cola, .glue(task: "cola")).map(\.text), ["It works."])
        let boolq = try file("boolq.jsonl", #"{"question": "q", "passage": "p"}"#)
        XCTAssertEqual(try unlabelled(boolq, .superGLUE(task: "boolq")).map(\.textPair), ["p"])
        // Any other extension is plain text, one example per line; labelled, it is refused.
        let plain = try file("u.txt", "first line\r\n\nsecond, line\n")
        XCTAssertEqual(try unlabelled(plain).map(\.text), ["first line", "second, line"])
        XCTAssertEqual(try unlabelled(plain).map(\.source), [plain.path + ":1", plain.path + ":3"])
        XCTAssertTrue(failure(plain).contains("cannot tell the format"))
    }

    func testEachBadRowIsNamedWithFileLineAndReason() throws {
        let cases: [(String, String, DatasetFormat, String)] = [
            ("missing.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n", .generic(), "missing.jsonl:2: missing field \"label\""),
            ("notext.jsonl", "{\"label\": \"x\"}\n", .generic(), "notext.jsonl:1: missing string field \"text\""),
            ("broken.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"tru", .generic(), "broken.jsonl:2: not a JSON object"),
            ("ids.jsonl", "{\"input_ids\": [1, 2], \"token_type_ids\": [0], \"label\": \"x\"}\n", .generic(), "ids.jsonl:1: \"token_type_ids\" must be integers, one per input id"),
            ("big.jsonl", "{\"input_ids\": [1, 4294967296], \"label\": \"x\"}\n", .generic(), "big.jsonl:1: \"input_ids\" must be a non-empty array of non-negative 32-bit integers"),
            ("quote.csv", "text,label\n\"open,x\nmore,y\n", .generic(), "quote.csv:2: unterminated quoted field"),
            ("after.csv", "text,label\n\"a\"b,x\n", .generic(), "after.csv:2: text after a closing quote"),
            ("bare.csv", "text,label\na\"b,x\n", .generic(), "bare.csv:2: a quote inside an unquoted field"),
            ("short.csv", "text,label\nonly-text\n", .generic(), "short.csv:2: 1 field(s), expected at least 2"),
            ("nolabel.csv", "text,label\nhello,\n", .generic(), "nolabel.csv:2: empty label"),
            ("header.csv", "sentence,label\nhello,x\n", .generic(), "header.csv:1: no column \"text\" in the header (sentence, label)"),
        ]
        for (name, content, format, expected) in cases {
            let message = failure(try file(name, content), format)
            XCTAssertTrue(message.contains(expected), "\(name): got \"\(message)\"")
        }
        // Invalid UTF-8 on line 3.
        let url = dir.appendingPathComponent("latin.csv")
        try Data("text,label\nok,x\ncaf".utf8 + [0xE9] + Data(",y\n".utf8)).write(to: url)
        XCTAssertTrue(failure(url).contains("latin.csv:3: invalid UTF-8"), failure(url))
        let latin = try DelimitedReader(delimiter: ",", encoding: .latin1).read(url)
        XCTAssertEqual(latin.examples.last?.text, "café", "latin-1 decodes when asked")
    }

    func testSkippingBadRowsCountsThem() throws {
        let url = try file("mixed.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\nnot json\n{\"text\": \"c\", \"label\": \"y\"}\n")
        XCTAssertThrowsError(try read(url))
        let result = try read(url, skip: true)
        XCTAssertEqual(result.examples.map(\.text), ["a", "c"])
        XCTAssertEqual(result.skipped.count, 2)
        XCTAssertTrue("\(result.skipped[1])".hasPrefix(url.path + ":3:"))
    }

    func testLabelSetsCheckEvaluationLabelsNamingTheirFileAndLine() throws {
        let binary = LabelSet(["negative", "positive"])
        func example(_ label: String, line: Int) -> Example { Example(text: "t", label: label, source: "tweets.jsonl:\(line)") }
        XCTAssertNoThrow(try binary.requireKnown([example("positive", line: 1)]))
        XCTAssertThrowsError(try binary.requireKnown([example("negative", line: 1), example("neutral", line: 2)], whose: "the trained task")) {
            XCTAssertEqual("\($0)", "tweets.jsonl:2: label \"neutral\" is not one of the trained task's labels [negative, positive]")
        }
    }
}
