import Foundation
import Sweep

/// The trials page's query: `?where=AXIS=VALUE,…&metric=PATTERNS&sort=COLUMN&desc=1&limit=N`.
struct TrialQuery: Sendable, Equatable {
    /// `--where` syntax of `lpft sweep report`.
    var filter: String?
    /// Comma-separated metric patterns (`*` within a path step), as `--metric`.
    var metrics: String?
    var sort: String?
    var descending = false
    /// Rows rendered: a page of 10,000 trials would take longer to draw than to read.
    var limit = 500

    init(filter: String? = nil, metrics: String? = nil, sort: String? = nil, descending: Bool = false, limit: Int = 500) {
        (self.filter, self.metrics, self.sort, self.descending, self.limit) = (filter, metrics, sort, descending, limit)
    }

    init(_ items: [String: String]) {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        self.init(filter: nonEmpty(items["where"]), metrics: nonEmpty(items["metric"]), sort: nonEmpty(items["sort"]),
                  descending: items["desc"] == "1", limit: items["limit"].flatMap(Int.init).map { min(max($0, 1), 100_000) } ?? 500)
    }

    /// This query as a URL query string.
    func queryString() -> String {
        let items: [(String, String?)] = [("where", filter), ("metric", metrics), ("sort", sort), ("desc", descending ? "1" : nil),
                                          ("limit", limit == 500 ? nil : String(limit))]
        return Self.encode(items.compactMap { name, value in value.map { (name, $0) } })
    }

    /// `name=value&…`, each value percent-encoded.
    static func encode(_ items: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return items.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    /// The link a column header points to: sort by it, or flip the order if it is the sort already.
    func link(sortingBy column: String) -> String {
        var next = self
        next.descending = sort == column ? !descending : false
        next.sort = column
        return "/trials?" + next.queryString()
    }
}

/// One cell of the trials table.
struct TrialCell: Sendable {
    var text: String
    /// What the column sorts by when the value is a number.
    var number: Double?
}

/// The trials table for a query: filtered, sorted, limited, one column per axis and metric.
struct TrialTable: Sendable {
    /// The metrics shown when the query names none, those a report leads with, when present.
    static let defaultMetrics = ["test/accuracy", "ood/*/accuracy", "test/ece", "test/ece@T", "head/norm_final", "ntk/ft_ratio"]

    let query: TrialQuery
    let columns: [String]
    let rows: [(id: String, cells: [TrialCell])]
    let matching: Int
    let total: Int
    /// No trial is pending or running: the page stops refreshing.
    let isSettled: Bool

    init(results: SweepResults, query: TrialQuery) throws {
        self.query = query
        let filter = try query.filter.map(TrialFilter.init)
        let patterns = query.metrics?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? Self.defaultMetrics
        var metrics = patterns.flatMap { results.metrics(matching: $0) }
        if query.metrics == nil, metrics.isEmpty { metrics = Array(results.metricNames.prefix(8)) }
        columns = ["id", "state"] + results.axes + ["attempts", "seconds"] + metrics
        var table = results.trials.filter { filter?.accepts($0) ?? true }.map { t -> (id: String, cells: [TrialCell]) in
            let axes = results.axes.map { axis in TrialCell(text: t.axes[axis]?.description ?? "—", number: t.axes[axis].flatMap(Self.number)) }
            let values = metrics.map { name in TrialCell(text: t.metrics[name].map { String(format: "%.4g", $0) } ?? "—", number: t.metrics[name]) }
            return (t.id, [TrialCell(text: t.state.rawValue)] + axes + [TrialCell(text: "\(t.attempts)", number: Double(t.attempts)),
                    TrialCell(text: t.seconds.map { String(format: "%.1f", $0) } ?? "—", number: t.seconds)] + values)
        }
        matching = table.count
        total = results.trials.count
        isSettled = !results.isPartial
        if let sort = query.sort {
            guard let column = columns.firstIndex(of: sort) else {
                throw DashboardError("sort: \(sort) is not a column of this table (columns: \(columns.joined(separator: ", ")))")
            }
            func key(_ row: (id: String, cells: [TrialCell])) -> TrialCell { column == 0 ? TrialCell(text: row.id) : row.cells[column - 1] }
            // Numbers by value, text by text; cells without a value last in either order.
            table.sort { a, b in
                let (x, y) = (key(a), key(b))
                switch (x.number, y.number) {
                case let (p?, q?) where p.isFinite && q.isFinite: return query.descending ? p > q : p < q
                case (let p?, _) where p.isFinite: return true
                case (_, let q?) where q.isFinite: return false
                default:
                    if x.text == "—" || y.text == "—" { return y.text == "—" && x.text != "—" }
                    return query.descending ? x.text > y.text : x.text < y.text
                }
            }
        }
        rows = Array(table.prefix(query.limit))
    }

    static func number(_ value: ConfigValue) -> Double? {
        switch value {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }
}
