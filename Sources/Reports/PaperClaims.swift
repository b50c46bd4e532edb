import Foundation
import Sweep
import TrialContract

/// The paper's five findings, checked on a sweep's completed trials arm by arm where arms
/// differ (see ``SweepReport/claimsFootnote``), each with the numbers behind the verdict.
public struct PaperClaim: Sendable {
    public enum Verdict: String, Sendable {
        case holds, holdsInPart = "holds in part", doesNotHold = "does not hold", notMeasured = "not measured"
        /// Intervals that span 0: the data cannot tell.
        case inconclusive
        /// Fewer than ``IntervalVerdict/minimumSeeds`` trials where the claim compares.
        case tooFewSeeds = "too few seeds"

        /// `holds` when every check passes, `doesNotHold` when none does, `holdsInPart` between;
        /// `notMeasured` without checks.
        init(checks: [Bool]) {
            self = checks.isEmpty ? .notMeasured : checks.allSatisfy { $0 } ? .holds : checks.contains(true) ? .holdsInPart : .doesNotHold
        }

        /// A claim that the arm is at least as good, judged by paired intervals: it holds only
        /// where every interval lies above 0, fails where one lies below, and is inconclusive
        /// where they span 0.
        init(atLeastAsGood verdicts: [IntervalVerdict]) {
            let below = verdicts.contains(.lower), above = verdicts.contains(.higher)
            if verdicts.isEmpty {
                self = .notMeasured
            } else if below {
                self = above ? .holdsInPart : .doesNotHold
            } else if verdicts.allSatisfy({ $0 == .higher }) {
                self = .holds
            } else if verdicts.allSatisfy({ if case .tooFewSeeds = $0 { true } else { false } }) {
                self = .tooFewSeeds
            } else {
                self = .inconclusive
            }
        }
    }

    public let claim: String
    public let evidence: String
    public let verdict: Verdict
}

/// The lines the threshold claims are judged by, each placed by the paper's own numbers
/// (paper-notes.md) with room for a smaller model.
enum ClaimThreshold {
    /// Claim 1, "one to two orders of magnitude": at least one, ×10 (the paper's smallest growth
    /// is BoolQ's, 16×).
    static let headGrowth = 10.0
    /// Claim 3, FT's share of the NTK is "small": below 0.6 (the paper: about 0.2), which still
    /// tells it apart from LP-FT's share near 1.
    static let smallFTRatio = 0.6
    /// LP-FT's share is "close to 1": within 0.1 (the paper: 0.99–1.0).
    static let ftRatioNearOne = 0.1
    /// LoRA's is "near 0": below 0.05 (the paper: 0.0005, since B = 0 at the start makes F vanish).
    static let ftRatioNearZero = 0.05
    /// Claim 5, "scaling fixes it": ECE cut by more than a quarter (the paper's RTE: 21.7 % → 5.5 %,
    /// a fourfold cut; a quarter keeps a cut that is clearly more than noise).
    static let scaledECEFraction = 0.75
}

/// The paper's five claims and claim 4's seed pairs, judged from one reading of the trials.
struct PaperConclusions {
    let claims: [PaperClaim]
    /// Claim 4 seed by seed (``SweepReport/pairedAgainstPlainMethods(_:)``).
    let pairs: [PairedComparison]
}

extension SweepReport {
    func paperConclusions() -> PaperConclusions {
        let byMethod = MethodTrials(trials)
        return PaperConclusions(claims: [headGrowthClaim(), featureChangeClaim(byMethod), ntkRegimesClaim(byMethod), lpftAgainstFTClaim(byMethod), calibrationClaim(byMethod)],
                                pairs: pairedAgainstPlainMethods(byMethod))
    }

    private func f(_ s: Summary?) -> String { Self.format(s) }

    /// 1. LP grows the head norm by orders of magnitude (paper: RTE 0.8 → 28.6), judged per LP
    /// variant: how the head is trained decides how far it grows.
    func headGrowthClaim() -> PaperClaim {
        func growth(_ t: TrialRow) -> Double? {
            guard let after = t.metrics[TrialMetric.headNormAfterLP], let initial = t.metrics[TrialMetric.headNormInit], initial > 0 else { return nil }
            return after / initial
        }
        let pooledGrowth = Summary(trials.filter { $0.state == .completed }.compactMap(growth))
        let growthByVariant = summariesByLPVariant(of: nil, growth)
        let variantText = growthByVariant.count > 1 ? "; by LP variant: " + Self.listed(growthByVariant.map { "\($0.variant.isEmpty ? "—" : $0.variant) \(f($0.summary))" }, separator: "; ") : ""
        return PaperClaim(
            claim: "Linear probing grows the classifier-head norm by one to two orders of magnitude",
            evidence: pooledGrowth.map { "‖V‖ after LP / at init: \(f($0)) over \($0.n) trials" + variantText } ?? "no trial reports head/norm_after_lp",
            verdict: PaperClaim.Verdict(checks: growthByVariant.map { $0.summary.mean >= ClaimThreshold.headGrowth }))
    }

