import Foundation
import Sweep

/// `lpft sweep status`: a sweep's trials by state, its attempts, throughput and ETA, what is
/// running and what failed, read from the journal (while the sweep runs, too).
public struct SweepStatus {
    /// How the sweep is named in the output (its directory as the user gave it).
    public let name: String
    /// Failures to list with their reasons and last log lines.
    public let failures: Int
    /// The metric that ranks trials in `best`.
    public let rank: String

    public init(name: String, failures: Int, rank: String) {
        self.name = name
        self.failures = failures
        self.rank = rank
    }

    public func summary(_ journal: Journal) throws -> String {
        let trials = try journal.trials()
        let attempts = try journal.attempts()
        let now = Date().timeIntervalSince1970
        var out = "sweep \(name): \(trials.count) trial(s)\n"
        for state in TrialState.allCases {
            out += String(format: "  %-10@ %d\n", state.rawValue, trials.count { $0.state == state })
        }
        out += "attempts: " + AttemptState.allCases.map { s in "\(s.rawValue) \(attempts.count { $0.state == s })" }.joined(separator: ", ")
            + ", late results \(attempts.count(where: \.late))\n"
        out += "coordinator runs: \(CoordinatorRun.summary(try CoordinatorRun.history(journal)))\n"
        out += "workers seen: \(Set(attempts.map(\.worker)).count); metric rows: \(try journal.metricCount())"
            + "; handshakes rejected: \(try journal.events(kind: "handshake rejected").count)\n"
        // Worker trouble that costs no attempts, so that it is seen rather than only slow.
        let refused = try journal.events(kind: "worker refused"), notStarted = try journal.events(kind: "trial not started")
        if !refused.isEmpty { out += "workers refused (name already in use): \(refused.count); last: \(refused.last!.detail ?? "")\n" }
        if !notStarted.isEmpty { out += "attempts a worker could not start: \(notStarted.count); last: \(notStarted.last!.detail ?? "")\n" }
        if let line = try Self.pruning(journal) { out += line }
        // Without copying the 100,000 attempts of a large sweep into arrays of their own.
        let completed = attempts.lazy.filter { $0.state == .completed }
        let finished = completed.compactMap { a in a.endedAt.map { $0 - a.startedAt } }.sorted()
        if !finished.isEmpty, let first = attempts.lazy.map(\.startedAt).min(), let last = completed.compactMap(\.endedAt).max(), last > first {
            let rate = Double(completed.count) / (last - first)
            out += String(format: "time per completed attempt: median %.1f s, max %.1f s; throughput %.2f trials/min", finished[finished.count / 2], finished.last!, rate * 60)
            // A settled sweep has no ETA, and finding one reads the whole journal again.
            let unsettled = trials.contains { $0.state == .pending || $0.state == .running }
            out += (unsettled ? Self.eta(journal) : nil).map { ", ETA \($0)\n" } ?? "\n"
        }
        let running = attempts.filter { $0.state == .running }
        if !running.isEmpty { out += "\nrunning:\n" }
        for a in running {
            let last = try journal.metrics(trial: a.trial).last { $0.lease == a.lease }
            let progress = last.map { m in "\(m.name)" + (m.epoch.map { " epoch \($0)" } ?? "") + String(format: " = %.4g", m.value ?? .nan) } ?? "no metrics yet"
            out += String(format: "  %@ attempt %d on %@, %.0f s, last: %@\n", a.trial, a.number, a.worker, now - a.startedAt, progress)
        }
        // From the records read above: a second read of every result would double status's time.
        let degenerate = trials.compactMap { t -> String? in
            let reasons = t.degeneracies
            return reasons.isEmpty ? nil : "\(t.id) \(t.axes): " + reasons.joined(separator: "; ")
        }
        if !degenerate.isEmpty {
            out += "\ndegenerate (completed, numbers not to be trusted as they stand): \(degenerate.count)\n" + degenerate.prefix(failures).map { "  \($0)\n" }.joined()
        }
        for t in trials.filter({ $0.state == .failed }).prefix(failures) {
            out += "\nfailed \(t.id) \(t.axes): \(t.reason ?? "")\n"
            if let tail = attempts.last(where: { $0.trial == t.id })?.logTail {
                tail.split(separator: "\n").suffix(5).forEach { out += "    | \($0)\n" }
            }
        }
        return out
    }

