import Foundation
import Reports
import Sweep
import TrialContract

/// The dashboard's HTML, rendered on the server only: every string from the journal goes
/// through `escape`, and the page's one script swaps in fresh server renderings of its
/// `data-live` parts, so there is no second renderer in the browser to get escaping wrong.
enum DashboardPages {
    static func escape(_ s: String) -> String { ReportGraphics.escape(s) }

    /// A whole page: navigation, `title`, and `live` content refreshed from `liveURL`
    /// (the same path with `fragment=1`) every 2 s until it says it is final.
    static func page(sweep: String, title: String, liveURL: String, live: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · lpft</title>
        <link rel="icon" href="data:,"><link rel="stylesheet" href="/static/dashboard.css"><script src="/static/dashboard.js" defer></script></head>
        <body><nav><b>lpft</b> <code>\(escape(sweep))</code> · <a href="/">overview</a> · <a href="/trials">trials</a> · <a href="/report">paper views and claims</a> · <a href="/metrics">metrics</a></nav>
        <h1>\(escape(title))</h1>
        <div id="live" data-live="\(escape(liveURL))">\(live)</div>
        </body></html>

        """
    }

    /// Marks content whose sweep (or trial) has settled: the page stops refreshing it.
    static let final = "<span data-final hidden></span>"

    // MARK: Overview

    static func overview(_ o: SweepOverview, now: Double) -> String {
        let total = o.totalTrials, settled = (o.trials[.completed] ?? 0) + (o.trials[.failed] ?? 0) + (o.trials[.pruned] ?? 0)
        var out = "<p class=\"bar\"><span style=\"width: \(total == 0 ? 0 : 100 * settled / total)%\"></span></p>\n<table class=\"states\"><tr>"
        out += TrialState.allCases.map { "<th>\($0.rawValue)</th>" }.joined() + "<th>total</th></tr>\n<tr>"
        out += TrialState.allCases.map { "<td class=\"num\" id=\"count-\($0.rawValue)\">\(o.trials[$0] ?? 0)</td>" }.joined() + "<td class=\"num\">\(total)</td></tr></table>\n"
        out += "<p>ETA <b id=\"eta\">\(o.etaSeconds.map(duration) ?? "unknown (nothing completed or running yet)")</b>"
        out += " · throughput \(o.throughputPerMinute.map { String(format: "%.2f", $0) } ?? "—") trials/min"
        out += " · attempts " + AttemptState.allCases.map { "\($0.rawValue) \(o.attempts[$0] ?? 0)" }.joined(separator: ", ")
        out += " · late results \(o.lateResults) · metric rows \(o.metricRows) · rejected handshakes \(o.rejectedHandshakes)</p>\n"
        out += "<h2>Workers</h2>\n<table><tr><th>worker</th><th>host</th><th>connected</th><th>running</th><th>completed</th><th>last seen in the journal</th></tr>\n"
        for w in o.workers {
            out += "<tr><td>\(escape(w.name))</td><td>\(escape(w.host))</td><td>\(w.connected ? "yes" : "no")</td><td class=\"num\">\(w.running)</td>"
            out += "<td class=\"num\">\(w.completed)</td><td>\(duration(max(0, now - w.lastSeen))) ago</td></tr>\n"
        }
        out += "</table>\n<h2>Failures</h2>\n" + (o.failures.isEmpty ? "<p>none</p>\n" : "")
        for f in o.failures {
            out += "<div class=\"failure\"><a href=\"/trials/\(escape(f.id))\">\(escape(f.id))</a> <code>\(escape(f.axes))</code>: \(escape(f.reason))"
            out += f.logTail.isEmpty ? "</div>\n" : "<pre>\(escape(f.logTail))</pre></div>\n"
        }
        return out + ((o.trials[.pending] ?? 0) + (o.trials[.running] ?? 0) == 0 ? final : "")
    }

    /// "1 h 02 min", "3 min 20 s", "12 s", "0.4 s".
    static func duration(_ seconds: Double) -> String {
        if seconds < 9.95 { return String(format: "%.1f s", seconds) }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%d h %02d min", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%d min %02d s", s / 60, s % 60) }
        return "\(s) s"
    }

    // MARK: Trials

    static func trials(_ table: TrialTable) -> String {
        var out = """
            <form method="get" action="/trials">where <input name="where" size="40" placeholder="method=lp-ft,seed!=1" value="\(escape(table.query.filter ?? ""))">
            metrics <input name="metric" size="30" placeholder="\(TrialMetric.testAccuracy),\(TrialMetric.anyOOD(.accuracy))" value="\(escape(table.query.metrics ?? ""))">
            <input type="hidden" name="sort" value="\(escape(table.query.sort ?? ""))"><button>show</button></form>

            """
        out += "<p>\(table.rows.count) of \(table.matching) matching trial(s) (\(table.total) in all), sorted by \(escape(table.query.sort ?? "plan order"))\(table.query.descending ? ", descending" : "").</p>\n<table><tr>"
        for column in table.columns {
            out += "<th><a href=\"\(escape(table.query.link(sortingBy: column)))\">\(escape(column))</a></th>"
        }
        out += "</tr>\n"
        for row in table.rows {
            out += "<tr><td><a href=\"/trials/\(escape(row.id))\">\(escape(row.id))</a></td>"
            out += row.cells.map { "<td\($0.number != nil ? " class=\"num\"" : "")>\(escape($0.text))</td>" }.joined() + "</tr>\n"
        }
        return out + "</table>\n" + (table.isSettled ? final : "")
    }

    // MARK: One trial

    static func trial(_ record: TrialRecord, attempts: [AttemptRecord], metrics: [JournalMetric], now: Double) -> String {
        var out = "<p>state <b id=\"trial-state\">\(record.state.rawValue)</b> · axes <code>\(escape(record.axes))</code>"
        if let reason = record.reason { out += " · \(escape(reason))" }
        out += "</p>\n"
        // The curves of the attempt that counts: the winner, else the latest.
        let lease = attempts.first { $0.state == .completed }?.lease ?? attempts.last?.lease
        var curves: [String: [(x: Double, y: Double)]] = [:]
        for m in metrics where m.lease == lease {
            guard let epoch = m.epoch, let value = m.value else { continue }
            curves[m.name, default: []].append((Double(epoch), value))
        }
        out += "<h2>Learning curves</h2>\n" + (curves.isEmpty ? "<p>no per-epoch metrics yet</p>\n" : "<div class=\"plots\">")
        for name in curves.keys.sorted() {
            out += ReportGraphics.lineChart(title: name, xLabel: "epoch", yLabel: name, series: [(name: name, points: curves[name]!)])
        }
        if !curves.isEmpty { out += "</div>\n" }
        let finals = metrics.filter { $0.lease == lease && $0.epoch == nil }
        let reasons = record.state == .completed
            ? TrialHealth.reasons(metrics: Dictionary(finals.map { ($0.name, $0.value ?? .nan) }) { _, last in last },
                                  temperatureFitted: { TrialSettings.flatten(record.config)["temperature"] == "fit" }) : []
        if !reasons.isEmpty {
            out += "<p class=\"warn\">Degenerate: " + reasons.map(escape).joined(separator: "; ") + "</p>\n"
        }
        if !finals.isEmpty {
            out += "<h2>Metrics</h2>\n<table>" + finals.map { "<tr><td>\(escape($0.name))</td><td class=\"num\">\($0.value.map { String(format: "%.6g", $0) } ?? "NaN")</td></tr>" }.joined(separator: "\n") + "</table>\n"
        }
        out += "<h2>Attempts</h2>\n<table><tr><th>#</th><th>worker</th><th>host</th><th>state</th><th>ran</th><th>build · BLAS kernel · CPU</th><th>reason</th></tr>\n"
        for a in attempts {
            let ran = (a.endedAt ?? now) - a.startedAt
            out += "<tr><td>\(a.number)</td><td>\(escape(a.worker))</td><td>\(escape(a.host))</td><td>\(a.state.rawValue)\(a.late ? " (late)" : "")</td>"
            out += "<td>\(duration(ran))</td><td>\(escape(BuildsAndMachines.summary(ofMachine: a.machine)))</td><td>\(escape(a.reason ?? ""))</td></tr>\n"
        }
        out += "</table>\n"
        if let tail = attempts.last?.logTail { out += "<h2>Last lines of its log</h2>\n<pre>\(escape(tail))</pre>\n" }
        out += "<h2>Config</h2>\n<pre>\(escape(prettyJSON(record.config)))</pre>\n"
        return out + ([.completed, .failed, .pruned].contains(record.state) ? final : "")
    }

    static func prettyJSON(_ text: String) -> String {
        guard let object = TrialJSON.value(text),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else { return text }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Static files

    /// Swaps each `data-live` element's content for the server's fresh rendering every 2 s,
    /// until that rendering contains `data-final`. A failed request (the server restarting)
    /// is retried on the next round.
    static let script = """
        "use strict";
        for (const element of document.querySelectorAll("[data-live]")) {
          const refresh = async () => {
            try {
              const response = await fetch(element.dataset.live, { cache: "no-store", credentials: "same-origin" });
              if (response.ok) element.innerHTML = await response.text();
            } catch (error) {
              // Unreachable for now: keep the last rendering and try again.
            }
            if (!element.querySelector("[data-final]")) setTimeout(refresh, 2000);
          };
          if (!element.querySelector("[data-final]")) setTimeout(refresh, 2000);
        }

        """

    static let style = """
        body { font-family: sans-serif; margin: 1em auto; max-width: 1300px; color: #222; padding: 0 1em; }
        nav { border-bottom: 1px solid #ddd; padding-bottom: 0.4em; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; } th { background: #f2f2f2; }
        th a { color: inherit; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .bar { height: 14px; background: #eee; border-radius: 3px; max-width: 600px; }
        .bar span { display: block; height: 100%; background: #2ca02c; border-radius: 3px; }
        .failure { margin: 0.6em 0; } .warn { color: #a15c00; font-weight: bold; } pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; }
        .plots { display: flex; flex-wrap: wrap; gap: 12px; } .plots svg { border: 1px solid #ddd; background: #fff; }

        """
}
