import Foundation
import Sweep
import TrialContract

/// One arm of trials against another, seed by seed, like with like: the one comparison the
/// claims tables and `lpft sweep compare` both use.
///
/// Each arm is split into cells by every setting (swept axis, resolved config value, and the
/// sweep when several are read) that varies within the arm, the seed aside, so a swept learning
/// rate is never pooled into one interval. A setting that varies within both arms is matched
/// (an LP-FT trial at lr 1e-5 pairs only with an FT trial at 1e-5); one that varies within one
/// arm only splits that arm, each of its cells paired with the other arm's. Within a pair of
/// cells, trials pair by seed.
public struct PairedComparison: Sendable {
    /// What each arm selected, e.g. `method=lp-ft` and `method=ft`.
    public let arm: String
    public let against: String
    /// Each cell's settings: every setting that varies within its arm, e.g. `ft.lr=3e-06`.
    let armCell: [String: String]
    let againstCell: [String: String]
    /// The settings the pairs were matched on beyond the seed (the two cells agree on them).
    public let matchedOn: [String]
    public let metric: String
    /// (seed, arm − against), by seed.
    public let differences: [(seed: String, value: Double)]
    /// The paired test over examples, where both trials of every pair have predictions on the
    /// same examples of the metric's split.
    public let examples: ExampleEvidence?

    public var mean: Double { differences.map(\.value).reduce(0, +) / Double(differences.count) }

    /// The 95% confidence interval of the mean difference (Student's t, n − 1 degrees of
    /// freedom); nil for fewer than two pairs.
    public var interval: ClosedRange<Double>? {
        guard let summary = Summary(differences.map(\.value)), summary.n >= 2 else { return nil }
        let half = Self.t975(degreesOfFreedom: summary.n - 1) * summary.std / Double(summary.n).squareRoot()
        return (summary.mean - half)...(summary.mean + half)
    }

    public var verdict: IntervalVerdict { IntervalVerdict(interval: interval, seeds: differences.count) }

    /// The 97.5 % quantile of Student's t distribution.
    static func t975(degreesOfFreedom df: Int) -> Double {
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                     2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df <= table.count ? table[max(1, df) - 1] : 1.960
    }

    /// The arm cell's settings that were not matched, e.g. `lp.epochs=10`; "" when the arm is one cell.
    public var variant: String { ArmMatching.label(armCell.filter { !matchedOn.contains($0.key) }) }
    public var againstVariant: String { ArmMatching.label(againstCell.filter { !matchedOn.contains($0.key) }) }
    /// Every setting of each cell, the matched ones too: a row of a swept rate names its rate.
    public var armCellText: String { ArmMatching.label(armCell) }
    public var againstCellText: String { ArmMatching.label(againstCell) }

    /// The two cells compared, e.g. `lp.epochs=10`, `lp.epochs=10 vs lora.rank=4` or
    /// `ft.lr=1e-05 in both; lp.epochs=10`; "—" when neither arm is split.
    public var cellsText: String { ArmMatching.cellsText(armCell, againstCell, matched: matchedOn) }

    /// "1001: +0.0100, 2002: −0.0040, …"
    public var perSeedText: String {
        differences.map { "\($0.seed): " + String(format: "%+.4f", $0.value) }.joined(separator: ", ")
    }

    /// Against a non-inferiority margin `m` > 0 (a loss the study accepts as "no worse", fixed
    /// before the run): whether the interval excludes a loss beyond m, i.e. its lower end lies
    /// above −m (its upper end below +m where lower is better, as for ECE); nil below three
    /// seeds or for a metric with no better side.
    public func isNoWorse(margin m: Double) -> Bool? {
        guard let ci = interval, differences.count >= IntervalVerdict.minimumSeeds, let better = TrialMetric.better(metric) else { return nil }
        return better == .higher ? ci.lowerBound > -m : ci.upperBound < m
    }

