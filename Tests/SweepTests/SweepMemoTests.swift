import Foundation
import Sweep
import TestSupport
import XCTest

/// What a dashboard keeps between reads of a running sweep's journal (`DecodedTrials`,
/// `TrialKinds`) must give what a fresh read gives, whatever the coordinator changed between.
final class SweepMemoTests: XCTestCase {
    struct Seen: Equatable {
        var id: String, state: TrialState, axes: [String: ConfigValue], config: String, metrics: [String: Double], attempts: Int, seconds: Double?, reason: String?
    }

    func seen(_ results: SweepResults) -> [Seen] {
        results.trials.map { Seen(id: $0.id, state: $0.state, axes: $0.axes, config: $0.config, metrics: $0.metrics, attempts: $0.attempts, seconds: $0.seconds, reason: $0.reason) }
    }

    func testKeptReadsFollowResultsRequeuesRetriesAndATrialPlannedAgain() throws {
        let journal = try Journal(directory: temporaryDirectory(self))
        let memo = DecodedTrials(), kinds = TrialKinds()
        func check(_ step: String) throws {
            XCTAssertEqual(seen(try SweepResults(journal: journal, memo: memo)), seen(try SweepResults(journal: journal)), step)
            XCTAssertEqual(try journal.trialTimings(memo: kinds), try journal.trialTimings(), step)
        }
        try journal.write { w in
            try w.addTrial(id: "a", position: 0, axes: #"{"seed":1}"#, config: #"{"method":"ft","seed":1}"#, at: 1)
            try w.addTrial(id: "b", position: 1, axes: #"{"seed":2}"#, config: #"{"method":"ft","seed":2}"#, at: 1)
        }
        try check("planned")
        var lease: Int64 = 0
        try journal.write { w in lease = try w.startAttempt(trial: "a", number: 1, worker: "w", host: "h", at: 10) }
        try check("running")
        try journal.write { w in
            try w.endAttempt(lease: lease, state: .completed, at: 12, result: #"{"metrics":{"test/accuracy":0.5}}"#)
            try w.updateTrial("a", state: .completed, chargedAttempts: 0, result: #"{"metrics":{"test/accuracy":0.5}}"#, finishedAt: 12)
            let other = try w.startAttempt(trial: "b", number: 1, worker: "w", host: "h", at: 12)
            try w.endAttempt(lease: other, state: .failed, at: 13, reason: "exit 1")
            try w.updateTrial("b", state: .failed, chargedAttempts: 1, reason: "exit 1", finishedAt: 13)
        }
        try check("completed and failed")
        let settled = try SweepResults(journal: journal, memo: memo).trials
        XCTAssertEqual(settled.map(\.metrics), [["test/accuracy": 0.5], [:]])
        XCTAssertEqual(settled.map(\.attempts), [1, 1])
        XCTAssertEqual(settled.map(\.seconds), [2, nil], "the winner's duration; a failed attempt wins nothing")
        XCTAssertEqual(try journal.trialTimings(memo: kinds).map(\.duration), [2, nil])
        try journal.write { w in
            _ = try w.retryFailedTrials(at: 20)
            _ = try w.dropUnstartedTrials(notIn: ["a", "b"])
            // Dropped while it never started, then planned again from another spec: new axes and config.
            try w.addTrial(id: "c", position: 2, axes: #"{"seed":3}"#, config: #"{"method":"ft","seed":3}"#, at: 20)
        }
        try check("retried, one added")
        try journal.write { w in
            _ = try w.dropUnstartedTrials(notIn: ["a", "b"])
            try w.addTrial(id: "c", position: 2, axes: #"{"lr":0.1,"seed":3}"#, config: #"{"method":"lp","seed":3}"#, at: 30)
        }
        try check("dropped and planned again")
        let c = try XCTUnwrap(SweepResults(journal: journal, memo: memo).trials.last)
        XCTAssertEqual(c.axes, ["lr": .number(0.1), "seed": .integer(3)])
        XCTAssertEqual(try journal.trialTimings(memo: kinds).last?.kinds, [.axes(#"{"lr":0.1}"#), .method("lp"), .any])
    }
}
