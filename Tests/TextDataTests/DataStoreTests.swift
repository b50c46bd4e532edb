@testable import TextData
import Foundation
import TestSupport
import TrialContract
import XCTest

final class DataStoreTests: XCTestCase {
    func testSplitsKeepGroupsWholeAreSeededAndDeduplicated() throws {
        let home = LPFTHome(root: try temporaryDirectory(self))
        var rows: [DataStore.Row] = []
        for movie in 0..<50 {
            for review in 0..<(1 + movie % 7) {
                rows.append(.init(text: "m\(movie) r\(review)", label: review % 2 == 0 ? "positive" : "negative", group: "movie\(movie)"))
            }
        }
        rows.append(.init(text: "m3 r0", label: "positive", group: "movie3"))        // exact duplicate: kept once
        rows.append(.init(text: "contested", label: "positive", group: "movie4"))   // conflicting labels: dropped
        rows.append(.init(text: "contested ", label: "negative", group: "movie5"))
        let unique = DataStore.deduplicate(rows)
        XCTAssertEqual(unique.count, rows.count - 3)
        XCTAssertFalse(unique.contains { $0.text.hasPrefix("contested") })

        let store = DataStore(home: home, seed: 7)
        let manifest = try store.write("t", unique, labels: ["negative", "positive"], groupField: "movie", description: "test")
        var movieSplit: [String: String] = [:]
        var total = 0
        for split in DataStore.splits {
            let examples = try JSONLinesReader().read(try store.task("t").split(split)).examples
            total += examples.count
            XCTAssertEqual(examples.count, manifest.counts[split]?.values.reduce(0, +) ?? 0)
            let lines = try String(contentsOf: try store.task("t").split(split), encoding: .utf8).split(separator: "\n")
            for line in lines {
                let movie = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["movie"] as? String)
                XCTAssertEqual(movieSplit[movie, default: split], split, "\(movie) spans two splits")
                movieSplit[movie] = split
            }
        }
        XCTAssertEqual(total, unique.count, "every row lands in exactly one split")
        XCTAssertGreaterThan(manifest.counts["train"]!.values.reduce(0, +), total * 7 / 10)
        let again = try DataStore(home: LPFTHome(root: try temporaryDirectory(self)), seed: 7)
            .write("t", unique, labels: ["negative", "positive"], groupField: "movie", description: "test")
        XCTAssertEqual(again.counts, manifest.counts, "same seed, same split")
    }

    func testMissingTasksNameTheFetchCommand() throws {
        let store = DataStore(home: LPFTHome(root: try temporaryDirectory(self)))
        XCTAssertThrowsError(try store.task("rt-polarity")) { XCTAssertTrue("\($0)".contains("run: lpft data fetch")) }
        XCTAssertThrowsError(try store.task("sst9")) { XCTAssertTrue("\($0)".contains("unknown task sst9")) }
        XCTAssertThrowsError(try ModelStore(home: store.home).resolve("all-MiniLM-L6-v2")) {
            XCTAssertTrue("\($0)".contains("run: lpft model fetch all-MiniLM-L6-v2"))
        }
    }
}
