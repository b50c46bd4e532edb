import Compute
import Transformer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A linear head V ∈ R^{C×h}, b ∈ R^C on fixed features: the LP stage, trained on features
/// computed once (the backbone is never re-run).
public struct LinearHead: Sendable, Equatable {
    public var weight: [Float]
    public var bias: [Float]
    public let classes: Int
    public let width: Int

    public init(weight: [Float], bias: [Float], classes: Int, width: Int) {
        precondition(weight.count == classes * width && bias.count == classes)
        self.weight = weight
        self.bias = bias
        self.classes = classes
        self.width = width
    }

    /// The head stored in a model's flat parameter buffer.
    public init(in parameters: FloatBuffer, layout: BertLayout) {
        let v = layout.head.weight
        self.init(weight: Array(parameters.buffer[v.range]), bias: Array(parameters.buffer[layout.head.bias.range]),
                  classes: v.shape[0], width: v.shape[1])
    }

    /// Stores this head into a model's flat parameter buffer.
    public func write(into parameters: FloatBuffer, layout: BertLayout) {
        weight.withUnsafeBufferPointer { (parameters.pointer + layout.head.weight.offset).update(from: $0.baseAddress!, count: $0.count) }
        bias.withUnsafeBufferPointer { (parameters.pointer + layout.head.bias.offset).update(from: $0.baseAddress!, count: $0.count) }
    }

    /// ‖V‖_F, the head norm the paper tracks (the bias is not included).
    public var norm: Double { Elementwise.sumOfSquares(weight, count: weight.count).squareRoot() }

    /// Logits [n, classes] of features [n, width].
    public func logits(_ features: [Float]) -> [Float] {
        let n = features.count / width
        var out = [Float](repeating: 0, count: n * classes)
        Linear.forward(features, weight: weight, bias: bias, &out, rows: n, inFeatures: width, outFeatures: classes)
        return out
    }
}

public enum LinearProbe {
    public struct SGDOptions: Sendable {
        public var epochs: Int
        public var learningRate: Float
        public var batchSize: Int
        /// Dropout on the features in front of the head, as in training mode.
        public var dropout: Float
        public var clipNorm: Float?
        public var seed: UInt64

        public init(epochs: Int, learningRate: Float, batchSize: Int, dropout: Float = 0.1, clipNorm: Float? = 1, seed: UInt64) {
            self.epochs = epochs
            self.learningRate = learningRate
            self.batchSize = batchSize
            self.dropout = dropout
            self.clipNorm = clipNorm
            self.seed = seed
        }
    }

