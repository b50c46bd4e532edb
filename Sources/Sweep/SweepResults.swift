import Foundation
import GRDB
import JSONText
import Synchronization
import TrialContract

/// One trial as a report sees it: its axis values, its state and its final metrics.
/// A class, not a struct: reports filter, group and pair the rows of 100,000 trials many times
/// over, and a struct of eight reference-counted fields paid eight retains per copy (a third
/// of a 100,000-trial report, BENCHMARKS.md); a row never changes once read.
public final class TrialRow: Sendable {
    public let id: String
    public let state: TrialState
    /// Swept axis path → value (only the axes that made this trial).
    public let axes: [String: ConfigValue]
    /// The canonical trial config (JSON).
    public let config: String
    /// Final metrics from the trial's result (non-finite values as NaN/±infinity).
    public let metrics: [String: Double]
    public let attempts: Int
    /// Wall seconds of the winning attempt.
    public let seconds: Double?
    public let reason: String?
    /// Reliability diagrams from the result ("test", "test@T"), when the trial wrote them.
    public let reliability: [String: [CalibrationBin]]
    /// What ran the winning attempt: its worker's build and machine as HELLO gave them (JSON),
    /// nil for attempts from before journals kept them.
    public let machine: String?
    /// The result's own `versions` (lpft, build, openblas), as the trial process wrote them.
    public let versions: [String: String]
    /// CPU seconds (user + system) of the winning attempt's trial process, when it recorded them.
    public let cpuSeconds: Double?
    /// Why the stored result could not be read as a JSON object, when it could not: its metrics
    /// are then empty, and ``degeneracies`` says so rather than the trial showing blank cells.
    public let unreadableResult: String?

    public init(id: String, state: TrialState, axes: [String: ConfigValue], config: String, metrics: [String: Double], attempts: Int, seconds: Double?,
                reason: String?, reliability: [String: [CalibrationBin]] = [:], machine: String? = nil, versions: [String: String] = [:], cpuSeconds: Double? = nil,
                unreadableResult: String? = nil) {
        (self.id, self.state, self.axes, self.config, self.metrics, self.attempts, self.seconds, self.reason) = (id, state, axes, config, metrics, attempts, seconds, reason)
        (self.reliability, self.machine, self.versions, self.cpuSeconds, self.unreadableResult) = (reliability, machine, versions, cpuSeconds, unreadableResult)
    }
}

/// One bin of a reliability diagram: mean confidence, accuracy and size.
public struct CalibrationBin: Sendable, Equatable {
    public let confidence: Double
    public let accuracy: Double
    public let count: Double

    /// Merges diagrams of several trials bin by bin (15 equal-width confidence bins).
    public static func merge(_ diagrams: [[CalibrationBin]], binCount: Int = 15) -> [CalibrationBin] {
        var sums = Array(repeating: (confidence: 0.0, correct: 0.0, count: 0.0), count: binCount)
        for bin in diagrams.joined() {
            let b = min(binCount - 1, max(0, Int((bin.confidence * Double(binCount)).rounded(.up)) - 1))
            sums[b].confidence += bin.confidence * bin.count
            sums[b].correct += bin.accuracy * bin.count
            sums[b].count += bin.count
        }
        return sums.filter { $0.count > 0 }.map { CalibrationBin(confidence: $0.confidence / $0.count, accuracy: $0.correct / $0.count, count: $0.count) }
    }
}

/// Mean, sample standard deviation and count of the finite values of one metric in a group.
public struct Summary: Sendable, Equatable {
    public let mean: Double
    /// Sample standard deviation (n − 1); 0 for a single value.
    public let std: Double
    public let n: Int

    public init?(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        let count = Double(finite.count)
        n = finite.count
        // Equal values have no spread: summed and divided they may not give back the value (three
        // times 0.05 over 3), which would print a spread of 1e-18.
        guard finite.contains(where: { $0 != finite[0] }) else {
            (mean, std) = (finite[0], 0)
            return
        }
        let average = finite.reduce(0, +) / count
        mean = average
        std = (finite.map { ($0 - average) * ($0 - average) }.reduce(0, +) / (count - 1)).squareRoot()
    }
}

