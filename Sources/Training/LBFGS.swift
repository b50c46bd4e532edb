/// Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4) with a backtracking Armijo line
/// search, in Double, for smooth convex objectives such as L2 logistic regression.
///
/// Written here because none of the Swift packages available to this project (swift-numerics
/// included) offers a quasi-Newton solver; it is ~60 lines and tested through its one user.
struct LBFGS {
    var memory = 10
    /// Stop when the largest gradient component is below this.
    /// (On the mean-loss scale: scikit-learn's default, 1e-4, is on a C-times-sum scale and often
    /// stops short of the optimum.)
    var gradientTolerance = 1e-6
    var maxIterations = 2000

    struct Outcome {
        var x: [Double]
        var value: Double
        var gradientNorm: Double
        var iterations: Int
        var converged: Bool
    }

    /// Minimises `f` from `start`; `f` returns the value and the gradient.
    func minimize(_ start: [Double], _ f: ([Double]) -> (Double, [Double])) -> Outcome {
        var x = start
        var (value, gradient) = f(x)
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        func infNorm(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
        var iteration = 0
        while iteration < maxIterations, infNorm(gradient) > gradientTolerance {
            iteration += 1
            // Two-loop recursion: direction = −H·g.
            var q = gradient
            var alphas = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alphas[i] = rho[i] * dot(s[i], q)
                for j in q.indices { q[j] -= alphas[i] * y[i][j] }
            }
            let gamma = s.isEmpty ? 1 / max(1, infNorm(gradient)) : dot(s[s.count - 1], y[y.count - 1]) / dot(y[y.count - 1], y[y.count - 1])
            for j in q.indices { q[j] *= gamma }
            for i in s.indices {
                let beta = rho[i] * dot(y[i], q)
                for j in q.indices { q[j] += (alphas[i] - beta) * s[i][j] }
            }
            var direction = q.map { -$0 }
            var slope = dot(gradient, direction)
            if slope >= 0 {  // not a descent direction (numerical trouble): restart from steepest descent
                s.removeAll(); y.removeAll(); rho.removeAll()
                direction = gradient.map { -$0 }
                slope = dot(gradient, direction)
            }
            // Backtracking until the Armijo condition holds.
            var step = 1.0
            var candidate = x, next = (value, gradient)
            while true {
                for j in x.indices { candidate[j] = x[j] + step * direction[j] }
                next = f(candidate)
                if next.0 <= value + 1e-4 * step * slope || step < 1e-20 { break }
                step *= 0.5
            }
            let sk = zip(candidate, x).map { $0 - $1 }, yk = zip(next.1, gradient).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk).squareRoot() * dot(sk, sk).squareRoot() {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let improvement = value - next.0
            (x, value, gradient) = (candidate, next.0, next.1)
            if step < 1e-20 || (improvement >= 0 && improvement <= 1e-16 * max(1, abs(value))) { break }
        }
        let norm = infNorm(gradient)
        return Outcome(x: x, value: value, gradientNorm: norm, iterations: iteration, converged: norm <= gradientTolerance)
    }
}
