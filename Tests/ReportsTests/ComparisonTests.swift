import Foundation
@testable import Reports
import Sweep
import TestSupport
import TrialContract
import XCTest

/// `lpft sweep compare` and the verdicts every comparison prints.
final class ComparisonTests: XCTestCase {
    /// Writes completed trials into a new journal in `dir`: each with its axes, a config that
    /// holds them (as a planned trial's resolved config does), its test accuracy and, when given,
    /// per-example test predictions.
    func journal(_ dir: URL, _ trials: [(axes: [String: Any], accuracy: Double, correct: [Bool]?)]) throws -> Journal {
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (i, t) in trials.enumerated() {
                var config = ConfigValue.mapping([:])
                config = config.setting(t.axes.mapValues(ConfigValue.init))
                let configText = String(decoding: try JSONSerialization.data(withJSONObject: config.any, options: .sortedKeys), as: UTF8.self)
                let id = String(format: "%016x", configText.hashValue & 0xFFFF_FFFF) + "\(i)"
                let axes = String(decoding: try JSONSerialization.data(withJSONObject: t.axes, options: .sortedKeys), as: UTF8.self)
                try w.addTrial(id: id, position: i, axes: axes, config: configText, at: 0)
                let result = "{\"status\":\"completed\",\"metrics\":{\"test/accuracy\":\(t.accuracy)}}"
                let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 0)
                try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
                try w.updateTrial(id, state: .completed, chargedAttempts: 0, result: result)
                if let correct = t.correct {
                    // Class 1 is right: a logit of ±1 says whether the model chose it.
                    let p = TrialPredictions(labels: ["neg", "pos"], temperature: 1,
                                             splits: ["test": .init(rows: Array(correct.indices), targets: correct.map { _ in 1 }, logits: correct.flatMap { [0, $0 ? 1 : -1] })])
                    try w.recordPredictions(lease: lease, trial: id, json: p.json())
                }
            }
        }
        return journal
    }

    /// Two sweep directories side by side, named as `sweep=NAME` selects them.
    func sweepDirectories(_ first: String, _ second: String) throws -> (URL, URL) {
        let root = try temporaryDirectory(self)
        let dirs = (root.appendingPathComponent(first), root.appendingPathComponent(second))
        for dir in [dirs.0, dirs.1] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        return dirs
    }

    func results(_ dirs: [URL]) throws -> SweepResults {
        SweepResults(combining: try dirs.map { (name: $0.lastPathComponent, results: try SweepResults(journal: try Journal(readingDirectory: $0))) })
    }

    /// The new user's sweep: FT and LP-FT both sweep ft.lr over two values and three seeds.
    /// Each rate is its own row with its own three pairs, never one pooled row of six.
    func testASweptRateIsMatchedNeverPooled() throws {
        let dir = try temporaryDirectory(self)
        var trials: [(axes: [String: Any], accuracy: Double, correct: [Bool]?)] = []
        for (lr, shift) in [(1e-5, 0.0), (5e-5, 0.1)] {
            for seed in [1, 2, 3] {
                trials.append((["method": "ft", "ft.lr": lr, "seed": seed], 0.70 + shift + 0.01 * Double(seed), nil))
                trials.append((["method": "lp-ft", "ft.lr": lr, "seed": seed], 0.72 + shift + 0.01 * Double(seed) + (lr > 2e-5 ? -0.05 : 0), nil))
            }
        }
        _ = try journal(dir, trials)
        let r = try results([dir])
        let matching = try ArmMatching(r.trials, arm: try TrialFilter("method=lp-ft", option: "--arm"), against: try TrialFilter("method=ft", option: "--against"), axes: r.axes)
        let rows = matching.comparisons(metrics: ["test/accuracy"], armText: "lp-ft", againstText: "ft")
        XCTAssertEqual(rows.count, 2, "one row per learning rate")
        XCTAssertEqual(rows.map(\.matchedOn), [["ft.lr"], ["ft.lr"]])
        XCTAssertEqual(rows.map { $0.differences.count }, [3, 3])
        XCTAssertEqual(rows[0].differences.map(\.value).map { ($0 * 100).rounded() }, [2, 2, 2], "lr 1e-05: +0.02 on every seed")
        XCTAssertEqual(rows[1].differences.map(\.value).map { ($0 * 100).rounded() }, [-3, -3, -3], "lr 5e-05: −0.03 on every seed")
        // Each row names its rate, in `sweep compare`'s cells and in claim 4's table and words.
        XCTAssertEqual(rows.map(\.armCellText), ["ft.lr=1e-05", "ft.lr=5e-05"])
        XCTAssertEqual(rows.map(\.againstCellText), ["ft.lr=1e-05", "ft.lr=5e-05"])
        XCTAssertEqual(rows.map(\.cellsText), ["ft.lr=1e-05 in both", "ft.lr=5e-05 in both"])
        let claim = SweepReport(results: r, directory: dir.path).paperConclusions().claims[3]
        XCTAssertTrue(claim.evidence.hasPrefix("LP-FT in 2 arms, FT in 2, judged pair by pair; paired LP-FT − FT, mean [95% CI]: test/accuracy (ft.lr=1e-05) +0.0200"),
                      "no pooled mean over the two rates: \(claim.evidence)")
    }

    /// A sampled search: twenty rates in both methods, LP-FT's written as text ("3e-6") where
    /// FT's are numbers (3e-06): each rate pairs with its own by value, and claim 4 lists the
    /// first arms and counts the rest instead of thousands in one table cell.
    func testManyArmsPairByValueAndAClaimListsAHandful() throws {
        let dir = try temporaryDirectory(self)
        var trials: [(axes: [String: Any], accuracy: Double, correct: [Bool]?)] = []
        for k in 1...20 {
            for seed in [1, 2, 3] {
                // FT's accuracy depends on the rate, so a pair of two rates has a difference of its own.
                trials.append((["method": "ft", "ft.lr": Double("\(k)e-6")!, "seed": seed], 0.50 + 0.01 * Double(k) + 0.001 * Double(seed), nil))
                trials.append((["method": "lp-ft", "ft.lr": "\(k)e-6", "seed": seed], 0.50 + 0.011 * Double(k) + 0.001 * Double(seed), nil))
            }
        }
        _ = try journal(dir, trials)
        let r = try results([dir])
        let matching = try ArmMatching(r.trials, arm: try TrialFilter("method=lp-ft"), against: try TrialFilter("method=ft"), axes: r.axes)
        let rows = matching.comparisons(metrics: ["test/accuracy"], armText: "lp-ft", againstText: "ft")
        XCTAssertEqual(rows.count, 20, "each rate with its own, none with another")
        XCTAssertEqual(Set(rows.map { ($0.mean * 1000).rounded() }), Set((1...20).map(Double.init)), "LP-FT − FT at the same rate: +0.001 per step of the rate")
        XCTAssertTrue(rows.allSatisfy { $0.differences.count == 3 && TrialSettings.same($0.armCell["ft.lr"]!, $0.againstCell["ft.lr"]!) })
        // An arm whose trials spell one rate two ways is one cell.
        let lpft = r.trials.filter { $0.axes["method"]?.description == "lp-ft" }.map { ($0, ArmMatching.settings($0)) }
        var respelt = lpft[0].1
        respelt["ft.lr"] = String(Double(respelt["ft.lr"]!)!)
        respelt["seed"] = "4"
        XCTAssertNotEqual(respelt["ft.lr"], lpft[0].1["ft.lr"])
        XCTAssertEqual(try ArmMatching.cells(lpft + [(lpft[0].0, respelt)], option: "--arm").0.count, 20)

        let evidence = SweepReport(results: r, directory: dir.path).paperConclusions().claims[3].evidence
        XCTAssertEqual(evidence.components(separatedBy: "test/accuracy (").count - 1, SweepReport.listedArms)
        XCTAssertTrue(evidence.hasSuffix("; and \(20 - SweepReport.listedArms) more"), evidence)
    }

    /// A baseline planned before `pooling` existed never wrote it: `pooling=cls` still finds its
    /// trials (the default, filled back in), and a combined arm is split by pooling, named.
    func testASettingLeftOutAtItsDefaultIsFoundByItsDefault() throws {
        let (base, follow) = try sweepDirectories("baseline", "pooled")
        _ = try journal(base, [1, 2, 3].map { (["method": "lp", "seed": $0], 0.72 + 0.01 * Double($0), nil) })
        _ = try journal(follow, [1, 2, 3].map { (["method": "lp", "pooling": "mean", "seed": $0], 0.80 + 0.01 * Double($0), nil) })
        let r = try results([base, follow])
        let matching = try ArmMatching(r.trials, arm: try TrialFilter("pooling=mean"), against: try TrialFilter("pooling=cls"), axes: r.axes)
        let rows = matching.comparisons(metrics: ["test/accuracy"], armText: "mean", againstText: "cls")
        XCTAssertEqual(rows.map { ($0.mean * 100).rounded() }, [8])
        XCTAssertEqual(rows.map { $0.differences.map(\.seed) }, [["1", "2", "3"]])

        let cells = try ArmMatching.cells(r.trials.map { ($0, ArmMatching.settings($0)) }, option: "--arm").0
        XCTAssertEqual(cells.map { ArmMatching.label($0.settings) }, ["pooling=cls, sweep=baseline", "pooling=mean, sweep=pooled"])
    }

    /// A follow-up sweep against a finished baseline: arms from two directories pair by seed,
    /// and a rate swept in the follow-up alone splits its arm.
    func testTwoSweepsPairAcrossDirectories() throws {
        let (base, follow) = try sweepDirectories("baseline", "follow-up")
        _ = try journal(base, [1, 2, 3].map { (["method": "ft", "seed": $0], 0.80 + 0.01 * Double($0), nil) })
        _ = try journal(follow, [1e-5, 3e-6].flatMap { lr in [1, 2, 3].map { (["method": "lp-ft", "ft.lr": lr, "seed": $0], 0.79 + 0.01 * Double($0) + (lr < 5e-6 ? 0.02 : 0), nil) } })
        let r = try results([base, follow])
        let matching = try ArmMatching(r.trials, arm: try TrialFilter("method=lp-ft"), against: try TrialFilter("method=ft,sweep=baseline"), axes: r.axes)
        let rows = matching.comparisons(metrics: ["test/accuracy"], armText: "lp-ft", againstText: "ft")
        XCTAssertEqual(rows.map(\.variant), ["ft.lr=1e-05", "ft.lr=3e-06"])
        XCTAssertEqual(rows.map { $0.differences.map(\.seed) }, [["1", "2", "3"], ["1", "2", "3"]])
        XCTAssertEqual(rows.map { ($0.mean * 100).rounded() }, [-1, 1])
        XCTAssertEqual(rows[1].verdict, .higher)
    }

    func testSelectorsThatSelectNothingOrTooMuchAreErrors() throws {
        let dir = try temporaryDirectory(self)
        _ = try journal(dir, [1, 2, 3].flatMap { seed in ["ft", "lp-ft"].map { (["method": $0, "seed": seed], 0.8, nil) } })
        let r = try results([dir])
        XCTAssertThrowsError(try ArmMatching(r.trials, arm: try TrialFilter("method=lp-ft"), against: try TrialFilter("metod=ft", option: "--against"), axes: r.axes)) {
            XCTAssertTrue("\($0)".contains("--against: metod is neither a swept axis (method, seed)"), "\($0)")
        }
        XCTAssertThrowsError(try ArmMatching(r.trials, arm: try TrialFilter("method=lora", option: "--arm"), against: try TrialFilter("method=ft"), axes: r.axes)) {
            XCTAssertTrue("\($0)".contains("--arm: selects no completed trial"), "\($0)")
        }
        XCTAssertThrowsError(try ArmMatching(r.trials, arm: try TrialFilter("seed=1"), against: try TrialFilter("method=ft"), axes: r.axes)) {
            XCTAssertTrue("\($0)".contains("both select"), "\($0)")
        }
    }

    /// A margin fixed before the run (issue 37's: half a point): at 1e-5 LP-FT trails by 0.002
    /// ± 0.001 a seed, inconclusive in sign, but its interval's lower end, −0.0045, lies above
    /// −0.005; at 1e-6 it trails by 0.05 and is not shown to be no worse.
    func testAMarginSaysWhetherAnArmIsShownToBeNoWorse() throws {
        let dir = try temporaryDirectory(self)
        var trials: [(axes: [String: Any], accuracy: Double, correct: [Bool]?)] = []
        for (seed, ft) in [(1, 0.80), (2, 0.82), (3, 0.81)] {
            trials.append((["method": "ft", "seed": seed], ft, nil))
            trials.append((["method": "lp-ft", "ft.lr": 1e-5, "seed": seed], ft - [0.002, 0.001, 0.003][seed - 1], nil))
            trials.append((["method": "lp-ft", "ft.lr": 1e-6, "seed": seed], ft - 0.05, nil))
        }
        _ = try journal(dir, trials)
        let report = try ComparisonReport.make(directories: [dir.path], arm: "method=lp-ft", against: "method=ft", metrics: ["test/accuracy"], margin: 0.005)
        XCTAssertTrue(report.contains("| mean [95% CI] | verdict | margin 0.0050 | examples"), report)
        // Which side of 0 is inconclusive, yet a loss beyond the margin is excluded.
        XCTAssertTrue(report.contains("is excluded | no worse than -0.0050 (the interval's lower end -0.0045 lies above it) |"), report)
        XCTAssertTrue(report.contains("| not shown to be no worse than -0.0050 (the interval's lower end -0.0500 lies below it) |"), report)
        XCTAssertThrowsError(try ComparisonReport.make(directories: [dir.path], arm: "method=lp-ft", against: "method=ft", metrics: nil, margin: 0)) {
            XCTAssertTrue("\($0)".contains("--margin: 0.0 is not a positive difference"), "\($0)")
        }
        XCTAssertFalse(try ComparisonReport.make(directories: [dir.path], arm: "method=lp-ft", against: "method=ft", metrics: nil).contains("margin"), "no column unless asked")
    }

    /// Where lower is better (ECE) "no worse" rests on the interval's upper end; a metric with
    /// no better side (Diff(F)) takes no margin, and two seeds decide nothing.
    func testAMarginFollowsTheMetricsBetterSide() {
        let pair = { (metric: String, values: [Double]) in
            PairedComparison(arm: "a", against: "b", armCell: [:], againstCell: [:], matchedOn: [], metric: metric,
                             differences: values.enumerated().map { ("\($0.offset + 1)", $0.element) }, examples: nil)
        }
        // ECE 0.002 ± 0.001 higher a seed: the upper end +0.0045 lies below +0.005.
        XCTAssertEqual(pair("test/ece", [0.002, 0.001, 0.003]).isNoWorse(margin: 0.005), true)
        XCTAssertEqual(pair("test/ece", [0.002, 0.001, 0.003]).marginText(0.005), "no worse than +0.0050 (the interval's upper end +0.0045 lies below it)")
        XCTAssertEqual(pair("test/ece", [0.002, 0.001, 0.003]).isNoWorse(margin: 0.004), false)
        XCTAssertEqual(pair("test/accuracy", [0.002, 0.001, 0.003]).isNoWorse(margin: 0.001), true, "a gain is no worse")
        XCTAssertNil(pair("features/diff", [1, 2, 3]).isNoWorse(margin: 0.5))
        XCTAssertNil(pair("test/accuracy", [0.01, 0.02]).isNoWorse(margin: 0.5), "two seeds")
        XCTAssertEqual(TrialMetric.better("ood/tweets-sentiment/accuracy"), .higher)
        XCTAssertEqual(TrialMetric.better("test/ece@T"), .lower)
        XCTAssertEqual(TrialMetric.better("ft/loss"), .lower)
        XCTAssertNil(TrialMetric.better("temperature"))
    }

    /// One test per verdict word.
    func testVerdictsNameASideOnlyWhenTheIntervalExcludesZero() {
        XCTAssertEqual(IntervalVerdict(interval: 0.01...0.03, seeds: 5), .higher)
        XCTAssertEqual(IntervalVerdict(interval: -0.03 ... -0.01, seeds: 5), .lower)
        XCTAssertEqual(IntervalVerdict(interval: -0.02...0.01, seeds: 5), .inconclusive(-0.02...0.01))
        XCTAssertEqual(IntervalVerdict(interval: -0.02...0.01, seeds: 5).text,
                       "inconclusive: no detectable difference; a gain above +0.0100 or a loss beyond -0.0200 is excluded")
        XCTAssertEqual(IntervalVerdict(interval: 0.1...0.2, seeds: 2), .tooFewSeeds(2), "two seeds never decide")
        XCTAssertEqual(IntervalVerdict(interval: nil, seeds: 1).text, "too few seeds (1 pair; at least 3 needed)")
        XCTAssertEqual(PaperClaim.Verdict(atLeastAsGood: [.higher, .higher]), .holds)
        XCTAssertEqual(PaperClaim.Verdict(atLeastAsGood: [.higher, .inconclusive(-1...1)]), .inconclusive)
        XCTAssertEqual(PaperClaim.Verdict(atLeastAsGood: [.lower, .inconclusive(-1...1)]), .doesNotHold)
        XCTAssertEqual(PaperClaim.Verdict(atLeastAsGood: [.lower, .higher]), .holdsInPart)
        XCTAssertEqual(PaperClaim.Verdict(atLeastAsGood: [.tooFewSeeds(2)]), .tooFewSeeds)
    }

    /// McNemar's exact p against hand computation (= scipy.stats.binomtest(b, b + c, 0.5).pvalue).
    func testMcNemarExactPValues() {
        // b = 1, c = 5: 2 · (C(6,0) + C(6,1)) / 2^6 = 2 · 7 / 64.
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(1, 5), 14.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(5, 1), 14.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(3, 3), 1, "capped at 1")
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(0, 0), 1)
        // b = 0, c = 10: 2 / 1024.
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(0, 10), 2.0 / 1024, accuracy: 1e-15)
        // Large n stays finite: b = 400, c = 480 → about 0.0078 (normal approximation with
        // continuity correction: z = (80 − 1)/√880 = 2.663, p = 0.0077).
        XCTAssertEqual(ExampleEvidence.mcnemarExactP(400, 480), 0.0077, accuracy: 0.0005)
    }

    /// The bootstrap against what it must give: with every example's difference equal the
    /// interval is that one value; with half the examples +1 and half 0 on one seed, its
    /// interval is the percentile interval of a Binomial(m, ½)/m mean, ±1.96·√(¼/m) wide.
    func testBootstrapOverSeedsAndExamples() {
        let all = ExampleEvidence(correctness: (1...3).map { ("\($0)", [Bool](repeating: true, count: 50), [Bool](repeating: false, count: 50)) })
        XCTAssertEqual(all.bootstrap, 1...1)
        XCTAssertEqual(all.seeds.map(\.armOnly), [50, 50, 50])
        let m = 1000
        let half = ExampleEvidence(correctness: [("1", (0..<m).map { $0 % 2 == 0 }, [Bool](repeating: false, count: m))])
        let expected = 1.96 * (0.25 / Double(m)).squareRoot()  // 0.031
        XCTAssertEqual(half.bootstrap.lowerBound, 0.5 - expected, accuracy: 0.006, "Monte Carlo error of a 2,000-resample percentile")
        XCTAssertEqual(half.bootstrap.upperBound, 0.5 + expected, accuracy: 0.006)
        XCTAssertEqual(ExampleEvidence(correctness: [("1", [true, false], [false, true])]).bootstrap,
                       ExampleEvidence(correctness: [("1", [true, false], [false, true])]).bootstrap, "seeded: the same interval every time")
    }

    /// With predictions on both arms, each row carries McNemar per seed and the bootstrap.
    func testExampleLevelEvidenceComesFromTheJournalsPredictions() throws {
        let dir = try temporaryDirectory(self)
        // FT right on examples 0..<60 of 100; LP-FT right on 10..<80: 10 only FT, 20 only LP-FT.
        let ft = (0..<100).map { $0 < 60 }, lpft = (0..<100).map { (10..<80).contains($0) }
        _ = try journal(dir, [1, 2, 3].flatMap { seed in [(["method": "ft", "seed": seed] as [String: Any], 0.6, Optional(ft)), (["method": "lp-ft", "seed": seed], 0.7, Optional(lpft))] })
        let r = try results([dir])
        let store = try PredictionsStore(journals: [("sweep", try Journal(readingDirectory: dir))])
        let rows = try ArmMatching(r.trials, arm: try TrialFilter("method=lp-ft"), against: try TrialFilter("method=ft"), axes: r.axes)
            .comparisons(metrics: ["test/accuracy"], armText: "lp-ft", againstText: "ft", predictions: store)
        let evidence = try XCTUnwrap(rows.first?.examples)
        XCTAssertEqual(evidence.seeds.map(\.armOnly), [20, 20, 20])
        XCTAssertEqual(evidence.seeds.map(\.againstOnly), [10, 10, 10])
        XCTAssertEqual(evidence.seeds[0].pValue, ExampleEvidence.mcnemarExactP(20, 10))
        XCTAssertTrue(evidence.bootstrap.contains(0.1), "the observed difference, 0.70 − 0.60")
    }
}

