import Foundation
import TestSupport
import XCTest

/// `lpft train` as a user runs it: files written, exit codes, clean stops, no overwriting.
final class TrainCommandTests: XCTestCase {
    func result(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("result.json"))) as? [String: Any])
    }

    func testANoopTrialWritesItsFilesAndANewRunWillNotOverwriteThem() throws {
        let dir = try temporaryDirectory(self)
        let config = dir.appendingPathComponent("noop.yaml")
        try "method: noop\nduration_ms: 20\nseed: 3\n".write(to: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run")
        let run = try Support.lpft(["train", "--config", config.path, "--out", out.path])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(try result(out)["status"] as? String, "completed")
        XCTAssertNotNil((try result(out)["metrics"] as? [String: Double])?["test/accuracy"])
        let events = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(events.filter { $0.contains("ft/loss") }.count, 3)
        XCTAssertTrue(events.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "every line is JSON")
        let config2 = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any]
        XCTAssertEqual(config2?["duration_ms"] as? Int, 20, "the resolved config is saved")
        assertRuntimeFailure(try runLPFT(["train", "--config", config.path, "--out", out.path]),
                             contains: "\(out.path) already holds a trial: resume it with --resume \(out.path), start it afresh with --force")
    }

    func testAFailedStartDoesNotBlockARerunAndForceStartsAfresh() throws {
        let dir = try temporaryDirectory(self)
        let config = dir.appendingPathComponent("trial.yaml"), out = dir.appendingPathComponent("run")
        let absent = dir.appendingPathComponent("absent.jsonl").path
        try "method: lp\nmodel: \(try Fixtures.url("tiny-bert").path)\ntask: {name: t, train: \(absent), test: \(absent)}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["train", "--config", config.path, "--out", out.path]), contains: "\(absent) does not exist")
        XCTAssertEqual(try result(out)["status"] as? String, "failed")

        // Resuming would only repeat the broken config: the corrected one starts afresh, no --force needed.
        try "method: noop\nseed: 3\n".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Support.lpft(["train", "--config", config.path, "--out", out.path]).status, 0)
        XCTAssertEqual(try result(out)["status"] as? String, "completed")

        // A trial worth keeping is replaced only with --force, checkpoints and all (the new run would resume from them).
        try FileManager.default.createDirectory(at: out.appendingPathComponent("checkpoints/epoch-1"), withIntermediateDirectories: true)
        try "method: noop\nseed: 4\n".write(to: config, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["train", "--config", config.path, "--out", out.path]), contains: "already holds a trial")
        XCTAssertEqual(try Support.lpft(["train", "--config", config.path, "--out", out.path, "--force"]).status, 0)
        XCTAssertEqual((try result(out)["config"] as? [String: Any])?["seed"] as? Int, 4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoints").path))
        let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("ft/loss") }.count, 3, "the metrics of one run, not two")
    }

    /// `--resume` with no checkpoint to continue from runs the trial from the beginning, and
    /// starts its metrics file afresh rather than repeating its epochs after the earlier run's
    /// (issue 36); a resume from a checkpoint keeps the lines before it.
    func testAResumeWithoutACheckpointStartsItsMetricsAfresh() throws {
        let dir = try temporaryDirectory(self)
        func lines(_ out: URL, _ name: String) throws -> [Substring] {
            try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").filter { $0.contains(name) }
        }
        let noop = dir.appendingPathComponent("noop.yaml"), out = dir.appendingPathComponent("noop")
        try "method: noop\nduration_ms: 20\n".write(to: noop, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Support.lpft(["train", "--config", noop.path, "--out", out.path]).status, 0)
        XCTAssertEqual(try Support.lpft(["train", "--resume", out.path]).status, 0)
        XCTAssertEqual(try lines(out, "ft/loss").count, 3, "one run's epochs, not two")

        let rows = (0..<24).map { i in "{\"text\": \"tok\(10 + i % 3 * 30) tok\(11 + i % 5)\", \"label\": \"\(["a", "b"][i % 2])\"}" }
        try rows.joined(separator: "\n").write(to: dir.appendingPathComponent("d.jsonl"), atomically: true, encoding: .utf8)
        let ft = dir.appendingPathComponent("ft.yaml"), ftOut = dir.appendingPathComponent("ft")
        let d = dir.appendingPathComponent("d.jsonl").path
        try """
            method: ft
            model: \(try Fixtures.url("tiny-bert").path)
            task: {name: t, train: \(d), validation: \(d), test: \(d)}
            ft: {epochs: 2, batch_size: 8}
            max_length: 16
            threads: 1
            """.write(to: ft, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Support.lpft(["train", "--config", ft.path, "--out", ftOut.path]).status, 0)
        XCTAssertEqual(try Support.lpft(["train", "--resume", ftOut.path]).status, 0)
        XCTAssertEqual(try lines(ftOut, "ft/loss").count, 2, "the epochs before the checkpoint, kept")
        XCTAssertEqual(try lines(ftOut, "trial/resumed_after_epoch").count, 1)
    }

    func testSIGINTStopsCleanlyWithExitCode130() throws {
        let dir = try temporaryDirectory(self)
        let config = dir.appendingPathComponent("slow.yaml")
        try "method: noop\nduration_ms: 20000\n".write(to: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run")
        let process = Process()
        process.executableURL = lpftExecutable
        process.arguments = ["train", "--config", config.path, "--out", out.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        // `trial: …` is printed once the signal handler is in place and the trial starts.
        var output = ""
        while !output.contains("trial: noop") {
            let chunk = stdout.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            output += String(decoding: chunk, as: UTF8.self)
        }
        XCTAssertTrue(output.contains("trial: noop"), output)
        kill(process.processIdentifier, SIGINT)
        output += String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertTrue(output.contains("stopped on request"), output)
        let stopped = try result(out)
        XCTAssertEqual(stopped["status"] as? String, "interrupted")
        // What it cost is kept though it has no metrics: a pruned search counts it.
        XCTAssertGreaterThan(try XCTUnwrap((stopped["timings"] as? [String: Any])?["cpu"] as? Double), 0)
    }

    /// LoRA and LP-FT on the tiny RoBERTa (3 labels, byte-level BPE), from real snippets and
    /// tweets labelled round-robin: the paper's recipe on its own model family.
    func testLoRAAndLPFTTrialsOnTheTinyRoberta() throws {
        let dir = try temporaryDirectory(self)
        let cases = try XCTUnwrap(try Fixtures.value("tokenizer-tiny-roberta.json") as? [[String: Any]])
        let rows = try cases.compactMap { $0["text"] as? String }.enumerated().map { i, text in
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": text, "label": ["negative", "neutral", "positive"][i % 3]]), as: UTF8.self)
        }
        for (split, lines) in [("train", rows), ("validation", Array(rows.prefix(30))), ("test", Array(rows.suffix(30)))] {
            try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("\(split).jsonl"), atomically: true, encoding: .utf8)
        }
        let d = dir.path
        for method in ["lora", "lp-ft"] {
            let config = dir.appendingPathComponent("\(method).yaml")
            try """
            method: \(method)
            model: \(Fixtures.directory.appendingPathComponent("tiny-roberta").path)
            task: {name: snippets, train: \(d)/train.jsonl, validation: \(d)/validation.jsonl, test: \(d)/test.jsonl}
            lp: {solver: sgd, epochs: 2, lr: 0.01}
            ft: {epochs: 2, batch_size: 16, lr: 0.001}
            lora: {rank: 4, alpha: 8}
            max_length: 64
            threads: 1
            """.write(to: config, atomically: true, encoding: .utf8)
            let out = dir.appendingPathComponent(method)
            let run = try Support.lpft(["train", "--config", config.path, "--out", out.path])
            XCTAssertEqual(run.status, 0, run.output)
            XCTAssertEqual(try result(out)["status"] as? String, "completed", method)
            let metrics = try XCTUnwrap(try result(out)["metrics"] as? [String: Double])
            XCTAssertTrue((0...1).contains(try XCTUnwrap(metrics["test/accuracy"])), method)
            XCTAssertGreaterThan(try XCTUnwrap(metrics["features/diff"]), 0, "\(method) moved the backbone's features")
            XCTAssertEqual(metrics["head/norm_after_lp"] != nil, method == "lp-ft", method)
        }
    }
}

/// `lpft train` failures at run time: one line that names the cause, no usage text.
final class TrainFailureTests: XCTestCase {
    func testAMissingConfigFileSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let missing = dir.appendingPathComponent("nope.yaml").path
        assertRuntimeFailure(try runLPFT(["train", "--config", missing, "--out", dir.appendingPathComponent("run").path]), contains: "\(missing): no such file")
    }

    func testAMissingDataFileSaysSo() throws {
        let dir = try temporaryDirectory(self)
        let config = dir.appendingPathComponent("lp.yaml")
        let train = dir.appendingPathComponent("absent/train.jsonl").path
        try "task: {name: sst2, train: \(train), test: \(train)}\nmethod: lp\n".write(to: config, atomically: true, encoding: .utf8)
        assertRuntimeFailure(try runLPFT(["train", "--config", config.path, "--out", dir.appendingPathComponent("run").path]), contains: "\(train) does not exist")
    }
}
