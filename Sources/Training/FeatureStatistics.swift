/// How features φ(x) of a set of inputs are arranged: the paper's Table 1 quantities.
public struct FeatureStatistics: Sendable, Equatable {
    /// Mean pairwise cosine similarity between the features of different inputs.
    public let cosine: Double
    /// Fisher discriminant ratio in trace form, tr(S_B) / tr(S_W). The paper does not give its
    /// exact formula; this is the standard scalar form (between-class over within-class scatter).
    public let fisherRatio: Double

    /// - Parameters: features row-major [n, width]; labels in 0..<classes.
    public init(features: [Float], labels: [Int], width: Int) {
        let n = labels.count
        precondition(features.count == n * width && n >= 2, "FeatureStatistics: need ≥ 2 rows of \(width)")
        // Σ_{i≠j} uᵢ·uⱼ = ‖Σ uᵢ‖² − Σ‖uᵢ‖² for unit vectors u, so the mean costs O(n·width).
        var sum = [Double](repeating: 0, count: width)
        var units = 0.0
        for i in 0..<n {
            let row = features[(i * width)..<((i + 1) * width)]
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm > 0 else { continue }
            units += 1
            for (j, v) in row.enumerated() { sum[j] += Double(v) / norm }
        }
        // Inputs with all-zero features have no direction and are left out of the pairs.
        let pairs = units * (units - 1)
        cosine = pairs > 0 ? (sum.reduce(0.0) { $0 + $1 * $1 } - units) / pairs : .nan

        let classes = (labels.max() ?? 0) + 1
        var means = [[Double]](repeating: [Double](repeating: 0, count: width), count: classes)
        var counts = [Int](repeating: 0, count: classes)
        var overall = [Double](repeating: 0, count: width)
        for (i, c) in labels.enumerated() {
            counts[c] += 1
            for j in 0..<width {
                let v = Double(features[i * width + j])
                means[c][j] += v
                overall[j] += v
            }
        }
        for c in 0..<classes where counts[c] > 0 { means[c] = means[c].map { $0 / Double(counts[c]) } }
        overall = overall.map { $0 / Double(n) }
        var between = 0.0, within = 0.0
        for c in 0..<classes where counts[c] > 0 {
            between += Double(counts[c]) * zip(means[c], overall).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        for (i, c) in labels.enumerated() {
            for j in 0..<width {
                let d = Double(features[i * width + j]) - means[c][j]
                within += d * d
            }
        }
        fisherRatio = within > 0 ? between / within : .infinity
    }

    /// Diff(F): mean over inputs of ‖φ_after(x) − φ_before(x)‖₂.
    public static func meanDistance(_ after: [Float], _ before: [Float], width: Int) -> Double {
        precondition(after.count == before.count && after.count % width == 0)
        let n = after.count / width
        var total = 0.0
        for i in 0..<n {
            var s = 0.0
            for j in (i * width)..<((i + 1) * width) {
                let d = Double(after[j]) - Double(before[j])
                s += d * d
            }
            total += s.squareRoot()
        }
        return total / Double(n)
    }
}
