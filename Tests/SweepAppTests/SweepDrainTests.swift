import Foundation
import Sweep
@testable import SweepApp
import TestSupport
import XCTest

/// `lpft sweep drain` signals only a coordinator it can be sure of: SIGUSR1 ends a process
/// that does not handle it.
final class SweepDrainTests: XCTestCase {
    func testAFreeLockHasNothingToDrain() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertThrowsError(try SweepDrain.request(dir)) { XCTAssertTrue("\($0)".contains("its lock is free"), "\($0)") }
    }

    func testALockHeldByAnotherProgramIsNotSignalled() throws {
        let dir = try temporaryDirectory(self)
        let lock = try DirectoryLock(dir, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
        defer { withExtendedLifetime(lock) {} }
        // This test process holds it: not an `lpft sweep run`, so not signalled (it would end).
        XCTAssertThrowsError(try SweepDrain.request(dir)) { XCTAssertTrue("\($0)".contains("names pid \(getpid()), which is not an lpft sweep run"), "\($0)") }
    }

    /// The lock names its holder's machine as the kernel does, so a drain on that machine
    /// recognises it.
    func testALockNamesThisMachine() throws {
        let dir = try temporaryDirectory(self)
        let lock = try DirectoryLock(dir, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
        defer { withExtendedLifetime(lock) {} }
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/proc/sys/kernel/hostname"), "Linux only: the kernel's name for this machine")
        let kernel = try String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(kernel.isEmpty)
        XCTAssertEqual(DirectoryLock.holder(dir, name: DirectoryLock.coordinatorFileName)?.host, kernel)
    }

    func testALockTakenOnAnotherMachineIsNotSignalled() throws {
        let dir = try temporaryDirectory(self)
        let lock = try DirectoryLock(dir, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
        defer { withExtendedLifetime(lock) {} }
        try "\(getpid())\nelsewhere\n".write(to: dir.appendingPathComponent(DirectoryLock.coordinatorFileName), atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try SweepDrain.request(dir)) { XCTAssertTrue("\($0)".contains("runs on elsewhere, not here"), "\($0)") }
    }
}
