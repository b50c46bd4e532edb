import Foundation
import Sweep
import TestSupport
import XCTest

/// The ETA on simulated histories: kinds, work in flight, slots, and that it does not grow
/// while trials run as expected (the rate-based one did: 427 s → 792 s).
final class SweepETATests: XCTestCase {
    func timing(_ kind: String, _ state: TrialState, duration: Double? = nil, startedAt: Double? = nil) -> TrialTiming {
        TrialTiming(kinds: [.axes(kind), .method("x"), .any], state: state, duration: duration, startedAt: startedAt)
    }

    func testPendingTrialsQueueOnTheBusySlotsWithTheirKindsDurations() throws {
        let now = 1000.0
        let history = [
            timing("a", .completed, duration: 10), timing("a", .completed, duration: 10),
            timing("b", .completed, duration: 100),
            timing("a", .running, startedAt: now - 4), timing("b", .running, startedAt: now - 30),
            timing("a", .pending), timing("a", .pending), timing("b", .pending),
        ]
        // Slots free at 6 s and 70 s; a → 16, a → 26, b → 126 on the first slot.
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(history, now: now)), 126, accuracy: 1e-9)
    }

    /// Six trials of 100 s on two slots, two running: as time passes with no completion, the
    /// estimate falls by the time passed; a rate of completions would have risen.
    func testTheEstimateFallsAsInFlightTrialsRunRatherThanGrowing() throws {
        let start = 1000.0
        let history = (0..<4).map { _ in timing("a", .completed, duration: 100) }
            + [timing("a", .running, startedAt: start), timing("a", .running, startedAt: start)]
            + (0..<6).map { _ in timing("a", .pending) }
        let first = try XCTUnwrap(SweepETA.seconds(history, now: start + 10))
        let later = try XCTUnwrap(SweepETA.seconds(history, now: start + 60))
        XCTAssertEqual(first, 90 + 300, accuracy: 1e-9)
        XCTAssertEqual(later, first - 50, accuracy: 1e-9)
    }

    func testATrialKindWithoutCompletionsBorrowsFromTheBroaderKind() throws {
        let history = [timing("a", .completed, duration: 20), timing("c", .running, startedAt: 0), timing("c", .pending)]
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(history, now: 5)), 15 + 20, accuracy: 1e-9)
    }

    /// LP-FT before any has completed: an LP and an FT one after another, not the mean of
    /// every trial (LP takes minutes, FT hours).
    func testATwoStageMethodWithoutCompletionsCostsItsStages() throws {
        func trial(_ method: String, _ state: TrialState, duration: Double? = nil, startedAt: Double? = nil) -> TrialTiming {
            TrialTiming(kinds: TrialTiming.kinds(axes: #"{"method":"\#(method)"}"#, method: method), state: state, duration: duration, startedAt: startedAt)
        }
        XCTAssertEqual(TrialTiming.kinds(axes: "{}", method: "lp-lora"), [.axes("{}"), .method("lp-lora"), .stages([.method("lp"), .method("lora")]), .any])
        XCTAssertEqual(TrialTiming.kinds(axes: "{}", method: "ft"), [.axes("{}"), .method("ft"), .any])
        let done = [trial("lp", .completed, duration: 10), trial("lp", .completed, duration: 30), trial("ft", .completed, duration: 1000)]
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(done + [trial("lp-ft", .running, startedAt: 100)], now: 400)), 20 + 1000 - 300, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(done + [trial("ft", .running, startedAt: 0), trial("lp-ft", .pending)], now: 0)), 1000 + 1020, accuracy: 1e-9)
        // Without an FT to go by, the stages say nothing and every trial's mean stands in.
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(done.prefix(2) + [trial("lp-ft", .running, startedAt: 0)], now: 5)), 15, accuracy: 1e-9)
    }

    func testARunningTrialCountsOnlyTheLongerDurationsOfItsKind() throws {
        let history = [timing("a", .completed, duration: 10), timing("a", .completed, duration: 50), timing("a", .running, startedAt: 0)]
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(history, now: 20)), 30, accuracy: 1e-9, "past 10 s only the 50 s trial is like it")
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(history, now: 80)), 0, accuracy: 1e-9, "outlasted every one: about to end")
    }

    func testNoEstimateWithoutCompletionsOrWithoutRunningTrialsAndZeroWhenSettled() {
        XCTAssertNil(SweepETA.seconds([timing("a", .running, startedAt: 0), timing("a", .pending)], now: 1))
        XCTAssertNil(SweepETA.seconds([timing("a", .completed, duration: 1), timing("a", .pending)], now: 1), "nothing runs: no progress to time")
        XCTAssertEqual(SweepETA.seconds([timing("a", .completed, duration: 1), timing("a", .failed)], now: 1), 0)
    }

    /// The journal's timings: kinds from axes without the seed and from the method, the winning
    /// attempt's duration, the running attempt's start.
    func testTheJournalGivesEachTrialItsKindsDurationAndStart() throws {
        let journal = try Journal(directory: temporaryDirectory(self))
        try journal.write { w in
            try w.addTrial(id: "t1", position: 0, axes: #"{"seed":1,"lr":0.1}"#, config: #"{"method":"ft"}"#, at: 0)
            try w.addTrial(id: "t2", position: 1, axes: #"{"seed":2,"lr":0.1}"#, config: #"{"method":"ft"}"#, at: 0)
            let lease = try w.startAttempt(trial: "t1", number: 1, worker: "w", host: "h", at: 10)
            try w.endAttempt(lease: lease, state: .completed, at: 35)
            try w.updateTrial("t1", state: .completed, chargedAttempts: 0)
            _ = try w.startAttempt(trial: "t2", number: 1, worker: "w", host: "h", at: 40)
        }
        let timings = try journal.trialTimings()
        XCTAssertEqual(timings, [
            TrialTiming(kinds: [.axes(#"{"lr":0.1}"#), .method("ft"), .any], state: .completed, duration: 25),
            TrialTiming(kinds: [.axes(#"{"lr":0.1}"#), .method("ft"), .any], state: .running, startedAt: 40),
        ])
        XCTAssertEqual(try XCTUnwrap(SweepETA.seconds(timings, now: 50)), 15, accuracy: 1e-9)
    }
}
