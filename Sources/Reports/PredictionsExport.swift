import Foundation
import Sweep
import TrialContract

/// `lpft sweep report --format predictions`: one CSV row per trial, split and example, in long
/// format (`pandas.read_csv`), from the predictions the journal keeps with each completed trial.
///
/// Columns: `trial`, `sweep` (when several sweeps are read), `split`, `example` (the row among
/// its file's examples), `label`, `predicted`, `correct` (0/1), `temperature` (the trial's), then
/// `p_<class>` for every class of the trials exported: softmax probabilities at T = 1, whose
/// scaled form is p^(1/T) renormalised. Trials without predictions (noop, or run before
/// predictions were recorded) contribute no rows.
extension SweepReport {
    func predictionsCSV() -> String {
        let store = predictions ?? .empty
        let multipleSweeps = store.multipleSweeps
        let rows = trials.compactMap { t in store.predictions(for: t).map { (t, $0) } }
        var classes: [String] = []
        for (_, p) in rows { for label in p.labels where !classes.contains(label) { classes.append(label) } }
        var out = (["trial"] + (multipleSweeps ? ["sweep"] : []) + ["split", "example", "label", "predicted", "correct", "temperature"]
            + classes.map { "p_" + $0 }).map(CSV.quote).joined(separator: ",") + "\n"
        for (trial, p) in rows {
            let identity = [PredictionsStore.bareID(trial)] + (multipleSweeps ? [trial.axes["sweep"]?.description ?? ""] : [])
            for name in p.splits.keys.sorted() {
                let split = p.splits[name]!
                let predicted = TrialPredictions.argmax(split.logits, classes: p.classCount)
                for i in split.rows.indices {
                    let probabilities = TrialPredictions.probabilities(split, example: i, classes: p.classCount)
                    var byClass = [String: Double]()
                    for (c, label) in p.labels.enumerated() { byClass[label] = probabilities[c] }
                    let cells = identity + [name, "\(split.rows[i])", p.labels[split.targets[i]], p.labels[predicted[i]],
                                            predicted[i] == split.targets[i] ? "1" : "0", SweepReport.number(p.temperature)]
                        + classes.map { byClass[$0].map { String(format: "%.9g", $0) } ?? "" }
                    out += cells.map(CSV.quote).joined(separator: ",") + "\n"
                }
            }
        }
        return out
    }
}

/// The per-example predictions of the completed trials of one or more sweeps' journals.
public struct PredictionsStore: Sendable {
    /// By sweep name (the directory's last component; "" for a single sweep) and trial id.
    let bySweep: [String: [String: TrialPredictions]]
    let multipleSweeps: Bool

    /// No predictions at all.
    static let empty = PredictionsStore(bySweep: [:], multipleSweeps: false)

    init(bySweep: [String: [String: TrialPredictions]], multipleSweeps: Bool) {
        self.bySweep = bySweep
        self.multipleSweeps = multipleSweeps
    }

    /// Reads every completed trial's predictions of each journal; a malformed one names its journal.
    public init(journals: [(name: String, journal: Journal)]) throws {
        var bySweep: [String: [String: TrialPredictions]] = [:]
        for (name, journal) in journals {
            bySweep[journals.count > 1 ? name : ""] = try journal.predictions().mapValues { text in
                do { return try TrialPredictions(json: text) } catch { throw ConfigErrorText("\(journal.path): \(error)") }
            }
        }
        self.init(bySweep: bySweep, multipleSweeps: journals.count > 1)
    }

    /// A trial's id in its own journal: combined results name it `SWEEP/ID`.
    static func bareID(_ t: TrialRow) -> String {
        t.axes["sweep"] == nil ? t.id : String(t.id.split(separator: "/").last ?? "")
    }

    public func predictions(for t: TrialRow) -> TrialPredictions? {
        bySweep[multipleSweeps ? t.axes["sweep"]?.description ?? "" : ""]?[Self.bareID(t)]
    }
}

/// RFC 4180 cells, as the report's CSV writes them.
enum CSV {
    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
