import Foundation
@testable import Reports
@testable import Sweep
import TestSupport
import XCTest

/// The report's plots draw what their data say: one test per defect a reader found.
final class ChartTests: XCTestCase {
    func chart(_ kind: SVGChart.Kind, _ series: [SVGChart.Series]) -> String {
        SVGChart(title: "t", xLabel: "x", yLabel: "y", kind: kind, series: series).render()
    }

    func testOverlappingCurvesAreDashedApartSoEveryLegendEntryShows() {
        let same = [SVGChart.Point(x: 1, y: 4), SVGChart.Point(x: 2, y: 5)]
        let svg = chart(.lines, [.init(name: "lp-ft", points: same), .init(name: "lp-lora", points: same)])
        let polylines = svg.components(separatedBy: "<polyline").dropFirst().map { String($0.prefix { $0 != ">" }) }
        XCTAssertEqual(polylines.count, 2)
        XCTAssertFalse(polylines[0].contains("stroke-dasharray"))
        XCTAssertTrue(polylines[1].contains("stroke-dasharray=\"7 4\""), polylines[1])
    }

    func testARatioSpacedAxisIsLogarithmicAndEpochsStayLinear() {
        let epochs = [10.0, 100].map { SVGChart.Point(x: $0, y: 0.8) }
        let log = SVGChart(title: "t", xLabel: "lp.epochs", yLabel: "y", kind: .lines, series: [.init(name: "a", points: epochs)])
        XCTAssertTrue(log.logX)
        // The two values sit as far from the plot's edges as each other: log10 10 = 1, log10 100 = 2.
        let xs = log.render().components(separatedBy: "<circle cx=\"").dropFirst().map { Double($0.prefix { $0 != "\"" })! }
        XCTAssertEqual(xs.count, 2)
        XCTAssertTrue(log.render().contains(">10</text>") && log.render().contains(">100</text>"), "ticks at the values")
        XCTAssertFalse(SVGChart(title: "t", xLabel: "epoch", yLabel: "y", kind: .lines, series: [.init(name: "a", points: (1...10).map { SVGChart.Point(x: Double($0), y: 1) })]).logX)
        XCTAssertFalse(SVGChart(title: "t", xLabel: "x", yLabel: "y", kind: .scatter, series: [.init(name: "a", points: epochs)]).logX)
    }

    func testDataIsClippedToThePlotArea() {
        let svg = chart(.lines, [.init(name: "a", points: [SVGChart.Point(x: 4, y: 1, error: 0.5), SVGChart.Point(x: 8, y: 2, error: 3)])])
        XCTAssertTrue(svg.contains("<clipPath id="))
        // The id follows from the title alone (FNV-1a of "t"), so a report regenerated in another
        // process is the same file.
        XCTAssertTrue(svg.contains("<g clip-path=\"url(#clipf10c3da3)\">"), svg)
    }

    /// An FT ratio cannot be negative and an outlier of 1.30 must show: whiskers stay within the
    /// trials' values, and each trial is a dot.
    func testWhiskersStayWithinTheValuesAndOutliersAreDots() {
        let values = [0.18, 0.2, 0.22, 0.25, 1.30]
        let s = Summary(values)!
        let point = SVGChart.Point(x: 0, y: s.mean, error: s.std, values: values)
        XCTAssertLessThan(s.mean - s.std, 0, "mean − sd would go below 0")
        XCTAssertEqual(SVGChart.whisker(point).lowerBound, 0.18)
        XCTAssertEqual(SVGChart.whisker(point).upperBound, s.mean + s.std, accuracy: 1e-12)
        let svg = chart(.bars(categories: ["lp-lora"]), [.init(name: "ntk/ft_ratio", points: [point])])
        XCTAssertEqual(svg.components(separatedBy: "<circle class=\"trial\"").count - 1, 5, "one dot per trial")
    }

    func testTheFeatureChangeAxisSaysWhatIsMeasured() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            for (i, method) in ["ft", "lp-ft"].enumerated() {
                try w.addTrial(id: method, position: i, axes: "{\"method\":\"\(method)\"}", config: "{}", at: 0)
                let result = "{\"status\":\"completed\",\"metrics\":{\"features/diff\":\(i + 1),\"head/norm_init\":0.8}}"
                let lease = try w.startAttempt(trial: method, number: 1, worker: "w", host: "h", at: 0)
                try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
                try w.updateTrial(method, state: .completed, chargedAttempts: 0, result: result)
            }
        }
        let html = SweepReport(results: try SweepResults(journal: journal), directory: dir.path).html()
        XCTAssertTrue(html.contains("Diff(F): mean over test examples of ‖f(x) − f₀(x)‖₂"))
        XCTAssertFalse(html.contains("‖F − F₀‖_F"))
    }
}

