import Config
import Foundation
@testable import Sweep
import XCTest

final class SweepSpecTests: XCTestCase {
    /// Canonical JSON of the merged mapping: stands in for the trial config reader.
    func canonical(_ mapping: [String: Any], _ label: String) throws -> String {
        if let seed = mapping["seed"] as? Int, seed < 0 { throw ConfigError(file: label, path: "seed", reason: "must not be negative") }
        return String(decoding: try JSONSerialization.data(withJSONObject: mapping, options: [.sortedKeys]), as: UTF8.self)
    }

    func plan(_ yaml: String) throws -> [PlannedTrial] {
        try SweepSpec(yaml: yaml, file: "s.yaml").plan(resolve: canonical)
    }

    let spec = """
        base: {task: rt-polarity, ft: {epochs: 2}}
        grid:
          method: [ft, lp-ft, lora, lp-lora]
          seed: [1, 2]
          lp.epochs: {values: [1, 10], when: {method: [lp-ft, lp-lora]}}
          lora.rank: {values: [4, 8], when: {method: [lora, lp-lora]}}
        overrides:
          - {when: {method: [lora, lp-lora]}, set: {ft.lr: 0.001}}
        trials:
          - {method: lp, seed: 1}
          - {method: ft, seed: 1}
        """

    func testConditionalAxesMultiplyOnlyWhereTheyApply() throws {
        let trials = try plan(spec)
        // ft 2, lp-ft 2×2, lora 2×2, lp-lora 2×2×2, plus one new explicit trial (the other repeats a grid trial).
        XCTAssertEqual(trials.count, 2 + 4 + 4 + 8 + 1)
        let ft = trials.filter { $0.axes["method"] == .string("ft") }
        XCTAssertEqual(ft.count, 2)
        XCTAssertTrue(ft.allSatisfy { $0.axes["lora.rank"] == nil && $0.axes["lp.epochs"] == nil }, "non-applying axes never multiply")
        let lpLoRA = trials.filter { $0.axes["method"] == .string("lp-lora") }
        XCTAssertEqual(Set(lpLoRA.map { "\($0.axes["lp.epochs"]!)/\($0.axes["lora.rank"]!)" }), ["1/4", "1/8", "10/4", "10/8"])
    }

    func testAConditionMayDependOnAnotherConditionalAxis() throws {
        let trials = try plan("""
            base: {task: rt-polarity}
            grid:
              method: [ft, lp-ft]
              lp.solver: {values: [logistic, sgd], when: {method: [lp-ft]}}
              lp.epochs: {values: [10, 100], when: {lp.solver: [sgd]}}
            """)
        // ft; lp-ft with the logistic solver (no epochs axis); lp-ft with sgd for 10 and 100 epochs.
        XCTAssertEqual(trials.map { t in ["method", "lp.solver", "lp.epochs"].map { t.axes[$0]?.description ?? "—" }.joined(separator: "/") },
                       ["ft/—/—", "lp-ft/logistic/—", "lp-ft/sgd/10", "lp-ft/sgd/100"])
    }