/// Trials that share their values on the grouping axes (typically: all but `seed`).
public struct TrialGroup: Sendable {
    /// Axis path → value, in the order of the grouping axes; a trial without the axis shows "—".
    public let key: [(axis: String, value: String)]
    public let trials: [TrialRow]

    public var completed: Int { trials.count { $0.state == .completed } }
    public var failed: Int { trials.count { $0.state == .failed } }
    public var pruned: Int { trials.count { $0.state == .pruned } }
    /// Trials of the group without a result yet or ever (failed, pending, running); pruned
    /// ones are not missing: the spec's `prune:` rule stopped them on purpose.
    public var missing: Int { trials.count - completed - pruned }

    public func summary(_ metric: String) -> Summary? {
        Summary(Array(trials.lazy.filter { $0.state == .completed }.compactMap { $0.metrics[metric] }))
    }

    public func value(_ axis: String) -> String? { key.first { $0.axis == axis }?.value }
}

/// A per-epoch metric of one trial, from the journal's streamed rows.
public struct EpochPoint: Sendable, Equatable {
    public let trial: String
    public let epoch: Int
    public let value: Double
}

/// Everything a report needs from a sweep's journal, read once.
public struct SweepResults: Sendable {
    public let trials: [TrialRow]
    /// Swept axis paths, sorted.
    public let axes: [String]
    /// Metric names present in any completed trial's result, sorted.
    public let metricNames: [String]
    /// Streamed per-epoch values (winning attempts only) of the metrics asked for.
    public let epochSeries: [String: [EpochPoint]]
    public let spec: String?

    /// Reads the journal; `epochMetrics` are the streamed per-epoch metrics to load for plots.
    /// A `memo` kept from an earlier read of the same journal reads and decodes again only
    /// what a trial can change (state, result, reason, attempts), and a result only when its
    /// text changed.
    public init(journal: Journal, epochMetrics: [String] = [], memo: DecodedTrials = DecodedTrials()) throws {
        let read = try memo.rows(journal)
        trials = read.rows
        axes = Set(trials.flatMap(\.axes.keys)).sorted()
        metricNames = Set(trials.flatMap(\.metrics.keys)).sorted()
        var series: [String: [EpochPoint]] = [:]
        for name in epochMetrics {
            series[name] = try journal.metrics(named: name).filter { read.winningLeases.contains($0.lease) }.compactMap { m in
                guard let epoch = m.epoch, let value = m.value else { return nil }
                return EpochPoint(trial: m.trial, epoch: epoch, value: value)
            }
        }
        epochSeries = series
        spec = try journal.value(forKey: "spec")
    }

    /// Several sweeps as one (`lpft sweep report DIR1 DIR2 …`): each trial gets the axis
    /// `sweep` (its sweep's name) and the id `NAME/ID`, since the same config has the same id
    /// in every sweep; one sweep stays as it is.
    public init(combining sweeps: [(name: String, results: SweepResults)]) {
        guard sweeps.count > 1 else {
            self = sweeps[0].results
            return
        }
        trials = sweeps.flatMap { sweep in
            sweep.results.trials.map { t in
                TrialRow(id: "\(sweep.name)/\(t.id)", state: t.state, axes: t.axes.merging(["sweep": .string(sweep.name)]) { _, new in new },
                         config: t.config, metrics: t.metrics, attempts: t.attempts, seconds: t.seconds, reason: t.reason,
                         reliability: t.reliability, machine: t.machine, versions: t.versions, cpuSeconds: t.cpuSeconds)
            }
        }
        axes = Set(trials.flatMap(\.axes.keys)).sorted()
        metricNames = Set(sweeps.flatMap(\.results.metricNames)).sorted()
        epochSeries = sweeps.reduce(into: [:]) { series, sweep in
            for (name, points) in sweep.results.epochSeries {
                series[name, default: []] += points.map { EpochPoint(trial: "\(sweep.name)/\($0.trial)", epoch: $0.epoch, value: $0.value) }
            }
        }
        spec = nil
    }

    /// Fails, naming the known metrics, when a pattern matches none (a typo would otherwise
    /// report nothing, silently). A sweep with no results yet has nothing to check against.
    public func checkMetricPatterns(_ patterns: [String], option: String) throws {
        guard !metricNames.isEmpty else { return }
        for pattern in patterns where metrics(matching: pattern).isEmpty {
            throw ConfigErrorText("\(option): \(pattern) matches no metric of these trials (known: \(metricNames.joined(separator: ", ")))")
        }
    }

