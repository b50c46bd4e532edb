import Foundation
import GRDB
import TrialContract

/// A sweep's `prune:` rule as the coordinator applies it: it reads the per-epoch metrics the
/// coordinator journals, decides at each rung with ``SuccessiveHalving`` within the trial's
/// group, and journals every decision as an event (`rung decision`, its ``SuccessiveHalving/Record``
/// as JSON), in the transaction that stores the metric it was made on. A coordinator that
/// restarts replays those events, in their order, into a scheduler that decides as the old one
/// would have: no rung state is lost on a restore.
public struct TrialPruner {
    /// The journal event of one decision.
    public static let eventKind = "rung decision"

    public let rule: PruneRule
    private var halving: SuccessiveHalving
    /// Each trial's group (the values of `within`), by trial id.
    private var groups: [String: String] = [:]
    /// Each trial's last epoch of the rule's stage (`ft.epochs`, or `lp.epochs` for an LP
    /// metric), where its config says: a rung there or past it is not decided, since the trial
    /// ends there anyway and pruning it would only take its final numbers.
    private var lastEpochs: [String: Int] = [:]

    /// Restores the scheduler from the decisions `journal` holds and reads each trial's group.
    public init(rule: PruneRule, journal: Journal) throws {
        self.rule = rule
        halving = SuccessiveHalving.replay(try journal.rungDecisions(), rule: rule)
        let stage = rule.metric.hasPrefix("lp/") ? "lp" : "ft"
        for t in try journal.trials() {
            let settings = TrialSettings.flatten(t.config)
            groups[t.id] = SuccessiveHalving.group(of: DecodedTrials.decodeAxes(t.axes), settings: settings, within: rule.within)
            lastEpochs[t.id] = settings["\(stage).epochs"].flatMap { Int($0) }
        }
    }

    /// Decides on the rows of `rule.metric` that reach a rung not yet decided for `trial`,
    /// journaling each decision; returns the one that prunes it, if any does (the rows after
    /// it are not decided on: the trial stops there).
    public mutating func observe(trial: String, lease: Int64, rows: some Sequence<(name: String, value: Double, epoch: Int?)>,
                                 now: Double, journal: JournalWriter) throws -> SuccessiveHalving.Record? {
        for row in rows where row.name == rule.metric {
            guard let epoch = row.epoch, epoch < lastEpochs[trial] ?? .max, halving.decision(trial: trial, epoch: epoch) == nil,
                  let record = halving.record(trial: trial, group: groups[trial] ?? "", epoch: epoch, value: row.value) else { continue }
            try journal.event(Self.eventKind, at: now, trial: trial, lease: lease, detail: Self.json(record))
            if record.decision == SuccessiveHalving.Decision.prune.rawValue { return record }
        }
        return nil
    }

    /// The result a pruned trial keeps: the metrics its attempt streamed at the rung (those of
    /// the same stage as the rule's metric: FT's, or LP's), `status` interrupted (it was stopped
    /// before its end) and `pruned` saying where and why. Written as text, keys sorted: through
    /// JSONSerialization it was most of what pruning cost the coordinator (BENCHMARKS.md).
    public func result(of record: SuccessiveHalving.Record, reason: String, lease: Int64, journal: JournalWriter) throws -> String {
        let stage = rule.metric.hasPrefix("lp/") ? [TrialMetric.lpLoss, TrialMetric.lpHeadNorm] : [TrialMetric.epochValidationAccuracy, TrialMetric.ftLoss]
        var metrics: [String: Double] = [:]
        for (name, value) in try journal.epochMetrics(lease: lease, epoch: record.rung) where stage.contains(name) { metrics[name] = value ?? .nan }
        let fields = metrics.keys.sorted().map { "\(Self.quoted($0)):\(Self.number(metrics[$0]!))" }
        return "{\"error\":\(Self.quoted(reason)),\"metrics\":{\(fields.joined(separator: ","))},"
            + "\"pruned\":{\"epoch\":\(record.rung),\"eta\":\(rule.eta),\"group\":\(Self.quoted(record.group)),\"metric\":\(Self.quoted(rule.metric)),"
            + "\"value\":\(Self.number(record.value))},\"schema\":\(TrialResultSchema.version),\"status\":\"\(TrialResultSchema.Status.interrupted.rawValue)\"}"
    }

    /// Why a trial was pruned, in one line.
    public func reason(_ record: SuccessiveHalving.Record) -> String {
        "pruned at epoch \(record.rung): \(rule.metric) \(String(format: "%.4g", record.value)) not in the top 1/\(rule.eta)"
            + (record.group.isEmpty ? "" : " of \(record.group)") + " at that rung so far"
    }

    /// A decision as its event's detail, keys sorted (written as text, like ``result(of:reason:lease:journal:)``).
    static func json(_ r: SuccessiveHalving.Record) -> String {
        "{\"decision\":\(quoted(r.decision)),\"group\":\(quoted(r.group)),\"rung\":\(r.rung),\"trial\":\(quoted(r.trial)),\"value\":\(number(r.value))}"
    }

    /// A number as JSON writes it; not finite: "nan", "inf" or "-inf" (``JSONNumber``).
    static func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "\"\(JSONNumber.encode(v))\"" }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            if c == "\"" || c == "\\" { out += "\\" + String(c) } else if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
        }
        return out + "\""
    }

    /// NaN (a diverged trial) written as "nan", read back as NaN.
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()

    static func record(_ json: String) throws -> SuccessiveHalving.Record {
        try decoder.decode(SuccessiveHalving.Record.self, from: Data(json.utf8))
    }
}

extension Journal {
    /// The rung decisions of the sweep's `prune:` rule, in the order they were made.
    public func rungDecisions() throws -> [SuccessiveHalving.Record] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT detail FROM events WHERE kind = ? ORDER BY id", arguments: [TrialPruner.eventKind]).map { detail in
                do { return try TrialPruner.record(detail) } catch {
                    throw JournalError(path: path, reason: "a \(TrialPruner.eventKind) event is not one this lpft reads (\(detail)): written by another version of lpft?")
                }
            }
        }
    }
}

extension JournalWriter {
    /// The metrics attempt `lease` streamed at `epoch`, by name (nil: not finite).
    func epochMetrics(lease: Int64, epoch: Int) throws -> [(String, Double?)] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT name, value FROM metrics WHERE lease = ? AND epoch = ? ORDER BY seq"), arguments: [lease, epoch]).map { ($0[0], $0[1]) }
    }
}
