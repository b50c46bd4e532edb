import Compute
import Training
import Transformer
import XCTest

final class TrainingTests: XCTestCase {
    func testAdamWMatchesPyTorchArithmeticWithDecayRulesAndClipping() {
        // Two parameters: a [2, 2] weight (decayed) and a [2] bias (not decayed).
        var layout = ParameterLayout()
        let w = layout.append("dense.weight", [2, 2]), b = layout.append("dense.bias", [2])
        let opt = AdamW(views: [w, b], parameterCount: layout.count, hyperparameters: .init(weightDecay: 0.1))
        var p: [Float] = [1, -2, 3, -4, 0.5, -0.5]
        let g: [Float] = [0.3, -0.1, 0, 2, -1, 0.25]
        // Reference in Double: torch.optim.AdamW (non-fused) step by step.
        var ref = p.map(Double.init), m = [Double](repeating: 0, count: 6), v = m
        let (lr, b1, b2, eps, wd) = (1e-2, 0.9, 0.999, 1e-8, 0.1)
        for step in 1...3 {
            let norm = opt.gradientNorm(g)
            XCTAssertEqual(norm, g.map { Double($0 * $0) }.reduce(0, +).squareRoot(), accuracy: 1e-6)
            opt.update(&p, gradients: g, learningRate: Float(lr))
            for i in 0..<6 {
                if i < 4 { ref[i] *= 1 - lr * wd }
                m[i] = b1 * m[i] + (1 - b1) * Double(g[i])
                v[i] = b2 * v[i] + (1 - b2) * Double(g[i]) * Double(g[i])
                let denom = (v[i].squareRoot() / (1 - pow(b2, Double(step))).squareRoot()) + eps
                ref[i] -= lr / (1 - pow(b1, Double(step))) * m[i] / denom
            }
            for i in 0..<6 { XCTAssertEqual(Double(p[i]), ref[i], accuracy: 1e-6, "step \(step), parameter \(i)") }
        }
        // Clipping: a gradient of norm 5 clipped to 1 gives the same first step as the gradient / 5.
        let a = AdamW(views: [w], parameterCount: 6), c = AdamW(views: [w], parameterCount: 6)
        var pa: [Float] = [1, 1, 1, 1, 0, 0], pc = pa
        XCTAssertEqual(a.update(&pa, gradients: [3, 4, 0, 0, 0, 0], learningRate: 0.1, clipNorm: 1), 5, accuracy: 1e-6)
        c.update(&pc, gradients: [0.6, 0.8, 0, 0, 0, 0], learningRate: 0.1)
        for (x, y) in zip(pa, pc) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        XCTAssertEqual(Array(pa[4...]), [0, 0], "frozen parameters do not move")
    }

    func testLinearScheduleWarmsUpAndDecaysToZero() {
        let s = LinearSchedule(peak: 1, totalSteps: 10, warmupRatio: 0.2)
        XCTAssertEqual((0...10).map { s.learningRate(at: $0) }, [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0])
        XCTAssertEqual(LinearSchedule(peak: 2, totalSteps: 4).learningRate(at: 0), 2)
    }

    func makeTrainer(threads: Int, seed: UInt64 = 3) throws -> (ClassifierTrainer, [LabeledSequence], [LabeledSequence]) {
        let task = SyntheticTask()
        var config = BertConfig.tiny(vocabSize: task.vocabularySize)
        config.maxPositions = 32
        let model = try BertClassifier(config: config, threads: threads)
        let params = FloatBuffer(count: model.parameterCount)
        Initializer.initializeAll(model, params.pointer, seed: seed)
        let trainer = ClassifierTrainer(model: model, parameters: params, maxBatchSize: 16, maxSequenceLength: 25, seed: seed)
        return (trainer, task.examples(512, seed: seed, split: 0), task.examples(256, seed: seed, split: 1))
    }

    func testSameSeedAndThreadsGiveTheSameNumbers() throws {
        func run(threads: Int) throws -> ([Float], [Float]) {
            let (trainer, train, _) = try makeTrainer(threads: threads)
            let losses = try (0..<8).map { try trainer.step(train[($0 * 16)..<($0 * 16 + 16)], learningRate: 1e-3) }
            return (losses, trainer.parameters.toArray())
        }
        let (l1, p1) = try run(threads: 2), (l2, p2) = try run(threads: 2)
        XCTAssertEqual(l1, l2)
        XCTAssertEqual(p1, p2, "bitwise identical parameters after 8 steps")
        let (l3, _) = try run(threads: 1)
        for (a, b) in zip(l1, l3) { XCTAssertEqual(a, b, accuracy: 1e-4, "thread count changes only rounding") }
    }

    func testTrainingLearnsTheSyntheticTask() throws {
        let (trainer, train, test) = try makeTrainer(threads: 2)
        let before = try trainer.accuracy(test)
        let schedule = LinearSchedule(peak: 2e-3, totalSteps: 3 * 32, warmupRatio: 0.1)
        var losses: [Float] = []
        for _ in 0..<3 {
            for s in 0..<32 {
                losses.append(try trainer.step(train[(s * 16)..<(s * 16 + 16)], learningRate: schedule.learningRate(at: trainer.optimizer.step)))
            }
        }
        let after = try trainer.accuracy(test)
        XCTAssertLessThan(losses.suffix(16).reduce(0, +) / 16, losses.prefix(16).reduce(0, +) / 16 - 0.2, "loss falls")
        // Chance is 1/3; on 256 test examples 0.6 is > 5σ above it.
        XCTAssertGreaterThan(after, 0.6, "accuracy \(before) → \(after)")
    }

    func testLinearProbingLeavesTheBackboneUntouched() throws {
        let (trainer0, train, _) = try makeTrainer(threads: 1)
        let layout = trainer0.model.layout
        let lp = ClassifierTrainer(model: trainer0.model, parameters: trainer0.parameters, maxBatchSize: 16, maxSequenceLength: 25,
                                   trainable: [layout.head.weight, layout.head.bias], seed: 1)
        let before = trainer0.parameters.toArray()
        try lp.step(train[0..<16], learningRate: 1e-2)
        let after = lp.parameters.toArray()
        XCTAssertEqual(Array(after[layout.backboneRange]), Array(before[layout.backboneRange]))
        XCTAssertNotEqual(Array(after[layout.headRange]), Array(before[layout.headRange]))
    }
}
