@testable import Orchestrator
@testable import Wire
@testable import SweepApp
import Foundation
import Sweep
import TestSupport
import XCTest

/// Successive halving in the coordinator's state machine: scripted per-epoch metrics go in,
/// rung decisions, CANCELs and `pruned` trials come out, on a real journal.
final class DispatcherPruningTests: XCTestCase {
    typealias Harness = DispatcherTests.Harness

    /// A dispatcher over `trials` (id → method), pruning by `rule`, and one worker "a" with a
    /// slot per trial that has been assigned them all.
    func harness(_ trials: [(id: String, method: String)], rule: PruneRule) throws -> (Harness, [String: Assign]) {
        let h = try Harness(self, trials: 0)
        try h.journal.write { w in
            for (i, t) in trials.enumerated() {
                try w.addTrial(id: t.id, position: i, axes: "{\"method\":\"\(t.method)\"}", config: "{\"method\":\"noop\",\"seed\":\(i)}", at: 0)
            }
        }
        h.settings.prune = rule
        try h.restart()
        let assigned = DispatcherTests.assigns(try h.hello("a", slots: trials.count))
        XCTAssertEqual(assigned.count, trials.count)
        return (h, Dictionary(uniqueKeysWithValues: assigned.map { ($0.trial, $0) }))
    }

    static func metric(_ a: Assign, seq: Int, _ name: String = "val/accuracy", epoch: Int, _ value: Double) -> Message {
        .metrics(MetricBatch(trial: a.trial, lease: a.lease, rows: [MetricRow(seq: seq, name: name, value: value, epoch: epoch)]))
    }

    static func cancels(_ out: [(peer: String, message: Message)]) -> [Cancel] {
        out.compactMap { if case .cancel(let c) = $0.message { c } else { nil } }
    }

