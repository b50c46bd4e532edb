import Config
import XCTest

/// The typed reads every config (trial files, sweep trials) goes through.
final class ConfigReaderTests: XCTestCase {
    func testIntegersAcceptIntegralFloatsOnly() throws {
        let r = ConfigReader(["epochs": 10.0, "rank": 8, "half": 2.5, "huge": 1e300, "word": "ten"], file: "t.yaml")
        XCTAssertEqual(try r.int("epochs"), 10, "10.0 spells the integer 10, as a JSON round trip reads it")
        XCTAssertEqual(try r.int("rank"), 8)
        XCTAssertThrowsError(try r.int("half")) { XCTAssertEqual("\($0)", "t.yaml: half: expected an integer, got 2.5") }
        XCTAssertThrowsError(try r.int("huge"), "integral but not representable as Int")
        XCTAssertThrowsError(try r.int("word"))
        XCTAssertNil(try r.int("missing"))
    }

    func testRangesAndNumbersSpelledAsText() throws {
        let r = ConfigReader(["lr": "1e-5", "epochs": 0], file: "t.yaml")
        XCTAssertEqual(try r.double("lr"), 1e-5, "YAML 1.1 reads 1e-5 as a string")
        XCTAssertThrowsError(try r.int("epochs", range: 1...100)) { XCTAssertEqual("\($0)", "t.yaml: epochs: 0 is outside 1…100") }
    }

    func testUnreadKeysAreRejected() throws {
        let r = ConfigReader(["epoch": 3], file: "t.yaml", path: "ft")
        XCTAssertNil(try r.int("epochs"))
        XCTAssertThrowsError(try r.finish()) { XCTAssertTrue("\($0)".contains("ft.epoch"), "\($0)") }
    }
}
