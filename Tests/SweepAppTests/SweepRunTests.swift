import Foundation
@testable import Orchestrator
import Sweep
@testable import SweepApp
import TestSupport
import TrialContract
@testable import Wire
import XCTest

/// Whole sweeps with real `lpft sweep run` and `lpft worker` processes over loopback IPC,
/// killed with SIGKILL at awkward moments; the journal is the witness.
final class SweepRunTests: XCTestCase {
    /// Fast heartbeats: a lost worker is noticed after 1 s of silence (loose enough for a loaded CI box).
    let timing = ["--heartbeat", "0.1", "--liveness", "10"]

    func noopSpec(_ dir: URL, trials: Int, durationMs: Int) throws -> URL {
        let spec = dir.appendingPathComponent("noop.yaml")
        try """
        base: {method: noop, duration_ms: \(durationMs)}
        grid:
          seed: [\((1...trials).map(String.init).joined(separator: ", "))]
        """.write(to: spec, atomically: true, encoding: .utf8)
        return spec
    }

    /// `sweep run` of a noop sweep bound to an ipc endpoint in `dir`, with no worker of its own.
    func startCoordinator(_ dir: URL, trials: Int, durationMs: Int) throws -> (process: Process, sweep: URL, endpoint: String, log: URL, arguments: [String]) {
        let spec = try noopSpec(dir, trials: trials, durationMs: durationMs)
        let endpoint = "ipc://\(dir.path)/c.ipc"
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("coordinator.log")
        let arguments = ["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint] + timing
        return (try startLPFT(arguments, log: log, test: self), sweep, endpoint, log, arguments)
    }

    func journal(_ sweep: URL) -> Journal? {
        FileManager.default.fileExists(atPath: sweep.appendingPathComponent(Journal.fileName).path) ? try? Journal(readingDirectory: sweep) : nil
    }

    func completed(_ sweep: URL) -> Int {
        (try? journal(sweep)?.trials().filter { $0.state == .completed }.count) ?? 0
    }

    func waitForExit(_ p: Process, timeout: Double, log: URL) -> Int32? {
        guard eventually(timeout: timeout, { !p.isRunning }) else {
            XCTFail("\(p.arguments![0]) still running after \(timeout) s; log:\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
            return nil
        }
        return p.terminationStatus
    }

    /// Generates `keys/<name>.key` and `.pub` for the coordinator and each of `workers`, and an
    /// allow-list directory holding the public keys of `allowing`.
    func curveKeys(in dir: URL, for workers: [String], allowing: [String]) throws -> (keys: URL, allowed: URL) {
        let keys = dir.appendingPathComponent("keys"), allowed = dir.appendingPathComponent("allowed")
        let log = dir.appendingPathComponent("keys.log")
        for name in ["coordinator"] + workers {
            XCTAssertEqual(waitForExit(try startLPFT(["keys", "generate", keys.path, "--name", name], log: log, test: self), timeout: 10, log: log), 0)
        }
        try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
        for name in allowing {
            try FileManager.default.copyItem(at: keys.appendingPathComponent("\(name).pub"), to: allowed.appendingPathComponent("\(name).pub"))
        }
        return (keys, allowed)
    }

    /// Starts `lpft sweep run` with CURVE on a loopback port of the kernel's choosing; returns
    /// the process and the endpoint it announced.
    func startCURVECoordinator(_ spec: URL, sweep: URL, keys: URL, allowed: URL, log: URL, in directory: URL? = nil, options: [String] = []) throws -> (Process, endpoint: String) {
        let coordinator = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--bind", "tcp://127.0.0.1:*",
                                         "--curve-key", keys.appendingPathComponent("coordinator.key").path, "--allow", allowed.path] + timing + options,
                                        log: log, test: self, in: directory)
        var endpoint = ""
        XCTAssertTrue(eventually(timeout: 30) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard let r = text.range(of: "coordinator on ") else { return false }
            endpoint = String(text[r.upperBound...].prefix { $0 != " " })
            return true
        }, "the coordinator announces its endpoint")
        return (coordinator, endpoint)
    }

    /// Every trial has exactly one completed attempt and the trial's result is that attempt's.
    func assertExactlyOnce(_ journal: Journal, trials count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let trials = try journal.trials()
        XCTAssertEqual(trials.count, count, file: file, line: line)
        XCTAssertEqual(trials.filter { $0.state == .completed }.count, count, file: file, line: line)
        let attempts = try journal.attempts()
        for t in trials {
            let won = attempts.filter { $0.trial == t.id && $0.state == .completed }
            XCTAssertEqual(won.count, 1, "trial \(t.id): \(won.count) completed attempts", file: file, line: line)
            XCTAssertEqual(won.first?.result, t.result, file: file, line: line)
        }
        // Each completed noop attempt streamed its five metric events, each stored once.
        let metrics = try journal.metrics()
        for a in attempts where a.state == .completed {
            XCTAssertEqual(metrics.filter { $0.lease == a.lease }.map(\.seq), [0, 1, 2, 3, 4], "lease \(a.lease)", file: file, line: line)
        }
    }

    func testAKilledWorkersTrialRerunsElsewhereAndEveryTrialCompletesOnce() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 200, durationMs: 40)
        let endpoint = "ipc://\(dir.path)/coordinator.ipc"
        let sweep = dir.appendingPathComponent("sweep")
        let coordinatorLog = dir.appendingPathComponent("coordinator.log")
        let coordinator = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint, "--retry-delay", "0"] + timing, log: coordinatorLog, test: self)
        let workers = try (0..<4).map { i in
            try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w\(i)").path] + timing,
                          log: dir.appendingPathComponent("w\(i).log"), test: self)
        }
        // Kill worker 0 while it holds a lease, once the sweep is well under way.
        let victimHolding = eventually(timeout: 60) {
            guard completed(sweep) >= 20, let j = journal(sweep) else { return false }
            return (try? j.attempts().contains { $0.state == .running && $0.worker.hasSuffix("-w0") }) ?? false
        }
        XCTAssertTrue(victimHolding, "worker 0 never held a lease")
        kill(workers[0].processIdentifier, SIGKILL)
        XCTAssertEqual(waitForExit(coordinator, timeout: 90, log: coordinatorLog), 0)
        let j = try XCTUnwrap(journal(sweep))
        try assertExactlyOnce(j, trials: 200)
        let lost = try j.attempts().filter { $0.state == .lost }
        XCTAssertFalse(lost.isEmpty, "the killed worker's attempt is recorded as lost")
        XCTAssertTrue(lost.allSatisfy { $0.worker.hasSuffix("-w0") && ($0.reason ?? "").contains("silent") }, "\(lost)")
        for w in workers.dropFirst() { XCTAssertEqual(waitForExit(w, timeout: 10, log: dir.appendingPathComponent("w.log")), 0, "told to shut down") }
    }

    func testWorkersStartedFirstAndACoordinatorKilledAndRestartedLoseNothing() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 150, durationMs: 40)
        let endpoint = "ipc://\(dir.path)/coordinator.ipc"
        let sweep = dir.appendingPathComponent("sweep")
        let workers = try (0..<3).map { i in
            try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w\(i)").path] + timing,
                          log: dir.appendingPathComponent("w\(i).log"), test: self)
        }
        // No coordinator yet: each worker says it has started and waits for one.
        for i in 0..<3 {
            let log = dir.appendingPathComponent("w\(i).log")
            XCTAssertTrue(eventually(timeout: 30) { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("→ \(endpoint)") }, "worker \(i) started")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.path), "the coordinator has not started")
        let arguments = ["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint, "--retry-delay", "0"] + timing
        let first = try startLPFT(arguments, log: dir.appendingPathComponent("c1.log"), test: self)
        XCTAssertTrue(eventually(timeout: 60) { completed(sweep) >= 50 }, "the workers joined and ran trials")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let before = try XCTUnwrap(journal(sweep))
        let kept = Dictionary(uniqueKeysWithValues: try before.attempts().filter { $0.state == .completed }.map { ($0.trial, $0.lease) })
        let attemptsBefore = Dictionary(grouping: try before.attempts(), by: \.trial).mapValues(\.count)
        XCTAssertGreaterThanOrEqual(kept.count, 50)

        let secondLog = dir.appendingPathComponent("c2.log")
        let second = try startLPFT(arguments, log: secondLog, test: self)
        XCTAssertEqual(waitForExit(second, timeout: 90, log: secondLog), 0)
        let j = try XCTUnwrap(journal(sweep))
        try assertExactlyOnce(j, trials: 150)
        let attempts = try j.attempts()
        for (trial, lease) in kept {
            XCTAssertEqual(attempts.first { $0.trial == trial && $0.state == .completed }?.lease, lease, "trial \(trial) kept its result")
            XCTAssertEqual(attempts.filter { $0.trial == trial }.count, attemptsBefore[trial], "trial \(trial) was not rerun")
        }
        XCTAssertTrue(try j.events(kind: "worker joined").count >= 6, "each worker joined both coordinators")
        for (i, w) in workers.enumerated() { XCTAssertEqual(waitForExit(w, timeout: 10, log: dir.appendingPathComponent("w\(i).log")), 0) }
    }

    /// A spec of real trials on a tiny fixture model (`tiny-bert`, or `tiny-roberta`, whose BPE
    /// cuts the same words into other pieces): two token groups over tiny-bert's vocabulary,
    /// the label being the majority group; `grid` is the spec's grid block.
    func tinySpec(_ dir: URL, grid: String, model: String = "tiny-bert", examples: (train: Int, validation: Int, test: Int) = (64, 32, 32)) throws -> URL {
        for (name, count) in [("train", examples.train), ("validation", examples.validation), ("test", examples.test)] {
            let lines = (0..<count).map { i -> String in
                let words = (0..<8).map { j in "tok\(((i * 7 + j * 3) % 5 < 3 + i % 2 ? 10 : 60) + (i + j) % 20)" }
                let label = words.filter { Int($0.dropFirst(3))! < 60 }.count * 2 > words.count ? "low" : "high"
                return "{\"text\": \"\(words.joined(separator: " "))\", \"label\": \"\(label)\"}"
            }
            try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("\(name).jsonl"), atomically: true, encoding: .utf8)
        }
        let d = dir.path
        let spec = dir.appendingPathComponent("real.yaml")
        try """
        base:
          model: \(try Fixtures.url(model).path)
          task: {name: groups, train: \(d)/train.jsonl, validation: \(d)/validation.jsonl, test: \(d)/test.jsonl}
          lp: {solver: sgd, epochs: 2, lr: 0.01}
          ft: {epochs: 2, batch_size: 16, lr: 0.001}
          max_length: 16
          threads: 1
        grid:
        \(grid)
        """.write(to: spec, atomically: true, encoding: .utf8)
        return spec
    }

    /// Runs a two-trial spec on two local workers in `dir`/sweep; both trials must complete.
    func runTwoTrialSweep(_ spec: URL, in dir: URL) throws -> (Journal, [TrialRecord]) {
        let sweep = dir.appendingPathComponent("sweep")
        let log = dir.appendingPathComponent("sweep.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "2"], log: log, test: self)
        XCTAssertEqual(waitForExit(run, timeout: 120, log: log), 0, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        let j = try XCTUnwrap(journal(sweep))
        let trials = try j.trials()
        XCTAssertEqual(trials.map(\.state), [.completed, .completed])
        return (j, trials)
    }

    func testARealTwoTrialSweepStreamsEpochMetricsIntoTheJournal() throws {
        let dir = try temporaryDirectory(self)
        let (j, trials) = try runTwoTrialSweep(try tinySpec(dir, grid: "  method: [ft, lp-ft]"), in: dir)
        XCTAssertEqual(Set(try j.attempts().map(\.worker)).count, 2, "one trial on each local worker")
        for t in trials {
            let metrics = try j.metrics(trial: t.id)
            XCTAssertEqual(metrics.filter { $0.name == "ft/loss" }.compactMap(\.epoch), [1, 2], "streamed per epoch")
            XCTAssertEqual(metrics.filter { $0.name == "val/accuracy" }.compactMap(\.epoch), [1, 2])
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(t.result).utf8)) as? [String: Any])
            XCTAssertEqual(result["status"] as? String, "completed")
            let accuracy = try XCTUnwrap((result["metrics"] as? [String: Any])?["test/accuracy"] as? Double)
            XCTAssertEqual(metrics.last { $0.name == "test/accuracy" }?.value, accuracy, "the streamed final metric matches the result")
        }
        XCTAssertTrue(trials.contains { (try? j.metrics(trial: $0.id).contains { $0.name == "lp/loss" }) == true }, "LP-FT streamed its LP epochs")
        try assertPredictionsExportReproducesTheAccuracies(j, trials, sweep: dir.appendingPathComponent("sweep"))
    }

    /// Each trial's predictions came with its result and were kept apart from it; exported, the
    /// rows of each split give back the trial's own accuracies.
    func assertPredictionsExportReproducesTheAccuracies(_ j: Journal, _ trials: [TrialRecord], sweep: URL) throws {
        let kept = try j.predictions()
        XCTAssertEqual(Set(kept.keys), Set(trials.map(\.id)))
        for t in trials { XCTAssertFalse(try XCTUnwrap(t.result).contains(TrialResultSchema.predictionsKey), "the result is stored without them") }
        let out = sweep.appendingPathComponent("predictions.csv")
        let run = try runLPFT(["sweep", "report", sweep.path, "--format", "predictions", "--out", out.path])
        XCTAssertEqual(run.status, 0, run.errors)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.first, ["trial", "split", "example", "label", "predicted", "correct", "temperature", "p_high", "p_low"])
        let rows = lines.dropFirst()
        XCTAssertEqual(rows.count, trials.count * (32 + 32), "validation and test, every example")
        for t in trials {
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(t.result).utf8)) as? [String: Any])
            let accuracy = try XCTUnwrap((result["metrics"] as? [String: Any])?["test/accuracy"] as? Double)
            let test = rows.filter { $0[0] == t.id && $0[1] == "test" }
            XCTAssertEqual(test.map { Int($0[2])! }, Array(0..<32), "rows in file order")
            XCTAssertEqual(Double(test.filter { $0[5] == "1" }.count) / Double(test.count), accuracy, "trial \(t.id)")
            for row in test { XCTAssertEqual(Double(row[7])! + Double(row[8])!, 1, accuracy: 1e-6) }
        }
    }

    /// The paper's model family in a sweep: a LoRA and an LP-FT trial on the tiny RoBERTa.
    func testATwoTrialSweepOnTheTinyRoberta() throws {
        let dir = try temporaryDirectory(self)
        let (j, trials) = try runTwoTrialSweep(try tinySpec(dir, grid: "  method: [lora, lp-ft]", model: "tiny-roberta"), in: dir)
        for t in trials {
            XCTAssertEqual(try j.metrics(trial: t.id).filter { $0.name == "ft/loss" }.compactMap(\.epoch), [1, 2], "streamed per epoch")
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(t.result).utf8)) as? [String: Any])
            XCTAssertNotNil((result["metrics"] as? [String: Any])?["test/accuracy"] as? Double)
        }
    }

    func testEditingTheSpecRunsOnlyTheNewTrials() throws {
        let dir = try temporaryDirectory(self)
        let sweep = dir.appendingPathComponent("sweep")
        let arguments = { (spec: URL) in ["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"] + self.timing }
        let log = dir.appendingPathComponent("run.log")
        XCTAssertEqual(waitForExit(try startLPFT(arguments(try noopSpec(dir, trials: 3, durationMs: 0)), log: log, test: self), timeout: 60, log: log), 0)
        let first = try XCTUnwrap(journal(sweep)).attempts()
        XCTAssertEqual(waitForExit(try startLPFT(arguments(try noopSpec(dir, trials: 5, durationMs: 0)), log: log, test: self), timeout: 60, log: log), 0)
        let j = try XCTUnwrap(journal(sweep))
        try assertExactlyOnce(j, trials: 5)
        XCTAssertEqual(try j.attempts().count, 5, "the first three were not run again")
        XCTAssertEqual(Array(try j.attempts().prefix(3)), first)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.appendingPathComponent("coordinator.ipc").path), "no stale endpoint left behind")

        // Trials that leave the spec before they start are dropped on request, never run.
        let ids = try j.trials().map(\.id)
        try Journal(directory: sweep).write { w in
            try w.addTrial(id: "gone-unstarted", position: 99, axes: "{}", config: "{\"method\":\"noop\"}", at: 0)
            XCTAssertEqual(try w.dropUnstartedTrials(notIn: Set(ids)), 1)
            XCTAssertEqual(try w.dropUnstartedTrials(notIn: []), 0, "completed trials stay")
        }
        XCTAssertEqual(try j.trials().map(\.id), ids)
    }

    func testSIGINTInterruptsRunningAttemptsAndARerunFinishesThem() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 4, durationMs: 20_000)
        let sweep = dir.appendingPathComponent("sweep")
        let arguments = ["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "2"] + timing
        let log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(arguments, log: log, test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().filter { $0.state == .running }.count) ?? 0) == 2 })
        kill(run.processIdentifier, SIGINT)
        XCTAssertEqual(waitForExit(run, timeout: 30, log: log), 130)
        let j = try XCTUnwrap(journal(sweep))
        XCTAssertEqual(try j.attempts().map(\.state), [.interrupted, .interrupted])
        XCTAssertEqual(try j.trials().map(\.state), [.pending, .pending, .pending, .pending])
        XCTAssertEqual(try j.trials().map(\.chargedAttempts), [0, 0, 0, 0], "an interruption is not charged")
        XCTAssertTrue(try String(contentsOf: log, encoding: .utf8).contains("Resume with: \(lpftExecutable.path) \(arguments.joined(separator: " "))"), "the command as it was run")
        XCTAssertEqual(try workerLocksHeld(sweep), 0, "the local workers were told to stop and are gone")
    }

    func testAKilledCoordinatorTakesItsLocalWorkersWithIt() throws {
        let dir = try temporaryDirectory(self)
        // Trials far longer than the wait below: workers that outlived the coordinator would still hold them.
        let spec = try noopSpec(dir, trials: 2, durationMs: 600_000)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "2"] + timing, log: log, test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().filter { $0.state == .running }.count) ?? 0) == 2 })
        kill(run.processIdentifier, SIGKILL)  // a crash or the OOM killer: no handler of its own runs
        XCTAssertTrue(eventually(timeout: 30) { (try? workerLocksHeld(sweep)) == 0 }, "local workers outlived their coordinator")
        for i in 0..<2 {
            let workerLog = try String(contentsOf: sweep.appendingPathComponent("workers/\(i)/worker.log"), encoding: .utf8)
            XCTAssertTrue(workerLog.contains("the coordinator that started this worker has exited"), workerLog)
        }
    }

    /// `lpft sweep run` refuses a worker of another build by default (saying so on both sides)
    /// and admits it with --allow-mixed-builds; attempts carry each worker's build and machine.
    func testAWorkerOfAnotherBuildIsRefusedUnlessMixedBuildsAreAllowed() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 2, durationMs: 10)
        let endpoint = "ipc://\(dir.path)/c.ipc", sweep = dir.appendingPathComponent("sweep")
        let arguments = ["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint] + timing
        let strict = try startLPFT(arguments, log: dir.appendingPathComponent("strict.log"), test: self)

        // A worker in this process, claiming another build; it runs noop trials on a thread.
        var settings = WorkerSettings(endpoint: endpoint, name: "elsewhere", host: "h", directory: dir.appendingPathComponent("w"),
                                      runs: dir.appendingPathComponent("w/runs"), executable: "/bin/false")
        (settings.heartbeatInterval, settings.liveness) = (0.1, 10)
        settings.facts = WorkerFacts(build: "0.0.9+0123456789ab", blas: "OpenBLAS", cpu: "CPU", cpuFlags: [], threads: nil)
        let worker = try Worker(settings: settings, context: ZeroMQContext())
        let lines = CollectedLines()
        worker.logger = lines.logger(level: .debug)
        worker.inProcess = { _ in { _, emit, _ in emit(TrialEvent.result(TrialResultSchema.header(status: .completed)).line) } }
        let exit = Locked<Worker.Exit?>(nil)
        nonisolated(unsafe) let running = worker
        Thread.detachNewThread { exit.set(try? running.run()) }

        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.events(kind: "worker refused").count) ?? 0) == 1 })
        XCTAssertTrue(eventually(timeout: 30) { lines.lines.contains { $0.contains("this worker runs lpft build 0.0.9+0123456789ab but the coordinator runs \(LPFTVersion.build)") } },
                      lines.lines.joined(separator: "\n"))
        // It asks again as told, quietly: a refusal's wait (5 s, longer than the 1 s of silence
        // allowed) is not a dead link, so no reconnect warnings pile up.
        XCTAssertTrue(eventually(timeout: 30) { lines.lines.filter { $0.contains("saying HELLO again") }.count >= 2 }, lines.lines.joined(separator: "\n"))
        XCTAssertFalse(lines.lines.contains { $0.contains("no word from the coordinator") }, lines.lines.joined(separator: "\n"))
        XCTAssertEqual(try XCTUnwrap(journal(sweep)).attempts().count, 0, "a refused worker gets no trial")
        kill(strict.processIdentifier, SIGINT)
        XCTAssertEqual(waitForExit(strict, timeout: 30, log: dir.appendingPathComponent("strict.log")), 130)

        let mixed = try startLPFT(arguments + ["--allow-mixed-builds"], log: dir.appendingPathComponent("mixed.log"), test: self)
        XCTAssertEqual(waitForExit(mixed, timeout: 60, log: dir.appendingPathComponent("mixed.log")), 0, "the same worker, admitted, finishes the sweep")
        let j = try XCTUnwrap(journal(sweep))
        XCTAssertEqual(try j.trials().map(\.state), [.completed, .completed])
        XCTAssertEqual(try j.attempts().map(\.machine), [settings.facts!.json, settings.facts!.json])
        XCTAssertEqual(try j.events(kind: "mixed build").count, 1)
        XCTAssertTrue(eventually(timeout: 30) { exit.value != nil })
    }

    func testLocalWorkersNameThisBuildAndMachineInEveryAttempt() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 3, durationMs: 10)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1", "--threads", "1"] + timing, log: log, test: self)
        XCTAssertEqual(waitForExit(run, timeout: 60, log: log), 0)
        for attempt in try XCTUnwrap(journal(sweep)).attempts() {
            let facts = try JSONDecoder().decode(WorkerFacts.self, from: Data(try XCTUnwrap(attempt.machine).utf8))
            XCTAssertEqual(facts.build, LPFTVersion.build)
            XCTAssertTrue(facts.blas.hasPrefix("OpenBLAS"), facts.blas)
            XCTAssertEqual(facts.cpu, WorkerFacts.thisMachine(build: "", blas: "", threads: nil).cpu)
            XCTAssertEqual(facts.threads, 1)
        }
    }

    /// Inputs by content: a data file edited between two runs of a spec makes new trials, and
    /// the log names the file; the old trials keep their results.
    func testEditingADataFileBetweenTwoPlansMakesNewTrialsAndSaysWhichFile() throws {
        let dir = try temporaryDirectory(self)
        let spec = try tinySpec(dir, grid: "  method: [ft, lp-ft]")
        let (_, before) = try runTwoTrialSweep(spec, in: dir)
        let train = dir.appendingPathComponent("train.jsonl")
        try (try String(contentsOf: train, encoding: .utf8) + "\n{\"text\": \"tok10 tok11\", \"label\": \"low\"}").write(to: train, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("again.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"], log: log, test: self)
        XCTAssertEqual(waitForExit(run, timeout: 120, log: log), 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(text.contains("\(train.path) changed since this sweep first planned it"), text)
        XCTAssertTrue(text.contains("2 trial(s) that read it get new ids"), text)
        let after = try XCTUnwrap(journal(sweep)).trials()
        XCTAssertEqual(after.count, 4)
        XCTAssertEqual(after.filter { $0.state == .completed }.count, 4)
        XCTAssertEqual(Array(after.filter { before.map(\.id).contains($0.id) }.map(\.result)), before.map(\.result), "the old results stay")
    }

    /// Local workers hold a lock in their directory while they live.
    func workerLocksHeld(_ sweep: URL) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: sweep.appendingPathComponent("workers").path).filter { name in
            let fd = open(sweep.appendingPathComponent("workers/\(name)/worker.lock").path, O_RDWR)
            defer { close(fd) }
            return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0
        }.count
    }

    func testATrialThatKeepsFailingIsMarkedFailedWithItsReasonAndLastLogLines() throws {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("bad.yaml")
        try """
        base: {method: ft, model: \(dir.path)/no-such-model, task: {name: x, train: \(dir.path)/none.jsonl, validation: \(dir.path)/none.jsonl, test: \(dir.path)/none.jsonl}}
        grid: {seed: [1]}
        """.write(to: spec, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep")
        let log = dir.appendingPathComponent("run.log")
        let checked = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path], log: log, test: self)
        XCTAssertEqual(waitForExit(checked, timeout: 30, log: log), 1)
        XCTAssertTrue(try String(contentsOf: log, encoding: .utf8).contains("data file(s) named by the sweep are missing here"), "checked before anything runs")
        let arguments = ["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1", "--max-attempts", "2", "--retry-delay", "0", "--skip-file-check"] + timing
        let run = try startLPFT(arguments, log: log, test: self)
        XCTAssertEqual(waitForExit(run, timeout: 60, log: log), 1, "a sweep with failed trials exits 1")
        let j = try XCTUnwrap(journal(sweep))
        let trial = try XCTUnwrap(try j.trials().first)
        XCTAssertEqual(trial.state, .failed)
        XCTAssertTrue(trial.reason?.hasPrefix("2 attempt(s) failed or were lost; last: ") == true, trial.reason ?? "")
        let attempts = try j.attempts()
        XCTAssertEqual(attempts.map(\.state), [.failed, .failed])
        XCTAssertTrue(attempts.allSatisfy { ($0.logTail ?? "").contains("no-such-model") }, "the child's stderr names the cause: \(attempts.map(\.logTail))")
        let status = try String(contentsOf: log, encoding: .utf8)
        // Copied as printed, the rerun has its worker (without one, its coordinator would wait).
        XCTAssertTrue(status.contains("rerun them: \(lpftExecutable.path) \(arguments.joined(separator: " ")) --retry-failed\n"), status)
    }

    func testCURVEAdmitsOnlyListedWorkers() throws {
        let dir = try temporaryDirectory(self)
        let (keys, allowed) = try curveKeys(in: dir, for: ["good", "stranger"], allowing: ["good"])
        let spec = try noopSpec(dir, trials: 30, durationMs: 20)
        let sweep = dir.appendingPathComponent("sweep")
        let coordinatorLog = dir.appendingPathComponent("coordinator.log")
        let (coordinator, endpoint) = try startCURVECoordinator(spec, sweep: sweep, keys: keys, allowed: allowed, log: coordinatorLog)
        func worker(_ name: String) throws -> Process {
            try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent(name).path, "--name", name,
                           "--curve-key", keys.appendingPathComponent("\(name).key").path,
                           "--server-key", keys.appendingPathComponent("coordinator.pub").path] + timing,
                          log: dir.appendingPathComponent("\(name).log"), test: self)
        }
        let stranger = try worker("stranger")
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.events(kind: "handshake rejected").count) ?? 0) >= 1 }, "the stranger's handshake is refused")
        _ = try worker("good")
        XCTAssertEqual(waitForExit(coordinator, timeout: 60, log: coordinatorLog), 0)
        let j = try XCTUnwrap(journal(sweep))
        try assertExactlyOnce(j, trials: 30)
        XCTAssertEqual(Set(try j.attempts().map(\.worker)), ["good"], "only the listed worker ran trials")
        let rejected = try j.events(kind: "handshake rejected")
        XCTAssertTrue(rejected.allSatisfy { ($0.detail ?? "").contains("127.0.0.1") && ($0.detail ?? "").contains("not on the allow-list") }, "\(rejected)")
        XCTAssertTrue(stranger.isRunning, "the stranger never heard from the coordinator, so it still waits")

        // Keys that cannot be right, and open TCP without keys, fail at start with the reason.
        func failsAtStart(_ arguments: [String], saying reason: String) throws {
            let log = dir.appendingPathComponent("start-\(UUID().uuidString).log")
            let p = try startLPFT(["worker"] + arguments, log: log, test: self)
            XCTAssertNotEqual(waitForExit(p, timeout: 10, log: log), 0)
            let text = try String(contentsOf: log, encoding: .utf8)
            XCTAssertTrue(text.contains(reason), text)
        }
        let goodKey = keys.appendingPathComponent("good.key").path
        chmod(goodKey, 0o644)
        try failsAtStart(["--connect", endpoint, "--curve-key", goodKey, "--server-key", keys.appendingPathComponent("coordinator.pub").path],
                         saying: "is readable by others (mode 644): chmod 600")
        chmod(goodKey, 0o600)
        try "tooshort\n".write(to: dir.appendingPathComponent("bad.pub"), atomically: true, encoding: .utf8)
        try failsAtStart(["--connect", endpoint, "--curve-key", goodKey, "--server-key", dir.appendingPathComponent("bad.pub").path],
                         saying: "a CURVE key is 40 Z85 characters, this one has 8")
        try failsAtStart(["--connect", "tcp://10.1.2.3:5750"], saying: "leaves this machine: give the worker --curve-key")
    }

    /// A worker that cannot start trials (its program is missing) hands them back uncharged and
    /// backs off; with one attempt allowed, a healthy worker then runs every trial.
    func testAWorkerThatCannotStartTrialsDoesNotUseUpTheirAttempts() throws {
        let dir = try temporaryDirectory(self)
        let spec = try tinySpec(dir, grid: "  method: [ft]\n  seed: [1, 2]")
        let endpoint = "ipc://\(dir.path)/c.ipc"
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("coordinator.log")
        let coordinator = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint, "--max-attempts", "1", "--retry-delay", "0"] + timing,
                                        log: log, test: self)
        let brokenLog = dir.appendingPathComponent("broken.log")
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("broken").path,
                       "--executable", dir.appendingPathComponent("no-such-lpft").path] + timing, log: brokenLog, test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().filter { $0.state != .running }.count) ?? 0) >= 2 },
                      "both trials tried on the broken worker")
        let j = try XCTUnwrap(journal(sweep))
        for a in try j.attempts() where a.state != .running {
            XCTAssertEqual(a.state, .interrupted)
            XCTAssertTrue(a.reason?.contains("could not start it") == true, a.reason ?? "")
        }
        XCTAssertEqual(try j.trials().map(\.chargedAttempts), [0, 0])
        XCTAssertTrue(eventually(timeout: 10) { ((try? String(contentsOf: brokenLog, encoding: .utf8)) ?? "").contains("no new trials for 2 s") },
                      "it backs off, doubling")
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("good").path] + timing,
                      log: dir.appendingPathComponent("good.log"), test: self)
        XCTAssertEqual(waitForExit(coordinator, timeout: 120, log: log), 0)
        XCTAssertEqual(try j.trials().map(\.state), [.completed, .completed])
        let statusLog = dir.appendingPathComponent("status.log")
        XCTAssertEqual(waitForExit(try startLPFT(["sweep", "status", sweep.path], log: statusLog, test: self), timeout: 30, log: statusLog), 0)
        let status = try String(contentsOf: statusLog, encoding: .utf8)
        XCTAssertTrue(status.contains("attempts a worker could not start: "), "status shows it")
        XCTAssertTrue(status.contains("coordinator runs: 1 (1 finished)\n"), status)
    }

    /// Two workers started under one name (cloned hosts): the second waits, and says why;
    /// nothing flaps between them and every trial completes once, on its first attempt.
    func testASecondWorkerUnderATakenNameWaitsAndNothingIsLost() throws {
        let dir = try temporaryDirectory(self)
        let (coordinator, sweep, endpoint, log, _) = try startCoordinator(dir, trials: 40, durationMs: 100)
        let logs = ["w1", "w2"].map { dir.appendingPathComponent("\($0).log") }
        for (name, workerLog) in zip(["w1", "w2"], logs) {
            try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent(name).path, "--name", "clone"] + timing, log: workerLog, test: self)
            // The second starts while the first is busy (the sweep takes 4 s on one worker).
            XCTAssertTrue(eventually(timeout: 30) { completed(sweep) > 0 })
        }
        XCTAssertEqual(waitForExit(coordinator, timeout: 60, log: log), 0)
        let j = try XCTUnwrap(journal(sweep))
        try assertExactlyOnce(j, trials: 40)
        XCTAssertEqual(try j.attempts().filter { $0.state != .completed }.count, 0, "no lease lost to the two taking turns")
        XCTAssertEqual(try j.events(kind: "worker refused").count, 1)
        XCTAssertTrue(logs.contains { ((try? String(contentsOf: $0, encoding: .utf8)) ?? "").contains("give each worker its own --name") })
    }

    func testASIGTERMedWorkerHandsItsTrialBackUncharged() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 2, durationMs: 3000)
        let endpoint = "ipc://\(dir.path)/c.ipc"
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("coordinator.log")
        let coordinator = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--bind", endpoint, "--retry-delay", "0"] + timing, log: log, test: self)
        let first = try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w1").path] + timing, log: dir.appendingPathComponent("w1.log"), test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().filter { $0.state == .running }.count) ?? 0) == 1 })
        kill(first.processIdentifier, SIGTERM)  // systemd stop, SLURM preemption
        XCTAssertEqual(waitForExit(first, timeout: 10, log: dir.appendingPathComponent("w1.log")), 0)
        let j = try XCTUnwrap(journal(sweep))
        XCTAssertEqual(try j.attempts().map(\.state), [.interrupted], "handed back at once, not left to expire")
        XCTAssertEqual(try j.trials().map(\.chargedAttempts), [0, 0])
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w2").path] + timing, log: dir.appendingPathComponent("w2.log"), test: self)
        XCTAssertEqual(waitForExit(coordinator, timeout: 60, log: log), 0)
        try assertExactlyOnce(XCTUnwrap(journal(sweep)), trials: 2)
    }
}

