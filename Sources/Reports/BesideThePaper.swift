import Foundation
import Sweep
import TrialContract

/// The paper's numbers for one of its tables, by method, so that a report prints them in the
/// same rows as ours (RoBERTa-base on the paper's tasks; ../shared/docs/paper-notes.md, "The
/// paper's tables"). Its tasks are not ours, so the columns are read side by side, never
/// subtracted.
public struct PaperTable: Sendable {
    /// One task's column: the paper's cell for each method that it reports.
    public struct Column: Sendable {
        public let title: String
        public let cells: [String: String]

        /// `cells` in the order of `methods`; "—" where the paper has no number.
        init(_ title: String, _ methods: [String], _ cells: [String]) {
            precondition(methods.count == cells.count, "\(title): one cell per method")
            self.title = title
            self.cells = Dictionary(uniqueKeysWithValues: zip(methods, cells).filter { $0.1 != "—" })
        }
    }

    /// Our metrics (patterns with `*`) that stand for the paper's quantity.
    public let ours: [String]
    /// Ours are fractions where the paper gives percent: shown ×100.
    public let percent: Bool
    public let columns: [Column]
    /// What the columns hold, and numbers that are not per method.
    public let note: String

    static let all = ["lp", "ft", "lp-ft", "lora", "lp-lora"]
    static let fineTuned = ["ft", "lp-ft", "lora", "lp-lora"]

    static let accuracy = PaperTable(ours: [TrialMetric.testAccuracy, TrialMetric.anyOOD(.accuracy)], percent: true, columns: [
        Column("RTE", all, ["57.69 ± 1.10", "74.73 ± 3.04", "76.75 ± 0.87", "72.85 ± 1.41", "74.08 ± 2.57"]),
        Column("Amazon (ID)", all, ["83.04 ± 0.01", "88.66 ± 1.62", "88.89 ± 1.02", "86.05 ± 2.16", "88.17 ± 1.97"]),
        Column("Dynasent (OOD)", all, ["42.69 ± 0.05", "44.33 ± 1.11", "45.41 ± 0.80", "46.70 ± 1.68", "43.37 ± 1.50"]),
        Column("SemEval tweets (OOD)", all, ["50.04 ± 0.01", "52.20 ± 1.82", "51.96 ± 2.72", "55.29 ± 2.93", "48.84 ± 3.20"]),
        Column("SST-5 movies (OOD)", all, ["56.81 ± 0.11", "72.52 ± 1.28", "73.78 ± 1.05", "72.88 ± 1.84", "72.31 ± 1.30"]),
    ], note: "accuracy %, mean ± sd over 5 seeds (Tables 8 and 10); Amazon is in distribution for the three OOD sets (BOSS sentiment, 3 classes)")

    static let calibration = PaperTable(ours: [TrialMetric.test(.ece), TrialMetric.test(.eceScaled)], percent: true, columns: [
        Column("RTE", fineTuned, ["21.16 → 5.13", "21.72 → 5.48", "11.92 → 6.17", "18.14 → 5.72"]),
        Column("BoolQ", fineTuned, ["13.63 → 1.83", "18.93 → 2.41", "8.88 → 1.45", "14.09 → 2.07"]),
        Column("WiC", fineTuned, ["25.88 → 8.85", "29.47 → 7.68", "18.66 → 5.93", "22.22 → 8.06"]),
    ], note: "test ECE % before → after temperature scaling (Tables 3 and 14)")

    static let headNorm = PaperTable(ours: [TrialMetric.headNormInit, TrialMetric.headNormAfterLP, TrialMetric.headNormFinal], percent: false, columns: [
        Column("RTE", all, ["0.795 → 28.6", "0.795 → 0.805 after FT", "0.795 → 28.6", "—", "0.795 → 28.6"]),
        Column("BoolQ", all, ["0.795 → 12.7", "—", "0.795 → 12.7", "—", "0.795 → 12.7"]),
        Column("SST-2", all, ["0.795 → 132", "—", "0.795 → 132", "—", "0.795 → 132"]),
        Column("CB", all, ["0.947 → 33.5", "—", "0.947 → 33.5", "—", "0.947 → 33.5"]),
        Column("Amazon", all, ["0.951 → 121", "0.951 → 0.947 after FT", "0.951 → 121", "—", "0.951 → 121"]),
    ], note: "‖V‖_F at initialisation → after LP, and after FT from a fresh head (Table 13)")

