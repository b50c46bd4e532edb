import Compute
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// L2-regularised logistic regression on fixed features, scikit-learn's model and objective:
/// C · Σᵢ lossᵢ + ½‖W‖², intercept unpenalised. It is minimised divided by C·n (mean loss +
/// ‖W‖²/(2·C·n)): the same minimiser, and one gradient scale for every C.
///
/// Two classes are one binomial logit (class 1 against a fixed 0 for class 0), as scikit-learn
/// fits binary problems; more classes are multinomial with one row per class. Parameters are
/// `rows` rows of [W_k (width), b_k].
///
/// Solved by Newton's method with a backtracking line search: the problem is (width+1)·rows
/// parameters (385 for a binary MiniLM probe), so the Hessian is small and its Cholesky cheap;
/// building it costs n·(width+1)² per block, so it is rebuilt only when the last step stopped
/// making fast progress (an older Hessian still gives a descent direction).
struct LogisticRegression {
    /// Features with a trailing 1 per row (the intercept's column), [n, width + 1].
    let x: [Double]
    let y: [Int]
    let classes: Int
    let width: Int

    /// Stop when the largest gradient component (mean-loss scale) is below this. Newton's
    /// quadratic convergence makes a tight tolerance cost about one more step.
    var gradientTolerance = 1e-9
    var maxIterations = 100

    init(features: [Double], labels: [Int], classes: Int, width: Int) {
        var x = [Double](repeating: 1, count: labels.count * (width + 1))
        for i in labels.indices {
            for j in 0..<width { x[i * (width + 1) + j] = features[i * width + j] }
        }
        (self.x, y, self.classes, self.width) = (x, labels, classes, width)
    }

    var rows: Int { classes == 2 ? 1 : classes }
    var stride: Int { width + 1 }
    var parameterCount: Int { rows * stride }

    struct Evaluation {
        var value: Double
        var gradient: [Double]
        /// Each example's probabilities of the classes that have a row, [n, rows].
        var probabilities: [Double]
    }

    /// A solution, with the loss Hessian last built (a warm start for a nearby C).
    struct Solution {
        var theta: [Double]
        var iterations: Int
        var converged: Bool
        var lossHessian: [Double]?
    }

    /// The objective, its gradient and the probabilities at θ, for λ = 1/(C·n).
    func evaluate(_ theta: [Double], lambda: Double) -> Evaluation {
        let (n, r, s) = (y.count, rows, stride)
        let fixedZero = classes == 2  // class 0's logit is 0
        var p = [Double](repeating: 0, count: n * r)
        BLAS.dgemm(transposeB: true, m: n, n: r, k: s, a: x, lda: s, b: theta, ldb: s, c: &p, ldc: r)
        var loss = 0.0
        var residual = [Double](repeating: 0, count: n * r)
        for i in 0..<n {
            var m = fixedZero ? 0 : -Double.infinity
            for k in 0..<r { m = max(m, p[i * r + k]) }
            var sum = fixedZero ? exp(-m) : 0
            for k in 0..<r { sum += exp(p[i * r + k] - m) }
            let logSum = m + log(sum)
            let target = fixedZero ? y[i] - 1 : y[i]
            loss += logSum - (target >= 0 ? p[i * r + target] : 0)
            for k in 0..<r {
                p[i * r + k] = exp(p[i * r + k] - logSum)
                residual[i * r + k] = (p[i * r + k] - (k == target ? 1 : 0)) / Double(n)
            }
        }
        var g = [Double](repeating: 0, count: r * s)
        BLAS.dgemm(transposeA: true, m: r, n: s, k: n, a: residual, lda: r, b: x, ldb: s, c: &g, ldc: s)
        var penalty = 0.0
        for k in 0..<r {
            for j in 0..<width {
                penalty += theta[k * s + j] * theta[k * s + j]
                g[k * s + j] += lambda * theta[k * s + j]
            }
        }
        return Evaluation(value: loss / Double(n) + 0.5 * lambda * penalty, gradient: g, probabilities: p)
    }

    /// The mean loss's Hessian: block (k, l) is Xᵀ diag(p_k (δ_kl − p_l)) X / n.
    ///
    /// Accumulated in float32, at twice the speed of double: the Hessian only shapes the step,
    /// while the gradient, in double, decides when the solve has converged.
    func lossHessian(_ p: [Double]) -> [Double] {
        let (n, r, s) = (y.count, rows, stride)
        let d = r * s
        var h = [Double](repeating: 0, count: d * d)
        let xf = x.map(Float.init)
        var scaled = [Float](repeating: 0, count: n * s), block = [Float](repeating: 0, count: s * s)
        for k in 0..<r {
            for l in k..<r {
                if k == l {  // non-negative weights: a Gram matrix of √w·x, half the work of a product
                    for i in 0..<n {
                        let w = Float((p[i * r + k] * (1 - p[i * r + k]) / Double(n)).squareRoot())
                        for a in 0..<s { scaled[i * s + a] = w * xf[i * s + a] }
                    }
                    BLAS.gram(n: s, k: n, a: scaled, c: &block)
                } else {
                    for i in 0..<n {
                        let w = Float(-p[i * r + k] * p[i * r + l] / Double(n))
                        for a in 0..<s { scaled[i * s + a] = w * xf[i * s + a] }
                    }
                    BLAS.gemm(transposeA: true, m: s, n: s, k: n, a: xf, lda: s, b: scaled, ldb: s, c: &block, ldc: s)
                }
                for a in 0..<s {
                    for b in 0..<s {
                        h[(k * s + a) * d + l * s + b] = Double(block[a * s + b])
                        h[(l * s + b) * d + k * s + a] = Double(block[a * s + b])
                    }
                }
            }
        }
        return h
    }