extension SweepRunTests {
    /// `lpft sweep drain`: the running trial completes, nothing new starts, the coordinator
    /// stops with nothing interrupted, and the same command resumes the rest.
    /// A sweep that finishes while something keeps its journal open (a dashboard) leaves
    /// every commit in `journal.sqlite` itself: SQLite moves the WAL into the file when its
    /// last connection closes, which the coordinator's then was not (issue 36: a copy of the
    /// file alone showed 316 of 400 trials completed).
    func testASweepFinishedUnderAReaderLeavesEveryCommitInTheJournalFile() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 10, durationMs: 300)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"] + timing, log: log, test: self)
        var reader: Journal?
        XCTAssertTrue(eventually(timeout: 30) {
            reader = journal(sweep)
            return (try? reader?.trials().count) == 10
        }, "the sweep is planned")
        XCTAssertTrue(run.isRunning, "the reader opened the journal while the sweep ran")
        XCTAssertEqual(waitForExit(run, timeout: 60, log: log), 0)
        XCTAssertEqual(try reader?.trials().count { $0.state == .completed }, 10, "the reader is still open")

        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: sweep.appendingPathComponent(Journal.fileName), to: copy.appendingPathComponent(Journal.fileName))
        XCTAssertEqual(completed(copy), 10)
    }

    func testADrainedSweepStopsWithNothingInterruptedAndResumes() throws {
        let dir = try temporaryDirectory(self)
        let (coordinator, sweep, endpoint, log, arguments) = try startCoordinator(dir, trials: 4, durationMs: 2500)
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w").path] + timing, log: dir.appendingPathComponent("w.log"), test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().count) ?? 0) >= 1 }, "the first trial started")
        let drainLog = dir.appendingPathComponent("drain.log")
        XCTAssertEqual(waitForExit(try startLPFT(["sweep", "drain", sweep.path], log: drainLog, test: self), timeout: 30, log: drainLog), 0)
        XCTAssertTrue(try String(contentsOf: drainLog, encoding: .utf8).contains("asked the coordinator (pid \(coordinator.processIdentifier)) to drain"))
        XCTAssertEqual(waitForExit(coordinator, timeout: 60, log: log), TrialExitCode.interrupted, "a drained sweep did not finish")

        let j = try XCTUnwrap(journal(sweep))
        let attempts = try j.attempts()
        XCTAssertEqual(Set(attempts.map(\.state)), [.completed], "nothing interrupted or lost")
        XCTAssertEqual(try j.trials().count { $0.state == .pending }, 4 - attempts.count, "the rest wait")
        XCTAssertEqual(try j.events(kind: CoordinatorEvent.stopped).map(\.detail), [CoordinatorEvent.drainedStop])
        XCTAssertTrue(try String(contentsOf: log, encoding: .utf8).contains("drained: the running attempts ended"))
        assertRuntimeFailure(try runLPFT(["sweep", "drain", sweep.path]), contains: "no coordinator is running on \(sweep.path) on this machine")

        let resumed = try startLPFT(arguments, log: dir.appendingPathComponent("resumed.log"), test: self)
        // The drain's stop told the worker the sweep was over, as a stop does: a new one joins.
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w").path] + timing, log: dir.appendingPathComponent("w2.log"), test: self)
        XCTAssertEqual(waitForExit(resumed, timeout: 60, log: dir.appendingPathComponent("resumed.log")), 0)
        XCTAssertEqual(try j.trials().map(\.state), Array(repeating: .completed, count: 4))
        XCTAssertEqual(CoordinatorRun.summary(try CoordinatorRun.history(j)), "2 (1 finished, 1 drained)")
    }
}

