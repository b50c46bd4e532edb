import Foundation
import Sweep
import TestSupport
@testable import Wire
import XCTest

/// The wire protocol on its own: every message round-trips, bad frames say what is wrong.
final class WireProtocolTests: XCTestCase {
    func testEveryMessageRoundTrips() throws {
        let messages: [Message] = [
            .hello(Hello(worker: "w", host: "h", slots: 2, held: [LeaseReference(trial: "t", lease: 7)])),
            .hello(Hello(worker: "w", host: "h", slots: 2, held: [], instance: "0F3A")),
            .ready(Ready(credit: 3)),
            .assign(Assign(trial: "t", lease: 7, attempt: 2, config: "{\"a\":1}")),
            .metrics(MetricBatch(trial: "t", lease: 7, rows: [MetricRow(seq: 0, name: "x", value: -.infinity, epoch: 1, step: nil)])),
            .result(TrialReport(trial: "t", lease: 7, status: .failed, reason: "r", logTail: ["a", "b"], result: nil)),
            .ack(Ack(lease: 7, kind: .metrics, seq: 4)),
            .cancel(Cancel(lease: 7, reason: "fenced")),
            .reconnect(Notice(reason: "who?")),
            .reconnect(Notice(reason: "wait", retryAfter: 2.5)),
            .shutdown(Notice(reason: "done")),
            .assign(Assign(trial: "t", lease: 7, attempt: 1, config: "{}", sweep: "s", inputs: [PinnedInput(name: "data/x/train.jsonl", sha256: "ab", size: 3)])),
            .fetch(Fetch(sha256: "ab", offset: 262144, length: 262144)),
            .chunk(Chunk(sha256: "ab", offset: 0, total: 3, digest: "cd", data: [0, 255, 10])),
            .chunk(Chunk(sha256: "ab", offset: 0, total: 0, digest: "", error: "not an input of this sweep")),
            .offer(Offer(trial: "t", lease: 7, checkpoint: CheckpointManifest(name: "epoch-1", files: [PinnedInput(name: "checkpoints/epoch-1/state.json", sha256: "ab", size: 3)]))),
            .ack(Ack(lease: 7, kind: .checkpoint, seq: nil, checkpoint: "epoch-1")),
            .assign(Assign(trial: "t", lease: 8, attempt: 2, config: "{}", checkpoint: CheckpointManifest(name: "epoch-1", files: []))),
            .heartbeat,
        ]
        for m in messages {
            let frames = m.frames()
            XCTAssertEqual(String(decoding: frames[0], as: UTF8.self), WireProtocol.version)
            XCTAssertEqual(try Message(frames: frames), m)
        }
    }

    func testBadFramesSayWhatIsWrong() {
        func reason(_ frames: [String]) -> String {
            do {
                _ = try Message(frames: frames.map { Array($0.utf8) })
                return "accepted"
            } catch { return error.description }
        }
        XCTAssertEqual(reason(["LPFT/1", "HELLO"]), "expected 3 frames (protocol, command, body), got 2")
        XCTAssertEqual(reason(["ZMTP", "HELLO", "{}"]), "protocol \"ZMTP\", expected LPFT/1")
        XCTAssertEqual(reason(["LPFT/1", "EXPLODE", "{}"]), "unknown command \"EXPLODE\"")
        XCTAssertEqual(reason(["LPFT/1", "READY", "{}"]), "READY body is not valid: missing credit")
        XCTAssertTrue(reason(["LPFT/1", "READY", "{\"credit\":\"many\"}"]).hasPrefix("READY body is not valid: credit: "))
        XCTAssertTrue(reason(["LPFT/1", "ACK", "not json"]).hasPrefix("ACK body is not valid"))
        XCTAssertEqual(reason(["LPFT/1", "CHUNK", "{}"]), "expected 4 frames (protocol, command, body, data), got 3")
        XCTAssertEqual(reason(["LPFT/1", "FETCH", "{}", "x"]), "expected 3 frames (protocol, command, body), got 4")
        XCTAssertEqual(reason(["LPFT/1", "FETCH", "{\"sha256\":\"ab\",\"offset\":0}", ]), "FETCH body is not valid: missing length")
    }
}
