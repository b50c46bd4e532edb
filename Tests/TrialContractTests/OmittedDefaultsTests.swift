import Foundation
import Training
import TrialContract
import XCTest

/// The settings a canonical config leaves out at their default: Training writes by the table
/// that readers fill back in from, so the two ends cannot drift apart.
final class OmittedDefaultsTests: XCTestCase {
    func testTheTableHoldsTrialConfigsOwnDefaultsAndTheyAreLeftOut() throws {
        let config = TrialConfig(task: .init(name: "rt-polarity"), method: .ft)
        XCTAssertEqual(config.pooling.rawValue, OmittedDefaults.pooling)
        XCTAssertEqual(config.ft.selectBy.rawValue, OmittedDefaults.ftSelectBy)
        let written = config.jsonObject()
        XCTAssertNil(written["pooling"], "a default pooling keeps the trial ids planned before pooling existed")
        XCTAssertNil((written["ft"] as? [String: Any])?["select_by"])

        var changed = config
        changed.pooling = .mean
        changed.ft.selectBy = .nll
        let other = changed.jsonObject()
        XCTAssertEqual(other["pooling"] as? String, "mean")
        XCTAssertEqual((other["ft"] as? [String: Any])?["select_by"] as? String, "nll")
        XCTAssertEqual(Set(OmittedDefaults.byPath.keys), ["pooling", "ft.select_by"])
    }
}
