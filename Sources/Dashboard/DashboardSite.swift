import Foundation
import Reports
import Sweep

/// A response before it meets HTTP: status, content type, body.
struct DashboardResponse: Sendable {
    var status: Int
    var contentType: String
    var body: String

    static func html(_ body: String) -> Self { Self(status: 200, contentType: "text/html; charset=utf-8", body: body) }
    static func text(_ status: Int, _ body: String) -> Self { Self(status: status, contentType: "text/plain; charset=utf-8", body: body + "\n") }

    static func json(_ value: some Encodable) throws -> Self {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Self(status: 200, contentType: "application/json", body: String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// What each path of the dashboard shows, read from the journal at the time of the request.
/// Nothing here writes: the journal is opened read-only (`Journal(readingDirectory:)`).
struct DashboardSite: Sendable {
    let journal: Journal
    /// The sweep directory as the user named it.
    let sweep: String
    let cache: ResultsCache
    /// The ETA's kinds and attempts of each trial, kept between requests: the overview and
    /// `/metrics` are read afresh on every request, and finding the kinds parses every
    /// trial's config.
    let kinds = TrialKinds()

    init(journal: Journal, sweep: String) {
        (self.journal, self.sweep) = (journal, sweep)
        cache = ResultsCache(journalPath: journal.path)
    }

    /// Answers a GET of `path` with `query`; unknown paths are 404.
    func respond(path: String, query: [String: String], now: Double = Date().timeIntervalSince1970) throws -> DashboardResponse {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let fragment = query["fragment"] == "1"
        func page(_ title: String, _ live: String) -> DashboardResponse {
            let liveURL = path + "?" + TrialQuery.encode(query.filter { $0.key != "fragment" }.sorted { $0.key < $1.key } + [("fragment", "1")])
            return .html(fragment ? live : DashboardPages.page(sweep: sweep, title: title, liveURL: liveURL, live: live))
        }
        /// The segment at `*` if `parts` has the shape of `pattern` ("" when it has no `*`).
        func route(_ pattern: String...) -> String? {
            guard parts.count == pattern.count, zip(parts, pattern).allSatisfy({ $1 == "*" || $0 == $1 }) else { return nil }
            return zip(parts, pattern).first { $1 == "*" }?.0 ?? ""
        }
        if parts.isEmpty {
            return page("Sweep overview", DashboardPages.overview(try SweepOverview(journal: journal, now: now, kinds: kinds), now: now))
        }
        if route("trials") != nil {
            let table: TrialTable
            do { table = try TrialTable(results: cache.results(journal), query: TrialQuery(query)) } catch let error as ConfigErrorText {
                return .text(400, error.description)
            } catch let error as DashboardError {
                return .text(400, error.description)
            }
            return page("Trials", DashboardPages.trials(table))
        }
        if let id = route("trials", "*") {
            guard let record = try journal.trial(id) else { return .text(404, "no trial \(id) in this sweep") }
            return page("Trial \(id)", DashboardPages.trial(record, attempts: try journal.attempts(trial: id), metrics: try journal.metrics(trial: id), now: now))
        }
        if route("report") != nil {
            let results = try SweepResults(journal: journal, epochMetrics: SweepReport.plottedEpochMetrics)
            return .html(SweepReport(results: results, directory: sweep, runs: try CoordinatorRun.history(journal)).html())
        }
        if route("metrics") != nil {
            return DashboardResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                     body: SweepMetricsText.render(try SweepOverview(journal: journal, now: now, kinds: kinds)))
        }
        if route("api", "overview") != nil {
            return try .json(DashboardAPI.overview(try SweepOverview(journal: journal, now: now, kinds: kinds)))
        }
        if route("api", "trials") != nil {
            return try .json(DashboardAPI.trials(try cache.results(journal)))
        }
        if let id = route("api", "trials", "*") {
            guard let record = try journal.trial(id) else { return .text(404, "no trial \(id) in this sweep") }
            return try .json(DashboardAPI.trial(record, attempts: try journal.attempts(trial: id)))
        }
        if let id = route("api", "trials", "*", "metrics") {
            guard try journal.trial(id) != nil else { return .text(404, "no trial \(id) in this sweep") }
            return try .json(try journal.metrics(trial: id).map(DashboardAPI.metric))
        }
        if route("static", "dashboard.js") != nil {
            return DashboardResponse(status: 200, contentType: "text/javascript; charset=utf-8", body: DashboardPages.script)
        }
        if route("static", "dashboard.css") != nil {
            return DashboardResponse(status: 200, contentType: "text/css; charset=utf-8", body: DashboardPages.style)
        }
        return .text(404, "no page \(path): try / (overview), /trials, /report, /metrics or /api/trials")
    }
}

/// The JSON API: `Encodable` shapes (keys in snake case); a value not known yet (a running
/// trial's seconds, a non-finite metric) is left out rather than written as null.
enum DashboardAPI {
    struct Overview: Encodable {
        var trials: [String: Int], attempts: [String: Int]
        var lateResults: Int, metricRows: Int, rejectedHandshakes: Int
        var etaSeconds: Double?, throughputPerMinute: Double?
        var workers: [Worker], failures: [Failure]
    }
    struct Worker: Encodable { var name: String, host: String, lastSeen: Double, running: Int, completed: Int, connected: Bool }
    struct Failure: Encodable { var id: String, axes: ConfigValue?, reason: String, logTail: String }
    struct Trial: Encodable {
        var id: String, state: String, axes: [String: ConfigValue], attempts: Int, metrics: [String: Double]
        var seconds: Double?, reason: String?
    }
    struct TrialDetail: Encodable {
        var id: String, state: String, axes: ConfigValue?, config: ConfigValue?, result: ConfigValue?, reason: String?, attempts: [Attempt]
    }
    struct Attempt: Encodable {
        var lease: Int64, number: Int, worker: String, host: String, state: String, startedAt: Double, endedAt: Double?
        var reason: String?, logTail: String?, late: Bool
    }
    struct Metric: Encodable { var lease: Int64, seq: Int, name: String, value: Double?, epoch: Int?, step: Int? }

    static func overview(_ o: SweepOverview) -> Overview {
        Overview(trials: Dictionary(uniqueKeysWithValues: TrialState.allCases.map { ($0.rawValue, o.trials[$0] ?? 0) }),
                 attempts: Dictionary(uniqueKeysWithValues: AttemptState.allCases.map { ($0.rawValue, o.attempts[$0] ?? 0) }),
                 lateResults: o.lateResults, metricRows: o.metricRows, rejectedHandshakes: o.rejectedHandshakes,
                 etaSeconds: o.etaSeconds, throughputPerMinute: o.throughputPerMinute,
                 workers: o.workers.map { Worker(name: $0.name, host: $0.host, lastSeen: $0.lastSeen, running: $0.running, completed: $0.completed, connected: $0.connected) },
                 failures: o.failures.map { Failure(id: $0.id, axes: ConfigValue(json: $0.axes), reason: $0.reason, logTail: $0.logTail) })
    }

    static func trials(_ results: SweepResults) -> [Trial] {
        results.trials.map { t in
            Trial(id: t.id, state: t.state.rawValue, axes: t.axes, attempts: t.attempts, metrics: t.metrics.filter(\.value.isFinite),
                  seconds: t.seconds, reason: t.reason)
        }
    }

    static func trial(_ t: TrialRecord, attempts: [AttemptRecord]) -> TrialDetail {
        TrialDetail(id: t.id, state: t.state.rawValue, axes: ConfigValue(json: t.axes), config: ConfigValue(json: t.config),
                    result: t.result.flatMap(ConfigValue.init(json:)), reason: t.reason,
                    attempts: attempts.map { a in
                        Attempt(lease: a.lease, number: a.number, worker: a.worker, host: a.host, state: a.state.rawValue, startedAt: a.startedAt,
                                endedAt: a.endedAt, reason: a.reason, logTail: a.logTail, late: a.late)
                    })
    }

    static func metric(_ m: JournalMetric) -> Metric {
        Metric(lease: m.lease, seq: m.seq, name: m.name, value: m.value.flatMap { $0.isFinite ? $0 : nil }, epoch: m.epoch, step: m.step)
    }
}
