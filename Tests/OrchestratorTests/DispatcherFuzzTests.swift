import Foundation
@testable import Orchestrator
import Sweep
import TestSupport
@testable import Wire
import XCTest

/// Random and mutated frames against the coordinator's message handling, interleaved with a
/// real worker's traffic: nothing may crash, and the sweep must still end with every trial
/// completed exactly once. `LPFT_FUZZ_INPUTS` sets the number of inputs (default 100,000).
final class DispatcherFuzzTests: XCTestCase {
    func testGarbageAndMutatedFramesNeverCrashOrCorruptTheJournal() throws {
        let inputs = Int(ProcessInfo.processInfo.environment["LPFT_FUZZ_INPUTS"] ?? "") ?? 100_000
        let h = try DispatcherTests.Harness(self, trials: 20)
        var rng = SplitMix64(seed: 2026)  // seeded, so a failure replays
        let valid: [Message] = [
            .hello(Hello(worker: "fuzz", host: "h", slots: 3, held: [LeaseReference(trial: "t1", lease: 1)])),
            .ready(Ready(credit: 2)),
            .metrics(MetricBatch(trial: "t0", lease: 1, rows: [MetricRow(seq: 0, name: "x", value: .nan, epoch: 1, step: 2)])),
            .result(TrialReport(trial: "t0", lease: 1, status: .completed, reason: nil, logTail: ["a"], result: "{}")),
            .result(TrialReport(trial: "t3", lease: 99, status: .failed, reason: "r", logTail: [], result: nil)),
            .heartbeat, .ack(Ack(lease: 1, kind: .result, seq: nil)), .shutdown(Notice(reason: "x")),
        ]
        let tokens = ["{", "}", "[", "]", ":", ",", "\"", "null", "-1", "1e308", "9223372036854775807", "\"lease\"", "\"trial\"",
                      "\"rows\"", "\"status\"", "\"completed\"", "\u{0}", "\u{FFFF}", "NaN", "true"]
        func mutate(_ frames: [[UInt8]]) -> [[UInt8]] {
            var f = frames
            switch rng.below(7) {
            case 0:  // flip bytes
                for _ in 0...rng.below(4) where !f.isEmpty {
                    let i = rng.below(f.count)
                    if !f[i].isEmpty { f[i][rng.below(f[i].count)] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                }
            case 1:  // truncate a frame
                let i = rng.below(f.count)
                f[i] = Array(f[i].prefix(rng.below(f[i].count + 1)))
            case 2:  // drop or duplicate frames
                if rng.below(2) == 0, !f.isEmpty { f.remove(at: rng.below(f.count)) } else { f.append(f[rng.below(f.count)]) }
            case 3:  // splice JSON tokens into the body
                var body = String(decoding: f[f.count - 1], as: UTF8.self)
                let at = body.index(body.startIndex, offsetBy: rng.below(body.count + 1))
                body.insert(contentsOf: tokens[rng.below(tokens.count)], at: at)
                f[f.count - 1] = Array(body.utf8)
            case 4:  // random bytes
                f = (0..<rng.below(5)).map { _ in (0..<rng.below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            case 5:  // a valid message from a peer that never said HELLO, or with a stranger's lease
                f = valid[rng.below(valid.count)].frames()
            default:  // a huge number of frames or a huge frame
                f = rng.below(2) == 0 ? Array(repeating: [1], count: 1000) : [f[0], f[1], Array(repeating: 65, count: 1 << 20)]
            }
            return f
        }
        var tried = 0
        let peers = (0..<8).map { Array("fuzzer-\($0)".utf8) }
        while tried < inputs {
            try h.journal.write { w in
                for _ in 0..<1000 {
                    let frames = rng.below(3) == 0 ? valid[rng.below(valid.count)].frames() : mutate(valid[rng.below(valid.count)].frames())
                    try h.dispatcher.receive(from: peers[rng.below(peers.count)], frames: frames[...], now: h.now, journal: w)
                    tried += 1
                }
                try h.dispatcher.tick(now: h.now, journal: w)
            }
            _ = h.dispatcher.takeOutgoing()
            h.now += 0.01
        }
        print("fuzz: \(tried) inputs to the dispatcher, \(h.dispatcher.droppedMessages) dropped as invalid, no crash")

        // An honest worker still finishes the sweep, each trial exactly once.
        var out = try h.deliver([.hello(Hello(worker: "honest", host: "h", slots: 4, held: [])), .ready(Ready(credit: 4))], from: "honest")
        var rounds = 0
        while !h.dispatcher.isFinished, rounds < 1000 {
            rounds += 1
            let assigned = DispatcherTests.assigns(out.filter { $0.peer == "honest" })
            out = try h.deliver(assigned.flatMap { [DispatcherTests.result($0), Message.ready(Ready(credit: 1))] } + [.heartbeat], from: "honest")
            h.now += 0.5
        }
        let trials = try h.journal.trials()
        for t in trials where t.state != .completed && t.state != .failed {
            print("unfinished", t.id, t.state, try h.journal.attempts(trial: t.id).map { "\($0.lease):\($0.worker):\($0.state)" })
        }
        XCTAssertEqual(trials.filter { $0.state == .completed }.count + trials.filter { $0.state == .failed }.count, 20)
        for t in trials where t.state == .completed {
            let won = try h.journal.attempts(trial: t.id).filter { $0.state == .completed }
            XCTAssertEqual(won.count, 1, "trial \(t.id)")
            XCTAssertEqual(won.first?.result, t.result)
        }
        XCTAssertEqual(try h.journal.metrics().filter { $0.trial.isEmpty }.count, 0)
    }
}
