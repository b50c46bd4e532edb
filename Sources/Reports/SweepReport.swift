import Foundation
import Sweep
import TrialContract

/// One table of a report: metrics (patterns with `*`) over the trial groups.
public struct ReportView: Sendable {
    public let title: String
    /// Where the paper shows the same thing.
    public let reference: String
    public let metrics: [String]
    /// An axis this view is about: shown only when the sweep varies it.
    public let axis: String?
    /// The paper's own numbers for the same table, printed beside ours.
    public var paper: PaperTable?

    /// The paper's views, each shown when the sweep has its metrics (and axis).
    public static let paper: [ReportView] = [
        ReportView(title: "Accuracy by method", reference: "paper Tables 8 and 10", metrics: [TrialMetric.testAccuracy, TrialMetric.anyOOD(.accuracy)], axis: nil, paper: .accuracy),
        ReportView(title: "Calibration before and after temperature scaling", reference: "paper Table 3",
                   metrics: [TrialMetric.temperature, TrialMetric.test(.ece), TrialMetric.test(.eceScaled), TrialMetric.test(.mce), TrialMetric.test(.mceScaled), TrialMetric.anyOOD(.ece), TrialMetric.anyOOD(.eceScaled)], axis: nil, paper: .calibration),
        ReportView(title: "Classifier-head norm: at initialisation, after LP, final", reference: "paper Table 13",
                   metrics: [TrialMetric.headNormInit, TrialMetric.headNormAfterLP, TrialMetric.headNormFinal], axis: nil, paper: .headNorm),
        ReportView(title: "Feature change from the pre-trained model", reference: "paper Table 1",
                   metrics: [TrialMetric.featureChange, TrialMetric.featureCosine, TrialMetric.featureFisherRatio], axis: nil, paper: .features),
        ReportView(title: "NTK at the start of fine-tuning", reference: "paper Tables 2 and 9",
                   metrics: [TrialMetric.ntkFrobeniusPretrain, TrialMetric.ntkFrobeniusFT, TrialMetric.ntkFTRatio, TrialMetric.ntkRankPretrain, TrialMetric.ntkRankFT, TrialMetric.ntkRankTotal, TrialMetric.ntkAccuracyTrain, TrialMetric.ntkAccuracyEval], axis: nil, paper: .ntk),
    ] + ["lp.epochs", "lora.rank", "head_scale", "temperature"].map { (path: String) in
        ReportView(title: "Against " + path, reference: "the paper's ablations", metrics: [TrialMetric.testAccuracy, TrialMetric.anyOOD(.accuracy), TrialMetric.featureChange, TrialMetric.headNormAfterLP, TrialMetric.test(.ece), TrialMetric.test(.eceScaled)], axis: path)
    }
}

/// A sweep's results as tables (Markdown), tidy exports (CSV, JSON lines) and an HTML page.
public struct SweepReport: Sendable {
    public let results: SweepResults
    public let directory: String
    /// The axes trials are grouped by (default: every swept axis but `seed`, `method` first).
    public let grouping: [String]
    /// The trials reported (after `--where`).
    public let trials: [TrialRow]
    /// `--metric`: report only these (patterns with `*`); nil: the paper's views.
    public let metricPatterns: [String]?
    /// Each `lpft sweep run` of the sweep (a report of one sweep), for its resume history.
    public let runs: [CoordinatorRun]
    /// Whether the paper's numbers and claims are shown beside ours: for the tasks lpft ships for
    /// the paper's studies, or when asked (`--paper`); never beside a user's own data by default.
    public let showsPaper: Bool
    /// The trials' per-example predictions, read for `--format predictions` only.
    let predictions: PredictionsStore?