extension ReportTests {
    /// "Against lora.rank" shows the trials that have a rank; it is not the accuracy table again.
    func testAnAxisViewShowsOnlyTheTrialsThatHaveTheAxis() throws {
        let (journal, dir) = try self.journal()
        let markdown = SweepReport(results: try SweepResults(journal: journal), directory: dir.path).markdown()
        let section = try XCTUnwrap(markdown.components(separatedBy: "## Against lora.rank").last?.components(separatedBy: "\n## ").first)
        XCTAssertTrue(section.contains("| lora | 4 |"), section)
        XCTAssertFalse(section.contains("| ft |"), section)
        XCTAssertFalse(section.contains("| lp-ft |"), section)
    }

    /// The learning curves are in the HTML report: validation accuracy and loss per epoch.
    func testTheHTMLReportDrawsLearningCurvesWithBands() throws {
        let (journal, dir) = try self.journal()
        try journal.write { w in
            for (i, trial) in ["ft-0-1", "ft-0-2"].enumerated() {
                let lease = try XCTUnwrap(try journal.attempts(trial: trial).first?.lease)
                for epoch in 1...3 {
                    try w.insertMetric(lease: lease, trial: trial, seq: 100 + 2 * epoch, name: "val/accuracy", value: 0.7 + 0.01 * Double(epoch + i), epoch: epoch, step: nil)
                    try w.insertMetric(lease: lease, trial: trial, seq: 101 + 2 * epoch, name: "ft/loss", value: 0.7 - 0.1 * Double(epoch), epoch: epoch, step: nil)
                }
            }
        }
        let html = SweepReport(results: try SweepResults(journal: journal, epochMetrics: SweepReport.plottedEpochMetrics), directory: dir.path).html()
        XCTAssertTrue(html.contains("<title>Validation accuracy during fine-tuning</title>"))
        XCTAssertTrue(html.contains("<title>Training loss during fine-tuning</title>"))
        XCTAssertTrue(html.contains("fill-opacity=\"0.15\""), "a band of ± one sd over the seeds")
        let csv = try SweepReport.make(directories: [dir.path], format: .epochs, grouping: nil, filter: nil, metrics: nil, out: nil).text
        XCTAssertTrue(csv.hasPrefix("id,lora.rank,method,seed,metric,epoch,value\n"), csv)
        XCTAssertTrue(csv.contains("ft-0-2,,ft,2,val/accuracy,3,\(0.7 + 0.01 * 4)\n"), csv)
    }

    func testFiltersCompareNumbersAsNumbersAndUnknownNamesAreErrors() throws {
        let (journal, dir) = try self.journal()
        _ = journal
        let four = try SweepReport.make(directories: [dir.path], format: .csv, grouping: nil, filter: try TrialFilter("lora.rank=4.0"), metrics: nil, out: nil).text
        XCTAssertEqual(four.split(separator: "\n").count, 3, "two trials of rank 4, as 4 = 4.0")
        XCTAssertThrowsError(try SweepReport.make(directories: [dir.path], format: .md, grouping: nil, filter: try TrialFilter("lora.rnak=4"), metrics: nil, out: nil)) {
            XCTAssertTrue("\($0)".contains("--where: lora.rnak is neither a swept axis (lora.rank, method, seed)"), "\($0)")
        }
        XCTAssertThrowsError(try SweepReport.make(directories: [dir.path], format: .md, grouping: nil, filter: nil, metrics: ["test/acc"], out: nil)) {
            XCTAssertTrue("\($0)".contains("--metric: test/acc matches no metric of these trials (known: "), "\($0)")
        }
    }
}

extension ReportTests {
    /// What each trial ran with is in its CSV row, and whole numbers read as integers.
    func testTheCSVHasTheResolvedConfigAndIntegersAsIntegers() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.addTrial(id: "a", position: 0, axes: #"{"method":"ft"}"#, config: #"{"ft":{"epochs":10,"lr":1e-05},"method":"ft","seed":1001}"#, at: 0)
            let result = #"{"status":"completed","metrics":{"ft/best_epoch":8,"test/accuracy":0.8125}}"#
            let lease = try w.startAttempt(trial: "a", number: 1, worker: "w", host: "h", at: 0)
            try w.endAttempt(lease: lease, state: .completed, at: 1, result: result)
            try w.updateTrial("a", state: .completed, chargedAttempts: 0, result: result)
        }
        let lines = SweepReport(results: try SweepResults(journal: journal), directory: "").csv().split(separator: "\n")
        XCTAssertEqual(lines[0], "id,state,attempts,seconds,method,config.ft.epochs,config.ft.lr,config.seed,ft/best_epoch,test/accuracy")
        XCTAssertEqual(lines[1], "a,completed,1,1.000,ft,10,1e-05,1001,8,0.8125")
    }
}