    /// The Cholesky factor of the objective's Hessian from the loss Hessian. In the
    /// multinomial case shifting every intercept by one amount changes nothing, so the loss
    /// Hessian is singular along it; adding that direction's outer product makes it definite
    /// without moving the step, which (like every gradient) is orthogonal to it, so the
    /// intercepts keep summing to zero, as scikit-learn's do from its zero start.
    func factor(_ lossHessian: [Double], lambda: Double) -> [Double] {
        let (r, s, d) = (rows, stride, parameterCount)
        var h = lossHessian
        for k in 0..<r {
            for j in 0..<width { h[(k * s + j) * d + k * s + j] += lambda }
            if classes > 2 {
                for l in 0..<r { h[(k * s + width) * d + l * s + width] += 1 }
            }
        }
        // Numerically semi-definite (e.g. a class absent from a fold): a small ridge.
        var ridge = 1e-12 * (0..<d).reduce(0) { max($0, h[$1 * d + $1]) }
        var a = h
        while !BLAS.choleskyFactor(&a, n: d) {
            a = h
            for i in 0..<d { a[i * d + i] += ridge }
            ridge *= 10
        }
        return a
    }

    /// Minimises the objective for C from `start` (θ and optionally the loss Hessian there).
    func solve(inverseRegularization c: Double, from start: Solution?) -> Solution {
        let lambda = 1 / (c * Double(y.count)), d = parameterCount
        var theta = start?.theta ?? [Double](repeating: 0, count: d)
        var lossH = start?.lossHessian
        var e = evaluate(theta, lambda: lambda)
        var cholesky: [Double]?
        var iterations = 0
        func infNorm(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }
        while iterations < maxIterations, infNorm(e.gradient) > gradientTolerance {
            iterations += 1
            let fresh = lossH == nil
            if fresh { lossH = lossHessian(e.probabilities); cholesky = nil }
            if cholesky == nil { cholesky = factor(lossH!, lambda: lambda) }
            var step = e.gradient.map { -$0 }
            BLAS.choleskySolve(cholesky!, n: d, &step)
            let slope = zip(step, e.gradient).reduce(0) { $0 + $1.0 * $1.1 }
            // Near the optimum the decrease a step promises (−slope/2) is below the rounding of
            // the objective, a sum over n examples, and a line search sees only noise: there the
            // full step is taken if it shrinks the gradient, and the solve ends if it does not.
            if -slope < 1e-12 * max(1, abs(e.value)) {
                let candidate = zip(theta, step).map { $0 + $1 }
                let next = evaluate(candidate, lambda: lambda)
                guard infNorm(next.gradient) < infNorm(e.gradient) else { break }
                (theta, e) = (candidate, next)
                continue
            }
            var t = 1.0, candidate = theta, next = e
            while true {
                for j in 0..<d { candidate[j] = theta[j] + t * step[j] }
                next = evaluate(candidate, lambda: lambda)
                if next.value <= e.value + 1e-4 * t * slope || t < 1e-10 { break }
                t *= 0.5
            }
            // At the floor of double precision the line search finds no decrease: stop there.
            if t < 1e-10 && next.value > e.value {
                if fresh { break }
                lossH = nil
                continue
            }
            if t < 1 || infNorm(next.gradient) > 0.25 * infNorm(e.gradient) { lossH = nil }
            (theta, e) = (candidate, next)
        }
        return Solution(theta: theta, iterations: iterations, converged: infNorm(e.gradient) <= gradientTolerance, lossHessian: lossH)
    }

    /// The predicted class of row `i` of `features` ([n, width], no intercept column): the
    /// first of the largest logits, class 0's being 0 in the binomial case (scikit-learn
    /// predicts class 1 only when its decision function is positive).
    func predict(_ theta: [Double], _ features: [Double], row i: Int) -> Int {
        var best = classes == 2 ? 0 : -1, bestLogit = classes == 2 ? 0 : -Double.infinity
        for k in 0..<rows {
            var z = theta[k * stride + width]
            for j in 0..<width { z += theta[k * stride + j] * features[i * width + j] }
            if z > bestLogit { (best, bestLogit) = (classes == 2 ? 1 : k, z) }
        }
        return best
    }
}
