import Foundation
import Sweep

/// A small, dependency-free SVG chart: lines, scatter points or grouped bars with error bars,
/// axes with ticks and labels, and a legend. Enough for a report that must open offline.
struct SVGChart {
    struct Point {
        var x: Double
        var y: Double
        var error: Double? = nil
        /// The values `y` summarises (one per trial): drawn as dots, and the whisker kept within them.
        var values: [Double] = []
    }

    struct Series {
        var name: String
        var points: [Point]
        /// Lines: draw mean ± error as a shaded band instead of error bars (curves over epochs).
        var band = false
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
    /// Line dashes by series, so that curves lying on top of each other both stay visible.
    static let dashes = ["", "7 4", "2 3", "9 3 2 3"]

    /// Lines put x on a log scale when its values are ratio-spaced: a few positive values each
    /// at least about twice the one before (LP epochs 10 and 100, LoRA ranks 4…64), which on a
    /// linear axis crowd into one corner. Epochs 1…10 and scatter plots stay linear.
    var logX: Bool {
        guard case .lines = kind else { return false }
        let xs = Set(series.flatMap(\.points).map(\.x).filter(\.isFinite)).sorted()
        guard xs.count >= 2, xs.count <= 8, xs[0] > 0 else { return false }
        return zip(xs, xs.dropFirst()).allSatisfy { $1 / $0 >= 1.9 }
    }

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
        let ys = all.flatMap { p in [Self.whisker(p).lowerBound, Self.whisker(p).upperBound] + p.values }.filter(\.isFinite)
        var (yMin, yMax) = (ys.min() ?? 0, ys.max() ?? 1)
        if case .bars = kind { yMin = min(0, yMin) }
        if yMax - yMin < 1e-12 { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        let yTicks = Self.ticks(yMin, yMax)
        (yMin, yMax) = (min(yMin, yTicks.first!), max(yMax, yTicks.last!))
        let logX = self.logX
        var xMin: Double, xMax: Double, xTicks: [(Double, String)]
        switch kind {
        case .bars(let categories):
            (xMin, xMax) = (-0.5, Double(categories.count) - 0.5)
            xTicks = categories.enumerated().map { (Double($0.offset), $0.element) }
        case .lines, .scatter:
            let xs = all.map(\.x).filter(\.isFinite).map { logX ? log10($0) : $0 }
            (xMin, xMax) = (xs.min() ?? 0, xs.max() ?? 1)
            if logX {
                // Ticks at the values themselves when few (10, 100), else at powers of ten.
                let values = Set(all.map(\.x)).sorted()
                let t = values.count <= 6 ? values : stride(from: floor(xMin), through: ceil(xMax), by: 1).map { pow(10, $0) }
                (xMin, xMax) = (xMin - 0.1 * (xMax - xMin), xMax + 0.1 * (xMax - xMin))
                xTicks = t.map { (log10($0), Self.label($0)) }
            } else {
                if xMax - xMin < 1e-12 { (xMin, xMax) = (xMin - 0.5, xMax + 0.5) }
                let t = Self.ticks(xMin, xMax)
                (xMin, xMax) = (min(xMin, t.first!), max(xMax, t.last!))
                xTicks = t.map { ($0, Self.label($0)) }
            }
        }
        func px(_ x: Double) -> Double { left + ((logX ? log10(x) : x) - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - yMin) / (yMax - yMin)) * plotH }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<title>\(Self.escape(title))</title>\n"
        svg += "<text x=\"\(Int(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
        for y in yTicks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        // Tick positions are on the axis's own scale (log10 x for a log axis).
        func tickX(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        for (x, name) in xTicks {
            svg += "<line x1=\"\(f(tickX(x)))\" x2=\"\(f(tickX(x)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#333\"/>"
            if slanted {
                svg += "<text transform=\"translate(\(f(tickX(x) + 4)) \(f(top + plotH + 14))) rotate(-30)\" text-anchor=\"end\">\(Self.escape(name))</text>\n"
            } else {
                svg += "<text x=\"\(f(tickX(x)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(Self.escape(name))</text>\n"
            }
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        // Whatever the data does, it is drawn inside the plot area. The id is the title's FNV-1a
        // hash: `hashValue` is seeded per process, so every regenerated report differed.
        let clip = "clip" + String(title.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }, radix: 16)
        svg += "<clipPath id=\"\(clip)\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\"/></clipPath>\n<g clip-path=\"url(#\(clip))\">\n"
        var legendItems = ""

        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            switch kind {
            case .lines:
                let pts = s.points.filter { $0.y.isFinite }.sorted { $0.x < $1.x }
                if s.band, pts.count > 1 {
                    let upper = pts.map { "\(f(px($0.x))),\(f(py($0.y + ($0.error ?? 0))))" }
                    let lower = pts.reversed().map { "\(f(px($0.x))),\(f(py($0.y - ($0.error ?? 0))))" }
                    svg += "<polygon fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"" + (upper + lower).joined(separator: " ") + "\"/>\n"
                }
                let dash = Self.dashes[i % Self.dashes.count]
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"" + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")
                    + " points=\"" + pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ") + "\"/>\n"
                // Markers only where they can be told apart: a hundred of them would hide the
                // dashes that keep overlapping curves distinct.
                for p in pts where pts.count <= 30 {
                    if !s.band { svg += errorBar(px(p.x), p, py, color) }
                    svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"\(s.band ? "2" : "3.5")\" fill=\"\(color)\"/>\n"
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
                    svg += "<rect x=\"\(f(x + 1))\" y=\"\(f(min(y0, y1)))\" width=\"\(f(slot - 2))\" height=\"\(f(abs(y1 - y0)))\" fill=\"\(color)\" fill-opacity=\"0.8\"/>\n"
                    svg += errorBar(x + slot / 2, p, py, "#222")
                    // Each trial's own value, so an outlier shows rather than hides in the spread.
                    for v in p.values where v.isFinite {
                        svg += "<circle class=\"trial\" cx=\"\(f(x + slot / 2))\" cy=\"\(f(py(v)))\" r=\"2.5\" fill=\"#222\" fill-opacity=\"0.6\"/>\n"
                    }
                }
            }
            let ly = top + 8 + Double(i) * 18
            if case .lines = kind {
                // The swatch is the line as drawn, dashes and all, so overlapping curves can be told apart.
                let dash = Self.dashes[i % Self.dashes.count]
                legendItems += "<line x1=\"\(f(left + plotW + 8))\" x2=\"\(f(left + plotW + 28))\" y1=\"\(f(ly + 6))\" y2=\"\(f(ly + 6))\" stroke=\"\(color)\" stroke-width=\"2\""
                    + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") + "/>"
            } else {
                legendItems += "<rect x=\"\(f(left + plotW + 14))\" y=\"\(f(ly))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>"
            }
            legendItems += "<text x=\"\(f(left + plotW + 32))\" y=\"\(f(ly + 10))\">\(Self.escape(s.name))</text>\n"
        }
        return svg + "</g>\n" + legendItems + "</svg>"
    }

    /// The whisker of a point: mean ± error, kept within its trials' values when it has them
    /// (a spread cannot reach below the smallest value, e.g. below 0 for a ratio).
    static func whisker(_ p: Point) -> ClosedRange<Double> {
        let e = (p.error?.isFinite ?? false) ? p.error! : 0
        guard let lo = p.values.min(), let hi = p.values.max() else { return (p.y - e)...(p.y + e) }
        return max(p.y - e, lo)...max(min(p.y + e, hi), max(p.y - e, lo))
    }

    private func errorBar(_ x: Double, _ p: Point, _ py: (Double) -> Double, _ color: String) -> String {
        guard let e = p.error, e > 0, e.isFinite else { return "" }
        let w = Self.whisker(p)
        let lo = py(w.lowerBound), hi = py(w.upperBound)
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
