import Foundation
@testable import Sweep
import TestSupport
import TrialContract
import XCTest

/// Trials pinned to the content of the files they read.
final class TrialInputsTests: XCTestCase {
    func plan(_ configs: [String]) -> [PlannedTrial] {
        configs.map { PlannedTrial(id: "id-\($0)", axes: [:], canonicalConfig: $0) }
    }

    func testEditingAFileGivesItsTrialsNewIdsAndNamesTheFile() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir.appendingPathComponent("sweep"))
        let shared = dir.appendingPathComponent("train.jsonl"), own = dir.appendingPathComponent("other.jsonl")
        try "a\n".write(to: shared, atomically: true, encoding: .utf8)
        try "b\n".write(to: own, atomically: true, encoding: .utf8)
        // Trial "x" reads train.jsonl; trial "y" reads other.jsonl.
        let reads = ["x": InputFile(name: "data/train.jsonl", url: shared), "y": InputFile(name: "data/other.jsonl", url: own)]
        let planned = plan(["x", "y"])
        func pin() throws -> InputCheck { try journal.write { w in try w.pinInputs(planned) { [reads[$0.canonicalConfig]!] } } }

        let first = try pin()
        XCTAssertEqual(first.planned.map(\.id), ["id-x", "id-y"], "unchanged files keep the config's ids")
        XCTAssertEqual(first.changes, [])
        XCTAssertEqual(try pin().planned.map(\.id), ["id-x", "id-y"])

        try "a, edited\n".write(to: shared, atomically: true, encoding: .utf8)
        let edited = try pin()
        XCTAssertNotEqual(edited.planned[0].id, "id-x", "new content, new id: old and new results never share one")
        XCTAssertEqual(edited.planned[0].id.count, 16)
        XCTAssertEqual(edited.planned[1].id, "id-y", "a trial that does not read the file keeps its id")
        XCTAssertEqual(edited.changes.count, 1)
        XCTAssertTrue(edited.changes[0].hasPrefix("data/train.jsonl changed since this sweep first planned it"), edited.changes[0])
        XCTAssertTrue(edited.changes[0].contains("1 trial(s)"), edited.changes[0])
        XCTAssertEqual(try pin().planned[0].id, edited.planned[0].id, "the same content gives the same new id again")

        try "a\n".write(to: shared, atomically: true, encoding: .utf8)
        XCTAssertEqual(try pin().planned[0].id, "id-x", "the original content is the original trial")
    }

    func testTrialsPlannedBeforePinningKeepTheirIds() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir.appendingPathComponent("sweep"))
        let file = dir.appendingPathComponent("train.jsonl")
        try "a\n".write(to: file, atomically: true, encoding: .utf8)
        try journal.write { w in _ = try w.addTrial(id: "id-x", position: 0, axes: "{}", config: "x", at: 0) }
        let check = try journal.write { w in try w.pinInputs(plan(["x"])) { _ in [InputFile(name: "train.jsonl", url: file)] } }
        XCTAssertEqual(check.planned.map(\.id), ["id-x"])
        XCTAssertEqual(check.pinnedLate, 1)
    }

    func testAMissingInputSaysWhich() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        XCTAssertThrowsError(try journal.write { w in
            try w.pinInputs(plan(["x"])) { _ in [InputFile(name: "data/gone.jsonl", url: dir.appendingPathComponent("gone.jsonl"))] }
        }) { XCTAssertTrue("\($0)".contains("cannot read input data/gone.jsonl"), "\($0)") }
    }

    func testTheDigestIsSHA256OfTheWholeFile() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("big.bin")
        // Over two of the 1 MiB pieces it is read in.
        try Data((0..<(2 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: file)
        let expected = try Process.run(["/usr/bin/sha256sum", file.path]).split(separator: " ")[0]
        XCTAssertEqual(try ContentDigest.sha256(of: file), String(expected))
    }
}

extension Process {
    /// Runs a program to its end and returns what it printed.
    static func run(_ arguments: [String]) throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: arguments[0])
        p.arguments = Array(arguments.dropFirst())
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