    /// 2. Feature change is smaller after LP (LP-FT vs FT, LP-LoRA vs LoRA), arm by arm: each LP
    /// variant or swept rate against the plain method's matching arm, never a mix of arms.
    func featureChangeClaim(_ byMethod: MethodTrials) -> PaperClaim {
        var unpaired: [String] = []
        let pairs = [("lp-ft", "ft"), ("lp-lora", "lora")].compactMap { lp, plain -> (String, [Bool])? in
            let m: ArmMatching
            do {
                guard let matching = try byMethod.matching(lp, against: plain) else { return nil }
                m = matching
            } catch {
                unpaired.append("\(lp) and \(plain) cannot be paired: \(error)")
                return nil
            }
            let cells = m.cellPairs.compactMap { a, b in
                a.summary(TrialMetric.featureChange).flatMap { x in b.summary(TrialMetric.featureChange).map { (m.cellsText(a, b), x, $0) } }
            }
            guard !cells.isEmpty else { return nil }
            let text = (m.arm.count, m.against.count) == (1, 1) ? "\(lp) \(f(cells[0].1)) vs \(plain) \(f(cells[0].2))"
                : "\(lp) vs \(plain) by arm: " + Self.listed(cells.map { "\($0.0) \(f($0.1)) vs \(f($0.2))" }, separator: ", ")
            return (text, cells.map { $0.1.mean < $0.2.mean })
        }
        let evidence = (pairs.isEmpty ? [] : ["Diff(F): " + pairs.map(\.0).joined(separator: "; ")]) + unpaired
        return PaperClaim(
            claim: "Starting fine-tuning from the LP head changes the features less",
            evidence: evidence.isEmpty ? "needs features/diff for LP-FT and FT (or LP-LoRA and LoRA)" : evidence.joined(separator: "; "),
            verdict: PaperClaim.Verdict(checks: pairs.flatMap(\.1)))
    }

    /// 3. The FT-effective share of the NTK: small for FT, near 1 for LP-FT, near 0 for LoRA,
    /// judged arm by arm (a rate or a head scale moves LP-FT's share; a pooled mean would hide
    /// an arm that leaves its regime).
    func ntkRegimesClaim(_ byMethod: MethodTrials) -> PaperClaim {
        let claim = "FT ratio of the NTK at FT start: small for FT, close to 1 for LP-FT, near 0 for LoRA"
        let regimes: [(method: String, name: String, holds: (Double) -> Bool)] = [
            ("ft", "FT", { $0 < ClaimThreshold.smallFTRatio }),
            ("lp-ft", "LP-FT", { abs($0 - 1) < ClaimThreshold.ftRatioNearOne }),
            ("lora", "LoRA", { $0 < ClaimThreshold.ftRatioNearZero }),
        ]
        let measured: [[(arm: String, ratio: Summary)]]
        do {
            measured = try regimes.map { r in
                try byMethod.cells(of: r.method).compactMap { c in c.summary(TrialMetric.ntkFTRatio).map { (ArmMatching.label(c.settings), $0) } }
            }
        } catch {
            return PaperClaim(claim: claim, evidence: "the trials cannot be split into arms: \(error)", verdict: .notMeasured)
        }
        guard measured.allSatisfy({ !$0.isEmpty }) else {
            return PaperClaim(claim: claim, evidence: "needs ntk/ft_ratio for FT, LP-FT and LoRA (an `ntk:` section)", verdict: .notMeasured)
        }
        let evidence = zip(regimes, measured).map { r, arms in
            arms.count == 1 ? "\(r.name) \(f(arms[0].ratio))" : "\(r.name) by arm: " + Self.listed(arms.map { "\($0.arm) \(f($0.ratio))" }, separator: ", ")
        }
        return PaperClaim(claim: claim, evidence: evidence.joined(separator: "; "),
                          verdict: PaperClaim.Verdict(checks: zip(regimes, measured).flatMap { r, arms in arms.map { r.holds($0.ratio.mean) } }))
    }

