import Compute
import Config
import Dispatch
import Foundation
import NTK
import TextData
import Transformer
import TrialContract

/// One value of a metric, as it streams out of a running trial.
public struct MetricEvent: Sendable, Equatable {
    public let name: String
    public let value: Double
    public let epoch: Int?
    public let step: Int?

    public init(name: String, value: Double, epoch: Int? = nil, step: Int? = nil) {
        self.name = name
        self.value = value
        self.epoch = epoch
        self.step = step
    }
}

/// What a finished trial reports.
public struct TrialResult: Sendable {
    /// The final metrics, by name (the `test/…`, `ood/…`, `head/…`, `features/…` family).
    public var metrics: [String: Double]
    /// The FT epoch whose validation accuracy was best, whose parameters were evaluated.
    public var bestEpoch: Int?
    /// Wall-clock seconds per stage; not part of the trial's deterministic output.
    public var timings: [String: Double]
    /// Reliability diagrams of the test split, "test" (T = 1) and "test@T" (after scaling).
    public var reliability: [String: [ReliabilityBin]]
    /// Per-example logits of every evaluated split at the reported epoch (nil for noop trials).
    public var predictions: TrialPredictions?
    /// The class names in index order: how the data's labels became classes.
    public var labels: [String]? { predictions?.labels }

    public init(metrics: [String: Double], bestEpoch: Int?, timings: [String: Double], reliability: [String: [ReliabilityBin]] = [:],
                predictions: TrialPredictions? = nil) {
        self.metrics = metrics
        self.bestEpoch = bestEpoch
        self.timings = timings
        self.reliability = reliability
        self.predictions = predictions
    }
}

/// Where a trial is and how far it has to go, for progress displays.
public struct TrialProgress: Sendable {
    public let stage: String
    public let done: Int
    public let total: Int
}

public enum TrialError: Error, CustomStringConvertible {
    case interrupted(String)

    public var description: String {
        switch self {
        case let .interrupted(stage): return "stopped on request during \(stage)"
        }
    }
}

enum RandomStreamFactory {
    static func subsample(_ seed: UInt64) -> RandomStream { RandomStream(seed: seed, stream: 0x5355_4253) }  // "SUBS"
    /// Independent of the trial's seed: every trial of a sweep is evaluated on the same examples.
    static let evaluationSubsample = RandomStream(seed: 0, stream: 0x4556_414C)  // "EVAL"
    static func epochOrder(_ seed: UInt64) -> RandomStream { RandomStream(seed: seed, stream: 0x4F52_4452) }  // "ORDR"
}

/// Runs one trial: loads model and data, the LP stage, the FT stage, and evaluates.
/// Metrics stream out through `onMetric` as they happen; `shouldStop` is polled between steps.
public final class TrialRunner {
    public let config: TrialConfig
    public let home: LPFTHome
    public var onMetric: (MetricEvent) -> Void = { _ in }
    public var onProgress: (TrialProgress) -> Void = { _ in }
    public var shouldStop: () -> Bool = { false }
    /// Where the FT stage saves a checkpoint after each epoch (when the config asks for it) and
    /// resumes from, if a whole one for the same config is there.
    public var checkpointDirectory: URL?
    /// The config as a checkpoint records it, to recognise its own trial's checkpoints by:
    /// ``TrialDirectory/portable(configJSON:)`` for a trial directory, so one written on
    /// another box matches.
    public var checkpointIdentity: (String) -> String = { $0 }
    /// Called with a checkpoint's name once it is whole under `checkpointDirectory`.
    public var onCheckpoint: (String) -> Void = { _ in }
    /// Human-readable notices: resuming, checkpoints skipped as torn or foreign.
    public var onNotice: (String) -> Void = { _ in }
    /// Called before the first metric of a run that starts from the beginning, also when it
    /// was asked to resume but found no whole checkpoint: what an earlier run streamed then
    /// describes another run (its epoch 1 would appear twice).
    public var onFreshStart: () -> Void = {}

    private var metrics: [String: Double] = [:]
    private var timings: [String: Double] = [:]
    private var reliability: [String: [ReliabilityBin]] = [:]
    private var predictions: TrialPredictions?

