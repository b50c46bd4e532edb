import Foundation
import Sweep
@testable import SweepApp
import TestSupport
import TrialContract
import XCTest

/// `lpft sweep status` on a journal written here.
final class SweepStatusTests: XCTestCase {
    /// A settled sweep of `count` completed trials, each with a paper-sized config and a result.
    func journal(trials count: Int) throws -> Journal {
        let journal = try Journal(directory: try temporaryDirectory(self))
        let settings = (0..<30).map { "\"setting_\($0)\":\($0)" }.joined(separator: ",")
        try journal.write { w in
            for i in 0..<count {
                let id = String(format: "%016x", i)
                let config = "{\"ft\":{\"epochs\":10,\"lr\":1e-05},\"method\":\"noop\",\"seed\":\(i),\(settings),\"task\":\"rt-polarity\"}"
                let result = "{\"metrics\":{\"test/accuracy\":0.\(i % 97 + 1),\"test/ece\":0.05,\"val/accuracy\":0.5},\"status\":\"completed\"}"
                try w.addTrial(id: id, position: i, axes: "{\"seed\":\(i)}", config: config, at: 0)
                let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 1)
                try w.endAttempt(lease: lease, state: .completed, at: 2, result: result)
                try w.updateTrial(id, state: .completed, chargedAttempts: 0, result: result, finishedAt: 2)
            }
        }
        return journal
    }

    /// `--json` holds each trial's config, metrics, state and attempts as the journal has them.
    /// Its time against the plain status's (issue 36: within 2×) is a benchmark, not a test
    /// (BENCHMARKS.md, "`sweep status --json`"): a shared machine's noise decides wall clocks.
    func testStatusJSONIsTheJournalsTrials() throws {
        let journal = try journal(trials: 3000)
        let status = SweepStatus(name: "s", failures: 10, rank: TrialMetric.validationAccuracy)
        let text = try status.json(journal)

        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(object["counts"] as? [String: Int], ["pending": 0, "running": 0, "completed": 3000, "failed": 0, "pruned": 0])
        let trials = try XCTUnwrap(object["trials"] as? [[String: Any]])
        XCTAssertEqual(trials.count, 3000)
        let last = try XCTUnwrap(trials.last)
        XCTAssertEqual(last["id"] as? String, String(format: "%016x", 2999))
        XCTAssertEqual((last["config"] as? [String: Any])?["seed"] as? Int, 2999)
        XCTAssertEqual(((last["config"] as? [String: Any])?["ft"] as? [String: Any])?["lr"] as? Double, 1e-05)
        XCTAssertEqual(last["metrics"] as? [String: Double], ["test/accuracy": 0.9, "test/ece": 0.05, "val/accuracy": 0.5])
        XCTAssertEqual(last["state"] as? String, "completed")
        XCTAssertEqual(last["attempts"] as? Int, 1)
    }

    /// JSON strings as JSON spells them: quotes, backslashes and control characters escaped.
    func testQuotedEscapesWhatJSONRequires() throws {
        let text = "a\"b\\c\nd\te\u{1}f/é"
        let quoted = SweepStatus.quoted(text)
        XCTAssertEqual(quoted, #""a\"b\\c\nd\te\u0001f/é""#)
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: .fragmentsAllowed) as? String, text)
    }
}

extension SweepStatusTests {
    /// `sweep status` names a trial that completed at chance, from the records it reads.
    func testStatusFlagsADegenerateTrial() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.addTrial(id: "stuck", position: 0, axes: #"{"seed":1}"#, config: #"{"temperature":"fit"}"#, at: 0)
            let result = #"{"status":"completed","metrics":{"validation/accuracy":0.5,"validation/chance":0.5,"temperature":1000}}"#
            let lease = try w.startAttempt(trial: "stuck", number: 1, worker: "w", host: "h", at: 0)
            try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
            try w.updateTrial("stuck", state: .completed, chargedAttempts: 0, result: result)
        }
        let summary = try SweepStatus(name: "s", failures: 5, rank: "validation/accuracy").summary(journal)
        XCTAssertTrue(summary.contains("degenerate (completed, numbers not to be trusted as they stand): 1"), summary)
        XCTAssertTrue(summary.contains(#"stuck {"seed":1}: validation accuracy 0.500 is at chance"#), summary)
        XCTAssertTrue(summary.contains("fitted temperature 1000 is at its bound"), summary)
    }
}
