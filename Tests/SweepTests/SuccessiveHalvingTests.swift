import Config
import Foundation
@testable import Sweep
import XCTest

/// ASHA's decisions on scripted metrics, against a schedule worked out by hand.
final class SuccessiveHalvingTests: XCTestCase {
    let rule = PruneRule(metric: "val/accuracy", rungs: [1, 3], eta: 3, within: ["method"])

    /// Nine FT trials and three LP-FT trials reach rung 1 in this order; then the survivors
    /// reach rung 3. Worked by hand: at each arrival the trial goes on while fewer than
    /// max(1, ⌊n/3⌋) of the n values recorded so far in its group are better than its own.
    func testDecisionsOnAScriptedStreamEqualTheHandComputedSchedule() {
        var asha = SuccessiveHalving(rule: rule)
        let rung1: [(String, String, Double)] = [
            ("f1", "ft", 0.70),  // n 1, keep 1: first → on
            ("f2", "ft", 0.60),  // n 2, keep 1: 0.70 better → prune
            ("f3", "ft", 0.80),  // n 3, keep 1: none better → on
            ("l1", "lp-ft", 0.50),  // its own group: first → on
            ("f4", "ft", 0.75),  // n 4, keep 1: 0.80 better → prune
            ("f5", "ft", 0.90),  // n 5, keep 1: → on
            ("f6", "ft", 0.85),  // n 6, keep 2: 0.90 better (1 < 2) → on
            ("f7", "ft", 0.65),  // n 7, keep 2: 0.70 0.80 0.75 0.90 0.85 better → prune
            ("l2", "lp-ft", 0.40),  // lp-ft n 2, keep 1: 0.50 better → prune (not judged against FT)
            ("f8", "ft", 0.80),  // n 8, keep 2: 0.90 0.85 better (2, not < 2) → prune; 0.80 ties don't count
            ("f9", "ft", 0.95),  // n 9, keep 3: → on
            ("l3", "lp-ft", 0.55),  // lp-ft n 3, keep 1: → on
        ]
        let decisions = rung1.map { trial, method, value in
            asha.record(trial: trial, group: "method=\(method)", epoch: 1, value: value)!.decision
        }
        XCTAssertEqual(decisions, ["proceed", "prune", "proceed", "proceed", "prune", "proceed", "proceed", "prune", "prune", "prune", "proceed", "proceed"])
        XCTAssertNil(asha.record(trial: "f1", group: "method=ft", epoch: 2, value: 0.9), "epoch 2 is not a rung")
        XCTAssertEqual(asha.record(trial: "f2", group: "method=ft", epoch: 1, value: 0.99)?.decision, "prune", "decided once: a resent metric does not reopen it")
        // Rung 3, FT survivors f1 f3 f5 f6 f9 arrive: keep max(1, ⌊n/3⌋).
        let rung3 = [("f5", 0.91), ("f3", 0.93), ("f9", 0.92), ("f1", 0.80), ("f6", 0.95)].map { trial, value in
            asha.record(trial: trial, group: "method=ft", epoch: 3, value: value)!.decision
        }
        // f5 first → on; f3 n2 keep1 none better → on; f9 n3 keep1 0.93 better → prune;
        // f1 n4 keep1 → prune; f6 n5 keep1 none better → on.
        XCTAssertEqual(rung3, ["proceed", "proceed", "prune", "prune", "proceed"])
    }

    func testAMinimisedMetricAndNaNAreJudgedAsTheyShouldBe() {
        var asha = SuccessiveHalving(rule: PruneRule(metric: "ft/loss", rungs: [2], eta: 2, goal: .min))
        XCTAssertEqual(asha.record(trial: "a", group: "", epoch: 2, value: 0.5)?.decision, "proceed")
        XCTAssertEqual(asha.record(trial: "b", group: "", epoch: 2, value: 0.4)?.decision, "proceed", "lower is better")
        XCTAssertEqual(asha.record(trial: "c", group: "", epoch: 2, value: 0.6)?.decision, "prune")
        XCTAssertEqual(asha.record(trial: "d", group: "", epoch: 2, value: .nan)?.decision, "prune", "a diverged trial never goes on")
    }

    /// A coordinator restarted mid-sweep replays the journaled decisions and then decides
    /// exactly as the one that never stopped.
    func testAReplayedSchedulerDecidesAsTheOriginalWould() {
        let stream: [(String, Int, Double)] = (0..<30).map { i in ("t\(i % 12)", i < 12 ? 1 : 3, Double((i * 37) % 17) / 17) }
        var straight = SuccessiveHalving(rule: rule)
        let all = stream.compactMap { straight.record(trial: $0.0, group: "g", epoch: $0.1, value: $0.2) }
        var first = SuccessiveHalving(rule: rule)
        let before = stream.prefix(13).compactMap { first.record(trial: $0.0, group: "g", epoch: $0.1, value: $0.2) }
        var restored = SuccessiveHalving.replay(before, rule: rule)
        let after = stream.dropFirst(13).compactMap { restored.record(trial: $0.0, group: "g", epoch: $0.1, value: $0.2) }
        XCTAssertEqual(before + after, all, "event by event")
    }

