import Foundation
import Sweep
import TrialContract

extension SweepReport {
    /// Per-epoch metrics the HTML plots read from the journal.
    public static let plottedEpochMetrics = [TrialMetric.lpHeadNorm, TrialMetric.epochValidationAccuracy, TrialMetric.ftLoss]

    /// One self-contained page: the tables, inline SVG plots, the sweep's health. No scripts,
    /// no external resources, so it opens offline and anywhere.
    public func html() -> String {
        var body = "<h1>Sweep report</h1>\n<p><code>\(esc(directory))</code> — \(esc(stateLine)).</p>\n"
        if results.isPartial { body += "<p class=\"warn\">Partial results: some trials have not finished.</p>\n" }
        let machines = BuildsAndMachines(trials)
        if let warning = machines.warning { body += "<p class=\"warn\">\(esc(warning))</p>\n" }
        body += "<p>Groups: \(esc(grouping.isEmpty ? "all trials together" : grouping.joined(separator: " × "))). Cells are mean ± standard deviation over each group's completed trials (seeds); n counts them, ⚠ marks groups with failed or missing trials.</p>\n"
        let plots = self.plots()
        if !plots.isEmpty { body += "<h2>Plots</h2>\n<div class=\"plots\">\n" + plots.joined(separator: "\n") + "\n</div>\n" }
        let groups = self.groups
        for (view, metrics) in views {
            body += "<h2>\(esc(view.title)) <small>(\(esc(view.reference)))</small></h2>\n"
            body += htmlTable(viewTable(metrics, groups: viewGroups(view, groups)), textColumns: grouping.count + 1)
            if showsPaper, let paper = view.paper, let beside = besideThePaper(paper, groups: groups) {
                body += "<p>Beside the paper <small>(RoBERTa-base on its own tasks: \(esc(paper.note)))</small>:</p>\n"
                body += htmlTable(beside, textColumns: grouping.count)
            }
        }
        if metricPatterns == nil {
            body += "<h2>The best configuration per method, selected on validation</h2>\n" + htmlTable(bestTable(), textColumns: 2)
                + "<p>\(esc(BestSelection.validationAccuracy.description))</p>\n"
        }
        if metricPatterns == nil && showsPaper {
            body += "<h2>The paper's five claims</h2>\n<table><tr><th>#</th><th>the paper's claim</th><th>here</th><th>verdict</th></tr>\n"
            let conclusions = paperConclusions()
            for (i, c) in conclusions.claims.enumerated() {
                body += "<tr><td>\(i + 1)</td><td>\(esc(c.claim))</td><td>\(esc(c.evidence))</td><td><b>\(esc(c.verdict.rawValue))</b></td></tr>\n"
            }
            body += "</table>\n<p>\(esc(Self.claimsFootnote))</p>\n"
            let pairs = conclusions.pairs
            if !pairs.isEmpty {
                body += "<h3>Claim 4 seed by seed: LP-FT − FT, LP-LoRA − LoRA</h3>\n"
                body += "<table><tr><th>pair</th><th>variant</th><th>metric</th><th>difference per seed</th><th>mean [95% CI]</th><th>verdict</th></tr>\n"
                body += pairs.map { p in
                    "<tr><td>\(esc(p.arm)) − \(esc(p.against))</td><td>\(esc(p.cellsText))</td><td>\(esc(p.metric))</td><td>\(esc(p.perSeedText))</td>"
                        + "<td class=\"num\">\(esc(p.summaryText))</td><td>\(esc(p.verdict.text))</td></tr>\n"
                }.joined() + "</table>\n<p>\(esc(PairedComparison.verdictNote))</p>\n"
            }
        }
        body += "<h2>Sweep health</h2>\n" + healthHTML()
        body += "<h2>Builds and machines</h2>\n<table><tr><th>lpft build</th><th>BLAS</th><th>CPU</th><th>completed trials</th></tr>\n"
        body += machines.counts.map { "<tr><td>\(esc($0.kind.build))</td><td>\(esc($0.kind.blas))</td><td>\(esc($0.kind.cpu))</td><td class=\"num\">\($0.trials)</td></tr>\n" }.joined() + "</table>\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>lpft sweep report</title>
            <style>
            body { font-family: sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; } th { background: #f2f2f2; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .plots { display: flex; flex-wrap: wrap; gap: 12px; } .plots svg { border: 1px solid #ddd; background: #fff; }
            .warn { color: #a15c00; font-weight: bold; } small { color: #666; font-weight: normal; }
            </style></head><body>
            \(body)</body></html>

            """
    }

    private func esc(_ s: String) -> String { SVGChart.escape(s) }

    /// `table` with its first `textColumns` cells as text and the rest as right-aligned numbers.
    private func htmlTable(_ table: CellTable, textColumns: Int) -> String {
        "<table>\n<tr>" + table.header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
            + table.rows.map { row in
                "<tr>" + row.enumerated().map { i, cell in i < textColumns ? "<td>\(esc(cell))</td>" : "<td class=\"num\">\(esc(cell))</td>" }.joined() + "</tr>\n"
            }.joined() + "</table>\n"
    }

    /// "lp-ft lp.epochs=10": the method by itself, other axes by name, absent ones left out.
    private func groupName(_ g: TrialGroup) -> String {
        let parts = g.key.filter { $0.value != "—" }.map { $0.axis == "method" || grouping.count == 1 ? $0.value : "\($0.axis)=\($0.value)" }
        return parts.isEmpty ? "all" : parts.joined(separator: " ")
    }

    /// The paper's figures that this sweep has the data for.
    func plots() -> [String] {
        var out: [String] = []
        let groups = self.groups
        let ids = Set(trials.map(\.id))
        // Curves over epochs, one per group: mean over its trials with a band of ± one
        // standard deviation (head norm during LP grows by orders of magnitude).
        for (metric, title, xLabel, yLabel) in [(TrialMetric.epochValidationAccuracy, "Validation accuracy during fine-tuning", "FT epoch", "validation accuracy"),
                                                (TrialMetric.ftLoss, "Training loss during fine-tuning", "FT epoch", "mean training loss"),
                                                (TrialMetric.lpHeadNorm, "Head norm during linear probing", "LP epoch", "‖V‖_F")] {
            guard let points = results.epochSeries[metric]?.filter({ ids.contains($0.trial) }), !points.isEmpty else { continue }
            let series = groups.compactMap { g -> SVGChart.Series? in
                let members = Set(g.trials.map(\.id))
                let byEpoch = Dictionary(grouping: points.filter { members.contains($0.trial) }, by: \.epoch)
                guard !byEpoch.isEmpty else { return nil }
                return SVGChart.Series(name: groupName(g), points: byEpoch.keys.sorted().map { e in
                    let s = Summary(byEpoch[e]!.map(\.value))!
                    return SVGChart.Point(x: Double(e), y: s.mean, error: s.std)
                }, band: true)
            }
            out.append(SVGChart(title: title, xLabel: xLabel, yLabel: yLabel + " (mean ± sd over seeds)", kind: .lines, series: series).render())
        }
        // Feature change against head norm (the norm-scaling experiment).
        let scatter = groups.map { g in
            SVGChart.Series(name: groupName(g), points: g.trials.compactMap { t in
                guard let d = t.metrics[TrialMetric.featureChange], let norm = t.metrics[TrialMetric.headNormAfterLP] ?? t.metrics[TrialMetric.headNormInit] else { return nil }
                return SVGChart.Point(x: norm, y: d)
            })
        }.filter { !$0.points.isEmpty }
        if !scatter.isEmpty {
            out.append(SVGChart(title: "Feature change against head norm at FT start", xLabel: "‖V‖_F when fine-tuning starts", yLabel: "Diff(F): mean over test examples of ‖f(x) − f₀(x)‖₂", kind: .scatter, series: scatter).render())
        }
        // ID and OOD accuracy by group, with error bars.
        let accuracy = [TrialMetric.testAccuracy] + results.metrics(matching: TrialMetric.anyOOD(.accuracy))
        if let chart = bars(title: "Accuracy in and out of distribution", yLabel: "accuracy", metrics: accuracy.filter(results.metricNames.contains), groups: groups) {
            out.append(chart)
        }
        for (metric, title, yLabel) in [(TrialMetric.ntkFTRatio, "FT ratio of the NTK at FT start", "FT-effective share of the update"),
                                        (TrialMetric.test(.ece), "Calibration error before and after temperature scaling", "ECE")] {
            let metrics = metric == TrialMetric.test(.ece) ? [TrialMetric.test(.ece), TrialMetric.test(.eceScaled)] : [metric]
            if let chart = bars(title: title, yLabel: yLabel, metrics: metrics.filter(results.metricNames.contains), groups: groups) { out.append(chart) }
        }
        // Reliability diagrams before and after temperature scaling, bins merged over each group.
        for (key, title) in [("test", "Reliability before temperature scaling"), ("test@T", "Reliability after temperature scaling")] {
            let series = groups.compactMap { g -> SVGChart.Series? in
                let merged = CalibrationBin.merge(g.trials.filter { $0.state == .completed }.compactMap { $0.reliability[key] })
                return merged.isEmpty ? nil : SVGChart.Series(name: groupName(g), points: merged.map { SVGChart.Point(x: $0.confidence, y: $0.accuracy) })
            }
            if !series.isEmpty {
                let diagonal = SVGChart.Series(name: "perfect calibration", points: [SVGChart.Point(x: 0.5, y: 0.5), SVGChart.Point(x: 1, y: 1)])
                out.append(SVGChart(title: title + " (test)", xLabel: "confidence", yLabel: "accuracy", kind: .lines, series: series + [diagonal]).render())
            }
        }
        // Against numeric swept axes: one line per group of the other axes.
        for axis in ["lora.rank", "lp.epochs", "head_scale", "temperature"] where results.axes.contains(axis) {
            let others = grouping.filter { $0 != axis }
            for (metric, label) in [(TrialMetric.testAccuracy, "test accuracy"), (TrialMetric.test(.ece), "test ECE"), (TrialMetric.featureChange, "Diff(F)")] where results.metricNames.contains(metric) {
                let series = results.groups(by: others, trials: trials).compactMap { g -> SVGChart.Series? in
                    let byValue = Dictionary(grouping: g.trials.filter { $0.state == .completed }) { t -> Double? in
                        if case .integer(let i)? = t.axes[axis] { return Double(i) }
                        if case .number(let d)? = t.axes[axis] { return d }
                        return nil
                    }
                    let points = byValue.compactMap { x, ts -> SVGChart.Point? in
                        let values = ts.compactMap { $0.metrics[metric] }
                        guard let x, let s = Summary(values) else { return nil }
                        return SVGChart.Point(x: x, y: s.mean, error: s.std, values: values)
                    }
                    return points.isEmpty ? nil : SVGChart.Series(name: groupName(g), points: points)
                }
                if !series.isEmpty {
                    out.append(SVGChart(title: "\(label) against \(axis)", xLabel: axis, yLabel: label, kind: .lines, series: series).render())
                }
            }
        }
        // Time per trial, by group.
        if let chart = bars(title: "Time per completed trial", yLabel: "seconds", metrics: ["time"], groups: groups, value: { t, _ in t.seconds }) {
            out.append(chart)
        }
        return out
    }

    /// Grouped bars: one category per group, one bar per metric, mean ± standard deviation.
    private func bars(title: String, yLabel: String, metrics: [String], groups: [TrialGroup],
                      value: (TrialRow, String) -> Double? = { t, m in t.metrics[m] }) -> String? {
        guard !metrics.isEmpty, !groups.isEmpty else { return nil }
        let series = metrics.map { m in
            SVGChart.Series(name: m, points: groups.enumerated().compactMap { i, g in
                let values = g.trials.filter { $0.state == .completed }.compactMap { value($0, m) }
                return Summary(values).map { SVGChart.Point(x: Double(i), y: $0.mean, error: $0.std, values: values) }
            })
        }
        guard series.contains(where: { !$0.points.isEmpty }) else { return nil }
        var chart = SVGChart(title: title, xLabel: grouping.joined(separator: " × "), yLabel: yLabel, kind: .bars(categories: groups.map(groupName)), series: series)
        chart.width = max(620, Double(groups.count) * 70 + 240)
        return chart.render()
    }

    private func healthHTML() -> String {
        var out = "<table><tr><th>state</th><th>trials</th></tr>"
        for s in TrialState.allCases { out += "<tr><td>\(s.rawValue)</td><td class=\"num\">\(trials.filter { $0.state == s }.count)</td></tr>" }
        out += "</table>\n"
        let attempts = trials.map(\.attempts).reduce(0, +)
        out += "<p>\(attempts) attempt(s) for \(trials.count) trial(s); \(trials.filter { $0.attempts > 1 }.count) trial(s) needed more than one.</p>\n"
        if let times = methodTimes { out += htmlTable(times, textColumns: 1) }
        if !runs.isEmpty {
            out += "<h3>Runs of this sweep: \(esc(CoordinatorRun.summary(runs)))</h3>\n" + htmlTable(runsTable, textColumns: 5) + "<p><small>\(esc(Self.runsNote))</small></p>\n"
        }
        let degenerate = TrialHealth.lines(trials)
        if !degenerate.isEmpty {
            out += "<h3 class=\"warn\">Degenerate trials</h3><p>Completed, but their numbers do not mean what the tables make of them:</p><ul>"
                + degenerate.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n"
        }
        let failed = trials.filter { $0.state == .failed }
        if !failed.isEmpty {
            out += "<h3>Failed trials</h3><ul>" + failed.map { t in
                "<li><code>\(t.id)</code> " + esc(t.axes.keys.sorted().map { "\($0)=\(t.axes[$0]!)" }.joined(separator: ", ")) + ": \(esc(t.reason ?? ""))</li>"
            }.joined() + "</ul>\n"
        }
        return out
    }
}