    public init(config: TrialConfig, home: LPFTHome = LPFTHome()) {
        self.config = config
        self.home = home
    }

    private func emit(_ name: String, _ value: Double, epoch: Int? = nil, step: Int? = nil, final: Bool = true) {
        if final { metrics[name] = value }
        onMetric(MetricEvent(name: name, value: value, epoch: epoch, step: step))
    }

    private func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timings[stage, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        return try body()
    }

    private func checkStop(_ stage: String) throws {
        if shouldStop() { throw TrialError.interrupted(stage) }
    }

    public func run() throws -> TrialResult {
        metrics = [:]
        timings = [:]
        reliability = [:]
        predictions = nil
        let start = DispatchTime.now().uptimeNanoseconds
        var bestEpoch: Int?
        if config.method == .noop {
            onFreshStart()
            try runNoop()
        } else {
            bestEpoch = try runTraining()
        }
        timings["total"] = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        timings["cpu"] = processCPUSeconds()
        return TrialResult(metrics: metrics, bestEpoch: bestEpoch, timings: timings, reliability: reliability, predictions: predictions)
    }

    /// Sleeps `duration_ms` in small slices and emits plausible, seeded metrics: a stand-in
    /// trial for exercising the orchestrator without tensors.
    private func runNoop() throws {
        let rng = RandomStream(seed: config.seed, stream: 0x4E4F_4F50)  // "NOOP"
        // Slices of at most 10 ms towards one deadline, so sleep overshoot does not add up.
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(config.durationMs) * 1_000_000
        while true {
            try checkStop("noop")
            let now = DispatchTime.now().uptimeNanoseconds
            onProgress(TrialProgress(stage: "noop", done: Int((min(now, end) - start) / 1_000_000), total: config.durationMs))
            guard now < end else { break }
            usleep(useconds_t(min(end - now, 10_000_000) / 1000))
        }
        for epoch in 1...3 {
            emit(TrialMetric.ftLoss, 0.7 / Double(epoch) + 0.05 * Double(rng.uniform(at: UInt64(epoch))), epoch: epoch, final: false)
        }
        emit(TrialMetric.testAccuracy, 0.5 + 0.4 * Double(rng.uniform(at: 100)))
        emit(TrialMetric.test(.ece), 0.2 * Double(rng.uniform(at: 101)))
    }

