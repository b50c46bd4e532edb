import Foundation
import Training
import TrialContract
import XCTest

/// The trial contract from both ends: a trial writes its directory and event lines through
/// `TrialOutput`, and what a worker reads back (event lines, the result, whether to resume)
/// comes out through the contract alone.
final class TrialDirectoryRoundTripTests: XCTestCase {
    func testATrialsDirectoryAndEventsReadBackAsAWorkerReadsThem() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-contract-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = TrialDirectory(root)
        XCTAssertFalse(directory.holdsTrial)
        XCTAssertEqual(TrialCommandLine.start(config: "a.json", directory: directory), ["train", "--config", "a.json", "--out", root.path, "--events"])

        // The trial's side, as `lpft train --events` does it.
        var config = TrialConfig(task: .init(name: "none"), method: .noop)
        config.seed = 7
        let output = try TrialOutput(directory: directory, config: config)
        var lines: [String] = []
        for event in [MetricEvent(name: "ft/loss", value: 0.25, epoch: 1, step: 10), MetricEvent(name: "ft/loss", value: .nan, epoch: 2)] {
            output.record(event)
            lines.append(TrialEvent(event).line)
        }
        let written = try output.finish(status: .interrupted, config: config, result: nil, error: "stopped on request")
        lines.append(TrialEvent.result(written).line)
        lines.append("a log line")

        // The worker's side.
        XCTAssertTrue(directory.holdsTrial)
        XCTAssertFalse(directory.canResume, "no checkpoints yet")
        let events = lines.map(TrialEvent.init(line:))
        guard case let .metric(name, value, epoch, step)? = events[0] else { return XCTFail("\(lines[0])") }
        XCTAssertEqual(name, "ft/loss")
        XCTAssertEqual(value, 0.25)
        XCTAssertEqual(epoch, 1)
        XCTAssertEqual(step, 10)
        guard case let .metric(_, nan, _, noStep)? = events[1] else { return XCTFail("\(lines[1])") }
        XCTAssertTrue(nan.isNaN)
        XCTAssertNil(noStep)
        guard case let .result(result)? = events[2] else { return XCTFail("\(lines[2])") }
        XCTAssertNil(result["event"])
        XCTAssertEqual(TrialResultSchema.status(of: result), .interrupted)
        XCTAssertEqual(TrialResultSchema.error(of: result), "stopped on request")
        XCTAssertEqual(result["schema"] as? Int, TrialResultSchema.version)
        XCTAssertNil(events[3])

        // result.json is the same object as the result line; metrics.jsonl has one line per event.
        let onDisk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.result)) as? [String: Any])
        XCTAssertEqual(TrialResultSchema.status(of: onDisk), .interrupted)
        XCTAssertEqual((onDisk["config"] as? [String: Any])?["seed"] as? Int, 7)
        let recorded = try String(contentsOf: directory.metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(recorded.count, 2)
        XCTAssertTrue(recorded[1].contains("\"ft/loss\":\"nan\""), String(recorded[1]))
        XCTAssertEqual(try TrialConfig(contentsOf: directory.config).seed, 7)

        // A retried attempt with checkpoints resumes; without them it starts afresh on a clean directory.
        try FileManager.default.createDirectory(at: directory.checkpoints, withIntermediateDirectories: true)
        XCTAssertTrue(directory.canResume)
        XCTAssertEqual(TrialCommandLine.resume(directory), ["train", "--resume", root.path, "--events"])
        directory.removeStaleOutput()
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.result.path))
        XCTAssertFalse(directory.canResume)
    }
}

/// The advice for an OpenBLAS that does not recognise its CPU.
final class BLASKernelAdviceTests: XCTestCase {
    func testGenericKernelsOnAVXCPUsGetTheSettingThatFixesThem() {
        let prescott = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64 core=Prescott"
        let advice = BLASKernelAdvice.advice(blas: prescott, cpuFlags: ["sse3", "avx2", "avx512f"])
        XCTAssertTrue(advice?.contains("core=Prescott") == true && advice?.contains("OPENBLAS_CORETYPE=SkylakeX") == true, advice ?? "nil")
        XCTAssertTrue(BLASKernelAdvice.advice(blas: prescott, cpuFlags: ["avx2"])?.contains("OPENBLAS_CORETYPE=Haswell") == true)
        XCTAssertNil(BLASKernelAdvice.advice(blas: prescott, cpuFlags: ["sse3"]), "an old CPU: Prescott is right")
        XCTAssertNil(BLASKernelAdvice.advice(blas: "OpenBLAS 0.3.21 DYNAMIC_ARCH SkylakeX core=SkylakeX", cpuFlags: ["avx512f"]))
    }
}
