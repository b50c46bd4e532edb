@testable import Sweep
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
}
