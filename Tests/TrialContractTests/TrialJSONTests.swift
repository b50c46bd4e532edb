import Foundation
import TrialContract
import XCTest

/// The numbers a trial writes reach the journal as written: the worker reads event lines and
/// results with `TrialJSON`, not corelibs' `JSONSerialization`, which reads some numbers a few
/// units in the last place away.
final class TrialJSONTests: XCTestCase {
    /// Figures of a real FT trial (seed 1001, epochs 1 and 2) that corelibs' `JSONSerialization`
    /// read 1–4 ulps off on their way into `paper-rt`'s journal, then 4,000 drawn doubles.
    func testMetricAndResultLinesCarryEveryNumberExactly() throws {
        var numbers = [0.38471398952192276, 0.8284389489953632, 0.5163011596214061, 0.8168469860896446]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<4_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let bits = (state >> 12) | 0x3FF0_0000_0000_0000 // [1, 2) with a random mantissa
            let scale = Double(sign: .plus, exponent: Int(state % 40) - 30, significand: 1)
            numbers.append((Double(bitPattern: bits) - 1) * scale)
        }
        for v in numbers {
            guard case let .metric(_, read, epoch, step)? = TrialEvent(line: TrialEvent.metric(name: "val/accuracy", value: v, epoch: 2, step: 1276).line) else {
                return XCTFail("a metric line of \(v) did not read back as a metric")
            }
            XCTAssertEqual(read.bitPattern, v.bitPattern, "\(v)")
            XCTAssertEqual(epoch, 2)
            XCTAssertEqual(step, 1276)
        }
        let result: [String: Any] = ["status": "completed", "metrics": Dictionary(uniqueKeysWithValues: numbers.prefix(500).enumerated().map { ("m\($0.offset)", $0.element) })]
        guard case let .result(object)? = TrialEvent(line: TrialEvent.result(result).line), let metrics = object["metrics"] as? [String: Any] else {
            return XCTFail("the result line did not read back as a result")
        }
        for (i, v) in numbers.prefix(500).enumerated() {
            XCTAssertEqual(try XCTUnwrap(metrics["m\(i)"] as? Double).bitPattern, v.bitPattern)
        }
    }

    /// Results keep their shape: what callers cast to (`Int`, `Double`, `Bool`, strings, lists,
    /// null) reads as `JSONSerialization` made it; what is not JSON is nil.
    func testValuesCastAsJSONSerializationsDid() throws {
        let object = try XCTUnwrap(TrialJSON.value(#"{"epoch": 3, "lr": 1e-05, "whole": 1.0, "ok": true, "none": null, "name": "ft", "rows": [1, "a"]}"#) as? [String: Any])
        XCTAssertEqual(object["epoch"] as? Int, 3)
        XCTAssertEqual(object["lr"] as? Double, 1e-05)
        XCTAssertEqual(object["whole"] as? Int, 1)
        XCTAssertEqual(object["ok"] as? Bool, true)
        XCTAssertTrue(object["none"] is NSNull)
        XCTAssertEqual(object["name"] as? String, "ft")
        XCTAssertEqual((object["rows"] as? [Any])?.count, 2)
        XCTAssertNil(TrialJSON.value(#"{"a": 1,}"#))
        XCTAssertNil(TrialJSON.value("lpft: resuming after FT epoch 7"))
        XCTAssertNil(TrialEvent(line: "[1, 2]"), "a line that is JSON but not an event object is a log line")
    }

    /// The coordinator splits a result's predictions from the rest before journaling it: the
    /// rest's numbers must survive that too.
    func testSeparatingPredictionsKeepsTheResultsNumbers() throws {
        let v = 0.38471398952192276
        let text = String(decoding: try JSONNumber.data(["metrics": ["ft/loss": v], "predictions": ["labels": ["a", "b"]]] as [String: Any]), as: UTF8.self)
        let (rest, predictions) = TrialResultSchema.separatingPredictions(text)
        XCTAssertNotNil(predictions)
        let metrics = try XCTUnwrap((TrialJSON.value(rest) as? [String: Any])?["metrics"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(metrics["ft/loss"] as? Double).bitPattern, v.bitPattern)
    }
}