    /// Whether some trials are still to run: a report of a running sweep is partial.
    public var isPartial: Bool { trials.contains { $0.state == .pending || $0.state == .running } }

    /// The default grouping: every swept axis except `seed`.
    public var defaultGrouping: [String] { axes.filter { $0 != "seed" } }

    /// Groups trials by `axes`, in the order their first trial was planned.
    public func groups(by axes: [String], trials subset: [TrialRow]? = nil) -> [TrialGroup] {
        var order: [String] = []
        var members: [String: [TrialRow]] = [:]
        var keys: [String: [(axis: String, value: String)]] = [:]
        for t in subset ?? trials {
            let key = axes.map { (axis: $0, value: t.axes[$0]?.description ?? "—") }
            let id = key.map(\.value).joined(separator: "\u{1F}")
            if members[id] == nil {
                order.append(id)
                keys[id] = key
            }
            members[id, default: []].append(t)
        }
        return order.map { TrialGroup(key: keys[$0]!, trials: members[$0]!) }
    }

    /// Metric names matching `pattern`, where `*` matches any run of characters except `/`.
    public func metrics(matching pattern: String) -> [String] {
        metricNames.filter { Self.matches($0, pattern) }
    }

    static func matches(_ name: String, _ pattern: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return name == pattern }
        guard name.hasPrefix(parts[0]) else { return false }
        var rest = name.dropFirst(parts[0].count)
        for (i, part) in parts.enumerated().dropFirst() {
            if i == parts.count - 1 {
                guard rest.hasSuffix(part), !rest.dropLast(part.count).contains("/") else { return false }
                return true
            }
            guard let r = rest.range(of: part), !rest[..<r.lowerBound].contains("/") else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }
}

/// Trials' axes, configs and results as decoded, kept for the next read of the same journal:
/// a dashboard re-reads 10,000 trials after every commit of a running sweep, while a commit
/// changes only a few. A trial's axes and config never change while its row exists (a plan
/// adds a trial only if its id is new), so they are read once per id and time it was added
/// (`added_at`: a trial dropped and planned again is a new row); state, result and reason are
/// read on every refresh, a result decoded again only when its text changed, and attempts
/// come from an `AttemptLedger`. A lock, because requests are served on several threads; it
/// is held over a whole read, so concurrent refreshes do the work once.
public final class DecodedTrials: Sendable {
    typealias Decoded = (metrics: [String: Double], reliability: [String: [CalibrationBin]], versions: [String: String], cpuSeconds: Double?, unreadable: String?)
    private struct State {
        var fixed: [String: (addedAt: Double, axes: [String: ConfigValue], config: String)] = [:]
        var results: [String: (result: String?, decoded: Decoded)] = [:]
        let attempts = AttemptLedger()
    }
    private let state = Mutex(State())

    public init() {}

    /// Every trial in plan order, and the leases of the attempts that won their trial.
    func rows(_ journal: Journal) throws -> (rows: [TrialRow], winningLeases: Set<Int64>) {
        try state.withLock { state in
            try journal.read { db in
                try state.attempts.update(db, journal: journal.path)
                // Columns by position, not name: a name is looked up case-insensitively for every row.
                let changing = try Row.fetchAll(db, sql: "SELECT id, added_at, state, result, reason FROM trials ORDER BY position")
                let unread = changing.compactMap { row -> String? in
                    let id: String = row[0], addedAt: Double = row[1]
                    return state.fixed[id]?.addedAt == addedAt ? nil : id
                }
                try Journal.forEachTrial(db, ids: unread, columns: "id, added_at, axes, config") { row in
                    state.fixed[row[0]] = (row[1], Self.decodeAxes(row[2]), row[3])
                }
                let rows = try changing.map { row -> TrialRow in
                    let id: String = row[0], result: String? = row[3]
                    let kept = state.fixed[id]!
                    let decoded: Decoded
                    if let old = state.results[id], old.result == result {
                        decoded = old.decoded
                    } else {
                        decoded = Self.decodeResult(result)
                        state.results[id] = (result, decoded)
                    }
                    let winner = state.attempts.winners[id].flatMap { state.attempts.entries[$0] }
                    return TrialRow(id: id, state: try Journal.state(row[2], path: journal.path), axes: kept.axes, config: kept.config, metrics: decoded.metrics,
                                    attempts: state.attempts.counts[id] ?? 0, seconds: winner?.seconds, reason: row[4], reliability: decoded.reliability,
                                    machine: winner?.machine, versions: decoded.versions, cpuSeconds: decoded.cpuSeconds,
                                    unreadableResult: decoded.unreadable)
                }
                return (rows, Set(state.attempts.winners.values))
            }
        }
    }