    /// 4. LP-FT matches or beats FT in and out of distribution, judged on seed pairs, arm by arm:
    /// pooled means and spreads mix what a seed does to both, and, with several arms, the arms.
    func lpftAgainstFTClaim(_ byMethod: MethodTrials) -> PaperClaim {
        let claim = "LP-FT matches or beats FT in distribution and out of distribution"
        let m: ArmMatching
        do {
            guard let matching = try byMethod.matching("lp-ft", against: "ft") else { return PaperClaim(claim: claim, evidence: "needs LP-FT and FT trials", verdict: .notMeasured) }
            m = matching
        } catch {
            return PaperClaim(claim: claim, evidence: "LP-FT and FT cannot be paired: \(error)", verdict: .notMeasured)
        }
        let metrics = [TrialMetric.testAccuracy] + results.metrics(matching: TrialMetric.anyOOD(.accuracy))
        let seedPairs = m.comparisons(metrics: metrics, armText: "lp-ft", againstText: "ft")
        let pooledText = (m.arm.count, m.against.count) == (1, 1)
            ? metrics.compactMap { metric in byMethod.pooled("lp-ft", metric).flatMap { a in byMethod.pooled("ft", metric).map { "\(metric): LP-FT \(f(a)) vs FT \(f($0))" } } }.joined(separator: "; ")
            : "LP-FT in \(m.arm.count) arm\(m.arm.count == 1 ? "" : "s"), FT in \(m.against.count), judged pair by pair"
        let paired = seedPairs.isEmpty ? "" : "; paired LP-FT − FT, mean [95% CI]: "
            + Self.listed(seedPairs.map { "\($0.metric)\($0.armCellText.isEmpty ? "" : " (\($0.armCellText))") \($0.summaryText), \($0.verdict.text)" }, separator: "; ")
        return PaperClaim(claim: claim, evidence: pooledText + paired,
                          verdict: seedPairs.isEmpty ? .tooFewSeeds : PaperClaim.Verdict(atLeastAsGood: seedPairs.map(\.verdict)))
    }

    /// 5. LP-FT is the worst calibrated before temperature scaling, and scaling fixes it: for
    /// each LP-FT arm, two checks (scaling cuts its ECE; its ECE is at least that of every other
    /// method's matching arm), so that one without the other holds in part.
    func calibrationClaim(_ byMethod: MethodTrials) -> PaperClaim {
        let claim = "LP-FT is the worst calibrated before temperature scaling, which fixes it"
        let ece = TrialMetric.test(.ece), scaled = TrialMetric.test(.eceScaled)
        let lpft: [ArmMatching.Cell]
        let others: [(method: String, matching: ArmMatching)]
        do {
            lpft = try byMethod.cells(of: "lp-ft")
            others = try ["ft", "lora", "lp-lora"].compactMap { m in try byMethod.matching("lp-ft", against: m).map { (m, $0) } }
        } catch {
            return PaperClaim(claim: claim, evidence: "the trials cannot be split into arms: \(error)", verdict: .notMeasured)
        }
        let arms = lpft.compactMap { c -> (label: String, before: Summary, after: Summary, against: [String], worst: Bool?)? in
            guard let before = c.summary(ece), let after = c.summary(scaled) else { return nil }
            // The other methods' arms this one meets: all of a method's arms but those that differ in a matched setting.
            let met = others.flatMap { m, matching in
                matching.partners(of: c).compactMap { o in
                    o.summary(ece).map { (text: "\(m)\(matching.ownLabel(o).isEmpty ? "" : " (\(matching.ownLabel(o)))") \(f($0))", mean: $0.mean) }
                }
            }
            return (ArmMatching.label(c.settings), before, after, met.map(\.text), met.isEmpty ? nil : met.allSatisfy { before.mean >= $0.mean })
        }
        guard !arms.isEmpty else { return PaperClaim(claim: claim, evidence: "needs LP-FT trials with test/ece", verdict: .notMeasured) }
        func before(_ against: [String]) -> String { against.isEmpty ? "" : "before: " + Self.listed(against, separator: ", ") }
        let evidence = lpft.count == 1
            ? "LP-FT test ECE \(f(arms[0].before)) → \(f(arms[0].after)) after scaling" + (arms[0].against.isEmpty ? "" : "; " + before(arms[0].against))
            : "LP-FT test ECE → after scaling, by arm: " + Self.listed(arms.map { "\($0.label) \(f($0.before)) → \(f($0.after))" + ($0.against.isEmpty ? "" : " (\(before($0.against)))") }, separator: ", ")
        return PaperClaim(claim: claim, evidence: evidence,
                          verdict: PaperClaim.Verdict(checks: arms.map { $0.after.mean < $0.before.mean * ClaimThreshold.scaledECEFraction } + arms.compactMap(\.worst)))
    }

    /// The LP head a trial starts from, e.g. `lp.epochs=10, lp.solver=sgd`: its `lp.` axes.
    static func lpVariant(_ t: TrialRow) -> String {
        t.axesText { $0.hasPrefix("lp.") }
    }