    private func runTraining() throws -> Int? {
        let threads = config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount
        let pretrained = try PretrainedModel(resolving: config.model, home: home)
        let data = try timed("data") { try TrialData.load(config, tokenizer: pretrained.tokenizer, store: DataStore(home: home)) }
        onNotice("labels: " + data.labels.names.enumerated().map { "\($1) → class \($0)" }.joined(separator: ", ")
                 + (config.task.labels == nil && !config.task.isFetched ? " (the training file's labels, sorted; task: {labels: […]} sets the order)" : ""))
        guard !data.train.isEmpty, !data.validation.isEmpty, !data.test.isEmpty else {
            throw TextDataError.invalidDataset("task \(config.task.name): train, validation and test must all have examples")
        }
        // The head always starts fresh and seeded: FT from N(0, 0.02²), as the paper does.
        let loaded = try pretrained.loadWeights(labels: data.labels.names, lora: config.method.usesLoRA ? config.lora : nil,
                                                freshHead: true, threads: threads, seed: config.seed, pooling: config.pooling)
        let model = loaded.model
        let params = loaded.parameters
        guard config.maxLength <= model.config.maxSequenceLength else {
            throw ConfigError(file: "trial config", path: "max_length", reason: "\(config.maxLength) exceeds the model's \(model.config.maxSequenceLength) positions (max_position_embeddings \(model.config.maxPositions))")
        }
        let layout = model.layout
        let longest = ([data.train, data.validation, data.test] + data.ood.map(\.examples)).flatMap { $0 }.map(\.inputIDs.count).max() ?? 2
        let trainable: [ParameterView] = switch config.method {
        case .lora, .lplora: [layout.head.weight, layout.head.bias] + layout.adapters.flatMap { $0.flatMap { [$0.a, $0.b] } }
        default: layout.parameters.views
        }
        let trainer = ClassifierTrainer(model: model, parameters: params, maxBatchSize: max(config.ft.batchSize, 32), maxSequenceLength: longest,
                                        trainable: trainable,
                                        hyperparameters: .init(weightDecay: Float(config.ft.weightDecay)), seed: config.seed)
        let h = model.config.hiddenSize, c = model.config.classCount
        func head() -> LinearHead { LinearHead(in: params, layout: layout) }
        func setHead(_ v: LinearHead) { v.write(into: params, layout: layout) }

        let pretrainedTestFeatures = try timed("features") { try trainer.features(data.test) }
        var resumed: TrialCheckpoint?
        if config.method.fineTunes, let root = checkpointDirectory {
            resumed = try TrialCheckpoint.latest(in: root, config: checkpointIdentity(config.canonicalJSON()), threads: threads, trainable: trainable, skipped: onNotice)
        }
        if let resumed {
            // The LP stage and head scaling are inside the checkpoint; their metrics come back with it.
            metrics.merge(resumed.state.metrics) { _, saved in saved }
            let steps = resumed.state.stepsIntoNextEpoch ?? 0
            onNotice("resuming after FT epoch \(resumed.state.epoch) of \(config.ft.epochs)" + (steps > 0 ? " and \(steps) steps of epoch \(resumed.state.epoch + 1)" : ""))
            // In metrics.jsonl, events after this marker supersede earlier ones for later epochs.
            emit(TrialMetric.resumedAfterEpoch, Double(resumed.state.epoch), final: false)
        } else {
            onFreshStart()
            emit(TrialMetric.headNormInit, head().norm)
        }

        if config.method.probesFirst && resumed == nil {
            // One forward pass over the data, then the head alone: the backbone never runs again.
            let (trainFeatures, validationFeatures) = try timed("lp_features") {
                onProgress(TrialProgress(stage: "lp features", done: 0, total: data.train.count))
                return (try trainer.features(data.train), try trainer.features(data.validation))
            }
            try checkStop("lp")
            let labels = data.train.map(\.label)
            timed("lp_fit") {
                switch config.lp.solver {
                case .sgd:
                    let options = LinearProbe.SGDOptions(epochs: config.lp.epochs, learningRate: Float(config.lp.lr), batchSize: config.lp.batchSize,
                                                         dropout: model.config.hiddenDropout, seed: config.seed)
                    let probe = LinearProbe.trainSGD(features: trainFeatures, labels: labels, from: head(), options: options) { epoch, loss, norm in
                        emit(TrialMetric.lpLoss, loss, epoch: epoch, final: false)
                        emit(TrialMetric.lpHeadNorm, norm, epoch: epoch, final: false)
                        onProgress(TrialProgress(stage: "lp", done: epoch, total: config.lp.epochs))
                    }
                    setHead(probe)
                case .logistic:
                    let fit = LinearProbe.fitLogistic(features: trainFeatures, labels: labels, classes: c, width: h, seed: config.seed, threads: threads)
                    setHead(fit.head)
                    emit(TrialMetric.lpInverseRegularization, fit.inverseRegularization)
                    emit(TrialMetric.lpHeadNorm, fit.head.norm, final: false)
                }
            }
            let validationLogits = head().logits(validationFeatures)
            emit(TrialMetric.lpValidationAccuracy, Calibration(logits: validationLogits, labels: data.validation.map(\.label), classes: c).accuracy)
            emit(TrialMetric.headNormAfterLP, head().norm)
        }

        var bestEpoch: Int?
        if config.method.fineTunes {
            if config.headScale != 1 && resumed == nil {
                var v = head()
                v.weight = v.weight.map { $0 * Float(config.headScale) }
                v.bias = v.bias.map { $0 * Float(config.headScale) }
                setHead(v)
            }
            if let ntk = config.ntk, resumed == nil {
                try timed("ntk") { try measureKernel(ntk, trainer, data) }
            }
            bestEpoch = try timed("ft") { try fineTune(trainer, data, trainable: trainable, threads: threads, resume: resumed) }
        }

        try timed("evaluate") {
            try evaluate(trainer, data, pretrainedTestFeatures: pretrainedTestFeatures)
        }
        emit(TrialMetric.headNormFinal, head().norm)
        return bestEpoch
    }

