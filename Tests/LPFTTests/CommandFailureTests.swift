import Foundation
import Sweep
import TestSupport
import XCTest

/// `lpft worker` and `lpft sweep run` failures at run time: one line that says what failed
/// and what to do, a non-zero exit, no usage text.
final class CommandFailureTests: XCTestCase {
    func testAMalformedEndpointSaysWhatAnEndpointLooksLike() throws {
        let dir = try temporaryDirectory(self)
        assertRuntimeFailure(try runLPFT(["worker", "--connect", "garbage", "--dir", dir.path]), contains: "garbage is not a ZeroMQ endpoint: give tcp://HOST:PORT")
    }

    func testAWorkerThatNeverReachesACoordinatorSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let endpoint = "ipc://\(dir.path)/nobody.ipc"
        assertRuntimeFailure(try runLPFT(["worker", "--connect", endpoint, "--dir", dir.path, "--heartbeat", "0.1", "--liveness", "2", "--max-idle", "0.5"]),
                             contains: "no coordinator answered at \(endpoint)")
    }

    func testASweepWhoseJournalAnotherCoordinatorOwnsSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("noop.yaml")
        try "base: {method: noop}\ngrid:\n  seed: [1, 2]\n".write(to: spec, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep")
        let held = try DirectoryLock(sweep, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
        defer { withExtendedLifetime(held) {} }
        assertRuntimeFailure(try runLPFT(["sweep", "run", spec.path, "--dir", sweep.path]), contains: "another coordinator (pid \(getpid())) is using this directory")
    }
}