    public init(results: SweepResults, directory: String, grouping: [String]? = nil, filter: TrialFilter? = nil, metrics: [String]? = nil,
                runs: [CoordinatorRun] = [], predictions: PredictionsStore? = nil, paper: Bool? = nil) {
        self.results = results
        // A fetched task is a name in the resolved config; a user's own files are a mapping (task.train, …).
        showsPaper = paper ?? !results.trials.contains { TrialSettings.flatten($0.config).keys.contains { $0.hasPrefix("task.") } }
        self.predictions = predictions
        self.directory = directory
        self.runs = runs
        let axes = grouping ?? results.defaultGrouping
        self.grouping = axes.filter { $0 == "method" } + axes.filter { $0 != "method" }
        trials = results.trials.filter { filter?.accepts($0) ?? true }
        metricPatterns = metrics
    }

    public var groups: [TrialGroup] { results.groups(by: grouping, trials: trials) }

    /// The views to show, each with its metrics expanded and present.
    public var views: [(view: ReportView, metrics: [String])] {
        if let metricPatterns {
            let names = metricPatterns.flatMap { results.metrics(matching: $0) }
            return [(ReportView(title: "Selected metrics", reference: "--metric", metrics: metricPatterns, axis: nil), names)]
        }
        return ReportView.paper.compactMap { view in
            if let axis = view.axis, !results.axes.contains(axis) { return nil }
            let names = view.metrics.flatMap { results.metrics(matching: $0) }
            return names.isEmpty ? nil : (view, names)
        }
    }

    /// The groups a view shows: a view about an axis only the trials that have it (an "Against
    /// lora.rank" table of FT rows would repeat the accuracy table).
    func viewGroups(_ view: ReportView, _ groups: [TrialGroup]) -> [TrialGroup] {
        guard let axis = view.axis else { return groups }
        return results.groups(by: grouping, trials: trials.filter { $0.axes[axis] != nil })
    }

    /// One view's table: the grouping axes, n, then the metrics' means ± standard deviations.
    func viewTable(_ metrics: [String], groups: [TrialGroup]) -> CellTable {
        CellTable(header: grouping + ["n"] + metrics,
                  rows: groups.map { g in g.key.map(\.value) + [Self.count(g)] + metrics.map { Self.format(g.summary($0)) } })
    }

    // MARK: Text

    /// "18 trials: 16 completed, 1 failed, 1 running — partial …"
    public var stateLine: String {
        let counts = TrialState.allCases.compactMap { s -> String? in
            let n = trials.count { $0.state == s }
            return n == 0 ? nil : "\(n) \(s.rawValue)"
        }
        return "\(trials.count) trial(s): " + counts.joined(separator: ", ")
            + (results.isPartial ? " — partial: the sweep is still running or was stopped" : "")
    }

    public static func format(_ s: Summary?) -> String {
        guard let s else { return "—" }
        return s.n > 1 ? String(format: "%.4g ± %.2g", s.mean, s.std) : String(format: "%.4g", s.mean)
    }

    /// "3", or "2/3 ⚠" when seeds failed or are missing; "1 (+2 pruned)" when the spec's
    /// `prune:` rule stopped some.
    public static func count(_ g: TrialGroup) -> String {
        (g.missing == 0 ? "\(g.completed)" : "\(g.completed)/\(g.trials.count) ⚠") + (g.pruned > 0 ? " (+\(g.pruned) pruned)" : "")
    }

    /// The ways a report can be written.
    public enum Format: String, Sendable, CaseIterable { case md, csv, jsonl, html, predictions, epochs }