    /// AdamW over the trainable parameters, epoch by epoch; keeps the parameters of the epoch
    /// with the best validation accuracy and leaves them in place at the end. Each epoch's data
    /// order and dropout depend only on the seed, the epoch and the step, so a resumed run
    /// continues exactly as an uninterrupted one would.
    private func fineTune(_ trainer: ClassifierTrainer, _ data: TrialData, trainable: [ParameterView], threads: Int, resume: TrialCheckpoint?) throws -> Int {
        let f = config.ft
        let steps = (data.train.count + f.batchSize - 1) / f.batchSize
        let schedule = LinearSchedule(peak: Float(config.fineTuningRate), totalSteps: f.epochs * steps, warmupRatio: f.warmupRatio)
        let best = FloatBuffer(count: trainer.parameters.count)
        // Higher is better: the best epoch is the first with the highest score.
        var (bestEpoch, bestAccuracy, bestScore) = (0, -1.0, -Double.infinity)
        var firstEpoch = 1, firstStep = 0, firstLossSum = 0.0
        if let resume {
            try resume.restore(trainable: trainable, parameters: trainer.parameters, best: best, optimizer: trainer.optimizer)
            (bestEpoch, bestAccuracy, firstEpoch) = (resume.state.bestEpoch, resume.state.bestAccuracy, resume.state.epoch + 1)
            (firstStep, firstLossSum) = (resume.state.stepsIntoNextEpoch ?? 0, resume.state.lossSumIntoNextEpoch ?? 0)
            bestScore = resume.state.bestScore ?? resume.state.bestAccuracy
            // A checkpoint of the epoch where patience ran out ends the stage.
            if let patience = f.patience, resume.state.epoch - bestEpoch >= patience { firstEpoch = f.epochs + 1 }
        }
        let checkpoints = checkpointDirectory.flatMap { config.checkpoints == .none ? nil : $0 }
        /// `epoch` complete, `steps` into the next; the best parameters are stored unless they
        /// are the current ones or there are none yet.
        func checkpoint(epoch: Int, steps: Int, lossSum: Double) throws {
            guard let checkpoints else { return }
            let state = TrialCheckpoint.State(epoch: epoch, stepsIntoNextEpoch: steps == 0 ? nil : steps, lossSumIntoNextEpoch: steps == 0 ? nil : lossSum,
                                              optimizerStep: trainer.optimizer.step, bestEpoch: bestEpoch, bestAccuracy: bestAccuracy,
                                              bestScore: config.ft.selectBy == .accuracy ? nil : bestScore, metrics: metrics, config: checkpointIdentity(config.canonicalJSON()), threads: threads,
                                              tensorsChecksum: "", bestIsCurrent: bestEpoch == 0 || (bestEpoch == epoch && steps == 0))
            try TrialCheckpoint.write(to: checkpoints, state: state, policy: config.checkpoints, trainable: trainable, parameters: trainer.parameters, best: best, optimizer: trainer.optimizer)
            onCheckpoint(state.position.directoryName)
        }
        for epoch in firstEpoch..<(f.epochs + 1) {
            let order = RandomStreamFactory.epochOrder(config.seed).derived(UInt64(epoch)).permutation(data.train.count)
            let resumesHere = epoch == firstEpoch
            var lossSum = resumesHere ? firstLossSum : 0
            for s in (resumesHere ? firstStep : 0)..<steps {
                if shouldStop() {
                    // At a step boundary: what a retry needs to go on from this very step.
                    try checkpoint(epoch: epoch - 1, steps: s, lossSum: lossSum)
                    throw TrialError.interrupted("ft epoch \(epoch)")
                }
                let batch = order[(s * f.batchSize)..<min(order.count, (s + 1) * f.batchSize)].map { data.train[$0] }
                lossSum += Double(try trainer.step(batch[...], learningRate: schedule.learningRate(at: trainer.optimizer.step),
                                                   clipNorm: f.clipNorm.map(Float.init)))
                onProgress(TrialProgress(stage: "ft epoch \(epoch)/\(f.epochs)", done: s + 1, total: steps))
            }
            emit(TrialMetric.ftLoss, lossSum / Double(steps), epoch: epoch, step: trainer.optimizer.step, final: false)
            if epoch == 1 { emit(TrialMetric.firstLoss, lossSum / Double(steps)) }
            let accuracy = try trainer.accuracy(data.validation)
            emit(TrialMetric.epochValidationAccuracy, accuracy, epoch: epoch, step: trainer.optimizer.step, final: false)
            let score = try selectionScore(accuracy, trainer, data.validation)
            if score > bestScore {
                (bestEpoch, bestAccuracy, bestScore) = (epoch, accuracy, score)
                best.copy(from: trainer.parameters)
            }
            // Epochs since the best one: derived from the checkpointed state, so a resumed trial
            // stops where a straight run would. The learning-rate schedule still spans every epoch.
            let patienceRanOut = f.patience.map { epoch - bestEpoch >= $0 && epoch < f.epochs } ?? false
            if patienceRanOut { emit(TrialMetric.stoppedAfterEpoch, Double(epoch)) }
            // Before the checkpoint, so a trial resumed after its last epoch reports it too.
            if patienceRanOut || epoch == f.epochs { emit(TrialMetric.lastLoss, lossSum / Double(steps)) }
            try checkpoint(epoch: epoch, steps: 0, lossSum: 0)
            if patienceRanOut { break }
        }
        trainer.parameters.copy(from: best)
        if config.checkpoints == .best, let checkpoints {
            try TrialCheckpoint.keepOnlyBest(in: checkpoints, trainable: trainable, parameters: trainer.parameters)
        }
        emit(TrialMetric.bestEpoch, Double(bestEpoch))
        emit(TrialMetric.bestValidationAccuracy, bestAccuracy)
        return bestEpoch
    }

