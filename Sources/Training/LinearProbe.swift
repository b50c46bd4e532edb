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
        /// Newton iterations of the final fit, and whether its gradient reached the tolerance.
        public let iterations: Int
        public let converged: Bool
    }

    /// scikit-learn's `LogisticRegressionCV` default grid: 10 values of C from 1e-4 to 1e4.
    public static let defaultGrid = (0..<10).map { pow(10, -4 + 8 * Double($0) / 9) }

    /// scikit-learn's `LogisticRegressionCV(Cs=10)` with L2: the model and objective of
    /// `LogisticRegression` (binomial for two classes, multinomial for more), C chosen by
    /// cross-validated accuracy (the smallest C among ties, as `argmax` of the fold sum picks),
    /// then refitted on all the data from the folds' mean solution at that C.
    ///
    /// `foldOfRow` gives each row's fold (0..<k), e.g. scikit-learn's own split; without it,
    /// a seeded shuffle is cut into `folds` equal parts.
    ///
    /// The head gives exactly the fitted probabilities: V = W and b = intercept for a
    /// multinomial fit, and [−w/2, w/2], [−b/2, b/2] for a binomial one (whose logit
    /// difference is then w·x + b).
    public static func fitLogistic(features: [Float], labels: [Int], classes: Int, width: Int,
                                   grid: [Double] = defaultGrid, folds: Int = 5, foldOfRow: [Int]? = nil,
                                   seed: UInt64, threads: Int = 1) -> LogisticFit {
        let n = labels.count
        let x = features.map(Double.init)
        let assignment: [Int]
        if let foldOfRow {
            precondition(foldOfRow.count == n && foldOfRow.allSatisfy { $0 >= 0 })
            assignment = foldOfRow
        } else {
            // Fewer examples than folds: as many folds as examples (each holds one out).
            let k = max(1, min(folds, n))
            let order = RandomStream(seed: seed, stream: 0x4356).permutation(n)  // "CV"
            var a = [Int](repeating: 0, count: n)
            for fold in 0..<k {
                for r in order[(fold * n / k)..<((fold + 1) * n / k)] { a[r] = fold }
            }
            assignment = a
        }
        let foldCount = (assignment.max() ?? -1) + 1
        // Folds run in parallel (each solver single-threaded); their results are combined in
        // fold order afterwards, so nothing depends on the thread count.
        var perFold = [(accuracy: [Double], theta: [Double])](repeating: ([], []), count: foldCount)
        perFold.withUnsafeMutableBufferPointer { results in
            BLAS.withSingleThread {
                parallelChunks(n >= 2 ? foldCount : 0, threads: threads) { _, range in
                    for fold in range {
                        let trainRows = (0..<n).filter { assignment[$0] != fold }, testRows = (0..<n).filter { assignment[$0] == fold }
                        let problem = LogisticRegression(features: trainRows.flatMap { x[($0 * width)..<(($0 + 1) * width)] },
                                                         labels: trainRows.map { labels[$0] }, classes: classes, width: width)
                        var warm: LogisticRegression.Solution?
                        var accuracy: [Double] = [], chosen: [[Double]] = []
                        for c in grid {
                            let fit = problem.solve(inverseRegularization: c, from: warm)
                            warm = fit
                            chosen.append(fit.theta)
                            let correct = testRows.filter { problem.predict(fit.theta, x, row: $0) == labels[$0] }.count
                            accuracy.append(Double(correct) / Double(testRows.count))
                        }
                        results[fold] = (accuracy, chosen.flatMap { $0 })
                    }
                }
            }
        }
        let accuracy = (0..<grid.count).map { g in perFold.reduce(0.0) { $0 + $1.accuracy[g] } / Double(foldCount) }
        // With a single example there is nothing to cross-validate: C = 1, scikit-learn's default.
        let best = n < 2 ? grid.indices.min { abs(log(grid[$0])) < abs(log(grid[$1])) }!
            : accuracy.indices.max { accuracy[$0] < accuracy[$1] || (accuracy[$0] == accuracy[$1] && $0 > $1) }!
        let problem = LogisticRegression(features: x, labels: labels, classes: classes, width: width)
        let d = problem.parameterCount
        let start = n < 2 ? [Double](repeating: 0, count: d)
            : (0..<d).map { j in perFold.reduce(0.0) { $0 + $1.theta[best * d + j] } / Double(foldCount) }
        let fit = problem.solve(inverseRegularization: grid[best], from: .init(theta: start, iterations: 0, converged: false, lossHessian: nil))
        return LogisticFit(head: head(of: fit.theta, classes: classes, width: width), inverseRegularization: grid[best],
                           crossValidationAccuracy: accuracy, iterations: fit.iterations, converged: fit.converged)
    }

    /// The head that gives a fit's probabilities (see `fitLogistic`).
    static func head(of theta: [Double], classes: Int, width: Int) -> LinearHead {
        let s = width + 1
        if classes == 2 {
            let half = theta.map { Float($0 / 2) }
            return LinearHead(weight: half[0..<width].map { -$0 } + half[0..<width], bias: [-half[width], half[width]], classes: 2, width: width)
        }
        return LinearHead(weight: (0..<classes).flatMap { k in theta[(k * s)..<(k * s + width)].map(Float.init) },
                          bias: (0..<classes).map { Float(theta[$0 * s + width]) }, classes: classes, width: width)
    }
}

/// A bare head's flat buffer: weight [C, h] then bias [C], named as in the full model.
func headLayout(classes: Int, width: Int) -> ParameterLayout {
    var layout = ParameterLayout()
    layout.append("classifier.weight", [classes, width])
    layout.append("classifier.bias", [classes])
    return layout
}
