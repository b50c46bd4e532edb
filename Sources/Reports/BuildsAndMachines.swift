import Foundation
import Sweep

/// Which builds of lpft, BLAS kernels and CPUs produced a report's completed trials: numbers
/// from two builds or kernels may differ in their last digits, so a mix is shown, never hidden.
public struct BuildsAndMachines {
    struct Kind: Hashable, Comparable {
        var build: String, blas: String, cpu: String
        static func < (a: Kind, b: Kind) -> Bool { (a.build, a.blas, a.cpu) < (b.build, b.blas, b.cpu) }
    }

    /// Completed trials per kind, most first.
    let counts: [(kind: Kind, trials: Int)]

    init(_ trials: [TrialRow]) {
        var counts: [Kind: Int] = [:]
        for t in trials where t.state == .completed { counts[Self.kind(of: t), default: 0] += 1 }
        self.counts = counts.map { ($0.key, $0.value) }.sorted { ($0.trials, $1.kind) > ($1.trials, $0.kind) }
    }

    /// The winning attempt's worker facts; for attempts that predate them, what the trial's
    /// result says of itself (lpft's version, perhaps without a commit, and OpenBLAS).
    static func kind(of trial: TrialRow) -> Kind {
        let facts = Self.facts(trial.machine)
        let build = facts["build"] ?? trial.versions["build"] ?? trial.versions["lpft"].map { "\($0) (commit not recorded)" } ?? "not recorded"
        let blas = facts["blas"] ?? trial.versions["openblas"] ?? "not recorded"
        return Kind(build: build, blas: blas, cpu: facts["cpu"] ?? "not recorded")
    }

    /// An attempt's worker facts (``AttemptRecord/machine``) that are text, by name; empty when absent.
    static func facts(_ machine: String?) -> [String: String] {
        (machine.flatMap { ConfigValue(json: $0)?.fields } ?? [:]).compactMapValues(\.text)
    }

    /// One attempt's build, BLAS kernel and CPU on one line, e.g. "0.1.0+2c902c70d147 · core=Haswell · AMD EPYC".
    public static func summary(ofMachine machine: String?) -> String {
        let facts = Self.facts(machine)
        guard let build = facts["build"] else { return "not recorded" }
        let kernel = facts["blas"]?.split(separator: " ").last.map(String.init) ?? "?"
        return [build, kernel, facts["cpu"] ?? "?"].joined(separator: " · ")
    }

    var builds: Set<String> { Set(counts.map(\.kind.build)) }

    /// A line for the top of the report when completed trials come from more than one build.
    var warning: String? {
        guard builds.count > 1 else { return nil }
        return "⚠ These results come from \(builds.count) builds of lpft (\(builds.sorted().joined(separator: ", "))): their numbers may differ; see \"Builds and machines\"."
    }

    var markdown: String {
        guard !counts.isEmpty else { return "No completed trials yet.\n" }
        var out = "| lpft build | BLAS | CPU | completed trials |\n|---|---|---|---|\n"
        for (kind, n) in counts { out += "| \(kind.build) | \(kind.blas) | \(kind.cpu) | \(n) |\n" }
        return out
    }
}