    static func decodeAxes(_ text: String) -> [String: ConfigValue] {
        ConfigValue(json: text)?.fields ?? [:]
    }

    static func decodeResult(_ result: String?) -> Decoded {
        var object: [String: ConfigValue] = [:], unreadable: String?
        if let result {
            do throws(JSONReader.Failure) {
                let value = try ConfigValue.parse(json: result)
                if let fields = value.fields { object = fields } else { unreadable = "a JSON value that is not an object" }
            } catch {
                unreadable = error.description
            }
        }
        var metrics: [String: Double] = [:]
        for (name, value) in object["metrics"]?.fields ?? [:] {
            switch value {
            case .string("nan"): metrics[name] = .nan
            case .string("inf"): metrics[name] = .infinity
            case .string("-inf"): metrics[name] = -.infinity
            default: metrics[name] = value.double
            }
        }
        var reliability: [String: [CalibrationBin]] = [:]
        for (split, diagram) in object["reliability"]?.fields ?? [:] {
            guard case let .list(rows) = diagram else { continue }
            let bins = rows.compactMap { row -> CalibrationBin? in
                guard case let .list(cells) = row, cells.count == 3, let c = cells[0].double, let a = cells[1].double, let n = cells[2].double else { return nil }
                return CalibrationBin(confidence: c, accuracy: a, count: n)
            }
            // A diagram with a bin missing would still look whole to ECE: all its rows or none.
            if bins.count == rows.count { reliability[split] = bins }
        }
        let versions = (object["versions"]?.fields ?? [:]).compactMapValues(\.text)
        return (metrics, reliability, versions, object["timings"]?.fields?["cpu"]?.double, unreadable)
    }
}

/// The journal's attempts as far as trials' summaries need them, kept between reads and
/// brought up to date with only the attempts started since and those still running: leases
/// only grow (AUTOINCREMENT), and an attempt's trial, start, end and state never change once
/// it has ended (the coordinator ends a lease once; a late result only adds history).
/// Not locked: its owner's lock guards it.
final class AttemptLedger {
    struct Entry {
        var trial: String, worker: String, state: AttemptState, startedAt: Double, endedAt: Double?
        /// The worker's facts (JSON); changes only while running (a worker adopts the lease).
        var machine: String?
        var seconds: Double? { endedAt.map { $0 - startedAt } }
    }
    private(set) var entries: [Int64: Entry] = [:]
    /// Attempts of each trial.
    private(set) var counts: [String: Int] = [:]
    /// Each trial's winner: its first completed (or pruned) attempt, as leases go.
    private(set) var winners: [String: Int64] = [:]
    private(set) var running: Set<Int64> = []
    private var newest = Int64.min

    func update(_ db: Database, journal: String) throws {
        let unsettled = String(decoding: try JSONEncoder().encode(running.sorted()), as: UTF8.self)
        let machine = try Journal.machineColumn(db)
        let rows = try Row.fetchCursor(db, sql: """
            SELECT lease, trial, worker, state, started_at, ended_at, \(machine) FROM attempts
            WHERE lease > ? OR lease IN (SELECT value FROM json_each(?))
            """, arguments: [newest, unsettled])
        while let row = try rows.next() {
            let lease: Int64 = row[0]
            let entry = Entry(trial: row[1], worker: row[2], state: try Journal.state(row[3], path: journal), startedAt: row[4], endedAt: row[5], machine: row[6])
            if entries.updateValue(entry, forKey: lease) == nil { counts[entry.trial, default: 0] += 1 }
            if entry.state == .running { running.insert(lease) } else { running.remove(lease) }
            if entry.state == .completed || entry.state == .pruned, winners[entry.trial].map({ lease < $0 }) ?? true { winners[entry.trial] = lease }
            newest = max(newest, lease)
        }
    }
}

