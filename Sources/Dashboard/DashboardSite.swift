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

    static func json(_ object: Any) throws -> Self {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Self(status: 200, contentType: "application/json", body: String(decoding: data, as: UTF8.self))
    }
}

/// What each path of the dashboard shows, read from the journal at the time of the request.
/// Nothing here writes: the journal is opened read-only (`Journal(readingDirectory:)`).
struct DashboardSite: Sendable {
    let journal: Journal
    /// The sweep directory as the user named it.
    let sweep: String

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
            return page("Sweep overview", DashboardPages.overview(try SweepOverview(journal: journal, now: now), now: now))
        }
        if route("trials") != nil {
            let table: TrialTable
            do { table = try TrialTable(results: SweepResults(journal: journal), query: TrialQuery(query)) } catch let error as ConfigErrorText {
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
            return .html(SweepReport(results: results, directory: sweep).html())
        }
        if route("metrics") != nil {
            return DashboardResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                     body: SweepMetricsText.render(try SweepOverview(journal: journal, now: now)))
        }
        if route("api", "overview") != nil {
            return try .json(DashboardAPI.overview(try SweepOverview(journal: journal, now: now)))
        }
        if route("api", "trials") != nil {
            return try .json(DashboardAPI.trials(try SweepResults(journal: journal)))
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

/// The JSON API: plain objects for `JSONSerialization`, non-finite numbers left out (JSON has none).
enum DashboardAPI {
    static func overview(_ o: SweepOverview) -> [String: Any] {
        [
            "trials": Dictionary(uniqueKeysWithValues: TrialState.allCases.map { ($0.rawValue, o.trials[$0] ?? 0) }),
            "attempts": Dictionary(uniqueKeysWithValues: AttemptState.allCases.map { ($0.rawValue, o.attempts[$0] ?? 0) }),
            "late_results": o.lateResults, "metric_rows": o.metricRows, "rejected_handshakes": o.rejectedHandshakes,
            "eta_seconds": o.etaSeconds ?? NSNull(), "throughput_per_minute": o.throughputPerMinute ?? NSNull(),
            "workers": o.workers.map { ["name": $0.name, "host": $0.host, "last_seen": $0.lastSeen, "running": $0.running,
                                        "completed": $0.completed, "connected": $0.connected] },
            "failures": o.failures.map { ["id": $0.id, "axes": $0.axes, "reason": $0.reason, "log_tail": $0.logTail] },
        ]
    }

    static func trials(_ results: SweepResults) -> [[String: Any]] {
        results.trials.map { t in
            ["id": t.id, "state": t.state.rawValue, "axes": t.axes.mapValues(\.any), "attempts": t.attempts,
             "metrics": t.metrics.filter(\.value.isFinite), "seconds": t.seconds ?? NSNull(), "reason": t.reason ?? NSNull()]
        }
    }

    static func trial(_ t: TrialRecord, attempts: [AttemptRecord]) -> [String: Any] {
        func object(_ json: String?) -> Any { json.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull() }
        return ["id": t.id, "state": t.state.rawValue, "axes": object(t.axes), "config": object(t.config), "result": object(t.result),
                "reason": t.reason ?? NSNull(),
                "attempts": attempts.map { a in
                    ["lease": a.lease, "number": a.number, "worker": a.worker, "host": a.host, "state": a.state.rawValue,
                     "started_at": a.startedAt, "ended_at": a.endedAt ?? NSNull(), "reason": a.reason ?? NSNull(),
                     "log_tail": a.logTail ?? NSNull(), "late": a.late] as [String: Any]
                }]
    }

    static func metric(_ m: JournalMetric) -> [String: Any] {
        ["lease": m.lease, "seq": m.seq, "name": m.name, "value": m.value.flatMap { $0.isFinite ? $0 : nil } ?? NSNull(),
         "epoch": m.epoch ?? NSNull(), "step": m.step ?? NSNull()]
    }
}
