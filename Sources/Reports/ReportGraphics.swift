import Foundation

/// The report's escaping and line charts, for pages other than the report (the dashboard's
/// trial page), so that both draw and escape the same way.
public enum ReportGraphics {
    /// `s` safe as HTML text or as a double-quoted attribute value.
    public static func escape(_ s: String) -> String { SVGChart.escape(s) }

    /// An inline SVG line chart of named series of (x, y) points.
    public static func lineChart(title: String, xLabel: String, yLabel: String, series: [(name: String, points: [(x: Double, y: Double)])]) -> String {
        SVGChart(title: title, xLabel: xLabel, yLabel: yLabel, kind: .lines,
                 series: series.map { SVGChart.Series(name: $0.name, points: $0.points.map { SVGChart.Point(x: $0.x, y: $0.y) }) }).render()
    }
}