/// Issue 35: a coordinator's own pause is not its workers' fault.
extension SweepRunTests {
    /// The coordinator stopped (SIGSTOP) for 60 s mid-sweep, its worker heartbeating into the
    /// void and finishing its trial meanwhile: after SIGCONT nothing is lost or charged, and the
    /// journal says the coordinator paused.
    func testAPausedCoordinatorChargesNoWorkerForItsOwnSilence() throws {
        let dir = try temporaryDirectory(self)
        let (coordinator, sweep, endpoint, log, _) = try startCoordinator(dir, trials: 3, durationMs: 4000)
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w").path] + timing, log: dir.appendingPathComponent("w.log"), test: self)
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.attempts().count) ?? 0) >= 1 }, "the first trial started")
        kill(coordinator.processIdentifier, SIGSTOP)
        // The pause is what is tested, not a wait for something: 60 s, 600 lease timeouts.
        Thread.sleep(forTimeInterval: 60)
        kill(coordinator.processIdentifier, SIGCONT)
        XCTAssertEqual(waitForExit(coordinator, timeout: 120, log: log), 0)

        let j = try XCTUnwrap(journal(sweep))
        XCTAssertEqual(try j.attempts().map(\.state), Array(repeating: .completed, count: 3), "no attempt lost")
        XCTAssertEqual(try j.trials().map(\.chargedAttempts), [0, 0, 0], "nothing charged")
        let pauses = try j.events(kind: CoordinatorEvent.paused).compactMap(\.detail)
        XCTAssertEqual(pauses.count, 1, "\(pauses)")
        XCTAssertTrue(pauses.first?.hasPrefix("did not run for 6") ?? false, "\(pauses)")
    }
}

