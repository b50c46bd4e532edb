import Foundation
import TestSupport
import XCTest

/// `lpft sweep plan` with the real trial-config validation behind it.
final class SweepPlanCommandTests: XCTestCase {
    func testTheDemoSweepPlansAndABadTrialIsNamed() throws {
        let demo = Support.projectRoot.appendingPathComponent("sweeps/demo.yaml").path
        let run = try Support.lpft(["sweep", "plan", demo])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.hasSuffix("14 trial(s)\n"), run.output)
        let json = try Support.lpft(["sweep", "plan", "--json", demo])
        let ids = json.output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, 14)

        let bad = try temporaryDirectory(self).appendingPathComponent("bad.yaml")
        try "base: {task: rt-polarity}\ngrid:\n  method: [ft, lora]\n  lora.rank: {values: [0], when: {method: [lora]}}\n".write(to: bad, atomically: true, encoding: .utf8)
        let failed = try Support.lpft(["sweep", "plan", bad.path])
        XCTAssertNotEqual(failed.status, 0)
    }
}