    /// `lpft sweep report`: reads the sweeps in `directories` (several: as one, with a
    /// `sweep` axis), checks the grouping axes, and writes the report to `out` (html: by
    /// default `DIR/report.html` of a single sweep), or with `best` only the best configurations
    /// it selects. Returns the path written, or the report itself when it goes to stdout.
    public static func make(directories: [String], format: Format, grouping: [String]?, filter: TrialFilter?, metrics: [String]?,
                            out: String?, paper: Bool? = nil, best: BestSelection? = nil) throws -> (path: String?, text: String) {
        let journals = try directories.map { try Journal(readingDirectory: URL(fileURLWithPath: $0)) }
        let results = SweepResults(combining: try zip(directories, journals).map { directory, journal in
            let epochMetrics = format == .html ? plottedEpochMetrics : format == .epochs ? try journal.epochMetricNames() : []
            return (name: URL(fileURLWithPath: directory).lastPathComponent, results: try SweepResults(journal: journal, epochMetrics: epochMetrics))
        })
        let runs = journals.count == 1 ? try CoordinatorRun.history(journals[0]) : []
        for axis in grouping ?? [] where !results.axes.contains(axis) {
            throw ConfigErrorText("--group-by: \(axis) is not a swept axis of this sweep (axes: \(results.axes.joined(separator: ", ")))")
        }
        try filter?.check(against: results.trials, axes: results.axes)
        try results.checkMetricPatterns(metrics ?? [], option: "--metric")
        // Predictions are read only when exported: results do not carry them.
        let predictions = format == .predictions
            ? try PredictionsStore(journals: zip(directories, journals).map { (URL(fileURLWithPath: $0).lastPathComponent, $1) }) : nil
        let report = SweepReport(results: results, directory: directories.joined(separator: " + "), grouping: grouping, filter: filter, metrics: metrics,
                               runs: runs, predictions: predictions, paper: paper)
        try best?.check(against: report)
        let text = best.map(report.bestMarkdown) ?? report.text(format)
        let defaultPath = format == .html && directories.count == 1 ? URL(fileURLWithPath: directories[0]).appendingPathComponent("report.html").path : nil
        if format == .html, out == nil, defaultPath == nil {
            throw ConfigErrorText("--format html of several sweeps: say where with --out PATH")
        }
        guard let path = out ?? defaultPath else { return (nil, text) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return (path, text)
    }

    /// The report in `format`.
    public func text(_ format: Format) -> String {
        switch format {
        case .md: return markdown()
        case .csv: return csv()
        case .jsonl: return jsonl()
        case .html: return html()
        case .predictions: return predictionsCSV()
        case .epochs: return epochsCSV()
        }
    }

    public func markdown() -> String {
        let machines = BuildsAndMachines(trials)
        var out = "# Sweep report: \(directory)\n\n\(stateLine).\n\n" + (machines.warning.map { "\($0)\n\n" } ?? "")
        out += "Groups: " + (grouping.isEmpty ? "all trials together" : grouping.joined(separator: " × "))
        out += "; cells are mean ± standard deviation over the group's completed trials (seeds); n = completed trials, ⚠ marks groups with failed or missing trials.\n"
        let groups = self.groups
        for (view, metrics) in views {
            out += "\n## \(view.title) (\(view.reference))\n\n"
            out += viewTable(metrics, groups: viewGroups(view, groups)).markdown
            if showsPaper, let paper = view.paper, let beside = besideThePaper(paper, groups: groups) {
                out += "\nBeside the paper (RoBERTa-base on its own tasks: \(paper.note)):\n\n" + beside.markdown
            }
        }
        if metricPatterns == nil {
            out += "\n## The best configuration per method, selected on validation\n\n" + bestMarkdown()
        }
        if metricPatterns == nil && showsPaper {
            let conclusions = paperConclusions()
            out += "\n## The paper's five claims\n\n" + claimsMarkdown(conclusions.claims)
            if !conclusions.pairs.isEmpty { out += "\n## Claim 4 seed by seed: LP-FT − FT, LP-LoRA − LoRA\n\n" + pairedMarkdown(conclusions.pairs) }
        }
        out += "\n## Sweep health\n\n" + health()
        out += "\n## Builds and machines\n\n" + machines.markdown
        return out
    }

    func health() -> String {
        var out = "| state | trials |\n|---|---|\n"
        for s in TrialState.allCases { out += "| \(s.rawValue) | \(trials.count { $0.state == s }) |\n" }
        let retried = trials.filter { $0.attempts > 1 }
        out += "\nAttempts: \(trials.map(\.attempts).reduce(0, +)) for \(trials.count) trials; \(retried.count) trial(s) needed more than one.\n"
        let seconds = trials.compactMap(\.seconds).sorted()
        if !seconds.isEmpty {
            out += String(format: "Time per completed trial: median %.1f s, max %.1f s, total %.0f s.\n", seconds[seconds.count / 2], seconds.last!, seconds.reduce(0, +))
        }
        if let times = methodTimes { out += "\n" + times.markdown }
        if !runs.isEmpty { out += "\nRuns of this sweep: " + CoordinatorRun.summary(runs) + ".\n\n" + runsTable.markdown + "\n" + Self.runsNote + "\n" }
        let degenerate = TrialHealth.lines(trials)
        if !degenerate.isEmpty {
            out += "\nDegenerate trials (completed, but their numbers do not mean what the tables make of them):\n\n" + degenerate.map { "- \($0)\n" }.joined()
        }
        let failed = trials.filter { $0.state == .failed }
        if !failed.isEmpty {
            out += "\nFailed trials:\n\n"
            for t in failed {
                out += "- `\(t.id)` (" + t.axes.keys.sorted().map { "\($0)=\(t.axes[$0]!)" }.joined(separator: ", ") + "): \(t.reason ?? "no reason recorded")\n"
            }
        }
        return out
    }

    /// One row per `lpft sweep run`: when it ran, how it ended, and what its attempts did.
    var runsTable: CellTable {
        let states: [AttemptState] = [.completed, .interrupted, .lost, .failed] + (runs.contains { $0.attemptsEnded[.pruned] != nil } ? [.pruned] : [])
        let time = DateFormatter()
        time.locale = Locale(identifier: "en_US_POSIX")
        time.dateFormat = "yyyy-MM-dd HH:mm"
        time.timeZone = TimeZone(identifier: "UTC")
        return CellTable(header: ["run", "started (UTC)", "ended (UTC)", "hours", "how it ended", "attempts started"] + states.map { "attempts \($0.rawValue)" },
                         rows: runs.enumerated().map { i, run in
                             ["\(i + 1)", time.string(from: Date(timeIntervalSince1970: run.started)),
                              run.ended.map { time.string(from: Date(timeIntervalSince1970: $0)) } ?? "—",
                              run.ended.map { String(format: "%.2f", ($0 - run.started) / 3600) } ?? "—", run.ending.rawValue, "\(run.attemptsStarted)"]
                                 + states.map { "\(run.attemptsEnded[$0] ?? 0)" }
                         })
    }

    static let runsNote = "Each run of `lpft sweep run` on this directory, from the journal's events. A run that ended without a stop "
        + "(killed, or its machine lost) ends at the last thing it journaled; the next run declares its attempts lost, so they count there."

    /// Wall and CPU time of the completed trials by method: on a shared machine wall time
    /// alone says more about the neighbours than about the method. A pruned search adds what
    /// its pruned trials cost: the CPU the pruned attempts' processes reported (an attempt
    /// before it, lost or interrupted, is not counted, as for completed trials).
    var methodTimes: CellTable? {
        let completed = trials.filter { $0.state == .completed }, pruned = trials.filter { $0.state == .pruned }
        let methods = Set((completed + pruned).compactMap { $0.axes["method"]?.description }).sorted()
        guard !methods.isEmpty else { return nil }
        func cells(_ values: [Double]) -> [String] {
            guard !values.isEmpty else { return ["—", "—"] }
            let sorted = values.sorted()
            return [String(format: "%.0f", sorted[sorted.count / 2]), String(format: "%.0f", sorted.reduce(0, +))]
        }
        func of(_ rows: [TrialRow], _ method: String) -> [TrialRow] { rows.filter { $0.axes["method"]?.description == method } }
        let prunedColumns = pruned.isEmpty ? [] : ["pruned", "pruned CPU s, total"]
        return CellTable(header: ["method", "completed", "wall s, median", "wall s, total", "CPU s, median", "CPU s, total"] + prunedColumns, rows: methods.map { method in
            let rows = of(completed, method)
            var cells = [method, "\(rows.count)"] + cells(rows.compactMap(\.seconds)) + cells(rows.compactMap(\.cpuSeconds))
            if !pruned.isEmpty {
                let stopped = of(pruned, method), cpu = stopped.compactMap(\.cpuSeconds)
                cells += ["\(stopped.count)", cpu.isEmpty ? "—" : String(format: "%.0f", cpu.reduce(0, +)) + (cpu.count < stopped.count ? " (\(cpu.count) of \(stopped.count) reported)" : "")]
            }
            return cells
        })
    }

    // MARK: Tidy exports

    /// Columns of the tidy exports: identity, the swept axes, then every metric.
    public var columns: [String] {
        ["id", "state", "attempts", "seconds"] + results.axes + exportMetrics
    }

    var exportMetrics: [String] {
        metricPatterns.map { $0.flatMap { results.metrics(matching: $0) } } ?? results.metricNames
    }

    /// One row per trial; loads with `pandas.read_csv(path)`. After the swept axes come the
    /// rest of each trial's resolved config (`config.<path>`: what a trial ran with is in its
    /// row, not only what was swept), then the metrics. Missing values are empty cells,
    /// non-finite ones `nan`/`inf`/`-inf`, whole numbers written as integers.
    public func csv() -> String {
        let settings = trials.map { TrialSettings.flatten($0.config) }
        let configPaths = Set(settings.flatMap(\.keys)).subtracting(results.axes).sorted()
        var out = (columns.prefix(4 + results.axes.count) + configPaths.map { "config." + $0 } + exportMetrics).map(CSV.quote).joined(separator: ",") + "\n"
        for (t, setting) in zip(trials, settings) {
            var cells = [t.id, t.state.rawValue, "\(t.attempts)", t.seconds.map { String(format: "%.3f", $0) } ?? ""]
            cells += results.axes.map { t.axes[$0]?.description ?? "" }
            cells += configPaths.map { setting[$0] ?? "" }
            cells += exportMetrics.map { t.metrics[$0].map(Self.number) ?? "" }
            out += cells.map(CSV.quote).joined(separator: ",") + "\n"
        }
        return out
    }

    /// One row per trial, streamed metric and epoch (long format): the learning curves of the
    /// attempt whose result is the trial's.
    public func epochsCSV() -> String {
        let names = results.epochSeries.keys.sorted()
        let byTrial = Dictionary(grouping: names.flatMap { name in results.epochSeries[name]!.map { (name, $0) } }) { $0.1.trial }
        var out = (["id"] + results.axes + ["metric", "epoch", "value"]).map(CSV.quote).joined(separator: ",") + "\n"
        for t in trials {
            for (name, point) in byTrial[t.id] ?? [] {
                let cells = [t.id] + results.axes.map { t.axes[$0]?.description ?? "" } + [name, "\(point.epoch)", Self.number(point.value)]
                out += cells.map(CSV.quote).joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// One JSON object per line and trial; non-finite and missing metrics are null.
    public func jsonl() -> String {
        var out = ""
        for t in trials {
            var o: [String: Any] = ["id": t.id, "state": t.state.rawValue, "attempts": t.attempts, "seconds": t.seconds ?? NSNull()]
            for axis in results.axes { o[axis] = t.axes[axis]?.any ?? NSNull() }
            for m in exportMetrics { o[m] = t.metrics[m].flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
            out += String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data(), as: UTF8.self) + "\n"
        }
        return out
    }

    /// A metric as text: `nan`/`inf`/`-inf`, a whole number as an integer (`8`, not `8.0`).
    static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return v == v.rounded() && abs(v) < 0x1p53 ? String(Int64(v)) : "\(v)"
    }
}