    /// ``isNoWorse(margin:)`` in words, with the interval's end it rests on.
    public func marginText(_ m: Double) -> String {
        guard let noWorse = isNoWorse(margin: m), let ci = interval else { return verdict.text }
        let higher = TrialMetric.better(metric) == .higher
        let bound = String(format: "%+.4f", higher ? ci.lowerBound : ci.upperBound), margin = String(format: "%+.4f", higher ? -m : m)
        let end = higher ? "lower" : "upper"
        return noWorse ? "no worse than \(margin) (the interval's \(end) end \(bound) lies \(higher ? "above" : "below") it)"
            : "not shown to be no worse than \(margin) (the interval's \(end) end \(bound) lies \(higher ? "below" : "above") it)"
    }

    /// "+0.012 [−0.004, +0.028]"
    public var summaryText: String {
        let m = String(format: "%+.4f", mean)
        guard let ci = interval else { return m + " (one pair: no interval)" }
        return m + String(format: " [%+.4f, %+.4f]", ci.lowerBound, ci.upperBound)
    }
}

/// What an interval of a difference lets one say: only a side it excludes 0 from, and nothing
/// below three seeds (two seeds give a t interval 12.7 standard errors wide).
public enum IntervalVerdict: Sendable, Equatable {
    case higher, lower
    /// The interval spans 0: no detectable difference, and effects outside it are excluded.
    case inconclusive(ClosedRange<Double>)
    case tooFewSeeds(Int)

    public static let minimumSeeds = 3

    public init(interval: ClosedRange<Double>?, seeds: Int) {
        if seeds < Self.minimumSeeds || interval == nil {
            self = .tooFewSeeds(seeds)
        } else if interval!.lowerBound > 0 {
            self = .higher
        } else if interval!.upperBound < 0 {
            self = .lower
        } else {
            self = .inconclusive(interval!)
        }
    }

    /// The words a report prints, e.g. "inconclusive: no detectable difference; a gain above
    /// +0.0050 or a loss beyond −0.0120 is excluded".
    public var text: String {
        switch self {
        case .higher: "higher (the interval lies above 0)"
        case .lower: "lower (the interval lies below 0)"
        case let .inconclusive(ci):
            "inconclusive: no detectable difference; a gain above " + String(format: "%+.4f", ci.upperBound)
                + " or a loss beyond " + String(format: "%+.4f", ci.lowerBound) + " is excluded"
        case let .tooFewSeeds(n): "too few seeds (\(n) pair\(n == 1 ? "" : "s"); at least \(Self.minimumSeeds) needed)"
        }
    }
}

// MARK: - Matching

/// Two arms of trials matched like with like (see ``PairedComparison``).
public struct ArmMatching: Sendable {
    /// Trials of one arm that share every setting varying within the arm, the seed aside.
    struct Cell {
        let settings: [String: String]
        let trials: [String: TrialRow]  // by seed

        /// `metric` over the cell's trials, in seed order.
        func summary(_ metric: String) -> Summary? {
            Summary(trials.sorted { $0.key < $1.key }.compactMap { $0.value.metrics[metric] })
        }
    }

    let arm: [Cell]
    let against: [Cell]
    let armVarying: [String]
    let againstVarying: [String]
    /// Settings varying within both arms: pairs must agree on them.
    let matched: [String]
    /// The `against` cells that agree with an `arm` cell on the matched settings, by their
    /// ``key(_:)``, in cell order: joined once (a nested loop over the cells is quadratic, and a
    /// sampled search makes each trial its own cell).
    private let partners: [[String]: [Cell]]

    /// Settings that never split an arm: the seed pairs, and `threads` does not change the numbers
    /// of a trial (the same seed gives the same result at any thread count) and is often
    /// set per machine.
    static let ignored: Set<String> = ["seed", "threads"]

    /// A completed trial with its settings (``settings(_:)``), read once: parsing each trial's
    /// config is most of a comparison's time on a large journal.
    typealias SettledTrial = (row: TrialRow, settings: [String: String])

    /// One side's cells and the settings that vary among them (``cells(_:option:)``).
    typealias Split = (cells: [Cell], varying: [String])