    func testOverridesAndDottedPathsReachTheConfig() throws {
        let trials = try plan(spec)
        for t in trials {
            let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(t.canonicalConfig.utf8)) as? [String: Any])
            let ft = try XCTUnwrap(config["ft"] as? [String: Any])
            XCTAssertEqual(ft["epochs"] as? Int, 2, "base values survive dotted-path merges")
            let isLoRA = ["lora", "lp-lora"].contains(config["method"] as? String)
            XCTAssertEqual(ft["lr"] as? Double, isLoRA ? 0.001 : nil, "\(t.axes)")
            if let rank = t.axes["lora.rank"] { XCTAssertEqual((config["lora"] as? [String: Any])?["rank"] as? Int, Int(rank.description)) }
        }
    }

    func testIdsAreHashesOfTheCanonicalConfig() throws {
        let a = try plan(spec), b = try plan(spec)
        XCTAssertEqual(a.map(\.id), b.map(\.id), "stable")
        XCTAssertEqual(Set(a.map(\.id)).count, a.count, "distinct trials, distinct ids")
        XCTAssertTrue(a.allSatisfy { $0.id.count == 16 && $0.id.allSatisfy(\.isHexDigit) })
        // Adding an axis value keeps every existing trial's id: a rerun adds only the new trials.
        let grown = try plan(spec.replacingOccurrences(of: "seed: [1, 2]", with: "seed: [1, 2, 3]"))
        XCTAssertTrue(Set(a.map(\.id)).isSubset(of: Set(grown.map(\.id))))
        XCTAssertGreaterThan(grown.count, a.count)
    }

    func testBadSpecsNameTheFileKeyAndReason() {
        func error(_ yaml: String) -> String {
            do { _ = try plan(yaml); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(error("grid: {seed: [1]}").contains("s.yaml: base: required"))
        XCTAssertTrue(error("base: {}\ngrid: {seed: 3}").contains("s.yaml: grid.seed: expected a list of values"))
        XCTAssertTrue(error("base: {}\ngrid: {seed: []}").contains("grid.seed: an axis needs at least one value"))
        XCTAssertTrue(error("base: {}\ngrid: {seed: {values: [1], when: 3}}").contains("grid.seed.when: expected a mapping"))
        XCTAssertTrue(error("base: {}\ngrid: {seed: {values: [1], if: {method: ft}}}").contains("grid.seed.if: unknown key"))
        XCTAssertTrue(error("base: {}\nbogus: 1").contains("s.yaml: bogus: unknown key"))
        // A misspelt required key is named as what it is, not reported as the key missing.
        XCTAssertEqual(error("bse: {method: noop}\ngrid: {seed: [1]}"), "s.yaml: bse: unknown key (known here: base, grid, overrides, prune, seed, trials)")
        XCTAssertTrue(error("base: {}\noverrides: [{when: {method: ft}}]").contains("overrides[0].set: required"))
        // An invalid trial names the axis values that made it.
        XCTAssertTrue(error("base: {}\ngrid: {seed: [1, -5]}").contains("s.yaml (trial seed=-5): seed: must not be negative"), error("base: {}\ngrid: {seed: [1, -5]}"))
    }

    /// The count that guards planning agrees with the plan (duplicates included) without
    /// building a trial, for conditional axes, one that depends on another, and explicit trials.
    func testTrialCountIsTheGridBeforePlanning() throws {
        XCTAssertEqual(try SweepSpec(yaml: spec, file: "s.yaml").trialCount(upTo: 100), 2 + 4 + 4 + 8 + 2, "the repeated explicit trial counts")
        let nested = try SweepSpec(yaml: """
            base: {task: rt-polarity}
            grid:
              method: [ft, lp-ft]
              seed: [1, 2, 3]
              lp.solver: {values: [logistic, sgd], when: {method: [lp-ft]}}
              lp.epochs: {values: [10, 100], when: {lp.solver: [sgd]}}
            """, file: "s.yaml")
        XCTAssertEqual(nested.trialCount(upTo: 100), 3 * (1 + 1 + 2))
        XCTAssertEqual(try nested.plan(resolve: canonical).count, 12)
    }

    /// 10^7 points are refused at once, by their number, with the override named; a modest cap
    /// refuses a small grid until raised to its size.
    func testAGridAboveTheCapIsRefusedNamingItsSizeAndTheOverride() throws {
        let axes = (0..<7).map { "  x\($0): [\((0..<10).map(String.init).joined(separator: ", "))]" }.joined(separator: "\n")
        let huge = try SweepSpec(yaml: "base: {task: t}\ngrid:\n" + axes, file: "s.yaml")
        let start = Date()
        XCTAssertThrowsError(try huge.plan(resolve: canonical)) {
            XCTAssertEqual("\($0)", "s.yaml: grid: makes 10000000 trials, more than --max-trials (100000): pass --max-trials 10000000 to plan them all")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused by counting, not by expanding")

        let twelve = try SweepSpec(yaml: "base: {task: t}\ngrid:\n  seed: [1, 2, 3, 4, 5, 6]\n  lr: [1, 2]", file: "s.yaml")
        XCTAssertThrowsError(try twelve.plan(maximumTrials: 10, resolve: canonical)) {
            XCTAssertEqual("\($0)", "s.yaml: grid: makes 12 trials, more than --max-trials (10): pass --max-trials 12 to plan them all")
        }
        var told: [Int] = []
        XCTAssertEqual(try twelve.plan(maximumTrials: 12, progress: { done, total in told.append(done); XCTAssertEqual(total, 12) }, resolve: canonical).count, 12)
        XCTAssertEqual(told, Array(0...12), "before each trial and at the end")
    }

    /// Conditions read by many distinct values cannot be counted by groups cheaply: counting
    /// stops past the cap, and the error says "more than".
    func testAGridTooVariedToCountIsRefusedAsMoreThanTheCap() throws {
        let many = try SweepSpec(yaml: """
            base: {task: t}
            grid:
              seed: [\((1...20).map(String.init).joined(separator: ", "))]
              lr: {values: [1, 2], when: {seed: [1]}}
            """, file: "s.yaml")
        XCTAssertNil(many.trialCount(upTo: 10))
        XCTAssertEqual(many.trialCount(upTo: 100), 21)
        XCTAssertThrowsError(try many.plan(maximumTrials: 10, resolve: canonical)) {
            XCTAssertEqual("\($0)", "s.yaml: grid: makes more than 10 trials (--max-trials): make it smaller, or raise --max-trials")
        }
    }
}

/// `--where` and `--arm` filters: numbers as numbers, config keys beside axes.
final class TrialFilterTests: XCTestCase {
    func row(_ axes: [String: ConfigValue], config: String = "{}") -> TrialRow {
        TrialRow(id: "t", state: .completed, axes: axes, config: config, metrics: [:], attempts: 1, seconds: nil, reason: nil)
    }

    func testARateWrittenAnyWayMatchesTheStoredValue() throws {
        let stored = row(["ft.lr": .number(5e-05), "method": .string("ft")])
        XCTAssertEqual(ConfigValue.number(5e-05).description, "5e-05", "how the journal's axis prints")
        XCTAssertTrue(try TrialFilter("ft.lr=5e-5").accepts(stored))
        XCTAssertTrue(try TrialFilter("ft.lr=0.00005,method=ft").accepts(stored))
        XCTAssertFalse(try TrialFilter("ft.lr!=5e-5").accepts(stored))
        XCTAssertFalse(try TrialFilter("ft.lr=5e-6").accepts(stored))
        XCTAssertTrue(try TrialFilter("head_scale=0.5").accepts(row([:], config: #"{"head_scale":0.5}"#)), "a config key, not an axis")
    }

    func testAnUnknownAxisIsAnErrorNamingTheKnownOnes() throws {
        let trials = [row(["method": .string("ft"), "seed": .integer(1)], config: #"{"ft":{"lr":1e-05}}"#)]
        XCTAssertNoThrow(try TrialFilter("ft.lr=1e-5").check(against: trials, axes: ["method", "seed"]))
        XCTAssertThrowsError(try TrialFilter("ft.rl=1e-5").check(against: trials, axes: ["method", "seed"])) {
            XCTAssertEqual("\($0)", "--where: ft.rl is neither a swept axis (method, seed) nor a key of the trials' config")
        }
    }
}

/// Sampled axes: drawn by the sweep's seed, the same plan everywhere.
final class SampledAxisTests: XCTestCase {
    let spec = """
        seed: 7
        base: {method: x}
        grid:
          method: [ft, lp-ft]
          ft.lr: {log_uniform: [1.0e-6, 1.0e-4], samples: 6}
          lp.batch_size: {choice: [16, 32, 64], samples: 2, when: {method: [lp-ft]}}
          head_scale: {uniform: [0.25, 1], samples: 3}
        """

    func plan(_ text: String, file: String = "s.yaml") throws -> [PlannedTrial] {
        try SweepSpec(yaml: text, file: file).plan { mapping, _ in
            String(decoding: try JSONSerialization.data(withJSONObject: mapping, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    func testDrawsAreFixedBySeedInBoundsAndCrossTheGrid() throws {
        let a = try plan(spec), b = try plan(spec, file: "/elsewhere/on/another/machine/s.yaml")
        XCTAssertEqual(a.map(\.id), b.map(\.id), "the same plan twice, from any path")
        let rates = Set(a.compactMap { $0.axes["ft.lr"]?.description }).compactMap(Double.init)
        XCTAssertEqual(rates.count, 6)
        XCTAssertTrue(rates.allSatisfy { (1e-6...1e-4).contains($0) }, "\(rates)")
        XCTAssertTrue(rates.allSatisfy { Double(String(format: "%.4g", $0)) == $0 }, "four significant digits")
        let scales = Set(a.compactMap { $0.axes["head_scale"]?.description }).compactMap(Double.init)
        XCTAssertTrue(scales.allSatisfy { (0.25...1).contains($0) }, "\(scales)")
        // FT: 6 rates × 3 scales; LP-FT also × the distinct batch sizes drawn.
        let batches = Set(a.compactMap { $0.axes["lp.batch_size"]?.description })
        XCTAssertTrue(batches.isSubset(of: ["16", "32", "64"]))
        XCTAssertEqual(a.count, 18 + 18 * batches.count)
        let ftRates = Set(a.filter { $0.axes["method"] == .string("ft") }.compactMap { $0.axes["ft.lr"]?.description })
        let lpftRates = Set(a.filter { $0.axes["method"] == .string("lp-ft") }.compactMap { $0.axes["ft.lr"]?.description })
        XCTAssertEqual(ftRates, lpftRates, "both methods get the same rates, so they pair")
        let reseeded = try plan(spec.replacingOccurrences(of: "seed: 7", with: "seed: 8"))
        XCTAssertNotEqual(Set(reseeded.map(\.id)), Set(a.map(\.id)), "another seed draws other values")
    }

    func testLogUniformSpreadsOverTheDecades() throws {
        let text = "base: {method: x}\ngrid:\n  ft.lr: {log_uniform: [1.0e-6, 1.0e-2], samples: 400}\n"
        let rates = try plan(text).compactMap { $0.axes["ft.lr"]?.description }.compactMap(Double.init)
        // Four decades: about a quarter of the draws in each (binomial sd √(400·¼·¾) ≈ 8.7).
        for decade in 0..<4 {
            let lo = 1e-6 * pow(10, Double(decade))
            let count = rates.filter { $0 >= lo && $0 < lo * 10 }.count
            XCTAssertEqual(Double(count), 100, accuracy: 35, "decade from \(lo): \(count) of \(rates.count)")
        }
    }

    func testBadSampledAxesNameTheKeyAndReason() {
        for (axis, expected) in [("{log_uniform: [0, 1], samples: 3}", "needs positive bounds"),
                                 ("{uniform: [1, 0], samples: 3}", "expected [low, high] with low < high"),
                                 ("{uniform: [0, 1]}", "samples: required with uniform"),
                                 ("{uniform: [0, 1], choice: [1], samples: 2}", "give one of values, log_uniform, uniform, choice")] {
            XCTAssertThrowsError(try plan("base: {method: x}\ngrid:\n  ft.lr: \(axis)\n")) {
                XCTAssertTrue("\($0)".contains(expected), "\(axis): \($0)")
            }
        }
    }
}
