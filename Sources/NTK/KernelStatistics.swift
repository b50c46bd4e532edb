import Compute
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Summary statistics of one [R, R] kernel (R = examples × classes).
public struct KernelStatistics: Sendable, Equatable {
    public let frobenius: Double
    public let trace: Double
    /// Eigenvalues above max·R·ε (float32 ε), from LAPACK `ssyevd`.
    public let rank: Int

    public init(_ k: [Float], rows: Int) {
        frobenius = Elementwise.sumOfSquares(k, count: k.count).squareRoot()
        trace = (0..<rows).reduce(0.0) { $0 + Double(k[$1 * rows + $1]) }
        if let values = BLAS.symmetricEigenvalues(k, n: rows), let top = values.map(abs).max() {
            let threshold = top * Float(rows) * Float.ulpOfOne
            rank = values.filter { $0 > threshold }.count
        } else {
            rank = -1
        }
    }
}

/// What the paper reports of an NTK at the start of the FT stage.
public struct NTKSummary: Sendable {
    public let pretrain: KernelStatistics
    public let ft: KernelStatistics
    public let total: KernelStatistics
    public let groups: [(name: String, statistics: KernelStatistics)]
    /// mean over training x of ‖Σᵢ F(x, xᵢ) δᵢ‖ / ‖Σᵢ (P + F)(x, xᵢ) δᵢ‖, δᵢ = onehot(yᵢ) − softmax(f(xᵢ)):
    /// the share of the first gradient step's logit change that comes from the backbone.
    public let ftRatio: Double
    /// Accuracy of the kernel regression predictor Θ(x, ·)(Θ + λI)⁻¹Y fitted on the training
    /// examples: multiclass (arg-max over classes) and pair-level (each (example, class) pair
    /// scored against 0.5, as the reference code's pair classifier counts), on the training
    /// examples and on the evaluation examples (nil when there are none).
    public let trainAccuracy: Double
    public let trainPairAccuracy: Double
    public let evalAccuracy: Double?
    public let evalPairAccuracy: Double?

    /// - Parameters:
    ///   - ntk: a kernel over training examples followed by evaluation examples.
    ///   - labels: one per example of `ntk`, in its order.
    ///   - trainCount: how many of the examples are training examples.
    public init(_ ntk: NeuralTangentKernel, labels: [Int], trainCount: Int) {
        let c = ntk.classes, all = ntk.examples * c, rows = trainCount * c
        let totalKernel = zip(ntk.pretrainEffective, ntk.ftEffective).map { $0 + $1 }
        func train(_ k: [Float]) -> [Float] { ntk.block(k, rows: 0..<rows, columns: 0..<rows) }
        pretrain = KernelStatistics(train(ntk.pretrainEffective), rows: rows)
        ft = KernelStatistics(train(ntk.ftEffective), rows: rows)
        total = KernelStatistics(train(totalKernel), rows: rows)
        groups = ntk.groups.map { ($0.name, KernelStatistics(train($0.kernel), rows: rows)) }

        var delta = [Double](repeating: 0, count: rows)
        for i in 0..<trainCount {
            let z = (0..<c).map { Double(ntk.logits[i * c + $0]) }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for k in 0..<c { delta[i * c + k] = (k == labels[i] ? 1 : 0) - e[k] / s }
        }
        /// (K[r, 0..<rows] · v) for r in `range`.
        func apply(_ k: [Float], _ v: [Double], _ range: Range<Int>) -> [Double] {
            range.map { r in (0..<rows).reduce(0.0) { $0 + Double(k[r * all + $1]) * v[$1] } }
        }
        let fd = apply(ntk.ftEffective, delta, 0..<rows), td = apply(totalKernel, delta, 0..<rows)
        var ratio = 0.0
        for i in 0..<trainCount {
            let a = (0..<c).reduce(0.0) { $0 + fd[i * c + $1] * fd[i * c + $1] }.squareRoot()
            let b = (0..<c).reduce(0.0) { $0 + td[i * c + $1] * td[i * c + $1] }.squareRoot()
            ratio += b > 0 ? a / b : 0
        }
        ftRatio = ratio / Double(trainCount)

        // Kernel regression on one-hot targets with a small ridge (1e-6 of the mean diagonal).
        let y = (0..<rows).map { Double($0 % c == labels[$0 / c] ? 1 : 0) }
        let alpha = KernelRegression.solve(train(totalKernel).map(Double.init), ridge: 1e-6 * total.trace / Double(rows), y, n: rows)
        func accuracy(_ examples: Range<Int>) -> (Double, Double) {
            let prediction = apply(totalKernel, alpha, (examples.lowerBound * c)..<(examples.upperBound * c))
            var correct = 0, pairs = 0
            for (j, i) in examples.enumerated() {
                let scores = (0..<c).map { prediction[j * c + $0] }
                if scores.indices.max(by: { scores[$0] < scores[$1] }) == labels[i] { correct += 1 }
                for k in 0..<c where (scores[k] > 0.5) == (k == labels[i]) { pairs += 1 }
            }
            return (Double(correct) / Double(examples.count), Double(pairs) / Double(examples.count * c))
        }
        (trainAccuracy, trainPairAccuracy) = accuracy(0..<trainCount)
        if ntk.examples > trainCount {
            let (a, p) = accuracy(trainCount..<ntk.examples)
            (evalAccuracy, evalPairAccuracy) = (a, p)
        } else {
            (evalAccuracy, evalPairAccuracy) = (nil, nil)
        }
    }
}

extension NeuralTangentKernel {
    /// The sub-block `rows` × `columns` of an [R, R] kernel of this NTK, row-major.
    public func block(_ k: [Float], rows: Range<Int>, columns: Range<Int>) -> [Float] {
        let r = examples * classes
        return rows.flatMap { i in k[(i * r + columns.lowerBound)..<(i * r + columns.upperBound)] }
    }
}

enum KernelRegression {
    /// Solves (K + ridge·I) α = y for symmetric positive semi-definite K by Cholesky, in Double.
    static func solve(_ k: [Double], ridge: Double, _ y: [Double], n: Int) -> [Double] {
        var l = k
        for i in 0..<n { l[i * n + i] += ridge }
        for j in 0..<n {
            var d = l[j * n + j]
            for p in 0..<j { d -= l[j * n + p] * l[j * n + p] }
            let root = max(d, 1e-300).squareRoot()
            l[j * n + j] = root
            for i in (j + 1)..<n {
                var s = l[i * n + j]
                for p in 0..<j { s -= l[i * n + p] * l[j * n + p] }
                l[i * n + j] = s / root
            }
        }
        var z = y
        for i in 0..<n {
            for p in 0..<i { z[i] -= l[i * n + p] * z[p] }
            z[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for p in (i + 1)..<n { z[i] -= l[p * n + i] * z[p] }
            z[i] /= l[i * n + i]
        }
        return z
    }
}
