import Foundation
import TestSupport
import TrialContract
import XCTest

/// What `lpft` says about itself and its models: its version, help texts that promise only
/// what is there, and `model describe` in words that say what the numbers are.
final class DescriptionTests: XCTestCase {
    func testVersionNamesTheVersionCommitAndBuildDate() throws {
        let run = try Support.lpft(["--version"])
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(run.output, LPFTVersion.description + "\n")
        let pattern = #"^lpft \d+\.\d+\.\d+, commit ([0-9a-f]{12}(-dirty)?|unknown), built \d{4}-\d{2}-\d{2}\n$"#
        XCTAssertNotNil(run.output.range(of: pattern, options: .regularExpression), run.output)
    }

    /// `lpft … --help`, with its line breaks and indentation undone.
    func help(_ command: [String]) throws -> String {
        try Support.lpft(command + ["--help"]).output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    func testHelpTextsSayWhatTheCommandsDo() throws {
        let data = try help(["data"])
        XCTAssertTrue(data.contains("Fetch the shipped datasets"), data)
        XCTAssertFalse(data.contains("inspect"), "only `fetch` exists: \(data)")
        let run = try help(["sweep", "run"])
        XCTAssertFalse(run.contains("a copy of the spec"), run)
        XCTAssertTrue(run.contains("the spec's path and text are in its table `sweep`"), run)
    }

    /// The demo builds `lpft` alone; its `sweep serve --help` still answers, and says how to
    /// build the dashboard.
    func testServeHelpWithoutTheDashboardSaysHowToBuildIt() throws {
        let alone = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-alone-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: alone) }
        let copy = alone.appendingPathComponent("lpft")
        try FileManager.default.copyItem(at: lpftExecutable, to: copy)
        let run = try Support.lpft(["sweep", "serve", "--help"], executable: copy)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.hasPrefix("OVERVIEW: A live, read-only web dashboard"), run.output)
        XCTAssertTrue(run.output.contains("swift build -c release --product lpft-dashboard"), run.output)
    }

    func testModelDescribeSaysWhatTheHeadsParametersAreAndWhetherTheModelHasOne() throws {
        let run = try Support.lpft(["model", "describe", try Support.miniLM().path])
        XCTAssertEqual(run.status, 0, run.output)
        for line in ["parameters: 22565376 in the backbone; a classification head adds 385 per label",
                     "classification head: none in model.safetensors: a trial makes its own for its task's labels"] {
            XCTAssertTrue(run.output.contains(line), "\(line) in:\n\(run.output)")
        }
    }
}