/// Trials that completed but learned nothing, or whose calibration fit hit its bound.
final class TrialHealthTests: XCTestCase {
    func testAStuckTrialAndATemperatureAtItsBoundAreFlaggedWithTheirNumbers() throws {
        let dir = try temporaryDirectory(self)
        let journal = try healthJournal(dir, results: [
            ("stuck", Self.result(#"{"validation/accuracy":0.5,"validation/chance":0.5,"temperature":1.2,"test/accuracy":0.5}"#)),
            ("bound", Self.result(#"{"validation/accuracy":0.81,"validation/chance":0.55,"temperature":1000,"test/accuracy":0.8}"#)),
            ("diverged", Self.result(#"{"validation/accuracy":0.8,"validation/chance":0.55,"temperature":1.1,"head/norm_init":0.8,"head/norm_final":900,"ft/first_loss":0.6,"ft/last_loss":0.9}"#)),
            ("healthy", Self.result(#"{"validation/accuracy":0.83,"validation/chance":0.55,"temperature":1.3,"head/norm_init":0.8,"head/norm_final":1.1,"ft/first_loss":0.6,"ft/last_loss":0.2}"#)),
        ])
        let rows = try SweepResults(journal: journal).trials
        let reasons = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0.degeneracies) })
        XCTAssertEqual(reasons["stuck"], ["validation accuracy 0.500 is at chance (always guessing the majority class: 0.500)"])
        XCTAssertEqual(reasons["bound"], ["fitted temperature 1000 is at its bound [0.001, 1000]"])
        XCTAssertEqual(reasons["diverged"], ["head norm grew from 0.8 to 900 during fine-tuning (×1125)", "training loss rose from 0.6 (first epoch) to 0.9 (last)"])
        XCTAssertEqual(reasons["healthy"], [])
        let report = SweepReport(results: try SweepResults(journal: journal), directory: dir.path)
        XCTAssertTrue(report.markdown().contains("- `stuck` (seed=0): validation accuracy 0.500 is at chance"), report.markdown())
        XCTAssertTrue(report.html().contains("Degenerate trials"))
    }

    /// A stored result that the strict reader refuses (a trailing comma, which corelibs'
    /// `JSONSerialization` once let through) would read as a trial with no metrics: blank cells
    /// that look like a metric the trial never wrote. It is named instead, with the reader's reason.
    func testACompletedTrialWhoseResultIsNotJSONIsNamedWithTheReason() throws {
        let dir = try temporaryDirectory(self)
        let journal = try healthJournal(dir, results: [
            ("comma", #"{"status":"completed","metrics":{"test/accuracy":0.8,}}"#),
            ("list", "[1, 2]"),
            ("fine", Self.result(#"{"test/accuracy":0.8}"#)),
        ])
        let rows = Dictionary(uniqueKeysWithValues: try SweepResults(journal: journal).trials.map { ($0.id, $0) })
        let comma = try XCTUnwrap(rows["comma"])
        XCTAssertEqual(comma.metrics, [:])
        XCTAssertEqual(comma.degeneracies.count, 1)
        XCTAssertTrue(comma.degeneracies[0].hasPrefix("its stored result is not readable JSON (metrics: "), comma.degeneracies[0])
        XCTAssertEqual(rows["list"]?.degeneracies, ["its stored result is not readable JSON (a JSON value that is not an object), so it shows no metrics"])
        XCTAssertEqual(rows["fine"]?.degeneracies, [])
        XCTAssertEqual(rows["fine"]?.metrics, ["test/accuracy": 0.8])
        // `sweep status` reads the records, not the rows: it must say the same.
        let records = Dictionary(uniqueKeysWithValues: try journal.trials().map { ($0.id, $0) })
        XCTAssertEqual(records["comma"]?.degeneracies, comma.degeneracies)
        let markdown = SweepReport(results: try SweepResults(journal: journal), directory: dir.path).markdown()
        XCTAssertTrue(markdown.contains("- `comma` (seed=0): its stored result is not readable JSON"), markdown)
    }

    static func result(_ metrics: String) -> String { "{\"status\":\"completed\",\"metrics\":\(metrics)}" }

    /// A journal of completed trials with these stored results, each with `temperature: fit`.
    private func healthJournal(_ dir: URL, results: [(id: String, result: String)]) throws -> Journal {
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (i, (id, result)) in results.enumerated() {
                try w.addTrial(id: id, position: i, axes: "{\"seed\":\(i)}", config: #"{"temperature":"fit"}"#, at: 0)
                let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 0)
                try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
                try w.updateTrial(id, state: .completed, chargedAttempts: 0, result: result)
            }
        }
        return journal
    }
}

/// Selecting on validation, and the paper's views only where they belong.
final class SelectionTests: XCTestCase {
    /// Two learning rates of LP-FT: the one better on validation is chosen, though the other is
    /// better on test.
    func testTheBestConfigurationIsChosenOnValidationAndReportedOnTest() throws {
        let dir = try bestJournal([("1e-05", ["validation/accuracy": 0.80, "test/accuracy": 0.90]), ("3e-06", ["validation/accuracy": 0.84, "test/accuracy": 0.82])])
        let report = SweepReport(results: try SweepResults(journal: try Journal(readingDirectory: dir)), directory: dir.path)
        let best = try XCTUnwrap(report.bestConfigurations().first)
        XCTAssertEqual(best.scope, "method=lp-ft")
        XCTAssertEqual(best.configuration, "ft.lr=3e-06")
        XCTAssertEqual(best.candidates, 2)
        XCTAssertEqual(try XCTUnwrap(best.group.summary("test/accuracy")).mean, 0.82, accuracy: 1e-12, "test is reported, not used")
        XCTAssertTrue(report.markdown().contains("## The best configuration per method, selected on validation"))
    }

    /// `--best --select-by`: a loss or a calibration error is minimised, an accuracy maximised,
    /// `--goal` says which for a metric whose name does not; `--within` picks one per value.
    func testTheBestConfigurationCanBeSelectedOnAnotherMetricWithinOtherAxes() throws {
        let dir = try bestJournal([("1e-05", ["validation/accuracy": 0.84, "validation/nll": 0.40, "temperature": 2]),
                                   ("3e-06", ["validation/accuracy": 0.80, "validation/nll": 0.35, "temperature": 1])])
        let report = SweepReport(results: try SweepResults(journal: try Journal(readingDirectory: dir)), directory: dir.path)
        func chosen(_ rule: BestSelection) -> [String] { report.bestConfigurations(rule).map { "\($0.scope): \($0.configuration)" } }
        XCTAssertEqual(chosen(.validationAccuracy), ["method=lp-ft: ft.lr=1e-05"])
        XCTAssertEqual(chosen(BestSelection(metric: "validation/nll")), ["method=lp-ft: ft.lr=3e-06"], "the lower NLL")
        XCTAssertEqual(chosen(BestSelection(metric: "validation/nll", goal: .max)), ["method=lp-ft: ft.lr=1e-05"])
        XCTAssertEqual(chosen(BestSelection(metric: "temperature", goal: .min)), ["method=lp-ft: ft.lr=3e-06"])
        XCTAssertEqual(chosen(BestSelection(within: ["method", "ft.lr"])), ["method=lp-ft, ft.lr=1e-05: —", "method=lp-ft, ft.lr=3e-06: —"])
        XCTAssertTrue(BestSelection(metric: "validation/nll").description.contains("the lowest mean validation/nll"))

        func failure(_ rule: BestSelection) -> String {
            do {
                _ = try SweepReport.make(directories: [dir.path], format: .md, grouping: nil, filter: nil, metrics: nil, out: nil, best: rule)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(failure(BestSelection(metric: "validation/los")).hasPrefix("--select-by: no trial has the metric validation/los (known: "))
        XCTAssertTrue(failure(BestSelection(metric: "temperature")).contains("say --goal max or --goal min"))
        XCTAssertEqual(failure(BestSelection(within: ["seed"])), "--within: seed is not one of the axes the report groups by (method, ft.lr)")
        let text = try SweepReport.make(directories: [dir.path], format: .md, grouping: nil, filter: nil, metrics: nil, out: nil,
                                        best: BestSelection(metric: "validation/nll")).text
        XCTAssertTrue(text.contains("| method=lp-ft | ft.lr=3e-06 | 2 | 3 | 0.35 ± 0 |"), text)
    }

    /// A sweep directory whose journal holds LP-FT at each rate given, three seeds each, every
    /// trial completed with the rate's metrics.
    func bestJournal(_ rates: [(lr: String, metrics: [String: Double])]) throws -> URL {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            var i = 0
            for (lr, metrics) in rates {
                for seed in 1...3 {
                    let id = "\(lr)-\(seed)"
                    try w.addTrial(id: id, position: i, axes: "{\"ft.lr\":\(lr),\"method\":\"lp-ft\",\"seed\":\(seed)}", config: "{}", at: 0)
                    i += 1
                    let values = metrics.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
                    let result = "{\"status\":\"completed\",\"metrics\":{\(values)}}"
                    let lease = try w.startAttempt(trial: id, number: 1, worker: "w", host: "h", at: 0)
                    try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
                    try w.updateTrial(id, state: .completed, chargedAttempts: 0, result: result)
                }
            }
        }
        return dir
    }

    func testThePapersViewsAreNotShownBesideAUsersOwnData() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (i, method) in ["ft", "lp-ft"].enumerated() {
                try w.addTrial(id: method, position: i, axes: "{\"method\":\"\(method)\"}", config: #"{"task":{"name":"mine","train":"/data/train.csv"}}"#, at: 0)
                let result = "{\"status\":\"completed\",\"metrics\":{\"test/accuracy\":0.8}}"
                let lease = try w.startAttempt(trial: method, number: 1, worker: "w", host: "h", at: 0)
                try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
                try w.updateTrial(method, state: .completed, chargedAttempts: 0, result: result)
            }
        }
        let results = try SweepResults(journal: journal)
        XCTAssertFalse(SweepReport(results: results, directory: "").markdown().contains("The paper's five claims"))
        XCTAssertFalse(SweepReport(results: results, directory: "").markdown().contains("Beside the paper"))
        XCTAssertTrue(SweepReport(results: results, directory: "", paper: true).markdown().contains("The paper's five claims"), "--paper asks for them")
    }
}