    /// An epoch's validation score under the trial's selection rule (higher is better); the
    /// accuracy already measured is the default, so selecting by it costs no second pass.
    private func selectionScore(_ accuracy: Double, _ trainer: ClassifierTrainer, _ validation: [LabeledSequence]) throws -> Double {
        let c = trainer.model.config.classCount
        switch config.ft.selectBy {
        case .accuracy: return accuracy
        case .macroF1: return ClassificationMetrics.macroF1(logits: try trainer.logits(validation), labels: validation.map(\.label), classes: c)
        case .nll: return -Calibration(logits: try trainer.logits(validation), labels: validation.map(\.label), classes: c).nll
        }
    }

    /// The NTK where the FT stage starts (after LP and head scaling), on seeded samples of the
    /// training and validation examples.
    private func measureKernel(_ settings: TrialConfig.NTK, _ trainer: ClassifierTrainer, _ data: TrialData) throws {
        onProgress(TrialProgress(stage: "ntk", done: 0, total: 1))
        let train = NTKMeasurement.trainSample(data.train, count: settings.examples, seed: config.seed)
        let eval = NTKMeasurement.evalSample(data.validation, count: settings.evalExamples, seed: config.seed)
        let computer = NTKComputer(model: trainer.model, parameters: trainer.parameters, memoryBudget: NTKBudget.bytes(mib: settings.budgetMiB))
        let s = try NTKMeasurement(computer, batch: (train + eval).map { ($0.inputIDs, $0.tokenTypeIDs) }, labels: (train + eval).map(\.label), trainCount: train.count).summary
        emit(TrialMetric.ntkFrobeniusPretrain, s.pretrain.frobenius)
        emit(TrialMetric.ntkFrobeniusFT, s.ft.frobenius)
        emit(TrialMetric.ntkFTRatio, s.ftRatio)
        emit(TrialMetric.ntkRankPretrain, Double(s.pretrain.rank))
        emit(TrialMetric.ntkRankFT, Double(s.ft.rank))
        emit(TrialMetric.ntkRankTotal, Double(s.total.rank))
        emit(TrialMetric.ntkAccuracyTrain, s.trainAccuracy)
        if let a = s.evalAccuracy { emit(TrialMetric.ntkAccuracyEval, a) }
    }

