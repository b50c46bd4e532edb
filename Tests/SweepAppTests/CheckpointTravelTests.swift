import Foundation
@testable import Orchestrator
import Sweep
import TestSupport
import TrialContract
import XCTest

/// A trial's checkpoints outlive its machine: the coordinator keeps the newest one each
/// worker uploads, and a retry on another box (here a bare one, in a mount namespace with
/// no data, no model and an empty `$LPFT_HOME`) fetches it and resumes there, with the
/// numbers of a run that was never interrupted.
extension SweepRunTests {
    /// The result's numbers: everything but its timings, versions and config (whose input
    /// paths each box rewrites to its own view).
    func numbers(of result: String?) throws -> NSDictionary {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(result).utf8)) as? [String: Any])
        for key in ["timings", "versions", "config"] { object[key] = nil }
        return object as NSDictionary
    }

    /// A one-trial FT spec over data in `dir`/data with `epochs` epochs; the data directory.
    func ftSpec(_ dir: URL, epochs: Int, examples: (train: Int, validation: Int, test: Int) = (64, 32, 32)) throws -> (spec: URL, data: URL) {
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let spec = try tinySpec(data, grid: "  method: [ft]", examples: examples)
        let text = try String(contentsOf: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "ft: {epochs: 2,", with: "ft: {epochs: \(epochs),").write(to: spec, atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try String(contentsOf: spec, encoding: .utf8), text)
        return (spec, data)
    }

    /// The spec's trial run once, never interrupted, on a local worker.
    func straightRun(_ spec: URL, in dir: URL) throws -> TrialRecord {
        let straight = dir.appendingPathComponent("straight"), log = dir.appendingPathComponent("straight.log")
        XCTAssertEqual(waitForExit(try startLPFT(["sweep", "run", spec.path, "--dir", straight.path, "--local-workers", "1"], log: log, test: self),
                                   timeout: 300, log: log), 0, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        let trial = try XCTUnwrap(journal(straight)?.trials().first)
        XCTAssertEqual(trial.state, .completed)
        return trial
    }

    /// A CURVE coordinator of `spec` in `dir`/sweep`name` and a worker "first" joined to it,
    /// returned once the coordinator has stored a checkpoint of the trial.
    func sweepUntilACheckpointIsStored(_ spec: URL, in dir: URL, name: String, keys: URL, allowed: URL) throws
        -> (coordinator: Process, endpoint: String, sweep: URL, log: URL, first: Process, firstLog: URL, stored: StoredCheckpoint) {
        let sweep = dir.appendingPathComponent("sweep\(name)"), log = dir.appendingPathComponent("coordinator\(name).log")
        let (coordinator, endpoint) = try startCURVECoordinator(spec, sweep: sweep, keys: keys, allowed: allowed, log: log, in: dir, options: ["--retry-delay", "0"])
        let firstLog = dir.appendingPathComponent("first\(name).log")
        let first = try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("first-worker\(name)").path, "--name", "first",
                                   "--curve-key", keys.appendingPathComponent("first.key").path,
                                   "--server-key", keys.appendingPathComponent("coordinator.pub").path] + timing, log: firstLog, test: self)
        var stored: StoredCheckpoint?
        XCTAssertTrue(eventually(timeout: 120) {
            stored = try? journal(sweep)?.storedCheckpoints().values.first
            return stored != nil
        }, "the coordinator stores a checkpoint of the running trial:\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
        return (coordinator, endpoint, sweep, log, first, firstLog, try XCTUnwrap(stored))
    }

    func testAKilledWorkersTrialResumesOnABareBoxFromItsUploadedCheckpointWithTheSameNumbers() throws {
        let dir = try temporaryDirectory(self)
        // Enough epochs that the first worker is killed well before the end.
        let (spec, data) = try ftSpec(dir, epochs: 60)
        let expected = try straightRun(spec, in: dir)
        let (keys, allowed) = try curveKeys(in: dir, for: ["first", "bare"], allowing: ["first", "bare"])
        let (coordinator, endpoint, sweep, coordinatorLog, first, _, checkpoint) = try sweepUntilACheckpointIsStored(spec, in: dir, name: "", keys: keys, allowed: allowed)
        kill(first.processIdentifier, SIGKILL)  // its trial reads end-of-file on stdin and exits
        first.waitUntilExit()
        XCTAssertNotEqual(try journal(sweep)?.trials().first?.state, .completed, "killed mid-trial (raise the epochs if this box is fast)")
        let store = ContentCache(root: sweep.appendingPathComponent("checkpoints"))
        XCTAssertTrue(checkpoint.manifest.files.allSatisfy { store.contains($0.sha256) }, "whole in the coordinator's store")

        let home = dir.appendingPathComponent("bare-home"), bareLog = dir.appendingPathComponent("bare.log")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let bare = try startBareWorker(endpoint: endpoint, name: "bare", directory: dir.appendingPathComponent("bare-worker"), home: home,
                                       hiding: [data, try Fixtures.url("tiny-bert")], keys: keys, log: bareLog, in: dir)
        XCTAssertEqual(waitForExit(coordinator, timeout: 300, log: coordinatorLog), 0, (try? String(contentsOf: bareLog, encoding: .utf8)) ?? "")
        XCTAssertEqual(waitForExit(bare, timeout: 30, log: bareLog), 0)

        let j = try XCTUnwrap(journal(sweep))
        let trial = try XCTUnwrap(j.trials().first)
        XCTAssertEqual(trial.state, .completed)
        let won = try j.attempts().filter { $0.state == .completed }
        XCTAssertEqual(won.map(\.worker), ["bare"])
        let bareRun = TrialDirectory(dir.appendingPathComponent("bare-worker/runs/\(trial.id)"))
        let attemptLog = try String(contentsOf: bareRun.attemptLog(try XCTUnwrap(won.first).number), encoding: .utf8)
        // From the epoch uploaded before the kill, or a later one uploaded before it landed.
        let resumed = try XCTUnwrap(attemptLog.range(of: #"resuming after FT epoch \d+"#, options: .regularExpression), attemptLog)
        let uploadedEpoch = try XCTUnwrap(Int(checkpoint.manifest.name.dropFirst("epoch-".count)), checkpoint.manifest.name)
        XCTAssertGreaterThanOrEqual(uploadedEpoch, 1)
        XCTAssertGreaterThanOrEqual(Int(attemptLog[resumed].split(separator: " ").last!) ?? 0, uploadedEpoch, attemptLog)
        XCTAssertTrue(try String(contentsOf: bareLog, encoding: .utf8).contains("resumes from checkpoint"))
        XCTAssertEqual(try numbers(of: trial.result), try numbers(of: expected.result), "the same numbers as the run never interrupted")
        // The trial has finished: its checkpoint is forgotten and its files removed.
        XCTAssertEqual(try j.storedCheckpoints().count, 0)
        XCTAssertFalse(checkpoint.manifest.files.contains { store.contains($0.sha256) })
        XCTAssertFalse(try j.events(kind: "checkpoint stored").isEmpty)
    }

    /// The processes whose parent is `pid`, from /proc.
    func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> pid_t? in
            guard let child = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let end = stat.lastIndex(of: ")") else { return nil }
            // After the command's closing parenthesis: state, then the parent's pid.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }

    /// SLURM and Kubernetes send SIGTERM, then SIGKILL 30 s later: the worker stops its trial
    /// at its next step, which checkpoints there (mid-epoch), and waits for the coordinator to
    /// take that checkpoint before it exits; the attempt is `interrupted`, not charged, and a
    /// retry on another box goes on from that very step.
    func testASIGTERMedWorkerUploadsItsTrialsMidEpochCheckpointAndTheRetryGoesOnFromThatStep() throws {
        let dir = try temporaryDirectory(self)
        // 63 steps an epoch and a small validation set: a stop lands inside an epoch's steps,
        // not in its evaluation, all but about 1% of the time (the loop below retries that case).
        let (spec, data) = try ftSpec(dir, epochs: 3, examples: (1000, 8, 8))
        let expected = try straightRun(spec, in: dir)
        let (keys, allowed) = try curveKeys(in: dir, for: ["first", "bare"], allowing: ["first", "bare"])

        for round in 1...3 {
            let (coordinator, endpoint, sweep, coordinatorLog, first, firstLog, _) = try sweepUntilACheckpointIsStored(spec, in: dir, name: "\(round)", keys: keys, allowed: allowed)
            // Another box already waits with a free slot, so the retry starts the moment the
            // stopped attempt's result arrives: it must be assigned the checkpoint the stop wrote.
            let home = dir.appendingPathComponent("bare-home\(round)"), bareLog = dir.appendingPathComponent("bare\(round).log")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            let bare = try startBareWorker(endpoint: endpoint, name: "bare", directory: dir.appendingPathComponent("bare-worker\(round)"), home: home,
                                           hiding: [data, try Fixtures.url("tiny-bert")], keys: keys, log: bareLog, in: dir)
            XCTAssertTrue(eventually(timeout: 60) { (try? journal(sweep)?.events(kind: "worker joined").count) == 2 }, "the second worker joins")
            // As SLURM stops a job: every process of it gets SIGTERM, the worker's trial also
            // from the worker, the worker again from its batch script; one stop, not a second.
            kill(first.processIdentifier, SIGTERM)
            children(of: first.processIdentifier).forEach { kill($0, SIGTERM) }
            kill(first.processIdentifier, SIGTERM)
            XCTAssertEqual(waitForExit(first, timeout: 25, log: firstLog), 0, "it exits within the grace")
            let log = try String(contentsOf: firstLog, encoding: .utf8)
            XCTAssertFalse(log.contains("not taken by the coordinator") || log.contains("second signal"), log)
            XCTAssertEqual(waitForExit(coordinator, timeout: 300, log: coordinatorLog), 0, (try? String(contentsOf: bareLog, encoding: .utf8)) ?? "")
            XCTAssertEqual(waitForExit(bare, timeout: 30, log: bareLog), 0)
            let j = try XCTUnwrap(journal(sweep))
            let stopped = try XCTUnwrap(j.attempts().first)
            XCTAssertEqual(stopped.state, .interrupted, log)
            // The last checkpoint the stopped attempt's worker uploaded ("NAME, SIZE MB").
            let uploaded = try XCTUnwrap(j.events(kind: "checkpoint stored").last { $0.worker == "first" }?.detail)
            let checkpoint = String(uploaded.prefix { $0 != "," })
            let trial = try XCTUnwrap(j.trials().first)
            XCTAssertEqual(trial.state, .completed)
            XCTAssertEqual(trial.chargedAttempts, 0, "still: only failures and losses are charged")
            XCTAssertEqual(try numbers(of: trial.result), try numbers(of: expected.result), "the same numbers as the run never stopped")
            let won = try XCTUnwrap(j.attempts().first { $0.state == .completed })
            XCTAssertEqual(won.worker, "bare")
            let attemptLog = try String(contentsOf: TrialDirectory(dir.appendingPathComponent("bare-worker\(round)/runs/\(trial.id)")).attemptLog(won.number),
                                        encoding: .utf8)
            // `epoch-K-step-S`: resumed after epoch K and S steps of the next.
            let position = checkpoint.split(separator: "-")
            guard position.count == 4 else {
                XCTAssertTrue(attemptLog.contains("resuming after FT epoch \(position[1]) of"), attemptLog)
                continue  // the stop landed between epochs: try again
            }
            XCTAssertTrue(attemptLog.contains("resuming after FT epoch \(position[1]) of 3 and \(position[3]) steps of epoch"), attemptLog)
            return
        }
        XCTFail("three stops in a row landed between epochs")
    }
}
