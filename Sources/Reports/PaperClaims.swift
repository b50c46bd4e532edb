import Foundation
import Sweep

/// The paper's five findings, checked on a sweep's completed trials (pooled by method over
/// seeds and any other axes), each with the numbers behind the verdict.
public struct PaperClaim: Sendable {
    public enum Verdict: String, Sendable {
        case holds, doesNotHold = "does not hold", notMeasured = "not measured"
    }

    public let claim: String
    public let evidence: String
    public let verdict: Verdict
}

extension SweepReport {
    /// Mean and sample standard deviation of `metric` over the completed trials of `method`.
    func pooled(_ method: String, _ metric: String) -> Summary? {
        // Lazily: copying every trial row that passes, once per claim, was a sixth of a 100,000-trial report.
        Summary(Array(trials.lazy.filter { $0.state == .completed && $0.axes["method"]?.description == method }.compactMap { $0.metrics[metric] }))
    }

    public func paperClaims() -> [PaperClaim] {
        func f(_ s: Summary?) -> String { Self.format(s) }
        var claims: [PaperClaim] = []

        // 1. LP grows the head norm by orders of magnitude (paper: RTE 0.8 → 28.6).
        let growth = Summary(trials.filter { $0.state == .completed }.compactMap { t -> Double? in
            guard let after = t.metrics["head/norm_after_lp"], let initial = t.metrics["head/norm_init"], initial > 0 else { return nil }
            return after / initial
        })
        claims.append(PaperClaim(
            claim: "Linear probing grows the classifier-head norm by one to two orders of magnitude",
            evidence: growth.map { "‖V‖ after LP / at init: \(f($0)) over \($0.n) trials" } ?? "no trial reports head/norm_after_lp",
            verdict: growth.map { $0.mean >= 10 ? .holds : .doesNotHold } ?? .notMeasured))

        // 2. Feature change is smaller after LP (LP-FT vs FT, LP-LoRA vs LoRA).
        let pairs = [("lp-ft", "ft"), ("lp-lora", "lora")].compactMap { lp, plain -> (String, Summary, Summary)? in
            guard let a = pooled(lp, "features/diff"), let b = pooled(plain, "features/diff") else { return nil }
            return ("\(lp) \(f(a)) vs \(plain) \(f(b))", a, b)
        }
        claims.append(PaperClaim(
            claim: "Starting fine-tuning from the LP head changes the features less",
            evidence: pairs.isEmpty ? "needs features/diff for LP-FT and FT (or LP-LoRA and LoRA)" : "Diff(F): " + pairs.map(\.0).joined(separator: "; "),
            verdict: pairs.isEmpty ? .notMeasured : pairs.allSatisfy { $0.1.mean < $0.2.mean } ? .holds : .doesNotHold))

        // 3. The FT-effective share of the NTK: small for FT, near 1 for LP-FT, near 0 for LoRA.
        let ratio = ["ft", "lp-ft", "lora"].map { pooled($0, "ntk/ft_ratio") }
        let regimes = ratio[0] != nil && ratio[1] != nil && ratio[2] != nil
        claims.append(PaperClaim(
            claim: "FT ratio of the NTK at FT start: small for FT, close to 1 for LP-FT, near 0 for LoRA",
            evidence: regimes ? "FT \(f(ratio[0])), LP-FT \(f(ratio[1])), LoRA \(f(ratio[2]))" : "needs ntk/ft_ratio for FT, LP-FT and LoRA (an `ntk:` section)",
            verdict: !regimes ? .notMeasured : (ratio[0]!.mean < 0.6 && abs(ratio[1]!.mean - 1) < 0.1 && ratio[2]!.mean < 0.05) ? .holds : .doesNotHold))

        // 4. LP-FT matches or beats FT in and out of distribution.
        let ood = results.metrics(matching: "ood/*/accuracy")
        let comparisons = (["test/accuracy"] + ood).compactMap { m -> (String, Summary, Summary)? in
            guard let a = pooled("lp-ft", m), let b = pooled("ft", m) else { return nil }
            return ("\(m): LP-FT \(f(a)) vs FT \(f(b))", a, b)
        }
        // With seeds paired, "matches" means no pair's interval lies wholly below 0; without
        // pairs, a shortfall within the spread of the seeds.
        let seedPairs = pairedAgainstPlainMethods.filter { $0.method == "lp-ft" && $0.interval != nil }
        let matches = seedPairs.isEmpty
            ? comparisons.allSatisfy { $0.1.mean >= $0.2.mean - max($0.1.std, $0.2.std) }
            : seedPairs.allSatisfy { $0.interval!.upperBound >= 0 }
        let paired = seedPairs.isEmpty ? "" : "; paired LP-FT − FT, mean [95% CI]: " + seedPairs.map { "\($0.metric)\($0.variant.isEmpty ? "" : " (\($0.variant))") \($0.summaryText)" }.joined(separator: "; ")
        claims.append(PaperClaim(
            claim: "LP-FT matches or beats FT in distribution and out of distribution",
            evidence: comparisons.isEmpty ? "needs LP-FT and FT trials" : comparisons.map(\.0).joined(separator: "; ") + paired,
            verdict: comparisons.isEmpty ? .notMeasured : matches ? .holds : .doesNotHold))

        // 5. LP-FT is miscalibrated before temperature scaling and fixed by it.
        let before = pooled("lp-ft", "test/ece"), after = pooled("lp-ft", "test/ece@T"), ft = pooled("ft", "test/ece")
        claims.append(PaperClaim(
            claim: "LP-FT's calibration error is high before temperature scaling, which fixes it",
            evidence: before.map { b in "LP-FT test ECE \(f(b)) → \(f(after)) after scaling" + (ft.map { "; FT before: \(f($0))" } ?? "") } ?? "needs LP-FT trials with test/ece",
            verdict: before == nil || after == nil ? .notMeasured : (after!.mean < before!.mean * 0.75) ? .holds : .doesNotHold))
        return claims
    }

    func claimsMarkdown() -> String {
        var out = "| # | the paper's claim | here | verdict |\n|---|---|---|---|\n"
        for (i, c) in paperClaims().enumerated() { out += "| \(i + 1) | \(c.claim) | \(c.evidence) | **\(c.verdict.rawValue)** |\n" }
        return out + "\nPooled by method over seeds and every other axis; mean ± standard deviation over trials.\n"
    }
}