extension Journal {
    /// Calls `body` with the row of `columns` of each trial in `ids`, a few hundred ids per
    /// query (SQLite limits a statement's parameters).
    static func forEachTrial(_ db: Database, ids: [String], columns: String, _ body: (Row) throws -> Void) throws {
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(start + 500, ids.count)])
            let marks = repeatElement("?", count: chunk.count).joined(separator: ", ")
            for row in try Row.fetchAll(db, sql: "SELECT \(columns) FROM trials WHERE id IN (\(marks))", arguments: StatementArguments(chunk)) {
                try body(row)
            }
        }
    }
}

/// A filter on trial settings: `method=lp-ft,lora.rank!=4` (every clause must hold). A clause
/// names a swept axis or any path of the resolved config (`ft.lr`, `head_scale`); numbers compare
/// as numbers, so `ft.lr=5e-5` matches a trial stored as `5e-05`.
public struct TrialFilter: Sendable {
    let clauses: [(path: String, value: String, equal: Bool)]
    /// The option it came from, for errors (`--where`, `--arm`).
    let option: String

    public init(_ text: String, option: String = "--where") throws {
        self.option = option
        clauses = try text.split(separator: ",").map { clause in
            let c = String(clause).trimmingCharacters(in: .whitespaces)
            if let r = c.range(of: "!=") {
                return (String(c[..<r.lowerBound]), String(c[r.upperBound...]), false)
            }
            guard let r = c.range(of: "=") else {
                throw ConfigErrorText("\(option): \"\(c)\" is not AXIS=VALUE or AXIS!=VALUE")
            }
            return (String(c[..<r.lowerBound]), String(c[r.upperBound...]), true)
        }
    }

    /// The paths the clauses name.
    public var paths: [String] { clauses.map(\.path) }

    public func accepts(_ t: TrialRow) -> Bool {
        clauses.allSatisfy { c in TrialSettings.same(t.setting(at: c.path) ?? "—", c.value) == c.equal }
    }

    /// Fails, naming the known axes, when a clause names a path that no trial of `trials` has
    /// (a typo would otherwise select nothing, silently).
    public func check(against trials: [TrialRow], axes: [String]) throws {
        for path in Set(paths) where !axes.contains(path) && !trials.contains(where: { $0.setting(at: path) != nil }) {
            throw ConfigErrorText("\(option): \(path) is neither a swept axis (\(axes.joined(separator: ", "))) nor a key of the trials' config")
        }
    }
}

/// A trial's settings as text: its swept axes, then every leaf of its resolved config by dotted path.
public enum TrialSettings {
    /// Every leaf of a config JSON object by dotted path (lists as one value).
    public static func flatten(_ json: String) -> [String: String] {
        guard let object = ConfigValue(json: json), object.fields != nil else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: ConfigValue, _ path: String) {
            if case let .mapping(m) = value {
                for (key, inner) in m { walk(inner, path.isEmpty ? key : path + "." + key) }
            } else {
                out[path] = value.description
            }
        }
        walk(object, "")
        return out
    }

    /// ``flatten(_:)`` with the settings the config left out at their default filled back in
    /// (``OmittedDefaults``): what a trial ran with, for filters and comparisons.
    public static func resolved(_ json: String) -> [String: String] {
        flatten(json).merging(OmittedDefaults.byPath) { written, _ in written }
    }

    /// Whether two written values are the same setting: numerically for numbers (`5e-5` and
    /// `5e-05`, `1` and `1.0`), as text otherwise.
    public static func same(_ a: String, _ b: String) -> Bool {
        canonical(a) == canonical(b)
    }

    /// One spelling per setting, so that values ``same(_:_:)`` calls equal can key a dictionary
    /// (a join of arms on their settings): a number as Swift prints its `Double` (`5e-05`, `1.0`;
    /// `-0` as `0.0`), text as written.
    public static func canonical(_ value: String) -> String {
        guard let x = Double(value) else { return value }
        return String(x == 0 ? 0 : x)
    }
}

extension TrialRow {
    /// The trial's value of `path`: its axis value, else the resolved config's (omitted defaults
    /// included); nil when neither has it.
    public func setting(at path: String) -> String? {
        axes[path]?.description ?? TrialSettings.resolved(config)[path]
    }
}

/// A plain error message for report options.
public struct ConfigErrorText: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