/// What `sweep run` and `sweep status` tell their user: commands that work as printed, a
/// coordinator that says it has no worker, progress that reaches a file.
extension SweepRunTests {
    func testACoordinatorWithoutWorkersSaysHowToStartOne() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 1, durationMs: 0)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--warn-without-workers", "1"] + timing, log: log, test: self)
        let endpoint = SweepRun.defaultEndpoint(sweep)
        let advice = " s, so no trial runs: start one with \(lpftExecutable.path) worker --connect \(endpoint), or stop it (Ctrl-C) and run it again with --local-workers N"
        XCTAssertTrue(eventually(timeout: 30) { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains(advice) },
                      (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        // The worker it names (in a directory of the test's, not the home's) runs the sweep to its end.
        try startLPFT(["worker", "--connect", endpoint, "--dir", dir.appendingPathComponent("w").path] + timing, log: dir.appendingPathComponent("w.log"), test: self)
        XCTAssertEqual(waitForExit(run, timeout: 60, log: log), 0)
        XCTAssertEqual(try String(contentsOf: log, encoding: .utf8).components(separatedBy: advice).count, 2, "warned once")
    }

    func testSuggestedCommandsQuoteWhatAShellWouldSplit() {
        XCTAssertEqual(SweepRun.shellQuoted("runs/my-sweep_1.yaml"), "runs/my-sweep_1.yaml")
        XCTAssertEqual(SweepRun.shellQuoted("tcp://127.0.0.1:*"), "'tcp://127.0.0.1:*'")
        XCTAssertEqual(SweepRun.shellQuoted("it's mine.yaml"), #"'it'\''s mine.yaml'"#)
        XCTAssertEqual(SweepRun.shellQuoted(""), "''")
    }

    func testWatchIntoAFileWritesProgressLinesWhileTheSweepRuns() throws {
        let dir = try temporaryDirectory(self)
        let spec = try noopSpec(dir, trials: 3, durationMs: 2000)
        let sweep = dir.appendingPathComponent("sweep")
        try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"] + timing, log: dir.appendingPathComponent("run.log"), test: self)
        XCTAssertTrue(eventually(timeout: 30) { (try? journal(sweep)?.trials().count) == 3 }, "the sweep is planned")
        let log = dir.appendingPathComponent("watch.log")
        let watch = try startLPFT(["sweep", "status", sweep.path, "--watch"], log: log, test: self)
        var lines: [Substring] = []
        XCTAssertTrue(eventually(timeout: 30) {
            lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
            return !lines.isEmpty
        }, "nothing written")
        XCTAssertTrue(watch.isRunning, "the line came while the sweep runs, not when the watch ended: \(lines)")
        XCTAssertTrue(lines[0].hasPrefix("\(sweep.path): ") && lines[0].contains("/3 done, "), "\(lines)")
        XCTAssertFalse(lines.contains { $0.contains("\u{1B}") }, "no terminal escapes: \(lines)")
    }
}
