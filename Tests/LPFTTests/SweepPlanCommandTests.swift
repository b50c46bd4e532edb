import Foundation
import Sweep
import TestSupport
import XCTest

/// `lpft sweep plan` with the real trial-config validation behind it.
final class SweepPlanCommandTests: XCTestCase {
    func testTheDemoSweepPlansAndABadTrialIsNamed() throws {
        let demo = Support.projectRoot.appendingPathComponent("sweeps/demo.yaml").path
        let run = try Support.lpft(["sweep", "plan", demo])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.hasSuffix("14 trial(s)\n"), run.output)
        let json = try Support.lpft(["sweep", "plan", "--json", demo])
        let ids = json.output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, 14)

        let bad = try temporaryDirectory(self).appendingPathComponent("bad.yaml")
        try "base: {task: rt-polarity}\ngrid:\n  method: [ft, lora]\n  lora.rank: {values: [0], when: {method: [lora]}}\n".write(to: bad, atomically: true, encoding: .utf8)
        let failed = try Support.lpft(["sweep", "plan", bad.path])
        XCTAssertNotEqual(failed.status, 0)
    }

    /// `sweep run` reads its trials' data files before any trial starts (issue 36): a
    /// truncated row, a missing label, a label outside the task's, each named by the user's
    /// file and line (not a worker's staged copy, after three attempts), and no journal made;
    /// a missing file is listed without the SuperGLUE hint its task has nothing to do with.
    func testSweepRunChecksItsDataBeforeAnyTrialStarts() throws {
        let dir = try temporaryDirectory(self)
        let data = dir.appendingPathComponent("data"), sweep = dir.appendingPathComponent("sweep")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let rows = "{\"text\": \"a b\", \"label\": \"pos\"}\n{\"text\": \"c\", \"label\": \"neg\"}\n"
        func write(_ split: String, _ text: String) throws {
            try text.write(to: data.appendingPathComponent("\(split).jsonl"), atomically: true, encoding: .utf8)
        }
        for split in ["train", "validation", "test"] { try write(split, rows) }
        let spec = dir.appendingPathComponent("s.yaml")
        try """
            base: {method: lp, model: \(try Fixtures.url("tiny-bert").path), task: {name: t, train: data/train.jsonl, validation: data/validation.jsonl, test: data/test.jsonl}}
            grid: {seed: [1, 2]}
            """.write(to: spec, atomically: true, encoding: .utf8)
        func run() throws -> (status: Int32, errors: String) { try runLPFT(["sweep", "run", spec.path, "--dir", sweep.path]) }

        try write("validation", rows + "{\"text\": \"d\", \"lab")
        assertRuntimeFailure(try run(), contains: "task t: \(data.path)/validation.jsonl:3: not a JSON object (broken or truncated line?)")
        try write("validation", rows)
        try write("test", rows + "{\"text\": \"e\"}\n")
        assertRuntimeFailure(try run(), contains: "task t: \(data.path)/test.jsonl:3: missing field \"label\"")
        try write("test", "{\"text\": \"e\", \"label\": \"neutral\"}\n" + rows)
        assertRuntimeFailure(try run(), contains: "task t: \(data.path)/test.jsonl:1: label \"neutral\" is not one of the task's labels [neg, pos]")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.path), "nothing started")

        try FileManager.default.removeItem(at: data.appendingPathComponent("test.jsonl"))
        let missing = try run()
        assertRuntimeFailure(missing, contains: "1 data file(s) named by the sweep are missing here: \(data.path)/test.jsonl")
        XCTAssertFalse(missing.errors.contains("SuperGLUE"), missing.errors)
    }

    /// Specs that once took minutes and GBs (issue 36): each refused at once, in one error line
    /// that names the file and the numbers.
    func testSpecsThatWouldExhaustTheMachineAreRefusedQuickly() throws {
        let dir = try temporaryDirectory(self)
        let bomb = dir.appendingPathComponent("bomb.yaml")
        try ("a0: &a0 [x, x]\n" + (1...39).map { "a\($0): &a\($0) [*a\($0 - 1), *a\($0 - 1)]\n" }.joined()).write(to: bomb, atomically: true, encoding: .utf8)
        let start = Date()
        assertRuntimeFailure(try runLPFT(["sweep", "plan", bomb.path]), contains: "\(bomb.path): its YAML aliases (*name) expand it to more than 1000000 values")
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "counted, not expanded (it took 15 s and 3 GB before it failed)")

        let big = dir.appendingPathComponent("big.yaml")
        let text = "base: {method: noop}\n" + (0..<200_000).map { "k\($0): 1\n" }.joined()
        try text.write(to: big, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["sweep", "plan", big.path]), contains: "\(big.path): \(text.utf8.count) bytes, more than the 1 MiB")

        let grid = dir.appendingPathComponent("grid.yaml")
        try "base: {method: noop}\ngrid:\n  seed: [\((1...10_000).map(String.init).joined(separator: ", "))]\n  duration_ms: [\((0..<1000).map(String.init).joined(separator: ", "))]\n"
            .write(to: grid, atomically: true, encoding: .utf8)
        let refusal = "\(grid.path): grid: makes 10000000 trials, more than --max-trials (100000): pass --max-trials 10000000 to plan them all"
        assertRuntimeFailure(try runLPFT(["sweep", "plan", grid.path]), contains: refusal)
        let sweep = dir.appendingPathComponent("sweep")
        assertRuntimeFailure(try runLPFT(["sweep", "run", grid.path, "--dir", sweep.path]), contains: refusal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.path), "refused before the sweep directory is made")
    }

    /// `--max-trials` moves the cap; a plan of 10,000 trials or more says how far it has got.
    func testMaxTrialsMovesTheCapAndABigPlanShowsProgress() throws {
        let spec = try temporaryDirectory(self).appendingPathComponent("noop.yaml")
        try "base: {method: noop}\ngrid:\n  seed: [\((1...10_000).map(String.init).joined(separator: ", "))]\n".write(to: spec, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["sweep", "plan", spec.path, "--max-trials", "9999"]),
                             contains: "grid: makes 10000 trials, more than --max-trials (9999): pass --max-trials 10000 to plan them all")
        let run = try runLPFT(["sweep", "plan", spec.path, "--max-trials", "10000"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.errors)
        XCTAssertTrue(run.errors.contains("planning \(spec.path): 0 of 10000 trials validated"), run.errors)
        XCTAssertTrue(run.errors.contains("planning \(spec.path): 10000 of 10000 trials validated"), run.errors)
    }

    func plannedTrials(_ arguments: [String], in directory: URL) throws -> [[String: Any]] {
        let run = try Support.lpft(["sweep", "plan", "--json"] + arguments, in: directory)
        XCTAssertEqual(run.status, 0, run.output)
        return run.output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    func testRelativeDataPathsResolveAgainstTheSpecSoIdsDoNotDependOnTheWorkingDirectory() throws {
        let dir = try temporaryDirectory(self).standardizedFileURL
        let data = dir.appendingPathComponent("data"), sweeps = dir.appendingPathComponent("sweeps")
        for d in [data, sweeps] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        for split in ["train", "val", "test"] { try "text,label\ngood,pos\nbad,neg\n".write(to: data.appendingPathComponent("\(split).csv"), atomically: true, encoding: .utf8) }
        try """
            base: {method: lp, task: {name: mine, train: ../data/train.csv, validation: ../data/val.csv, test: ../data/test.csv}}
            grid:
              seed: [1, 2]
            """.write(to: sweeps.appendingPathComponent("mine.yaml"), atomically: true, encoding: .utf8)
        let fromRoot = try plannedTrials(["sweeps/mine.yaml"], in: dir)
        let fromSpec = try plannedTrials(["mine.yaml"], in: sweeps)
        XCTAssertEqual(fromRoot.count, 2)
        XCTAssertEqual(fromRoot.compactMap { $0["id"] as? String }, fromSpec.compactMap { $0["id"] as? String })
        let task = (fromRoot.first?["config"] as? [String: Any])?["task"] as? [String: Any]
        XCTAssertEqual(task?["train"] as? String, data.appendingPathComponent("train.csv").path, "pinned as an absolute path")
    }

    func testTheShippedGridStillPlansTheIdsItsJournalHolds() throws {
        // Fetched tasks and a fetched model: names, not paths, so the ids the paper's sweep was
        // run under come out of the plan again, from any working directory.
        let copy = try temporaryDirectory(self)
        try FileManager.default.copyItem(at: Support.projectRoot.appendingPathComponent("results/paper-rt/journal.sqlite"), to: copy.appendingPathComponent(Journal.fileName))
        let journaled = try Journal(readingDirectory: copy).trials().map(\.id)
        let planned = try plannedTrials([Support.projectRoot.appendingPathComponent("sweeps/paper-rt.yaml").path], in: copy).compactMap { $0["id"] as? String }
        XCTAssertEqual(journaled.count, 55)
        XCTAssertEqual(Set(planned), Set(journaled))
    }
}