    /// Trains the head by AdamW steps (linear decay to 0) for `epochs` epochs on cached
    /// features; `onEpoch(epoch, mean loss, ‖V‖_F)` reports each epoch.
    public static func trainSGD(features: [Float], labels: [Int], from initial: LinearHead, options o: SGDOptions,
                                onEpoch: (Int, Double, Double) -> Void = { _, _, _ in }) -> LinearHead {
        let (h, c, n) = (initial.width, initial.classes, labels.count)
        let layout = headLayout(classes: c, width: h)
        let params = FloatBuffer(initial.weight + initial.bias)
        let grads = FloatBuffer(count: params.count)
        let optimizer = AdamW(views: layout.views, parameterCount: params.count)
        let stepsPerEpoch = (n + o.batchSize - 1) / o.batchSize
        let schedule = LinearSchedule(peak: o.learningRate, totalSteps: o.epochs * stepsPerEpoch)
        let x = FloatBuffer(count: o.batchSize * h), mask = FloatBuffer(count: o.batchSize * h)
        let logits = FloatBuffer(count: o.batchSize * c), dLogits = FloatBuffer(count: o.batchSize * c)
        let rng = RandomStream(seed: o.seed, stream: 0x4C50)  // "LP"
        for epoch in 1..<(o.epochs + 1) {
            let order = rng.derived(UInt64(epoch)).permutation(n)
            var lossSum = 0.0
            for s in 0..<stepsPerEpoch {
                let rows = Array(order[(s * o.batchSize)..<min(n, (s + 1) * o.batchSize)])
                for (i, r) in rows.enumerated() {
                    features.withUnsafeBufferPointer { (x.pointer + i * h).update(from: $0.baseAddress! + r * h, count: h) }
                }
                if o.dropout > 0 {
                    Dropout.makeMask(mask.pointer, count: rows.count * h, p: o.dropout, stream: rng.derived(1 << 40 | UInt64(optimizer.step)))
                    Dropout.apply(x.pointer, mask: mask.pointer, count: rows.count * h)
                }
                Linear.forward(x.pointer, weight: params.pointer, bias: params.pointer + c * h, logits.pointer, rows: rows.count, inFeatures: h, outFeatures: c)
                lossSum += Double(CrossEntropy.forwardBackward(logits: logits.pointer, labels: rows.map { labels[$0] }, classes: c, dLogits: dLogits.pointer))
                grads.zero()
                Linear.backward(dLogits.pointer, x: x.pointer, weight: params.pointer, dx: nil, dWeight: grads.pointer, dBias: grads.pointer + c * h,
                                rows: rows.count, inFeatures: h, outFeatures: c)
                optimizer.update(params.pointer, gradients: grads.pointer, learningRate: schedule.learningRate(at: optimizer.step), clipNorm: o.clipNorm)
            }
            let head = LinearHead(weight: Array(params.buffer[0..<(c * h)]), bias: Array(params.buffer[(c * h)...]), classes: c, width: h)
            onEpoch(epoch, lossSum / Double(stepsPerEpoch), head.norm)
        }
        return LinearHead(weight: Array(params.buffer[0..<(c * h)]), bias: Array(params.buffer[(c * h)...]), classes: c, width: h)
    }

    /// The outcome of `fitLogistic`.
    public struct LogisticFit: Sendable {
        public let head: LinearHead
        /// The inverse regularisation strength C chosen by cross-validation (scikit-learn's C).
        public let inverseRegularization: Double
        /// Mean held-out accuracy of each C in the grid.
        public let crossValidationAccuracy: [Double]
        /// L-BFGS iterations of the final fit, and whether its gradient reached the tolerance.
        public let iterations: Int
        public let converged: Bool
    }

    /// scikit-learn's `LogisticRegressionCV` default grid: 10 values of C from 1e-4 to 1e4.
    public static let defaultGrid = (0..<10).map { pow(10, -4 + 8 * Double($0) / 9) }

