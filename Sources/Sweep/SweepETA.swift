import Foundation
import GRDB
import Synchronization

/// What a trial is like, for the ETA: trials of one kind take about as long.
public enum TrialKind: Hashable, Sendable {
    /// Trials whose axis values but the seed are these (seeds cost the same; a sweep writes
    /// every trial's axes the same way, so the text is a key).
    case axes(String)
    /// Trials of one method (LP and FT differ by orders of magnitude).
    case method(String)
    /// The kinds' trials one after another: a two-stage method costs about an LP and an FT
    /// until one of its own has completed.
    case stages([TrialKind])
    /// Any trial.
    case any
}

/// One trial as the ETA sees it.
public struct TrialTiming: Sendable, Equatable {
    /// Its kinds, most specific first.
    public var kinds: [TrialKind]
    public var state: TrialState
    /// Seconds its winning attempt took (completed trials).
    public var duration: Double?
    /// When its current attempt started (running trials), on the journal's clock.
    public var startedAt: Double?

    public init(kinds: [TrialKind], state: TrialState, duration: Double? = nil, startedAt: Double? = nil) {
        (self.kinds, self.state, self.duration, self.startedAt) = (kinds, state, duration, startedAt)
    }

    /// The kinds of a trial whose axis values but the seed are `axes`: those axes, its method,
    /// for a two-stage method (`lp-…`) its stages, then any trial.
    public static func kinds(axes: String, method: String?) -> [TrialKind] {
        var kinds: [TrialKind] = [.axes(axes), .method(method ?? "?")]
        if let method, method.hasPrefix("lp-") { kinds.append(.stages([.method("lp"), .method(String(method.dropFirst(3)))])) }
        return kinds + [.any]
    }
}

/// How long a sweep has left, from what its trials have taken so far.
///
/// A rate of completions over elapsed time ignores the work in flight, so it grows while long
/// trials run and drops when they land. This estimate instead gives each unfinished trial the
/// mean duration of completed trials of its kind, less what a running one has already run
/// (among those that ran longer than it has so far), and lays the pending trials onto as many
/// slots as are busy now, each taking the next trial when it frees up.
public enum SweepETA {
    /// Seconds until every trial is settled; 0 when none is left, nil when nothing has
    /// completed yet or nothing is running to make progress.
    public static func seconds(_ trials: [TrialTiming], now: Double) -> Double? {
        let running = trials.filter { $0.state == .running }
        let pending = trials.filter { $0.state == .pending }
        if running.isEmpty && pending.isEmpty { return 0 }
        var samples: [TrialKind: [Double]] = [:]
        for t in trials where t.state == .completed {
            guard let d = t.duration, d.isFinite, d >= 0 else { continue }
            for kind in t.kinds { samples[kind, default: []].append(d) }
        }
        guard !samples.isEmpty, !running.isEmpty else { return nil }
        func mean(_ d: [Double]) -> Double { d.reduce(0, +) / Double(d.count) }
        // The first of a trial's kinds that has completions; a kind of stages, when each stage
        // has them, as one duration: the sum of the stages' means.
        func durations(_ t: TrialTiming) -> [Double] {
            for kind in t.kinds {
                if let d = samples[kind] { return d }
                guard case .stages(let stages) = kind else { continue }
                let each = stages.compactMap { samples[$0] }
                if each.count == stages.count { return [each.reduce(0) { $0 + mean($1) }] }
            }
            return []
        }
        // Each busy slot frees up when its trial is expected to end.
        var slots = running.map { t -> Double in
            let elapsed = max(0, now - (t.startedAt ?? now))
            let longer = durations(t).filter { $0 > elapsed }
            return longer.isEmpty ? 0 : mean(longer) - elapsed
        }
        for t in pending {
            let d = durations(t)
            let expected = d.isEmpty ? 0 : mean(d)
            let next = slots.indices.min { slots[$0] < slots[$1] }!
            slots[next] += expected
        }
        return slots.max()!
    }
}

/// Each trial's kinds and attempts, kept for the next read of the same journal: finding the
/// kinds parses every trial's axes and config in SQLite, most of reading the timings of 10,000
/// trials, and they never change while the trial's row exists (kept per id and `added_at`, as
/// `DecodedTrials`); attempts come from an `AttemptLedger`. A lock, because requests are
/// served on several threads.
public final class TrialKinds: Sendable {
    private struct State {
        var kinds: [String: (addedAt: Double, kinds: [TrialKind])] = [:]
        let attempts = AttemptLedger()
    }
    private let state = Mutex(State())

    public init() {}

    func timings(_ journal: Journal) throws -> [TrialTiming] {
        try state.withLock { state in
            try journal.read { db in
                try state.attempts.update(db, journal: journal.path)
                var started: [String: Double] = [:]
                for lease in state.attempts.running {
                    let a = state.attempts.entries[lease]!
                    started[a.trial] = max(started[a.trial] ?? a.startedAt, a.startedAt)
                }
                // Columns by position: by name, each is looked up case-insensitively in every row.
                let rows = try Row.fetchAll(db, sql: "SELECT id, added_at, state FROM trials ORDER BY position")
                let unread = rows.compactMap { row -> String? in
                    let id: String = row[0], addedAt: Double = row[1]
                    return state.kinds[id]?.addedAt == addedAt ? nil : id
                }
                try Journal.forEachTrial(db, ids: unread, columns: "id, added_at, json_remove(axes, '$.seed'), json_extract(config, '$.method')") { row in
                    state.kinds[row[0]] = (row[1], TrialTiming.kinds(axes: row[2], method: row[3]))
                }
                return try rows.map { row in
                    let id: String = row[0]
                    return TrialTiming(kinds: state.kinds[id]!.kinds, state: try Journal.state(row[2], path: journal.path),
                                       duration: state.attempts.winners[id].flatMap { state.attempts.entries[$0]?.seconds }, startedAt: started[id])
                }
            }
        }
    }
}

extension Journal {
    /// Every trial's kinds, state, winning duration and running start, for `SweepETA`; a
    /// `memo` kept from an earlier read of the same journal saves finding the kinds again.
    public func trialTimings(memo: TrialKinds = TrialKinds()) throws -> [TrialTiming] {
        try memo.timings(self)
    }
}
