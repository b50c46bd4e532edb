import Foundation
@testable import Orchestrator
import Sweep
import TestSupport
import XCTest

/// A worker box that has only the `lpft` binary, a key and the endpoint: in a mount namespace
/// of its own, the sweep's data directory and the model's are empty tmpfs mounts and
/// `$LPFT_HOME` is an empty directory. Everything its trials read comes from the coordinator
/// over the CURVE connection it already has.
extension SweepRunTests {
    /// Starts `lpft worker` (CURVE, key `keys/<name>.key`) in a mount namespace of its own
    /// where each of `hiding` is an empty tmpfs and `$LPFT_HOME` is `home`: a box with only
    /// the binary, its key and the endpoint.
    func startBareWorker(endpoint: String, name: String, directory: URL, home: URL, hiding: [URL], keys: URL, log: URL, in dir: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        // Exits 99 if a hidden directory still shows what it held.
        let mounts = hiding.indices.map { "mount -t tmpfs bare \"$\($0 + 1)\" && test -z \"$(ls -A \"$\($0 + 1)\")\"" }.joined(separator: " && ")
        p.arguments = ["--mount", "--propagation", "private", "/bin/sh", "-c", "\(mounts) || exit 99\nshift \(hiding.count)\nexec \"$@\"", "sh"]
            + hiding.map(\.path) + ["/usr/bin/env", "LPFT_HOME=\(home.path)", lpftExecutable.path,
                                    "worker", "--connect", endpoint, "--dir", directory.path, "--name", name,
                                    "--curve-key", keys.appendingPathComponent("\(name).key").path,
                                    "--server-key", keys.appendingPathComponent("coordinator.pub").path] + timing
        let handle = try FileHandle(forWritingTo: log)
        (p.standardOutput, p.standardError, p.currentDirectoryURL) = (handle, handle, dir)
        try p.run()
        addTeardownBlock {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        return p
    }

    func testABareWorkerFetchesEveryInputFromTheCoordinatorAndCompletesRealTrials() throws {
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("data"), model = try Fixtures.url("tiny-bert")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let spec = try tinySpec(data, grid: "  method: [ft, lp-ft]")
        let (keys, allowed) = try curveKeys(in: dir, for: ["bare"], allowing: ["bare"])
        let home = dir.appendingPathComponent("bare-home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)

        /// Runs the spec into `sweep` with one bare worker; returns the worker's log.
        func sweepWithABareWorker(_ spec: URL, _ sweep: URL, name: String) throws -> String {
            let coordinatorLog = dir.appendingPathComponent("\(name)-coordinator.log")
            let (coordinator, endpoint) = try startCURVECoordinator(spec, sweep: sweep, keys: keys, allowed: allowed, log: coordinatorLog, in: dir)
            let workerLog = dir.appendingPathComponent("\(name)-worker.log")
            let p = try startBareWorker(endpoint: endpoint, name: "bare", directory: dir.appendingPathComponent("\(name)-worker"), home: home,
                                        hiding: [data, model], keys: keys, log: workerLog, in: dir)
            XCTAssertEqual(waitForExit(coordinator, timeout: 180, log: coordinatorLog), 0, (try? String(contentsOf: workerLog, encoding: .utf8)) ?? "")
            XCTAssertEqual(waitForExit(p, timeout: 30, log: workerLog), 0, "the worker is told the sweep is over and exits")
            return try String(contentsOf: workerLog, encoding: .utf8)
        }

        let sweep = dir.appendingPathComponent("sweep")
        let log = try sweepWithABareWorker(spec, sweep, name: "first")
        let j = try XCTUnwrap(journal(sweep))
        XCTAssertEqual(try j.trials().map(\.state), [.completed, .completed], log)
        XCTAssertEqual(Set(try j.attempts().filter { $0.state == .completed }.map(\.worker)), ["bare"])
        // Every pinned input (the model's files and the three splits) came over the wire, and
        // each content once: files are fetched by hash, so two splits with the same rows (the
        // tiny spec's validation and test) are one fetch.
        let pinned = Set(try j.pinnedInputs().values.flatMap { $0 })
        XCTAssertGreaterThanOrEqual(pinned.count, 5, "\(pinned)")
        let cache = ContentCache(root: home.appendingPathComponent("content"))
        for (sha256, inputs) in Dictionary(grouping: pinned, by: \.sha256) {
            XCTAssertTrue(cache.contains(sha256), "\(inputs.map(\.name)) is in the box's content cache")
            let fetches = inputs.map { log.components(separatedBy: "fetching \($0.name) (").count - 1 }
            XCTAssertEqual(fetches.reduce(0, +), 1, "\(inputs.map(\.name)) fetched once for both trials:\n\(log)")
            XCTAssertEqual(inputs.filter { log.contains("fetched \($0.name) (") }.count, 1, log)
        }
        // A second sweep on the same box finds everything in the cache: nothing is fetched again.
        // Its spec names the data relative to the coordinator's directory, which the worker's
        // (the same path, the data hidden) does not hold: planning made them absolute, so the
        // trials are the first sweep's and the worker reads them from its view.
        let relative = dir.appendingPathComponent("relative.yaml")
        try String(contentsOf: spec, encoding: .utf8).replacingOccurrences(of: data.path + "/", with: "data/").write(to: relative, atomically: true, encoding: .utf8)
        XCTAssertTrue(try String(contentsOf: relative, encoding: .utf8).contains("train: data/train.jsonl"))
        let again = try sweepWithABareWorker(relative, dir.appendingPathComponent("sweep2"), name: "second")
        let j2 = try XCTUnwrap(journal(dir.appendingPathComponent("sweep2")))
        XCTAssertEqual(try j2.trials().map(\.state), [.completed, .completed], again)
        XCTAssertEqual(try j2.trials().map(\.id), try j.trials().map(\.id), "a relative path plans as the absolute one")
        XCTAssertFalse(again.contains("fetching"), again)
    }
}