    /// The schedule of SuccessiveHalvingTests, worked by hand, now streamed through the
    /// dispatcher: each decision is journaled as it is made, each pruned trial's worker is told
    /// to stop it, the trial ends `pruned` with its rung's metrics as its result, and what its
    /// worker sends afterwards (interrupted, or a completed result that crossed the CANCEL) is
    /// history only.
    func testRungDecisionsOnAScriptedStreamEqualTheHandComputedSchedule() throws {
        let methods = (1...9).map { ("f\($0)", "ft") } + (1...3).map { ("l\($0)", "lp-ft") }
        let (h, a) = try harness(methods.map { (id: $0.0, method: $0.1) }, rule: PruneRule(metric: "val/accuracy", rungs: [1, 3], eta: 3, within: ["method"]))
        let rung1: [(String, Double)] = [("f1", 0.70), ("f2", 0.60), ("f3", 0.80), ("l1", 0.50), ("f4", 0.75), ("f5", 0.90),
                                         ("f6", 0.85), ("f7", 0.65), ("l2", 0.40), ("f8", 0.80), ("f9", 0.95), ("l3", 0.55)]
        var cancelled: [String] = []
        for (trial, value) in rung1 {
            // A loss first, then the rung's metric: both of epoch 1, in one batch.
            let batch = MetricBatch(trial: trial, lease: a[trial]!.lease, rows: [MetricRow(seq: 0, name: "ft/loss", value: 1 - value, epoch: 1),
                                                                              MetricRow(seq: 1, name: "val/accuracy", value: value, epoch: 1)])
            let out = try h.deliver([.metrics(batch)], from: "a")
            cancelled += Self.cancels(out).map { c in a.values.first { $0.lease == c.lease }!.trial }
        }
        XCTAssertEqual(cancelled, ["f2", "f4", "f7", "l2", "f8"], "CANCEL sent for exactly the pruned trials, as they were pruned")
        // Epoch 2 is no rung; the survivors reach rung 3 in this order.
        for t in ["f1", "f3", "f5", "f6", "f9", "l1", "l3"] { try h.deliver([Self.metric(a[t]!, seq: 2, epoch: 2, 0.5)], from: "a") }
        for (t, v) in [("f5", 0.91), ("f3", 0.93), ("f9", 0.92), ("f1", 0.80), ("f6", 0.95)] {
            cancelled += Self.cancels(try h.deliver([Self.metric(a[t]!, seq: 3, epoch: 3, v)], from: "a")).map { c in a.values.first { $0.lease == c.lease }!.trial }
        }
        XCTAssertEqual(cancelled.suffix(2), ["f9", "f1"])
        let decisions = try h.journal.rungDecisions()
        XCTAssertEqual(decisions.map { "\($0.trial)@\($0.rung):\($0.decision)" }, [
            "f1@1:proceed", "f2@1:prune", "f3@1:proceed", "l1@1:proceed", "f4@1:prune", "f5@1:proceed",
            "f6@1:proceed", "f7@1:prune", "l2@1:prune", "f8@1:prune", "f9@1:proceed", "l3@1:proceed",
            "f5@3:proceed", "f3@3:proceed", "f9@3:prune", "f1@3:prune", "f6@3:proceed",
        ])
        XCTAssertEqual(Set(decisions.map(\.group)), ["method=ft", "method=lp-ft"])

        // The pruned: settled, their rung's metrics as their result, and what comes later is history.
        let f9 = try h.trial("f9")
        XCTAssertEqual(f9.state, .pruned)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(f9.result!.utf8)) as? [String: Any])
        XCTAssertEqual(result["metrics"] as? [String: Double], ["val/accuracy": 0.92], "epoch 3's: no loss was streamed then")
        XCTAssertEqual((result["pruned"] as? [String: Any])?["epoch"] as? Int, 3)
        XCTAssertEqual(try h.trial("f2").result.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["metrics"] as? [String: Double],
                       ["val/accuracy": 0.60, "ft/loss": 1 - 0.60])
        XCTAssertTrue(f9.reason?.hasPrefix("pruned at epoch 3: val/accuracy 0.92 not in the top 1/3 of method=ft") == true, f9.reason ?? "")
        var stopped = TrialReport(trial: "f2", lease: a["f2"]!.lease, status: .interrupted, reason: "stopped on request", logTail: [],
                                  result: #"{"schema":1,"status":"interrupted","timings":{"cpu":12.5}}"#, sweep: a["f2"]!.sweep)
        try h.deliver([.result(stopped)], from: "a")
        // Its stopped process's CPU joins the pruned trial's result; its rung's metrics stay.
        let f2 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try h.trial("f2").result!.utf8)) as? [String: Any])
        XCTAssertEqual((f2["timings"] as? [String: Any])?["cpu"] as? Double, 12.5)
        XCTAssertEqual(f2["metrics"] as? [String: Double], ["val/accuracy": 0.60, "ft/loss": 1 - 0.60])
        XCTAssertEqual(try SweepResults(journal: h.journal).trials.first { $0.id == "f2" }?.cpuSeconds, 12.5)
        stopped.result = #"{"schema":1,"status":"interrupted","timings":{"cpu":99}}"#
        try h.deliver([.result(stopped)], from: "a")
        XCTAssertEqual(try SweepResults(journal: h.journal).trials.first { $0.id == "f2" }?.cpuSeconds, 99, "a resent result's figure replaces it, never adds to it")
        // Completed before the CANCEL reached it: history, though what it cost counts.
        try h.deliver([.result(TrialReport(trial: "f4", lease: a["f4"]!.lease, status: .completed, reason: nil, logTail: [],
                                           result: #"{"schema":1,"status":"completed","timings":{"cpu":30}}"#, sweep: a["f4"]!.sweep))], from: "a")
        XCTAssertEqual(try SweepResults(journal: h.journal).trials.first { $0.id == "f4" }?.cpuSeconds, 30)
        XCTAssertEqual(try h.trial("f4").state, .pruned, "a late result never wins")
        XCTAssertEqual(try h.journal.events(kind: "late result").map(\.trial), ["f4"], "the expected interrupted answer is no news")
        XCTAssertEqual(try h.journal.attempts(trial: "f4").map(\.late), [true])
        XCTAssertEqual(try h.journal.attempts(trial: "f2").map(\.state), [.pruned])
        // More metrics from a pruned attempt get it told again.
        XCTAssertEqual(Self.cancels(try h.deliver([Self.metric(a["f7"]!, seq: 2, epoch: 2, 0.5)], from: "a")).map(\.lease), [a["f7"]!.lease])

        for t in ["f3", "f5", "f6", "l1", "l3"] { try h.deliver([DispatcherTests.result(a[t]!)], from: "a") }
        XCTAssertTrue(h.dispatcher.isFinished)
        XCTAssertEqual(h.dispatcher.pruned, 7)
        XCTAssertEqual(try h.journal.trials().filter { $0.state == .completed }.map(\.id), ["f3", "f5", "f6", "l1", "l3"])
        XCTAssertEqual(try h.journal.trials().count { $0.state == .failed }, 0, "pruned is not failed")
    }

    /// One worker's stream of per-epoch metrics for `trials` trials in two groups, in a fixed
    /// interleaving; a trial's rows stop once it is pruned (its worker was told to stop).
    struct Stream {
        let steps: [(trial: String, epoch: Int, value: Double)]
        init(trials: Int, epochs: Int) {
            // Deterministic: trial i's value at epoch e, in an order that interleaves trials and epochs.
            var steps: [(String, Int, Double)] = []
            for round in 0..<(trials * epochs) {
                let i = (round * 7) % trials, e = round / trials + 1
                steps.append(("t\(i)", e, Double((i * 31 + e * 17) % 23) / 23))
            }
            self.steps = steps
        }
    }

    /// Runs `stream` against `h`, killing and restarting the coordinator before step `killAt`
    /// (in the middle of a turn that never commits), after which the worker says HELLO again
    /// holding its leases and resends what was not acknowledged.
    func play(_ stream: Stream, on h: Harness, assigned: [String: Assign], killAt: Int?) throws {
        var seq: [String: Int] = [:]
        var acked: [String: Int] = [:]
        struct Abort: Error {}
        for (n, step) in stream.steps.enumerated() {
            if n == killAt {
                // The turn in flight dies with the coordinator: its writes roll back.
                XCTAssertThrowsError(try h.journal.write { w in
                    try h.dispatcher.receive(from: Array("a".utf8), frames: Self.metric(assigned[step.trial]!, seq: seq[step.trial, default: 0], epoch: step.epoch, step.value).frames()[...], now: h.now, journal: w)
                    throw Abort()
                })
                try h.restart()
                let held = try h.journal.trials().filter { $0.state == .running }.map { LeaseReference(trial: $0.id, lease: assigned[$0.id]!.lease) }
                try h.deliver([.hello(Hello(worker: "w-a", host: "h", slots: assigned.count, held: held))], from: "a")
            }
            guard try h.trial(step.trial).state == .running else { continue }  // stopped: its rows end
            let s = seq[step.trial, default: 0]
            seq[step.trial] = s + 1
            let out = try h.deliver([Self.metric(assigned[step.trial]!, seq: s, epoch: step.epoch, step.value)], from: "a")
            for case .ack(let ack) in out.map(\.message) where ack.kind == .metrics { acked[step.trial] = ack.seq }
            h.now += 0.5
        }
    }

    /// A coordinator killed mid-sweep (a turn lost with it) and restarted on its journal makes
    /// the decisions, event by event, that one never stopped makes; and leaves the same trials pruned.
    func testAResumedCoordinatorMakesTheSamePruningDecisions() throws {
        let trials = (0..<30).map { (id: "t\($0)", method: $0 % 3 == 0 ? "lp-ft" : "ft") }
        let rule = PruneRule(metric: "val/accuracy", rungs: [1, 2, 4], eta: 3, within: ["method"])
        let stream = Stream(trials: 30, epochs: 5)
        let (straight, a1) = try harness(trials, rule: rule)
        try play(stream, on: straight, assigned: a1, killAt: nil)
        var restarted: [[SuccessiveHalving.Record]] = []
        for killAt in [17, 61, 95] {
            let (resumed, a2) = try harness(trials, rule: rule)
            try play(stream, on: resumed, assigned: a2, killAt: killAt)
            restarted.append(try resumed.journal.rungDecisions())
            XCTAssertEqual(try resumed.journal.trials().map(\.state), try straight.journal.trials().map(\.state), "killed before step \(killAt)")
        }
        let reference = try straight.journal.rungDecisions()
        XCTAssertGreaterThan(reference.count { $0.decision == "prune" }, 10, "the stream prunes")
        XCTAssertGreaterThan(reference.count { $0.decision == "proceed" && $0.rung == 4 }, 1, "and lets some through every rung")
        for decisions in restarted {
            XCTAssertEqual(decisions.count, reference.count)
            for (i, (x, y)) in zip(decisions, reference).enumerated() { XCTAssertEqual(x, y, "decision \(i)") }
        }
    }

    /// `--retry-failed` gives failed trials new attempts and leaves pruned ones settled.
    func testAPrunedTrialIsNotRetriedByRetryFailed() throws {
        let (h, a) = try harness([("p0", "ft"), ("p1", "ft"), ("p2", "ft")], rule: PruneRule(metric: "val/accuracy", rungs: [1], eta: 2))
        h.settings.maxAttempts = 1
        try h.restart()
        let reassigned = DispatcherTests.assigns(try h.hello("b", slots: 3, held: a.values.map { LeaseReference(trial: $0.trial, lease: $0.lease) }))
        XCTAssertTrue(reassigned.isEmpty)
        try h.deliver([Self.metric(a["p0"]!, seq: 0, epoch: 1, 0.9)], from: "b")
        try h.deliver([Self.metric(a["p1"]!, seq: 0, epoch: 1, 0.1)], from: "b")  // n 2, keep 1: pruned
        try h.deliver([DispatcherTests.result(a["p0"]!), DispatcherTests.result(a["p2"]!, .failed, reason: "boom")], from: "b")
        XCTAssertEqual(try h.journal.trials().map(\.state), [.completed, .pruned, .failed])
        let spec = try temporaryDirectory(self).appendingPathComponent("s.yaml")
        try "base: {method: noop}\n".write(to: spec, atomically: true, encoding: .utf8)
        let seeded = try SweepLaunch.seed(h.journal, spec: spec, planned: [], retryFailed: true, dropRemoved: false)
        XCTAssertEqual(seeded.revived, 1)
        XCTAssertEqual(try h.journal.trials().map(\.state), [.completed, .pruned, .pending])
        try h.restart()
        XCTAssertEqual(DispatcherTests.assigns(try h.hello("c", slots: 3)).map(\.trial), ["p2"], "only the failed trial runs again")
    }

    /// `sweep status` counts pruned trials and says where they were pruned; `--json` too.
    func testStatusShowsPrunedTrials() throws {
        let (h, a) = try harness([("p0", "ft"), ("p1", "ft")], rule: PruneRule(metric: "ft/loss", rungs: [2], eta: 2, goal: .min))
        try h.deliver([Self.metric(a["p0"]!, seq: 0, "ft/loss", epoch: 2, 0.3), Self.metric(a["p1"]!, seq: 0, "ft/loss", epoch: 2, 0.5)], from: "a")
        let status = SweepStatus(name: "s", failures: 5, rank: "validation/accuracy")
        let text = try status.summary(h.journal)
        XCTAssertTrue(text.contains("  pruned 1\n"), text)
        XCTAssertTrue(text.contains("  failed 0\n"), text)
        XCTAssertTrue(text.contains("rung decisions: 2; pruned 1 at epoch 2\n"), text)
        let json = try status.json(h.journal)
        XCTAssertTrue(json.contains("\"pruned\":1"), json)
        XCTAssertTrue(json.contains("\"metrics\":{\"ft/loss\":0.5},\"state\":\"pruned\""), json)
        XCTAssertTrue(status.counts(try SweepResults(journal: h.journal)).hasSuffix("1 pruned"))
    }

    /// A rung at a trial's last FT epoch is not decided: the trial ends there anyway, and
    /// pruning it would only take its final numbers.
    func testARungAtATrialsLastEpochIsNotDecided() throws {
        let h = try Harness(self, trials: 0)
        try h.journal.write { w in
            for i in 0..<2 { try w.addTrial(id: "e\(i)", position: i, axes: "{}", config: "{\"ft\":{\"epochs\":3},\"method\":\"ft\",\"seed\":\(i)}", at: 0) }
        }
        h.settings.prune = PruneRule(metric: "val/accuracy", rungs: [1, 3], eta: 2)
        try h.restart()
        let a = Dictionary(uniqueKeysWithValues: DispatcherTests.assigns(try h.hello("a", slots: 2)).map { ($0.trial, $0) })
        try h.deliver([Self.metric(a["e0"]!, seq: 0, epoch: 1, 0.9), Self.metric(a["e1"]!, seq: 0, epoch: 1, 0.95)], from: "a")
        try h.deliver([Self.metric(a["e0"]!, seq: 1, epoch: 3, 0.5), Self.metric(a["e1"]!, seq: 1, epoch: 3, 0.9)], from: "a")
        XCTAssertEqual(try h.journal.rungDecisions().map { "\($0.trial)@\($0.rung):\($0.decision)" }, ["e0@1:proceed", "e1@1:proceed"])
        XCTAssertEqual(try h.journal.trials().map(\.state), [.running, .running])
    }
}
