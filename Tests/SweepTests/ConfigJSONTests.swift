import Foundation
import Sweep
import XCTest

/// `ConfigValue.parse(json:)`, which reads the journal's axes, configs and results: the values
/// `JSONSerialization` gave, numbers read exactly, and hostile text refused at its place.
final class ConfigJSONTests: XCTestCase {
    func parse(_ text: String) throws -> ConfigValue { try ConfigValue.parse(json: text) }

    func testDocumentsReadAsJSONSerializationReadThem() throws {
        let documents = [
            #"{"method":"lp-ft","ft":{"lr":1e-05,"epochs":10,"clip_norm":1},"ood":["tweets-sentiment"],"eval_examples":null,"checkpoints":true}"#,
            #"{"a":1.0,"b":1,"c":1e-05,"d":true,"e":2.5,"f":1e20,"g":-0.0,"i":0,"j":false,"k":1E2,"l":-3,"n":null,"o":[1,"x",[],{}],"p":9007199254740993,"q":1.5e300}"#,
            #"{"m":"\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","raw":"é😀 ✓","empty":""}"#,
            " [ 1 , { \"k\" : [ ] } , \"s\" ]\n",
            "\"just text\"", "-12", "0.5", "true", "null",
        ]
        for text in documents {
            let expected = ConfigValue(try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed))
            XCTAssertEqual(try parse(text), expected, text)
        }
    }

    /// As `JSONSerialization` and `ConfigValue.init(_: Any)` did: an integral value that fits
    /// `Int` is an integer however it is written; anything else a number.
    func testIntegralNumbersAreIntegers() throws {
        let cases: [(String, ConfigValue)] = [
            ("1.0", .integer(1)), ("1e2", .integer(100)), ("-0.0", .integer(0)), ("-0", .integer(0)),
            ("9223372036854775807", .integer(.max)), ("-9223372036854775808", .integer(.min)),
            ("9223372036854775808", .number(9223372036854775808)), ("-9223372036854775809", .number(-0x1p63)) /* the nearest Double, not Int.min */, ("1e20", .number(1e20)),
            ("2.5", .number(2.5)), ("-1.5e-7", .number(-1.5e-7)),
        ]
        for (text, value) in cases { XCTAssertEqual(try parse(text), value, text) }
    }

    /// Each number is the `Double` nearest its digits, as Swift's own literal; on Linux
    /// `JSONSerialization` reads some a few units in the last place away (this result's F1, one).
    func testNumbersAreReadExactly() throws {
        XCTAssertEqual(try parse("0.7461104126850324"), .number(0.7461104126850324))
        XCTAssertEqual(try parse("120.26645561800001"), .number(120.26645561800001))
        var random = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let x = Double(bitPattern: random.next() & 0x3FEF_FFFF_FFFF_FFFF | 0x0010_0000_0000_0000) // finite, normal, below 1
            XCTAssertEqual(try parse("\(x)"), .number(x), "\(x)")
        }
        // Where metrics and learning rates live: 1e-8 to 1e4.
        for _ in 0..<2000 {
            let x = random.unit() * pow(10, Double(random.below(13) - 8))
            guard x != x.rounded() else { continue }
            XCTAssertEqual(try parse("\(x)"), .number(x), "\(x)")
        }
    }

    /// Whatever `JSONEncoder` writes of a `ConfigValue` reads back as the same value.
    func testEncodedValuesReadBack() throws {
        var random = SplitMix64(seed: 11)
        let alphabet = Array("aé\"\\\n\u{1}😀/ x")
        func value(_ depth: Int) -> ConfigValue {
            switch random.next() % (depth > 3 ? 5 : 7) {
            case 0: return .integer(Int(truncatingIfNeeded: random.next()))
            case 1: return .number(Double(random.next() % 1_000_000) / 1024 + 1.0 / 3) // never integral
            case 2: return .bool(random.next() % 2 == 0)
            case 3: return .null
            case 4: return .string(String((0..<random.next() % 6).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }))
            case 5: return .list((0..<random.next() % 4).map { _ in value(depth + 1) })
            default: return .mapping(Dictionary((0..<random.next() % 4).map { i in ("k\(i)\"é", value(depth + 1)) }) { a, _ in a })
            }
        }
        for _ in 0..<500 {
            let v = value(0)
            let text = String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
            XCTAssertEqual(try parse(text), v, text)
        }
    }

    /// Each refusal says where reading stopped and why.
    func testMalformedTextIsRefusedAtItsPlace() {
        let cases: [(String, String)] = [
            ("", "the text ends where a number was expected"),
            (#"{"a":1,}"#, "'}' at byte 7 where a key was expected"),
            ("[1,]", "1: ']' at byte 3 where a number was expected"),
            ("01", "'0' at byte 0 where a number was expected"),
            ("1.", "the text ends where a digit was expected"),
            ("\"a\u{1}b\"", "an unescaped control character in a string at byte 2"),
            (#""\ud800x""#, "a high surrogate without its low half at byte 1"),
            (#""\ud83d \ude00""#, "a high surrogate without its low half at byte 1"),
            (#""\x""#, "an unknown escape '\\x' at byte 1"),
            (#""\u12g4""#, "a \\u escape with a non-hex digit at byte 5"),
            (#""abc"#, "a string not closed before the end"),
            ("{} {}", "'{' at byte 3 after the value"),
            ("tru", "'t' at byte 0 where true or false was expected"),
            ("nul", "'n' at byte 0 where a value was expected"),
            (#"{"a" 1}"#, "'1' at byte 5 where ':' was expected"),
            (#"{"a":{"b":[1,x]}}"#, "a.b.1: 'x' at byte 13 where a number was expected"),
            ("1e999", "1e999 is out of range for a Double"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try parse(text), text) { XCTAssertEqual("\($0)", message, text) }
        }
        XCTAssertNil(ConfigValue(json: "[1,]"))
    }

    /// A worker's result is read by recursion: nesting past the reader's limit is refused, not a crash.
    func testNestingIsBounded() throws {
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertThrowsError(try parse(deep)) { XCTAssertTrue("\($0)".hasSuffix("nested deeper than 64 levels"), "\($0)") }
    }
}
