import Foundation
import GRDB
@testable import Sweep
import TestSupport
import XCTest

/// Each journal's sweep id: what ASSIGN and RESULT name so that sweeps never mix.
final class SweepIDTests: XCTestCase {
    func testEachJournalHasItsOwnIdThatSurvivesReopening() throws {
        let dir = try temporaryDirectory(self)
        let a = try Journal(directory: dir.appendingPathComponent("a")).sweepID()
        let b = try Journal(directory: dir.appendingPathComponent("b")).sweepID()
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a.count, 16)
        XCTAssertTrue(a.allSatisfy(\.isHexDigit), a)
        XCTAssertEqual(try Journal(directory: dir.appendingPathComponent("a")).sweepID(), a)
        XCTAssertEqual(try Journal(readingDirectory: dir.appendingPathComponent("a")).sweepID(), a)
    }

    /// A journal made before sweep ids existed gains one when a coordinator opens it, and
    /// keeps every trial.
    func testAJournalThatPredatesSweepIdsGetsOneAndKeepsItsTrials() throws {
        let dir = try temporaryDirectory(self)
        let old = try Journal(directory: dir)
        try old.write { w in
            try w.addTrial(id: "t0", position: 0, axes: "{}", config: "{\"method\":\"noop\"}", at: 0)
            // Back to the shape of a journal written before the migration.
            try w.db.execute(sql: "DELETE FROM sweep WHERE key = ?", arguments: [Journal.sweepIDKey])
            try w.db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3 sweep id'")
        }
        XCTAssertThrowsError(try Journal(readingDirectory: dir).sweepID()) { error in
            XCTAssertTrue("\(error)".contains("open it once with `lpft sweep run`"), "\(error)")
        }
        let upgraded = try Journal(directory: dir)
        XCTAssertEqual(try upgraded.sweepID().count, 16)
        XCTAssertEqual(try upgraded.trials().map(\.id), ["t0"])
    }
}
