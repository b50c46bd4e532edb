@testable import Sweep
import Foundation
import GRDB
import TestSupport
import XCTest

/// `lpft sweep run --durability`: what SQLite is told about syncing each commit.
final class JournalDurabilityTests: XCTestCase {
    func testEachDurabilitySetsSQLitesSynchronousLevel() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertEqual(try Journal(directory: dir.appendingPathComponent("a")).synchronousLevel(), 1, "the default is NORMAL")
        XCTAssertEqual(try Journal(directory: dir.appendingPathComponent("b"), durability: .full).synchronousLevel(), 2, "FULL syncs every commit")
        // The setting belongs to the connection, not the file: a journal reopened as normal is normal again.
        XCTAssertEqual(try Journal(directory: dir.appendingPathComponent("b")).synchronousLevel(), 1)
    }

    /// A checkpoint leaves every commit in the journal file itself, readers or not: one that
    /// keeps the journal open, and one in the middle of a read of an older snapshot, which the
    /// checkpoint waits for (issue 36: a copy of `journal.sqlite` alone had lost commits).
    func testACheckpointPutsEveryCommitInTheFileDespiteReaders() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for i in 0..<10 { try w.addTrial(id: "t\(i)", position: i, axes: "{}", config: "{}", at: 0) }
        }
        let idle = try Journal(readingDirectory: dir)
        _ = try idle.trials()
        let reading = try Journal(readingDirectory: dir)
        let (begun, release) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        Thread.detachNewThread {
            _ = try? reading.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials")
                begun.signal()
                release.wait()
            }
        }
        begun.wait()
        try journal.write { w in
            for i in 0..<10 { try w.updateTrial("t\(i)", state: .completed, chargedAttempts: 0, result: "{}", finishedAt: 1) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { release.signal() }
        let start = Date()
        XCTAssertEqual(try journal.checkpoint(), 0, "every page in the file")
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.3, "it waited for the read to end")

        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appendingPathComponent(Journal.fileName), to: copy.appendingPathComponent(Journal.fileName))
        XCTAssertEqual(try Journal(readingDirectory: copy).trials().filter { $0.state == .completed }.count, 10)
        withExtendedLifetime((idle, reading)) {}
    }
}