    /// Splits the completed trials that `arm` and `against` select into cells; fails when an
    /// arm is empty, a selector names an unknown setting, or the arms share trials.
    public init(_ trials: [TrialRow], arm armFilter: TrialFilter, against againstFilter: TrialFilter, axes: [String]) throws {
        try armFilter.check(against: trials, axes: axes)
        try againstFilter.check(against: trials, axes: axes)
        let completed = trials.filter { $0.state == .completed }
        let a = completed.filter(armFilter.accepts), b = completed.filter(againstFilter.accepts)
        for (name, rows) in [("--arm", a), ("--against", b)] where rows.isEmpty {
            throw ConfigErrorText("\(name): selects no completed trial (\(completed.count) completed in all)")
        }
        let shared = Set(a.map(\.id)).intersection(b.map(\.id))
        guard shared.isEmpty else { throw ConfigErrorText("--arm and --against both select \(shared.count) trial(s), e.g. \(shared.sorted()[0]): make them disjoint") }
        self.init(arm: try Self.cells(a.map { ($0, Self.settings($0)) }, option: "--arm"),
                  against: try Self.cells(b.map { ($0, Self.settings($0)) }, option: "--against"))
    }

    /// Two disjoint, non-empty sets of completed trials, already split into cells, joined.
    init(arm a: Split, against b: Split) {
        (arm, armVarying) = a
        (against, againstVarying) = b
        let matched = armVarying.filter(againstVarying.contains)
        self.matched = matched
        partners = Dictionary(grouping: against) { Self.key($0.settings, on: matched) }
    }

    /// A cell's matched settings, spelled so that equal values (`1e-5`, `1e-05`) are equal keys.
    static func key(_ settings: [String: String], on paths: [String]) -> [String] {
        paths.map { TrialSettings.canonical(settings[$0] ?? "—") }
    }

    /// The resolved config with the trial's axes over it.
    static func settings(_ t: TrialRow) -> [String: String] {
        TrialSettings.resolved(t.config).merging(t.axes.mapValues(\.description)) { _, axis in axis }
    }

    /// The trials by every setting that varies among them but the ``ignored`` ones, each cell's
    /// trials by seed; a cell's settings as its first trial wrote them. Values equal as numbers
    /// are one setting.
    static func cells(_ trials: [SettledTrial], option: String) throws -> Split {
        let paths = Set(trials.flatMap(\.settings.keys)).subtracting(ignored)
        let varying = paths.filter { p in Set(trials.map { TrialSettings.canonical($0.settings[p] ?? "—") }).count > 1 }.sorted()
        var cells: [[String]: (settings: [String: String], trials: [String: TrialRow])] = [:]
        for (t, s) in trials {
            let seed = s["seed"] ?? "?"
            let key = Self.key(s, on: varying)
            if let twin = cells[key]?.trials[seed] {
                throw ConfigErrorText("\(option): trials \(twin.id) and \(t.id) have the same settings and seed \(seed): select one (e.g. by sweep=NAME)")
            }
            cells[key, default: (Dictionary(uniqueKeysWithValues: varying.map { ($0, s[$0] ?? "—") }), [:])].trials[seed] = t
        }
        return (cells.values.map { (label: label($0.settings), cell: Cell(settings: $0.settings, trials: $0.trials)) }.sorted { $0.label < $1.label }.map(\.cell), varying)
    }

    /// Two cells' settings in one phrase (see ``PairedComparison/cellsText``).
    static func cellsText(_ arm: [String: String], _ against: [String: String], matched: [String]) -> String {
        let variant = label(arm.filter { !matched.contains($0.key) }), againstVariant = label(against.filter { !matched.contains($0.key) })
        let own = switch (variant.isEmpty, againstVariant.isEmpty) {
        case (true, true): "—"
        case (false, true): variant
        case (true, false): "— vs " + againstVariant
        case (false, false): variant + " vs " + againstVariant
        }
        let shared = label(arm.filter { matched.contains($0.key) })
        return shared.isEmpty ? own : shared + " in both" + (own == "—" ? "" : "; " + own)
    }

    func cellsText(_ a: Cell, _ b: Cell) -> String { Self.cellsText(a.settings, b.settings, matched: matched) }

    /// A cell's settings but the matched ones: what sets it apart from its partner's.
    func ownLabel(_ c: Cell) -> String { Self.label(c.settings.filter { !matched.contains($0.key) }) }