    static let features = PaperTable(ours: [TrialMetric.featureChange, TrialMetric.featureCosine], percent: false, columns: [
        Column("RTE Diff(F)", fineTuned, ["21.2", "3.33", "15.1", "3.87"]),
        Column("Amazon Diff(F)", fineTuned, ["19.8", "2.21", "13.5", "2.28"]),
        Column("SemEval Diff(F)", fineTuned, ["18.3", "1.99", "6.97", "2.14"]),
        Column("SST-5 Diff(F)", fineTuned, ["20.3", "1.79", "9.08", "1.89"]),
        Column("Amazon CS(F)", all, ["0.996 (pre-trained)", "0.691", "0.999", "0.848", "0.999"]),
    ], note: "feature change Diff(F) during the FT stage (Table 12) and cosine similarity CS(F) of the features (Table 11)")

    static let ntk = PaperTable(ours: [TrialMetric.ntkFrobeniusPretrain, TrialMetric.ntkRankPretrain, TrialMetric.ntkFrobeniusFT, TrialMetric.ntkFTRatio], percent: false, columns: [
        Column("RTE", fineTuned, ["1.29e4, 0.2148", "3.80e6, 0.9918", "25.1, 0.0005", "7.60e3, 0.1942"]),
        Column("BoolQ", fineTuned, ["1.24e4, 0.2139", "4.46e6, 0.9921", "24.8, 0.0005", "8.56e3, 0.2118"]),
        Column("WiC", fineTuned, ["1.45e4, 0.2216", "7.77e7, 0.9996", "25.8, 0.0005", "1.09e5, 0.7454"]),
        Column("CB", fineTuned, ["1.39e4, 0.1987", "7.25e6, 1.0000", "22.6, 0.0004", "1.51e4, 1.0137"]),
    ], note: "each cell the FT-effective part's Frobenius norm ‖F‖, then the FT ratio, at the start of the FT stage (Tables 2 and 9); "
        + "the pre-train-effective part, ‖P‖ (rank): RTE 4.70e4 (28), BoolQ 4.48e4 (32), WiC 4.81e4 (16), CB 5.10e4 (18)")
}

/// A table of plain cells that a report renders as Markdown or HTML.
struct CellTable {
    let header: [String]
    let rows: [[String]]

    var markdown: String {
        "| " + header.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: header.count) + "\n"
            + rows.map { "| " + $0.joined(separator: " | ") + " |\n" }.joined()
    }
}

extension SweepReport {
    /// Our groups beside the paper's numbers for the same methods: the grouping axes, our
    /// metrics, then one column per paper task. Nil when the report is not grouped by method
    /// or the sweep has none of the table's metrics. Rows with nothing on either side are left out.
    func besideThePaper(_ paper: PaperTable, groups: [TrialGroup]) -> CellTable? {
        guard grouping.contains("method") else { return nil }
        let metrics = paper.ours.flatMap { results.metrics(matching: $0) }
        guard !metrics.isEmpty else { return nil }
        let header = grouping + metrics.map { "here: " + $0 + (paper.percent ? " %" : "") } + paper.columns.map { "paper: " + $0.title }
        let rows = groups.compactMap { g -> [String]? in
            let ours = metrics.map { g.summary($0).map { paper.percent ? Self.percent($0) : Self.format($0) } ?? "—" }
            // A row needs a figure of ours to set beside the paper's (a search's pruned configurations have none).
            guard ours.contains(where: { $0 != "—" }) else { return nil }
            return g.key.map(\.value) + ours + paper.columns.map { $0.cells[g.value("method") ?? ""] ?? "—" }
        }
        return CellTable(header: header, rows: rows)
    }

    /// A fraction as the paper prints percentages: "74.73 ± 3.04".
    static func percent(_ s: Summary) -> String {
        s.n > 1 ? String(format: "%.2f ± %.2f", 100 * s.mean, 100 * s.std) : String(format: "%.2f", 100 * s.mean)
    }
}