    /// `metric` over the completed trials of `method` (nil: of every method), by LP variant,
    /// in variant order.
    func summariesByLPVariant(of method: String?, _ metric: (TrialRow) -> Double?) -> [(variant: String, summary: Summary)] {
        let rows = trials.filter { $0.state == .completed && (method == nil || $0.axes["method"]?.description == method) }
        return Dictionary(grouping: rows, by: Self.lpVariant).sorted { $0.key < $1.key }.compactMap { variant, rows in
            Summary(rows.compactMap(metric)).map { (variant, $0) }
        }
    }

    /// How many items (an arm, or an arm's metric) a claim lists: a sampled search can make each
    /// trial an arm, thousands that a table cell cannot hold (`lpft sweep compare`, `--metric`
    /// and claim 4's table show every one).
    static let listedArms = 12

    /// `items` joined, the first ``listedArms`` of them, then how many more there are.
    static func listed(_ items: [String], separator: String) -> String {
        items.count <= listedArms ? items.joined(separator: separator)
            : items.prefix(listedArms).joined(separator: separator) + separator + "and \(items.count - listedArms) more"
    }

    static let claimsFootnote = "Claim 1 is judged by LP variant (the trials' lp.* axes), over every method with an LP stage; "
        + "claims 2 to 5 arm by arm (an arm: every setting but the seed, such as an LP variant or a swept rate), claim 3 each arm "
        + "against its method's regime, claims 2 and 4 each LP arm against the plain method's matching arm (claim 4 on seed pairs), "
        + "claim 5 each LP-FT arm against every other method's matching arms, with pooled means shown only where each method has one arm; "
        + "a claim lists its first \(listedArms) items and counts the rest. A claim that holds for some arms, or claim 5 with one of its two checks, holds in part. "
        + "Mean ± standard deviation over trials."

    func claimsMarkdown(_ claims: [PaperClaim]) -> String {
        var out = "| # | the paper's claim | here | verdict |\n|---|---|---|---|\n"
        for (i, c) in claims.enumerated() { out += "| \(i + 1) | \(c.claim) | \(c.evidence) | **\(c.verdict.rawValue)** |\n" }
        return out + "\n\(Self.claimsFootnote)\n"
    }
}

/// A sweep's completed trials by method (its axis, else its config's), each method's split into
/// arms once (each trial's settings read once), and each pair of methods the claims compare
/// joined once: a claim selects, pools and pairs within these.
struct MethodTrials {
    private let byMethod: [String: [TrialRow]]
    private let arms: [String: Result<ArmMatching.Split, any Error>]
    private let matchings: [MethodPair: Result<ArmMatching?, any Error>]

    /// An LP method and a method it is compared with.
    struct MethodPair: Hashable {
        let method: String
        let plain: String
    }

    /// The pairs the claims compare: each LP method against its plain method (claims 2 and 4),
    /// LP-FT against every other fine-tuning method (claim 5).
    static let compared = [("lp-ft", "ft"), ("lp-lora", "lora"), ("lp-ft", "lora"), ("lp-ft", "lp-lora")].map(MethodPair.init)

    init(_ trials: [TrialRow]) {
        let settled: [ArmMatching.SettledTrial] = trials.filter { $0.state == .completed }.map { ($0, ArmMatching.settings($0)) }
        let grouped = Dictionary(grouping: settled) { $0.settings["method"] ?? "" }
        byMethod = grouped.mapValues { $0.map(\.row) }
        let arms = Dictionary(uniqueKeysWithValues: grouped.map { method, rows in
            (method, Result { try ArmMatching.cells(rows, option: "method=\(method)") })
        })
        self.arms = arms
        matchings = Dictionary(uniqueKeysWithValues: Self.compared.map { pair in
            (pair, Result {
                guard let arm = arms[pair.method], let against = arms[pair.plain] else { return nil }
                return ArmMatching(arm: try arm.get(), against: try against.get())
            })
        })
    }

    /// Mean and sample standard deviation of `metric` over `method`'s trials.
    func pooled(_ method: String, _ metric: String) -> Summary? {
        Summary((byMethod[method] ?? []).compactMap { $0.metrics[metric] })
    }

    /// `method`'s trials against `plain`'s, split into arms (one of ``compared``); nil when either
    /// has none. Throws when they cannot be split (two trials with the same settings and seed, as
    /// when two sweeps read as one hold the same trial).
    func matching(_ method: String, against plain: String) throws -> ArmMatching? {
        guard let result = matchings[MethodPair(method: method, plain: plain)] else { preconditionFailure("\(method) against \(plain) is not among MethodTrials.compared") }
        return try result.get()
    }

    /// The arms of `method`'s trials (none when it has no completed trial).
    func cells(of method: String) throws -> [ArmMatching.Cell] {
        try arms[method]?.get().cells ?? []
    }
}
