import Foundation
@testable import Reports
@testable import Sweep
import TestSupport
import XCTest

/// A sweep with trials its `prune:` rule stopped, as the report shows it.
final class PrunedReportTests: XCTestCase {
    func testPrunedTrialsAreCountedApartAndNotSummarised() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (seed, state) in [(1, TrialState.completed), (2, .completed), (3, .pruned)] {
                let id = "ft-\(seed)"
                try w.addTrial(id: id, position: seed, axes: "{\"method\":\"ft\",\"seed\":\(seed)}", config: "{}", at: 0)
                let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 10)
                let result = state == .completed
                    ? "{\"status\":\"completed\",\"metrics\":{\"test/accuracy\":0.\(7 + seed)},\"timings\":{\"cpu\":\(100 * seed)}}"
                    : "{\"status\":\"interrupted\",\"metrics\":{\"val/accuracy\":0.5},\"pruned\":{\"epoch\":1},\"timings\":{\"cpu\":40}}"
                try w.endAttempt(lease: lease, state: state == .completed ? .completed : .pruned, at: 11, result: state == .completed ? result : nil)
                try w.updateTrial(id, state: state, chargedAttempts: 0, result: result, reason: state == .pruned ? "pruned at epoch 1" : nil)
            }
        }
        let report = SweepReport(results: try SweepResults(journal: journal), directory: dir.path)
        let group = try XCTUnwrap(report.groups.first)
        XCTAssertEqual(SweepReport.count(group), "2 (+1 pruned)", "pruned on purpose: not missing, no ⚠")
        XCTAssertEqual(group.summary("test/accuracy")?.n, 2, "only completed trials are summarised")
        XCTAssertEqual(report.stateLine, "3 trial(s): 2 completed, 1 pruned")
        XCTAssertTrue(report.markdown().contains("| pruned | 1 |"), report.markdown())
        let csv = report.csv().split(separator: "\n").map(String.init)
        XCTAssertTrue(csv.last?.hasPrefix("ft-3,pruned,1,1.000,") == true, csv.last ?? "")
        XCTAssertEqual(report.results.trials.last?.seconds, 1, "the pruned attempt is the one that counts")
        // What the search cost: the completed trials' CPU and, apart, the pruned ones'.
        XCTAssertTrue(report.markdown().contains("| ft | 2 | 1 | 2 | 200 | 300 | 1 | 40 |"), report.markdown())
    }

    /// A search's pruned configuration keeps its row in the sweep's own tables ("0 (+1 pruned)"),
    /// but has no figure to set beside the paper's, so no row there.
    func testAPrunedConfigurationIsNotSetBesideThePaper() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (i, (lr, state)) in [("1e-05", TrialState.completed), ("3e-05", .pruned)].enumerated() {
                let id = "ft-\(lr)"
                try w.addTrial(id: id, position: i, axes: "{\"method\":\"ft\",\"ft.lr\":\(lr),\"seed\":1}", config: "{}", at: 0)
                let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 10)
                let result = state == .completed ? "{\"status\":\"completed\",\"metrics\":{\"test/accuracy\":0.8}}" : "{\"status\":\"interrupted\",\"metrics\":{\"val/accuracy\":0.5}}"
                try w.endAttempt(lease: lease, state: state == .completed ? .completed : .pruned, at: 11, result: state == .completed ? result : nil)
                try w.updateTrial(id, state: state, chargedAttempts: 0, result: result, reason: state == .pruned ? "pruned at epoch 1" : nil)
            }
        }
        let report = SweepReport(results: try SweepResults(journal: journal), directory: dir.path)
        let groups = report.groups
        XCTAssertEqual(groups.map(SweepReport.count), ["1", "0 (+1 pruned)"])
        let beside = try XCTUnwrap(report.besideThePaper(.accuracy, groups: groups))
        XCTAssertEqual(beside.rows.map { Array($0.prefix(3)) }, [["ft", "1e-05", "80.00"]])
    }
}
