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

    func testANoopTrialReadsNothing() throws {
        XCTAssertEqual(try TrialConfig.inputFiles(ofCanonical: #"{"method": "noop", "duration_ms": 5}"#), [])
    }
}
