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
    /// Accuracy of the kernel regression predictor K(x, ·)(K + λI)⁻¹Y on the training examples:
    /// multiclass (arg-max over classes) and pair-level (each (example, class) pair scored
    /// against 0.5, as the reference code's pair classifier counts).
    public let trainAccuracy: Double
    public let trainPairAccuracy: Double

    public init(_ ntk: NeuralTangentKernel, labels: [Int]) {
        let (n, c) = (ntk.examples, ntk.classes)
        let rows = n * c
        pretrain = KernelStatistics(ntk.pretrainEffective, rows: rows)
        ft = KernelStatistics(ntk.ftEffective, rows: rows)
        let totalKernel = zip(ntk.pretrainEffective, ntk.ftEffective).map { $0 + $1 }
        total = KernelStatistics(totalKernel, rows: rows)
        groups = ntk.groups.map { ($0.name, KernelStatistics($0.kernel, rows: rows)) }

        var delta = [Double](repeating: 0, count: rows)
        for i in 0..<n {
            let z = (0..<c).map { Double(ntk.logits[i * c + $0]) }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for k in 0..<c { delta[i * c + k] = (k == labels[i] ? 1 : 0) - e[k] / s }
        }
        func apply(_ k: [Float], _ v: [Double]) -> [Double] {
            (0..<rows).map { r in (0..<rows).reduce(0.0) { $0 + Double(k[r * rows + $1]) * v[$1] } }
        }
        let fd = apply(ntk.ftEffective, delta), td = apply(totalKernel, delta)
        var ratio = 0.0
        for i in 0..<n {
            let a = (0..<c).reduce(0.0) { $0 + fd[i * c + $1] * fd[i * c + $1] }.squareRoot()
            let b = (0..<c).reduce(0.0) { $0 + td[i * c + $1] * td[i * c + $1] }.squareRoot()
            ratio += b > 0 ? a / b : 0
        }
        ftRatio = ratio / Double(n)

        // Kernel regression on one-hot targets with a small ridge (1e-6 of the mean diagonal),
        // solved in Double by Cholesky.
        let y = (0..<rows).map { Double($0 % c == labels[$0 / c] ? 1 : 0) }
        let ridge = 1e-6 * total.trace / Double(rows)
        let alpha = KernelRegression.solve(totalKernel.map(Double.init), ridge: ridge, y, n: rows)
        let prediction = apply(totalKernel, alpha)
        var correct = 0, pairs = 0
        for i in 0..<n {
            let scores = (0..<c).map { prediction[i * c + $0] }
            if scores.indices.max(by: { scores[$0] < scores[$1] }) == labels[i] { correct += 1 }
            for k in 0..<c where (scores[k] > 0.5) == (k == labels[i]) { pairs += 1 }
        }
        trainAccuracy = Double(correct) / Double(n)
        trainPairAccuracy = Double(pairs) / Double(rows)
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
