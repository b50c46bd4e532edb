import Foundation
import Sweep

/// A small, dependency-free SVG chart: lines, scatter points or grouped bars with error bars,
/// axes with ticks and labels, and a legend. Enough for a report that must open offline.
struct SVGChart {
    struct Point {
        var x: Double
        var y: Double
        var error: Double? = nil
    }

    struct Series {
        var name: String
        var points: [Point]
    }

    enum Kind {
        case lines, scatter
        /// Bars at categorical x positions 0, 1, 2… named by `categories`.
        case bars(categories: [String])

        var categoryNames: [String] {
            if case .bars(let c) = self { return c }
            return []
        }
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var kind: Kind
    var series: [Series]
    var width = 620.0
    var height = 340.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    func render() -> String {
        // The legend gets what its longest name needs (about 7 px a character at 12 px).
        let legend = Double(series.map(\.name.count).max() ?? 0) * 7 + 44
        let width = self.width + max(0, legend - 170)
        // Category names are written at a slant, with room below for the longest.
        var slanted = false
        if case .bars(let categories) = kind, categories.contains(where: { $0.count > 6 }) { slanted = true }
        let longest = Double(kind.categoryNames.map(\.count).max() ?? 0)
        let left = 70.0, right = max(170, legend), top = 34.0, bottom = slanted ? 40 + longest * 5 : 58.0
        let height = self.height + (bottom - 58)
        let plotW = width - left - right, plotH = height - top - bottom
        let all = series.flatMap(\.points)
        let ys = all.flatMap { p in [p.y - (p.error ?? 0), p.y + (p.error ?? 0)] }.filter(\.isFinite)
        var (yMin, yMax) = (ys.min() ?? 0, ys.max() ?? 1)
        if case .bars = kind { yMin = min(0, yMin) }
        if yMax - yMin < 1e-12 { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        let yTicks = Self.ticks(yMin, yMax)
        (yMin, yMax) = (min(yMin, yTicks.first!), max(yMax, yTicks.last!))
        var xMin: Double, xMax: Double, xTicks: [(Double, String)]
        switch kind {
        case .bars(let categories):
            (xMin, xMax) = (-0.5, Double(categories.count) - 0.5)
            xTicks = categories.enumerated().map { (Double($0.offset), $0.element) }
        case .lines, .scatter:
            let xs = all.map(\.x).filter(\.isFinite)
            (xMin, xMax) = (xs.min() ?? 0, xs.max() ?? 1)
            if xMax - xMin < 1e-12 { (xMin, xMax) = (xMin - 0.5, xMax + 0.5) }
            let t = Self.ticks(xMin, xMax)
            (xMin, xMax) = (min(xMin, t.first!), max(xMax, t.last!))
            xTicks = t.map { ($0, Self.label($0)) }
        }
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - yMin) / (yMax - yMin)) * plotH }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<title>\(Self.escape(title))</title>\n"
        svg += "<text x=\"\(Int(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
        for y in yTicks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        for (x, name) in xTicks {
            svg += "<line x1=\"\(f(px(x)))\" x2=\"\(f(px(x)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#333\"/>"
            if slanted {
                svg += "<text transform=\"translate(\(f(px(x) + 4)) \(f(top + plotH + 14))) rotate(-30)\" text-anchor=\"end\">\(Self.escape(name))</text>\n"
            } else {
                svg += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(Self.escape(name))</text>\n"
            }
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"

        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            switch kind {
            case .lines:
                let pts = s.points.filter { $0.y.isFinite }.sorted { $0.x < $1.x }
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ") + "\"/>\n"
                for p in pts {
                    svg += errorBar(px(p.x), p, py, color)
                    svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(color)\"/>\n"
                }
            case .scatter:
                for p in s.points where p.y.isFinite && p.x.isFinite {
                    svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"4.5\" fill=\"\(color)\" fill-opacity=\"0.75\"/>\n"
                }
            case .bars:
                let slot = plotW / (xMax - xMin) * 0.8 / Double(max(series.count, 1))
                for p in s.points where p.y.isFinite {
                    let x = px(p.x) - slot * Double(series.count) / 2 + slot * Double(i)
                    let y0 = py(max(0, yMin)), y1 = py(p.y)
                    svg += "<rect x=\"\(f(x + 1))\" y=\"\(f(min(y0, y1)))\" width=\"\(f(slot - 2))\" height=\"\(f(abs(y1 - y0)))\" fill=\"\(color)\"/>\n"
                    svg += errorBar(x + slot / 2, p, py, "#222")
                }
            }
            let ly = top + 8 + Double(i) * 18
            svg += "<rect x=\"\(f(left + plotW + 14))\" y=\"\(f(ly))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(f(left + plotW + 32))\" y=\"\(f(ly + 10))\">\(Self.escape(s.name))</text>\n"
        }
        return svg + "</svg>"
    }

    private func errorBar(_ x: Double, _ p: Point, _ py: (Double) -> Double, _ color: String) -> String {
        guard let e = p.error, e > 0, e.isFinite else { return "" }
        let lo = py(p.y - e), hi = py(p.y + e)
        return "<path d=\"M\(f(x)) \(f(lo))V\(f(hi))M\(f(x - 4)) \(f(lo))h8M\(f(x - 4)) \(f(hi))h8\" stroke=\"\(color)\" fill=\"none\"/>\n"
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = floor(lo / step) * step
        return stride(from: first, through: ceil(hi / step) * step + step / 2, by: step).map { $0 }
    }

    static func label(_ v: Double) -> String {
        abs(v) < 1e-12 ? "0" : String(format: "%g", (v * 1e6).rounded() / 1e6)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