    /// "ft.lr=3e-06, sweep=paper-rt-lpft"; "" for no settings.
    static func label(_ settings: [String: String]) -> String {
        settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: ", ")
    }

    /// Every pair of cells that agree on the matched settings, with their seed pairs' differences
    /// in each metric (and the example-level test where `predictions` has both trials).
    public func comparisons(metrics: [String], armText: String, againstText: String, predictions: PredictionsStore? = nil) -> [PairedComparison] {
        var out: [PairedComparison] = []
        for (a, b) in cellPairs {
            let seeds = a.trials.keys.filter { b.trials[$0] != nil }.sorted()
            for metric in metrics {
                let pairs = seeds.compactMap { seed -> (String, TrialRow, TrialRow)? in
                    let x = a.trials[seed]!, y = b.trials[seed]!
                    guard let u = x.metrics[metric], let v = y.metrics[metric], u.isFinite, v.isFinite else { return nil }
                    return (seed, x, y)
                }
                guard !pairs.isEmpty else { continue }
                let evidence = predictions.flatMap { store in
                    ExampleEvidence(metric: metric, pairs: pairs.map { (seed: $0.0, arm: store.predictions(for: $0.1), against: store.predictions(for: $0.2)) })
                }
                out.append(PairedComparison(arm: armText, against: againstText, armCell: a.settings, againstCell: b.settings,
                                            matchedOn: matched, metric: metric,
                                            differences: pairs.map { ($0.0, $0.1.metrics[metric]! - $0.2.metrics[metric]!) }, examples: evidence))
            }
        }
        return out
    }

    /// Every pair of cells that agree on the matched settings, in cell order.
    var cellPairs: [(arm: Cell, against: Cell)] {
        arm.flatMap { a in partners(of: a).map { (a, $0) } }
    }

    /// The `against` cells that `cell` (of the arm) is compared with.
    func partners(of cell: Cell) -> [Cell] {
        partners[Self.key(cell.settings, on: matched)] ?? []
    }
}

// MARK: - Evidence over examples

/// A paired test over the examples the two arms were both evaluated on: McNemar's exact test
/// per seed, and a bootstrap of the accuracy difference over seeds and examples.
public struct ExampleEvidence: Sendable, Equatable {
    /// Per seed: examples the arm got right and the other wrong (`armOnly`), the reverse, and the
    /// exact two-sided McNemar p-value.
    public struct Seed: Sendable, Equatable {
        public let seed: String
        public let armOnly: Int
        public let againstOnly: Int
        public let examples: Int
        public var pValue: Double { ExampleEvidence.mcnemarExactP(armOnly, againstOnly) }
    }

    public let seeds: [Seed]
    /// The 95 % percentile interval of the mean (over seeds) accuracy difference, resampling
    /// seeds and, within each, examples.
    public let bootstrap: ClosedRange<Double>

    /// Bootstrap resamples: enough that the interval's ends move by well under 0.001 between
    /// RNG seeds on a 1,000-example split, few enough to take a tenth of a second.
    public static let resamples = 2_000

    /// The split whose examples a metric counts: `test/accuracy` → `test`, `ood/T/accuracy` →
    /// `ood/T`; nil for metrics that are not an accuracy over examples.
    public static func split(of metric: String) -> String? {
        if metric == TrialMetric.testAccuracy { return PredictionSplit.test }
        let ood = PredictionSplit.ood(""), suffix = TrialMetric.ood("", .accuracy).dropFirst(ood.count)
        return metric.hasPrefix(ood) && metric.hasSuffix(suffix) ? String(metric.dropLast(suffix.count)) : nil
    }

    /// Nil unless every pair has predictions of the metric's split on the same rows.
    init?(metric: String, pairs: [(seed: String, arm: TrialPredictions?, against: TrialPredictions?)]) {
        guard let name = Self.split(of: metric), !pairs.isEmpty else { return nil }
        var correctness: [(seed: String, arm: [Bool], against: [Bool])] = []
        for pair in pairs {
            guard let a = pair.arm, let b = pair.against, let x = a.splits[name], let y = b.splits[name], x.rows == y.rows, x.targets == y.targets else { return nil }
            let right = { (p: TrialPredictions, s: TrialPredictions.Split) in zip(TrialPredictions.argmax(s.logits, classes: p.classCount), s.targets).map { $0 == $1 } }
            correctness.append((pair.seed, right(a, x), right(b, y)))
        }
        self.init(correctness: correctness)
    }

