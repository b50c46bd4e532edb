import Foundation
import Sweep
import TrialContract

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

/// A column of the trials table: its value as a number (to sort by) and as text.
struct TrialColumn {
    let name: String
    let number: (TrialRow) -> Double?
    let text: (TrialRow) -> String

    init(_ name: String, number: @escaping (TrialRow) -> Double? = { _ in nil }, text: @escaping (TrialRow) -> String) {
        (self.name, self.number, self.text) = (name, number, text)
    }

    /// Numbers by value, text by text; trials without a value last in either order.
    func sorted(_ trials: [TrialRow], descending: Bool) -> [TrialRow] {
        let keyed = trials.map { (trial: $0, number: number($0)) }
        let numbers = keyed.filter { $0.number?.isFinite == true }.sorted { a, b in descending ? a.number! > b.number! : a.number! < b.number! }
        let others = keyed.filter { $0.number?.isFinite != true }.map { (trial: $0.trial, text: text($0.trial)) }
        let texts = others.filter { $0.text != "—" }.sorted { a, b in descending ? a.text > b.text : a.text < b.text }
        return numbers.map(\.trial) + texts.map(\.trial) + others.filter { $0.text == "—" }.map(\.trial)
    }
}

/// The trials table for a query: filtered, sorted, limited, one column per axis and metric.
struct TrialTable: Sendable {
    /// The metrics shown when the query names none, those a report leads with, when present.
    static let defaultMetrics = [TrialMetric.testAccuracy, TrialMetric.anyOOD(.accuracy), TrialMetric.test(.ece), TrialMetric.test(.eceScaled), TrialMetric.headNormFinal, TrialMetric.ntkFTRatio]

    let query: TrialQuery
    let columns: [String]
    let rows: [(id: String, cells: [TrialCell])]
    let matching: Int
    let total: Int
    /// No trial is pending or running: the page stops refreshing.
    let isSettled: Bool

    init(results: SweepResults, query: TrialQuery) throws {
        self.query = query
        let filter = try query.filter.map { try TrialFilter($0) }
        let patterns = query.metrics?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? Self.defaultMetrics
        var metrics = patterns.flatMap { results.metrics(matching: $0) }
        if query.metrics == nil, metrics.isEmpty { metrics = Array(results.metricNames.prefix(8)) }
        let formatted = { (value: Double?, format: String) in value.map { String(format: format, $0) } ?? "—" }
        let all = [TrialColumn("id", text: \.id), TrialColumn("state", text: \.state.rawValue)]
            + results.axes.map { axis in TrialColumn(axis, number: { $0.axes[axis]?.double }, text: { $0.axes[axis]?.description ?? "—" }) }
            + [TrialColumn("attempts", number: { Double($0.attempts) }, text: { "\($0.attempts)" }),
               TrialColumn("seconds", number: \.seconds, text: { formatted($0.seconds, "%.1f") }),
               TrialColumn("health", text: { $0.degeneracies.isEmpty ? "" : "⚠ " + $0.degeneracies.joined(separator: "; ") })]
            + metrics.map { name in TrialColumn(name, number: { $0.metrics[name] }, text: { formatted($0.metrics[name], "%.4g") }) }
        columns = all.map(\.name)
        var table = results.trials.filter { filter?.accepts($0) ?? true }
        matching = table.count
        total = results.trials.count
        isSettled = !results.isPartial
        if let sort = query.sort {
            guard let column = all.first(where: { $0.name == sort }) else {
                throw DashboardError("sort: \(sort) is not a column of this table (columns: \(columns.joined(separator: ", ")))")
            }
            table = column.sorted(table, descending: query.descending)
        }
        // Only the rows shown are formatted: on 10,000 trials formatting is most of the work.
        rows = table.prefix(query.limit).map { t in (t.id, all.dropFirst().map { TrialCell(text: $0.text(t), number: $0.number(t)) }) }
    }
}
