import Foundation
import TestSupport
import TextData
@testable import Training
import TrialContract
import XCTest

/// Which files a trial reads, as the sweep pins them.
final class TrialInputFilesTests: XCTestCase {
    func testAModelInTheHomeAndExplicitDataFilesAreNamedAsEveryMachineKnowsThem() throws {
        let dir = try temporaryDirectory(self)
        let home = LPFTHome(root: dir.appendingPathComponent("home"))
        try FileManager.default.createDirectory(at: home.models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try Fixtures.url("tiny-bert"), to: home.models.appendingPathComponent("tiny"))
        for split in ["train", "validation", "test"] { try "".write(to: dir.appendingPathComponent("\(split).jsonl"), atomically: true, encoding: .utf8) }
        let d = dir.path
        let config = #"{"method": "ft", "model": "tiny", "task": {"name": "t", "train": "\#(d)/train.jsonl", "validation": "\#(d)/validation.jsonl", "test": "\#(d)/test.jsonl"}, "ood": [{"name": "o", "train": "\#(d)/train.jsonl", "test": "\#(d)/test.jsonl"}]}"#
        let files = try TrialConfig.inputFiles(ofCanonical: config, home: home)
        XCTAssertEqual(files.map(\.name), ["models/tiny/config.json", "models/tiny/model.safetensors", "models/tiny/vocab.txt",
                                           "\(d)/train.jsonl", "\(d)/validation.jsonl", "\(d)/test.jsonl"],
                       "relative to the home for what lives there; a file read by two tasks once")
        XCTAssertTrue(files.allSatisfy { FileManager.default.fileExists(atPath: $0.url.path) })
    }

    func testPlanningMakesGivenPathsAbsoluteAndNamesThemSoEvenUnderTheHome() throws {
        // A worker elsewhere finds in the config the very names the plan pinned: relative paths
        // are resolved against the spec's directory (not the working directory), `~` expanded,
        // and a path the config gives is named by its absolute path even under the home (only
        // what a name resolved to is home-relative).
        let dir = try temporaryDirectory(self)
        let home = LPFTHome(root: dir.appendingPathComponent("home"))
        let model = dir.appendingPathComponent("models-here/tiny"), homeFile = home.root.appendingPathComponent("mine/test.jsonl")
        try FileManager.default.createDirectory(at: model.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try Fixtures.url("tiny-bert"), to: model)
        try FileManager.default.createDirectory(at: homeFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        for url in [dir.appendingPathComponent("train.jsonl"), homeFile] { try "".write(to: url, atomically: true, encoding: .utf8) }
        var config = TrialConfig(task: .init(name: "t"), method: .ft)
        (config.model, config.task.train, config.task.validation, config.task.test) = ("models-here/./tiny", "train.jsonl", "~/v.jsonl", "\(home.root.path)/mine/../mine/test.jsonl")
        var resolved = config.resolvingFilePaths(relativeTo: dir)
        let d = dir.standardizedFileURL.path
        XCTAssertEqual(resolved.model, "\(d)/models-here/tiny")
        XCTAssertEqual(resolved.task.train, "\(d)/train.jsonl")
        XCTAssertEqual(resolved.task.validation, ("~/v.jsonl" as NSString).expandingTildeInPath)
        XCTAssertEqual(resolved.task.test, homeFile.standardizedFileURL.path)
        XCTAssertEqual(TrialConfig(task: .init(name: "rt-polarity"), method: .lp).resolvingFilePaths(relativeTo: dir), TrialConfig(task: .init(name: "rt-polarity"), method: .lp),
                       "names of fetched models and tasks stay names")

        resolved.task.validation = nil
        let files = try TrialConfig.inputFiles(ofCanonical: resolved.canonicalJSON(), home: home)
        XCTAssertEqual(files.map(\.name), ["\(d)/models-here/tiny/config.json", "\(d)/models-here/tiny/model.safetensors", "\(d)/models-here/tiny/vocab.txt",
                                           "\(d)/train.jsonl", homeFile.standardizedFileURL.path])
    }

    func testANoopTrialReadsNothing() throws {
        XCTAssertEqual(try TrialConfig.inputFiles(ofCanonical: #"{"method": "noop", "duration_ms": 5}"#), [])
    }
}
