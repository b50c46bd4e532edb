import Foundation
import Logging
import Logs
import TestSupport
import XCTest

final class LogsTests: XCTestCase {
    func testTextLinesKeepTheMessageAndNameOnlyWarningsAndWorse() {
        let out = CollectedLines()
        let logger = out.logger()
        logger.info("worker w1 joined from h with 2 slot(s)")
        logger.warning("dropped a message from peer 00ab: bad frame")
        logger.debug("not shown at info")
        XCTAssertEqual(out.lines, ["lpft: worker w1 joined from h with 2 slot(s)\n", "lpft: warning: dropped a message from peer 00ab: bad frame\n"])
    }

    func testJSONLinesAreOneObjectEachWithLevelLoggerAndEscapedMessage() throws {
        let out = CollectedLines()
        out.logger(format: .json).error("a \"quoted\"\nmessage", metadata: ["trial": "t1"])
        XCTAssertEqual(out.lines.count, 1)
        let line = try XCTUnwrap(out.lines.first)
        XCTAssertTrue(line.hasSuffix("}\n") && !line.dropLast().contains("\n"), "one line: \(line)")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        XCTAssertEqual(object["level"], "error")
        XCTAssertEqual(object["logger"], "test")
        XCTAssertEqual(object["message"], "a \"quoted\"\nmessage")
        XCTAssertEqual(object["trial"], "t1")
        XCTAssertNotNil(object["time"].flatMap { ISO8601DateFormatter.withFractionalSeconds.date(from: $0) }, "time is RFC 3339: \(object["time"] ?? "")")
    }

    /// 24 peers, 86,809 warnings over 20 s (the flood of the issue): the number of lines stays
    /// within the throttle's bound, and the summaries account for every warning suppressed.
    func testAThrottledFloodLogsABoundedNumberOfLinesAndCountsEveryWarning() throws {
        let out = CollectedLines()
        let logger = out.logger()
        var throttle = WarningThrottle(burst: 5, interval: 10, maxKeys: 64)
        let total = 86_809, peers = 24
        for i in 0..<total {
            throttle.warn(logger, key: "peer \(i % peers)", now: 20 * Double(i) / Double(total), "dropped a message from peer \(i % peers)")
        }
        throttle.flush(logger, now: 31)
        let lines = out.lines
        let firsts = lines.filter { $0.contains("dropped a message") }.count
        let summaries = lines.filter { $0.contains("suppressed") }
        XCTAssertEqual(firsts, peers * 5)
        // Windows of 10 s over 20 s of flood and one flush after it: at most 3 summaries a peer.
        XCTAssertLessThanOrEqual(summaries.count, peers * 3)
        let counted = summaries.compactMap { line in line.split(separator: " ").dropFirst(3).first.flatMap { Int($0) } }.reduce(0, +)
        XCTAssertEqual(firsts + counted, total, "every warning is either logged or counted in a summary")
        XCTAssertEqual(throttle.pending, 0)
    }

    /// A peer that comes back under ever new identities fills one overflow key, not the log.
    func testNewKeysBeyondTheLimitShareOneOverflowKey() {
        let out = CollectedLines()
        var throttle = WarningThrottle(burst: 2, interval: 10, maxKeys: 4)
        for i in 0..<10_000 { throttle.warn(out.logger(), key: "peer \(i)", now: 0, "dropped from peer \(i)") }
        XCTAssertEqual(out.lines.count, 4 * 1 + 2, "the first warning of each of 4 keys, then 2 for the overflow key")
        XCTAssertEqual(throttle.pending, 10_000 - 6)
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
