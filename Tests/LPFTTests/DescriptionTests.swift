import Foundation
import TestSupport
import TrialContract
import XCTest

/// What `lpft` says about itself: its version.
final class DescriptionTests: XCTestCase {
    func testVersionNamesTheVersionCommitAndBuildDate() throws {
        let run = try Support.lpft(["--version"])
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(run.output, LPFTVersion.description + "\n")
        let pattern = #"^lpft \d+\.\d+\.\d+, commit ([0-9a-f]{12}(-dirty)?|unknown), built \d{4}-\d{2}-\d{2}\n$"#
        XCTAssertNotNil(run.output.range(of: pattern, options: .regularExpression), run.output)
    }
}