    func testAPruneRuleIsReadWithItsKeysChecked() throws {
        func rule(_ yaml: String) throws -> PruneRule { try PruneRule(try ConfigReader.parse(yaml, file: "s.yaml")) }
        XCTAssertEqual(try rule("{metric: val/accuracy, rungs: [1, 3], eta: 3, within: [method]}"),
                       PruneRule(metric: "val/accuracy", rungs: [1, 3], eta: 3, within: ["method"], goal: .max))
        XCTAssertThrowsError(try rule("{metric: ft/loss, rungs: [3, 1], eta: 3}")) {
            XCTAssertTrue("\($0)".contains("rungs: required: increasing epochs"), "\($0)")
        }
        XCTAssertThrowsError(try rule("{metric: ft/loss, rungs: [1], eta: 1}"))
        XCTAssertEqual(try rule("{metric: ft/loss, rungs: [1], eta: 2}").goal, .min, "a loss is minimised unless told")
        XCTAssertEqual(SuccessiveHalving.group(of: ["method": .string("ft")], config: "{}", within: ["method"]), "method=ft")
    }

    /// `prune:` in a spec: read into the spec, and a bad value named by its key.
    func testASpecAcceptsPruneAndNamesTheKeyOfABadValue() throws {
        let base = "base: {method: noop}\ngrid: {method: [ft, lp-ft], seed: [1, 2]}\n"
        func spec(_ prune: String) throws -> SweepSpec { try SweepSpec(yaml: base + "prune: " + prune + "\n", file: "s.yaml") }
        func error(_ prune: String) -> String {
            do {
                _ = try spec(prune).plan { m, _ in String(decoding: try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]), as: UTF8.self) }
                return ""
            } catch { return "\(error)" }
        }
        XCTAssertEqual(try spec("{metric: val/accuracy, rungs: [1, 3, 9], eta: 3, within: [method]}").prune,
                       PruneRule(metric: "val/accuracy", rungs: [1, 3, 9], eta: 3, within: ["method"]))
        XCTAssertNil(try SweepSpec(yaml: base, file: "s.yaml").prune, "opt-in: no rule, no pruning")
        XCTAssertTrue(error("{metric: validation/accuracy, rungs: [1], eta: 3}").contains("s.yaml: prune.metric: validation/accuracy is not streamed per epoch"), error("{metric: validation/accuracy, rungs: [1], eta: 3}"))
        XCTAssertTrue(error("{metric: val/accuracy, rungs: [0, 2], eta: 3}").contains("s.yaml: prune.rungs: required: increasing epochs"))
        XCTAssertTrue(error("{metric: val/accuracy, rungs: [1], eta: 1}").contains("s.yaml: prune.eta: 1 is outside 2…1000"))
        XCTAssertTrue(error("{metric: val/accuracy, rungs: [1], eta: 3, goal: up}").contains("s.yaml: prune.goal: \"up\" is not one of max, min"))
        XCTAssertTrue(error("{metric: val/accuracy, rungs: [1], eta: 3, grace: 1}").contains("s.yaml: prune.grace: unknown key"))
        XCTAssertTrue(error("[1, 3]").contains("s.yaml: prune: expected a mapping"))
        XCTAssertTrue(error("{metric: val/accuracy, rungs: [1], eta: 3, within: [methd]}").contains("s.yaml: prune.within: no trial has a setting methd"),
                      error("{metric: val/accuracy, rungs: [1], eta: 3, within: [methd]}"))
        XCTAssertEqual(error("{metric: val/accuracy, rungs: [1], eta: 3, within: [method, seed]}"), "")
    }

    /// A rung's rank by binary search counts what the pass over every value counted: ties,
    /// repeats and NaNs included, for both goals.
    func testARungsRankIsThePlainCount() {
        var rung = SuccessiveHalving.Rung()
        var values: [Double] = []
        var state: UInt64 = 7
        for _ in 0..<500 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let v = state % 17 == 0 ? Double.nan : Double(state >> 58) / 8  // few distinct values: many ties
            rung.insert(v)
            values.append(v)
            for probe in [v, 0, 3.5, .infinity, .nan] {
                XCTAssertEqual(rung.count(betterThan: probe, goal: .max), values.count { $0 > probe })
                XCTAssertEqual(rung.count(betterThan: probe, goal: .min), values.count { $0 < probe })
            }
            XCTAssertEqual(rung.count, values.count)
        }
    }

    /// A decision's event text (written by hand, for speed) reads back as the decision, with
    /// quotes, backslashes, control characters and a NaN in it.
    func testADecisionsEventTextReadsBack() throws {
        var asha = SuccessiveHalving(rule: rule)
        let record = try XCTUnwrap(asha.record(trial: "t\"1", group: "method=a\\b\n\u{1}é", epoch: 1, value: .nan))
        let text = TrialPruner.json(record)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)), text)
        let back = try TrialPruner.record(text)
        XCTAssertEqual([back.trial, back.group, back.decision], [record.trial, record.group, "prune"])
        XCTAssertTrue(back.value.isNaN)
        let finite = try XCTUnwrap(asha.record(trial: "u", group: "g", epoch: 3, value: 1e-05))
        XCTAssertEqual(try TrialPruner.record(TrialPruner.json(finite)), finite)
    }
}