    private func evaluate(_ trainer: ClassifierTrainer, _ data: TrialData, pretrainedTestFeatures: [Float]) throws {
        let c = trainer.model.config.classCount, h = trainer.model.config.hiddenSize
        let validationLogits = try trainer.logits(data.validation)
        let temperature: Double = switch config.temperature {
        case .fit: Calibration.fitTemperature(logits: validationLogits, labels: data.validation.map(\.label), classes: c)
        case let .fixed(t): t
        }
        emit(TrialMetric.temperature, temperature)
        let validationLabels = data.validation.map(\.label)
        emit(TrialMetric.validationAccuracy, Calibration(logits: validationLogits, labels: validationLabels, classes: c).accuracy)
        emit(TrialMetric.validationChance, Double((0..<c).map { k in validationLabels.count { $0 == k } }.max() ?? 0) / Double(validationLabels.count))
        emitRanking(TrialMetric.validation, validationLogits, validationLabels, classes: c)
        var splits: [String: TrialPredictions.Split] = [:]
        func keep(_ name: String, _ examples: [LabeledSequence], _ logits: [Float]) {
            splits[name] = TrialPredictions.Split(rows: data.rows[name] ?? Array(examples.indices), targets: examples.map(\.label), logits: logits)
        }
        keep(PredictionSplit.validation, data.validation, validationLogits)
        let testLabels = data.test.map(\.label)
        let testLogits = try trainer.logits(data.test)
        keep(PredictionSplit.test, data.test, testLogits)
        let before = Calibration(logits: testLogits, labels: testLabels, classes: c)
        let after = Calibration(logits: testLogits, labels: testLabels, classes: c, temperature: temperature)
        reliability = ["test": before.bins, "test@T": after.bins]
        emit(TrialMetric.testAccuracy, before.accuracy)
        emit(TrialMetric.test(.ece), before.ece)
        emit(TrialMetric.test(.mce), before.mce)
        emit(TrialMetric.test(.nll), before.nll)
        emit(TrialMetric.test(.brier), before.brier)
        emit(TrialMetric.test(.eceScaled), after.ece)
        emit(TrialMetric.test(.mceScaled), after.mce)
        emit(TrialMetric.test(.nllScaled), after.nll)
        emitRanking(TrialMetric.test, testLogits, testLabels, classes: c)
        for (name, examples) in data.ood {
            let logits = try trainer.logits(examples)
            keep(PredictionSplit.ood(name), examples, logits)
            let labels = examples.map(\.label)
            let b = Calibration(logits: logits, labels: labels, classes: c)
            let a = Calibration(logits: logits, labels: labels, classes: c, temperature: temperature)
            emit(TrialMetric.ood(name, .accuracy), b.accuracy)
            emit(TrialMetric.ood(name, .ece), b.ece)
            emit(TrialMetric.ood(name, .eceScaled), a.ece)
            emitRanking({ TrialMetric.ood(name, $0) }, logits, labels, classes: c)
        }
        predictions = TrialPredictions(labels: data.labels.names, temperature: temperature, splits: splits)
        let finalFeatures = try trainer.features(data.test)
        let stats = FeatureStatistics(features: finalFeatures, labels: testLabels, width: h)
        emit(TrialMetric.featureChange, FeatureStatistics.meanDistance(finalFeatures, pretrainedTestFeatures, width: h))
        emit(TrialMetric.featureCosine, stats.cosine)
        emit(TrialMetric.featureFisherRatio, stats.fisherRatio)
    }

    /// Macro-F1 for every task and AUROC for a binary one, named by `name`.
    private func emitRanking(_ name: (TrialMetric.Measure) -> String, _ logits: [Float], _ labels: [Int], classes: Int) {
        emit(name(.macroF1), ClassificationMetrics.macroF1(logits: logits, labels: labels, classes: classes))
        if classes == 2 { emit(name(.auroc), ClassificationMetrics.binaryAUROC(logits: logits, labels: labels)) }
    }
}
