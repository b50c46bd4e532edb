import Config
import Foundation
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

    /// 40 lines of aliases of aliases would expand to 2^40 values; refused from the node tree,
    /// which shares every alias, before any value is made.
    func testAnAliasBombIsRefusedQuickly() throws {
        let bomb = "a0: &a0 [x, x]\n" + (1...39).map { "a\($0): &a\($0) [*a\($0 - 1), *a\($0 - 1)]\n" }.joined()
        XCTAssertLessThan(bomb.utf8.count, 1000)
        let start = Date()
        XCTAssertThrowsError(try ConfigReader.parse(bomb, file: "bomb.yaml")) {
            XCTAssertEqual("\($0)", "bomb.yaml: its YAML aliases (*name) expand it to more than 1000000 values: write the values out, or alias less")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "refused in one count of a million nodes, not by expanding")
    }

    func testModestAliasesStillWork() throws {
        let r = try ConfigReader.parse("methods: &m [lp, ft]\ngrid: {method: *m}\n", file: "a.yaml")
        XCTAssertEqual(try r.strings("methods"), ["lp", "ft"])
        XCTAssertEqual(try r.section("grid")?.strings("method"), ["lp", "ft"])
    }

    /// A file over the cap is refused by its size, from its first 1 MiB + 1 bytes: it is never
    /// parsed (its YAML here is broken after the cap, and the error is not a YAML error).
    func testAnOversizedFileIsRefusedBeforeParsing() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-big-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        let text = "base: {method: noop}\n" + String(repeating: "# padding\n", count: ConfigReader.maximumFileSize / 10) + "broken: [\n"
        try text.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigReader.text(contentsOf: url)) {
            XCTAssertEqual("\($0)", "\(url.path): \(text.utf8.count) bytes, more than the 1 MiB a config or sweep spec may have: vary trials with grid axes rather than listing them")
        }
        let fits = String(text.prefix(ConfigReader.maximumFileSize))
        try fits.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ConfigReader.text(contentsOf: url), fits, "a file of exactly the cap is read")
    }
}
