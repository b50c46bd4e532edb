import Foundation
import JSONText
import Sweep
@testable import Wire
import XCTest

/// The hand-written JSON of the per-trial messages against Foundation's `Codable` form: each
/// reads the other's text to the same value, and bad text is refused with its place.
final class WireJSONTests: XCTestCase {
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()
    private let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    /// Both directions, and the same JSON object (keys and values) as the `Codable` text.
    private func assertAgree<T: WireBody & Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let hand = value.json
        let foundation = try encoder.encode(value)
        XCTAssertEqual(try decoder.decode(T.self, from: Data(hand)), value, "Codable reads the hand text", file: file, line: line)
        XCTAssertEqual(try T(json: Array(foundation)), value, "the hand reader reads the Codable text", file: file, line: line)
        let a = try JSONSerialization.jsonObject(with: Data(hand)) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: foundation) as? NSDictionary
        XCTAssertEqual(a, b, "same object: \(String(decoding: hand, as: UTF8.self))", file: file, line: line)
    }

    func testEveryPerTrialBodyAgreesWithItsCodableForm() throws {
        let awkward = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} nul \u{00} é 漢 🎻"
        try assertAgree(Ready(credit: 0))
        try assertAgree(Ready(credit: Int.max))
        try assertAgree(Assign(trial: "t", lease: 7, attempt: 1, config: "{\"a\":1}"))
        try assertAgree(Assign(trial: awkward, lease: Int64.max, attempt: 3, config: awkward, sweep: "s",
                               inputs: [PinnedInput(name: "data/x/train.jsonl", sha256: "ab", size: 3), PinnedInput(name: awkward, sha256: "cd")]))
        try assertAgree(Assign(trial: "t", lease: -1, attempt: 1, config: "{}", inputs: []))
        try assertAgree(MetricBatch(trial: "t", lease: 7, rows: []))
        try assertAgree(MetricBatch(trial: "t", lease: 7, rows: [
            MetricRow(seq: 0, name: "train/loss", value: 0.6931471805599453, epoch: 1, step: 20),
            MetricRow(seq: 1, name: awkward, value: -1e-300, epoch: nil, step: nil),
            MetricRow(seq: 2, name: "big", value: 1.7976931348623157e308),
            MetricRow(seq: 3, name: "whole", value: 2, epoch: 0, step: 0),
            MetricRow(seq: 4, name: "neg zero", value: -0.0),
        ]))
        try assertAgree(TrialReport(trial: "t", lease: 9, status: .completed, reason: nil, logTail: [], result: "{\"accuracy\":0.8}", sweep: "s"))
        try assertAgree(TrialReport(trial: "t", lease: 9, status: .interrupted, reason: awkward, logTail: [awkward, ""], result: nil, notStarted: true))
        try assertAgree(TrialReport(trial: "t", lease: 9, status: .failed, reason: "r", logTail: ["a"], result: nil, notStarted: false))
        try assertAgree(Ack(lease: 1, kind: .metrics, seq: 4))
        try assertAgree(Ack(lease: 1, kind: .foreign, seq: nil))
        try assertAgree(Ack(lease: 1, kind: .checkpoint, seq: nil, checkpoint: "epoch-2-step-5"))
        let checkpoint = CheckpointManifest(name: "epoch-1", files: [PinnedInput(name: "checkpoints/epoch-1/state.json", sha256: "ab", size: 900),
                                                                      PinnedInput(name: awkward, sha256: "cd", size: 1 << 40)])
        try assertAgree(Assign(trial: "t", lease: 8, attempt: 2, config: "{}", sweep: "s", inputs: [], checkpoint: checkpoint))
    }

    /// NaN is not Equatable to itself, so the non-finite values are checked one by one.
    func testNonFiniteMetricsTravelAsTheirStrings() throws {
        let batch = MetricBatch(trial: "t", lease: 1, rows: [
            MetricRow(seq: 0, name: "a", value: .nan), MetricRow(seq: 1, name: "b", value: .infinity), MetricRow(seq: 2, name: "c", value: -.infinity),
        ])
        let text = String(decoding: batch.json, as: UTF8.self)
        XCTAssertTrue(text.contains("\"value\":\"nan\"") && text.contains("\"value\":\"inf\"") && text.contains("\"value\":\"-inf\""), text)
        for decoded in [try MetricBatch(json: batch.json), try MetricBatch(json: Array(try encoder.encode(batch)))] {
            XCTAssertTrue(decoded.rows[0].value.isNaN)
            XCTAssertEqual(decoded.rows[1].value, .infinity)
            XCTAssertEqual(decoded.rows[2].value, -.infinity)
        }
    }

    func testTheReaderTakesWhatJSONAllows() throws {
        let spaced = " { \"rows\" : [ { \"value\" : 25e-1 , \"seq\" : 1.0e1 , \"name\" : \"\\u00e9\\ud83c\\udfbb\\/\" , \"epoch\" : null , \"extra\" : [ { \"deep\" : [ true , false , null , -0.5 ] } ] } ] ,\n\t\"lease\" : 2 , \"trial\" : \"t\" , \"trial\" : \"u\" }\r\n "
        let batch = try MetricBatch(json: Array(spaced.utf8))
        XCTAssertEqual(batch, MetricBatch(trial: "u", lease: 2, rows: [MetricRow(seq: 10, name: "é🎻/", value: 2.5)]))
    }

    func testBadTextIsRefusedWithItsPlace() {
        func failure<T: WireBody>(_ type: T.Type, _ text: String) -> String {
            do {
                _ = try T(json: Array(text.utf8))
                return "accepted"
            } catch { return error.description }
        }
        XCTAssertEqual(failure(Ready.self, "{}"), "missing credit")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":1.5}"), "credit: 1.5 is not an integer that fits in Int")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":99999999999999999999}"), "credit: 99999999999999999999 does not fit in Int")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":01}"), "credit: '0' at byte 10 where an integer was expected")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":1} x"), "'x' at byte 13 after the value")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":1"), "the text ends where ',' or '}' was expected")
        XCTAssertEqual(failure(Ready.self, "{\"credit\":1,}"), "'}' at byte 12 where a key was expected")
        XCTAssertEqual(failure(Ack.self, "{\"lease\":1,\"kind\":\"maybe\"}"), "kind: \"maybe\" is not a valid Kind")
        XCTAssertEqual(failure(MetricBatch.self, "{\"trial\":\"t\",\"lease\":1,\"rows\":[{\"seq\":0,\"name\":\"x\"}]}"), "rows.0: missing value")
        XCTAssertEqual(failure(MetricBatch.self, "{\"trial\":\"t\",\"lease\":1,\"rows\":[{\"seq\":0,\"name\":\"x\",\"value\":\"lots\"}]}"),
                       "rows.0.value: expected a number, found the string \"lots\"")
        XCTAssertEqual(failure(TrialReport.self, "{\"trial\":\"a\u{01}\"}"), "trial: an unescaped control character in a string at byte 11")
        XCTAssertEqual(failure(TrialReport.self, "{\"trial\":\"\\q\"}"), "trial: an unknown escape '\\q' at byte 10")
        XCTAssertEqual(failure(TrialReport.self, "{\"trial\":\"\\ud83c\"}"), "trial: a high surrogate without its low half at byte 10")
        XCTAssertEqual(failure(TrialReport.self, "{\"trial\":\"\\u12\"}"), "trial: a \\u escape with a non-hex digit at byte 14")
        XCTAssertEqual(failure(TrialReport.self, "{\"trial\":\"abc"), "trial: a string not closed before the end")
        XCTAssertEqual(failure(Ready.self, "[1]"), "'[' at byte 0 where an object was expected")
        XCTAssertEqual(failure(Ready.self, ""), "the text ends where an object was expected")
        XCTAssertEqual(failure(Ready.self, "{\"x\":tru}"), "x: 't' at byte 5 where true or false was expected")
        let invalidUTF8: [UInt8] = Array("{\"trial\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        XCTAssertThrowsError(try TrialReport(json: invalidUTF8)) { XCTAssertEqual(($0 as? JSONReader.Failure)?.description, "trial: a string that is not UTF-8") }
    }

    /// A hostile frame cannot recurse the reader off its stack: deep nesting in a skipped field is refused.
    func testDeepNestingIsRefused() {
        let deep = "{\"credit\":1,\"x\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        XCTAssertThrowsError(try Ready(json: Array(deep.utf8))) {
            XCTAssertEqual(($0 as? JSONReader.Failure)?.reason, "nested deeper than 64 levels")
        }
        let fine = "{\"credit\":1,\"x\":" + String(repeating: "[", count: 60) + String(repeating: "]", count: 60) + "}"
        XCTAssertEqual(try Ready(json: Array(fine.utf8)), Ready(credit: 1))
    }
}