    /// L2-regularised multinomial logistic regression on the features, solved to convergence
    /// with L-BFGS, C chosen by `folds`-fold cross-validation on accuracy (the smallest C among
    /// ties), then refitted on all the data. The objective is scikit-learn's, scaled by 1/(C·n):
    /// mean cross-entropy + ‖V‖²/(2·C·n), bias unpenalised.
    ///
    /// The head is the fitted model itself, V = W and b = intercept, so it gives exactly the
    /// fitted probabilities (unlike the reference code, which halves a binary fit into [−w/2, w/2]).
    public static func fitLogistic(features: [Float], labels: [Int], classes: Int, width: Int,
                                   grid: [Double] = defaultGrid, folds: Int = 5, seed: UInt64, threads: Int = 1) -> LogisticFit {
        let n = labels.count
        let x = features.map(Double.init)
        let order = RandomStream(seed: seed, stream: 0x4356).permutation(n)  // "CV"
        // Fewer examples than folds: as many folds as examples (each holds one out).
        let folds = max(1, min(folds, n))
        // Folds run in parallel (each solver single-threaded); their accuracies are summed in
        // fold order afterwards, so the choice of C does not depend on the thread count.
        var perFold = [[Double]](repeating: [Double](repeating: 0, count: grid.count), count: folds)
        perFold.withUnsafeMutableBufferPointer { results in
            BLAS.withSingleThread {
                parallelChunks(n >= 2 ? folds : 0, threads: threads) { _, range in
                    for fold in range {
                        let held = Set(order[(fold * n / folds)..<((fold + 1) * n / folds)])
                        let trainRows = (0..<n).filter { !held.contains($0) }, testRows = held.sorted()
                        let trainX = trainRows.flatMap { x[($0 * width)..<(($0 + 1) * width)] }
                        let trainY = trainRows.map { labels[$0] }
                        var warm = [Double](repeating: 0, count: classes * (width + 1))
                        for (g, c) in grid.enumerated() {
                            let fit = solve(trainX, trainY, classes: classes, width: width, inverseRegularization: c, start: warm)
                            warm = fit.x
                            var correct = 0
                            for r in testRows {
                                let z = (0..<classes).map { k in (0..<width).reduce(fit.x[classes * width + k]) { $0 + fit.x[k * width + $1] * x[r * width + $1] } }
                                if z.indices.max(by: { z[$0] < z[$1] }) == labels[r] { correct += 1 }
                            }
                            results[fold][g] = Double(correct) / Double(testRows.count)
                        }
                    }
                }
            }
        }
        let accuracy = (0..<grid.count).map { g in perFold.reduce(0.0) { $0 + $1[g] } / Double(folds) }
        // With a single example there is nothing to cross-validate: C = 1, scikit-learn's default.
        let best = n < 2 ? grid.indices.min { abs(log(grid[$0])) < abs(log(grid[$1])) }!
            : accuracy.indices.max { accuracy[$0] < accuracy[$1] || (accuracy[$0] == accuracy[$1] && $0 > $1) }!
        let fit = solve(x, labels, classes: classes, width: width, inverseRegularization: grid[best],
                        start: [Double](repeating: 0, count: classes * (width + 1)))
        let head = LinearHead(weight: fit.x[0..<(classes * width)].map(Float.init), bias: fit.x[(classes * width)...].map(Float.init),
                              classes: classes, width: width)
        return LogisticFit(head: head, inverseRegularization: grid[best], crossValidationAccuracy: accuracy,
                           iterations: fit.iterations, converged: fit.converged)
    }

    /// The regularised objective and its gradient at θ = [W (classes × width), b (classes)].
    static func logisticObjective(_ theta: [Double], _ x: [Double], _ y: [Int], classes: Int, width: Int,
                                  inverseRegularization c: Double) -> (Double, [Double]) {
        let n = y.count
        let lambda = 1 / (c * Double(n))
        var z = [Double](repeating: 0, count: n * classes)
        BLAS.dgemm(transposeB: true, m: n, n: classes, k: width, a: x, lda: width, b: theta, ldb: width, c: &z, ldc: classes)
        var loss = 0.0
        var g = [Double](repeating: 0, count: theta.count)
        var residual = [Double](repeating: 0, count: n * classes)
        for i in 0..<n {
            var m = -Double.infinity
            for k in 0..<classes {
                z[i * classes + k] += theta[classes * width + k]
                m = max(m, z[i * classes + k])
            }
            var sum = 0.0
            for k in 0..<classes { sum += exp(z[i * classes + k] - m) }
            let logSum = m + log(sum)
            loss += logSum - z[i * classes + y[i]]
            for k in 0..<classes {
                let r = (exp(z[i * classes + k] - logSum) - (k == y[i] ? 1 : 0)) / Double(n)
                residual[i * classes + k] = r
                g[classes * width + k] += r
            }
        }
        BLAS.dgemm(transposeA: true, m: classes, n: width, k: n, a: residual, lda: classes, b: x, ldb: width, c: &g, ldc: width)
        var penalty = 0.0
        for j in 0..<(classes * width) {
            penalty += theta[j] * theta[j]
            g[j] += lambda * theta[j]
        }
        return (loss / Double(n) + 0.5 * lambda * penalty, g)
    }

    static func solve(_ x: [Double], _ y: [Int], classes: Int, width: Int, inverseRegularization c: Double, start: [Double]) -> LBFGS.Outcome {
        LBFGS().minimize(start) { logisticObjective($0, x, y, classes: classes, width: width, inverseRegularization: c) }
    }

}

/// A bare head's flat buffer: weight [C, h] then bias [C], named as in the full model.
func headLayout(classes: Int, width: Int) -> ParameterLayout {
    var layout = ParameterLayout()
    layout.append("classifier.weight", [classes, width])
    layout.append("classifier.bias", [classes])
    return layout
}