    /// `{"counts": {state: n}, "trials": [{attempts, config, id, metrics, state}]}`, keys
    /// sorted, written as it is read: each config is the journal's canonical JSON, put in as
    /// it is. Parsing 20,000 configs into Foundation objects and serializing them again took
    /// 9–10 s and 409 MB, against 0.2 s for the plain status (BENCHMARKS.md).
    public func json(_ journal: Journal) throws -> String {
        let trials = try SweepResults(journal: journal).trials
        let counts = TrialState.allCases.sorted { $0.rawValue < $1.rawValue }.map { state in
            "\(Self.quoted(state.rawValue)):\(trials.count { $0.state == state })"
        }
        var out = "{\"counts\":{\(counts.joined(separator: ","))},\"trials\":["
        for (i, t) in trials.enumerated() {
            let metrics = t.metrics.filter(\.value.isFinite).sorted { $0.key < $1.key }.map { "\(Self.quoted($0.key)):\($0.value)" }
            out += (i == 0 ? "" : ",") + "{\"attempts\":\(t.attempts),\"config\":\(t.config),\"id\":\(Self.quoted(t.id)),"
                + "\"metrics\":{\(metrics.joined(separator: ","))},\"state\":\(Self.quoted(t.state.rawValue))}"
        }
        return out + "]}"
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Until every trial is completed or failed: on a terminal, redraws the progress bar and
    /// the best trials every 2 s; otherwise prints a line whenever the counts change, and the
    /// best trials at the end.
    public func watch(_ directory: URL, terminal: Bool) throws {
        // Opened (and checked, reading every page) once: a read sees each new commit.
        let journal = try Journal(readingDirectory: directory)
        var shown = ""
        while true {
            let results = try SweepResults(journal: journal)
            let settled = !results.trials.contains { $0.state == .pending || $0.state == .running }
            let eta = { Self.eta(journal).map { ", ETA \($0)" } ?? "" }
            if terminal {
                print("\u{1B}[H\u{1B}[2J" + progressBar(results) + eta() + "\n" + best(results))
            } else {
                // A file or a pipe (a log, `tail -f`): plain lines, written when they happen, not
                // screens of escapes held back by `print`'s block buffer until the end.
                var lines = ""
                if counts(results) != shown {
                    shown = counts(results)
                    lines += "\(name): \(shown)\(eta())\n"
                }
                if settled { lines += best(results) + "\n" }
                FileHandle.standardOutput.write(Data(lines.utf8))
            }
            if settled { return }
            Thread.sleep(forTimeInterval: 2)
        }
    }

    /// The sweep's ETA (`SweepETA`) as "123 s", when there is one and work is left.
    static func eta(_ journal: Journal) -> String? {
        guard let timings = try? journal.trialTimings(), let seconds = SweepETA.seconds(timings, now: Date().timeIntervalSince1970), seconds > 0 else { return nil }
        return String(format: "%.0f s", seconds)
    }

    public func progressBar(_ r: SweepResults) -> String {
        let done = r.trials.count { $0.state == .completed || $0.state == .failed || $0.state == .pruned }
        let width = 40, filled = r.trials.isEmpty ? 0 : width * done / r.trials.count
        return "\(name)  [" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "] " + counts(r)
    }

    /// "3/14 done, 2 running, 1 failed" (", 4 pruned" when some were).
    func counts(_ r: SweepResults) -> String {
        let done = r.trials.count { $0.state == .completed || $0.state == .failed || $0.state == .pruned }
        let pruned = r.trials.count { $0.state == .pruned }
        return "\(done)/\(r.trials.count) done, \(r.trials.count { $0.state == .running }) running, \(r.trials.count { $0.state == .failed }) failed"
            + (pruned > 0 ? ", \(pruned) pruned" : "")
    }

    /// The rung decisions of a `prune:` rule, one line: how many, and the trials pruned at each rung.
    static func pruning(_ journal: Journal) throws -> String? {
        let decisions = try journal.rungDecisions()
        guard !decisions.isEmpty else { return nil }
        let pruned = Dictionary(grouping: decisions.filter { $0.decision == SuccessiveHalving.Decision.prune.rawValue }, by: \.rung)
        return "rung decisions: \(decisions.count); pruned " + (pruned.isEmpty ? "none" : pruned.keys.sorted().map { "\(pruned[$0]!.count) at epoch \($0)" }.joined(separator: ", ")) + "\n"
    }

    public func best(_ r: SweepResults) -> String {
        let ranked = r.trials.filter { $0.metrics[rank]?.isFinite == true }.sorted { $0.metrics[rank]! > $1.metrics[rank]! }.prefix(5)
        guard !ranked.isEmpty else { return "no completed trial reports \(rank) yet" }
        return "best by \(rank):\n" + ranked.map { t in
            String(format: "  %.4f  ", t.metrics[rank]!) + t.id + "  " + t.axes.keys.sorted().map { "\($0)=\(t.axes[$0]!)" }.joined(separator: " ")
        }.joined(separator: "\n")
    }
}
