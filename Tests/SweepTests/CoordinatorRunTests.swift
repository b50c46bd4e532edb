import Foundation
@testable import Sweep
import TestSupport
import XCTest

/// A sweep's runs, read back from its journal: stopped, killed, finished, and one running now.
final class CoordinatorRunTests: XCTestCase {
    /// Run 1 is stopped, run 2 killed (its attempt declared lost by run 3), run 3 finishes.
    func testRunsEndAsTheirEventsAndAttemptsSay() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for id in ["a", "b", "c"] { try w.addTrial(id: id, position: 0, axes: "{}", config: "{}", at: 0) }
            try w.event(CoordinatorEvent.planned, at: 0)
            try w.event(CoordinatorEvent.started, at: 0.1)
            let a = try w.startAttempt(trial: "a", number: 1, worker: "w", host: "h", at: 1)
            let b = try w.startAttempt(trial: "b", number: 1, worker: "w", host: "h", at: 2)
            try w.endAttempt(lease: a, state: .completed, at: 50)
            try w.endAttempt(lease: b, state: .interrupted, at: 60)
            try w.event(CoordinatorEvent.stopped, at: 60)

            try w.event(CoordinatorEvent.planned, at: 100)
            try w.event(CoordinatorEvent.started, at: 100.1)
            let killed = try w.startAttempt(trial: "b", number: 2, worker: "w", host: "h", at: 110)
            try w.event("worker joined", at: 120)

            try w.event(CoordinatorEvent.planned, at: 199.9)
            try w.event("input changed", at: 199.9, detail: "the next run's planning, not the killed run's")
            try w.event(CoordinatorEvent.started, at: 200)
            try w.endAttempt(lease: killed, state: .lost, at: 205)
            let c = try w.startAttempt(trial: "c", number: 1, worker: "w", host: "h", at: 206)
            try w.endAttempt(lease: c, state: .completed, at: 300)
            try w.event(CoordinatorEvent.finished, at: 300)
        }
        let runs = try CoordinatorRun.history(journal)
        XCTAssertEqual(runs.map(\.ending), [.stopped, .unannounced, .finished])
        XCTAssertEqual(runs.map(\.started), [0.1, 100.1, 200])
        XCTAssertEqual(runs.map(\.ended), [60, 120, 300], "the killed run ends at its last event, not at the next run's planning")
        XCTAssertEqual(runs.map(\.attemptsStarted), [2, 1, 1])
        XCTAssertEqual(runs.map(\.attemptsEnded), [[.completed: 1, .interrupted: 1], [:], [.lost: 1, .completed: 1]],
                       "the killed run's attempt is lost in the run that declared it")
        XCTAssertEqual(CoordinatorRun.summary(runs), "3 (1 finished, 1 stopped, 1 ended without a stop)")
    }

    func testAJournalWithoutRunsHasNone() throws {
        let runs = try CoordinatorRun.history(Journal(directory: try temporaryDirectory(self)))
        XCTAssertEqual(runs, [])
        XCTAssertEqual(CoordinatorRun.summary(runs), "0")
    }

    /// The last run has no stop: it is running while a coordinator holds the directory's
    /// lock, and was killed once none does.
    func testTheLastRunWithoutAStopIsRunningOnlyWhileItsLockIsHeld() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.addTrial(id: "a", position: 0, axes: "{}", config: "{}", at: 0)
            try w.event(CoordinatorEvent.started, at: 10)
            _ = try w.startAttempt(trial: "a", number: 1, worker: "w", host: "h", at: 11)
        }
        do {
            let lock = try DirectoryLock(dir, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
            XCTAssertTrue(DirectoryLock.isHeld(dir, name: DirectoryLock.coordinatorFileName))
            let running = try CoordinatorRun.history(journal)
            XCTAssertEqual(running.map(\.ending), [.running])
            XCTAssertEqual(running[0].ended, nil)
            withExtendedLifetime(lock) {}
        }
        XCTAssertFalse(DirectoryLock.isHeld(dir, name: DirectoryLock.coordinatorFileName))
        let killed = try CoordinatorRun.history(journal)
        XCTAssertEqual(killed.map(\.ending), [.unannounced])
        XCTAssertEqual(killed[0].ended, 11)
    }
}

extension CoordinatorRunTests {
    /// `isHeld` takes a shared lock for an instant; a coordinator starting in that instant
    /// waits for it rather than reporting another coordinator.
    func testACoordinatorStartingDuringALockProbeStillGetsTheLock() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent(DirectoryLock.coordinatorFileName).path
        let probe = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        XCTAssertEqual(flock(probe, LOCK_SH | LOCK_NB), 0)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) {
            close(probe)
            released.signal()
        }
        XCTAssertNoThrow(try DirectoryLock(dir, name: DirectoryLock.coordinatorFileName, holder: "coordinator"))
        released.wait()
    }
}

extension CoordinatorRunTests {
    /// A drain that Ctrl-C overtook is a stop: only the drain's own stop says "drained".
    func testADrainOvertakenByAStopIsAStop() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.event(CoordinatorEvent.started, at: 0)
            try w.event(CoordinatorEvent.draining, at: 1)
            try w.event(CoordinatorEvent.stopped, at: 2, detail: "the coordinator was stopped")
            try w.event(CoordinatorEvent.started, at: 3)
            try w.event(CoordinatorEvent.draining, at: 4)
            try w.event(CoordinatorEvent.stopped, at: 5, detail: CoordinatorEvent.drainedStop)
        }
        XCTAssertEqual(try CoordinatorRun.history(journal).map(\.ending), [.stopped, .drained])
    }
}