    /// From each seed's per-example correctness of the two arms (same examples, same order).
    init(correctness: [(seed: String, arm: [Bool], against: [Bool])], resamples: Int = resamples, rngSeed: UInt64 = 0x5EED) {
        seeds = correctness.map { c in
            Seed(seed: c.seed, armOnly: zip(c.arm, c.against).count { $0 && !$1 }, againstOnly: zip(c.arm, c.against).count { !$0 && $1 }, examples: c.arm.count)
        }
        let differences = correctness.map { c in zip(c.arm, c.against).map { Double(($0 ? 1 : 0) - ($1 ? 1 : 0)) } }
        var rng = SplitMix64(seed: rngSeed)
        var means: [Double] = []
        means.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var total = 0.0
            for _ in differences.indices {
                let d = differences[rng.below(differences.count)]
                var sum = 0.0
                for _ in d.indices { sum += d[rng.below(d.count)] }
                total += sum / Double(d.count)
            }
            means.append(total / Double(differences.count))
        }
        means.sort()
        bootstrap = means[Int(0.025 * Double(resamples))]...means[Int((0.975 * Double(resamples)).rounded(.up)) - 1]
    }

    /// McNemar's exact test: under no difference the b discordant examples the arm won of the
    /// b + c are Binomial(b + c, ½); two-sided, the doubled smaller tail, capped at 1
    /// (scipy's `binomtest(b, b + c, 0.5).pvalue`).
    public static func mcnemarExactP(_ b: Int, _ c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        // Σ_{i ≤ k} C(n, i) / 2^n in logs: n runs to thousands.
        let logHalfPower = Double(n) * log(0.5)
        var tail = 0.0
        for i in 0...k { tail += exp(lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) + logHalfPower) }
        return min(1, 2 * tail)
    }

    /// "1001: 41/58 (p 0.12); …": per seed, examples only the arm got right / only the other did.
    public var perSeedText: String {
        seeds.map { "\($0.seed): \($0.armOnly)/\($0.againstOnly) (p \(String(format: "%.2g", $0.pValue)))" }.joined(separator: "; ")
    }

    public var bootstrapText: String { String(format: "[%+.4f, %+.4f]", bootstrap.lowerBound, bootstrap.upperBound) }
}

// MARK: - In reports

extension TrialRow {
    /// "lp.epochs=10, lp.solver=sgd": the trial's axes that pass `include`, sorted by path.
    func axesText(_ include: (String) -> Bool) -> String {
        axes.keys.filter(include).sorted().map { "\($0)=\(axes[$0]!)" }.joined(separator: ", ")
    }
}

extension SweepReport {
    /// Claim 4's pairs on test and OOD accuracy: LP-FT − FT (the claim), then LP-LoRA − LoRA.
    /// (A pair that cannot be split into arms has no rows here; claim 4 says why.)
    func pairedAgainstPlainMethods(_ byMethod: MethodTrials) -> [PairedComparison] {
        let metrics = [TrialMetric.testAccuracy] + results.metrics(matching: TrialMetric.anyOOD(.accuracy))
        return [("lp-ft", "ft"), ("lp-lora", "lora")].flatMap { lp, plain -> [PairedComparison] in
            ((try? byMethod.matching(lp, against: plain)) ?? nil)?.comparisons(metrics: metrics, armText: lp, againstText: plain) ?? []
        }
    }

    func pairedMarkdown(_ pairs: [PairedComparison]) -> String {
        var out = "| pair | variant | metric | difference per seed | mean [95% CI] | verdict |\n|---|---|---|---|---|---|\n"
        for p in pairs {
            out += "| \(p.arm) − \(p.against) | \(p.cellsText) | \(p.metric) | \(p.perSeedText) | \(p.summaryText) | \(p.verdict.text) |\n"
        }
        return out + "\nEach LP trial minus the trial of the plain method with the same seed (and the same value of every setting both methods vary); "
            + "the interval is Student's t over the seeds. \(PairedComparison.verdictNote)\n"
    }
}

extension PairedComparison {
    static let verdictNote = "A verdict names a side only when the interval excludes 0; below \(IntervalVerdict.minimumSeeds) seeds it says too few seeds."
}
