import Sweep
import XCTest

final class SummaryTests: XCTestCase {
    /// Three equal values have no spread, though 0.05 · 3 / 3 is not 0.05 in binary: a report
    /// printed "0.05 ± 8.5e-18" for a group whose trials agreed.
    func testEqualValuesHaveTheirValueAndNoSpread() throws {
        let s = try XCTUnwrap(Summary([0.05, 0.05, 0.05]))
        XCTAssertEqual(s.mean, 0.05)
        XCTAssertEqual(s.std, 0)
        XCTAssertEqual(s.n, 3)
    }

    /// Sample standard deviation (n − 1) over the finite values only.
    func testSpreadIsTheSampleStandardDeviationOfTheFiniteValues() throws {
        let s = try XCTUnwrap(Summary([1, 2, 3, .nan, .infinity]))
        XCTAssertEqual(s.mean, 2)
        XCTAssertEqual(s.std, 1)
        XCTAssertEqual(s.n, 3)
        XCTAssertNil(Summary([.nan]))
    }
}
