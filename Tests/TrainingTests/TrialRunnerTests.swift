import Compute
import Foundation
import TextData
import Training
import Transformer
import TrialContract
import TestSupport
import XCTest

/// Whole trials on the tiny fixture model and small text datasets written here.
final class TrialRunnerTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-trial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { [dir] in try? FileManager.default.removeItem(at: dir!) }
        // "Which token group occurs most often", written as text over the fixture's vocabulary (tok5…tok119).
        func write(_ name: String, count: Int, split: UInt64, shortOnly: Bool = false) throws {
            let rng = RandomStream(seed: 77, stream: split)
            var lines: [String] = []
            for i in 0..<count {
                let length = shortOnly ? 4 + Int(rng.bits(at: UInt64(i * 50)) % 4) : 6 + Int(rng.bits(at: UInt64(i * 50)) % 12)
                var counts = [0, 0, 0], words: [String] = []
                for j in 0..<length {
                    let group = Int(rng.bits(at: UInt64(i * 50 + j + 1)) % 3)
                    counts[group] += 1
                    words.append("tok\(10 + group * 30 + Int(rng.bits(at: UInt64(i * 50 + j + 25)) % 30))")
                }
                let label = ["alpha", "beta", "gamma"][counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["text": words.joined(separator: " "), "label": label]), as: UTF8.self))
            }
            try lines.joined(separator: "\n").write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try write("train.jsonl", count: 96, split: 0)
        try write("validation.jsonl", count: 48, split: 1)
        try write("test.jsonl", count: 48, split: 2)
        try write("short.jsonl", count: 32, split: 3, shortOnly: true)
    }

    func config(_ method: String, extra: String = "") throws -> TrialConfig {
        let model = try Fixtures.url("tiny-bert").path
        let d = dir.path
        return try TrialConfig(yaml: """
            method: \(method)
            model: \(model)
            task: {name: groups, train: \(d)/train.jsonl, validation: \(d)/validation.jsonl, test: \(d)/test.jsonl}
            ood: [{name: short, test: \(d)/short.jsonl}]
            lp: {solver: sgd, epochs: 3, lr: 0.01}
            ft: {epochs: 2, batch_size: 16, lr: 0.001}
            lora: {rank: 4, alpha: 8}
            max_length: 32
            threads: 2
            seed: 5
            \(extra)
            """, file: "test.yaml")
    }

    func run(_ config: TrialConfig) throws -> (TrialResult, [MetricEvent]) {
        let runner = TrialRunner(config: config)
        var events: [MetricEvent] = []
        runner.onMetric = { events.append($0) }
        return (try runner.run(), events)
    }

    func testEveryMethodRunsAndReportsTheNamedMetrics() throws {
        let common = ["test/accuracy", "test/ece", "test/mce", "test/nll", "test/brier", "temperature", "test/ece@T", "test/mce@T",
                      "test/nll@T", "ood/short/accuracy", "ood/short/ece", "ood/short/ece@T", "head/norm_init", "head/norm_final",
                      "features/diff", "features/cosine", "features/fdr"]
        for method in ["lp", "ft", "lp-ft", "lora", "lp-lora"] {
            let (result, events) = try run(try config(method))
            for name in common { XCTAssertNotNil(result.metrics[name], "\(method): \(name)") }
            XCTAssertTrue((0...1).contains(result.metrics["test/accuracy"]!), method)
            let probes = method.hasPrefix("lp")
            XCTAssertEqual(result.metrics["head/norm_after_lp"] != nil, probes, method)
            XCTAssertEqual(events.filter { $0.name == "lp/head_norm" }.map(\.epoch), probes ? [1, 2, 3] : [], method)
            let tunes = method != "lp"
            XCTAssertEqual(events.filter { $0.name == "val/accuracy" }.map(\.epoch), tunes ? [1, 2] : [], method)
            XCTAssertEqual(result.bestEpoch != nil, tunes, method)
            if method == "lp" {
                XCTAssertEqual(result.metrics["features/diff"]!, 0, accuracy: 1e-6, "LP leaves the features alone")
            } else {
                XCTAssertGreaterThan(result.metrics["features/diff"]!, 0, method)
            }
        }
    }

    func testTheNTKAtTheStartOfFineTuningShowsThePapersRegimes() throws {
        var ratios: [String: Double] = [:]
        for method in ["ft", "lp-ft", "lora"] {
            let (result, _) = try run(try config(method, extra: "ntk: {examples: 8, eval_examples: 8}"))
            for name in ["ntk/fro_pretrain", "ntk/fro_ft", "ntk/ft_ratio", "ntk/rank_pretrain", "ntk/rank_ft", "ntk/rank_total",
                         "ntk/accuracy_train", "ntk/accuracy_eval"] {
                XCTAssertNotNil(result.metrics[name], "\(method): \(name)")
            }
            ratios[method] = result.metrics["ntk/ft_ratio"]
        }
        // LoRA starts with B = 0, so its F (adapter gradients through the zero B) is tiny.
        XCTAssertLessThan(ratios["lora"]!, 0.01, "\(ratios)")
        XCTAssertGreaterThan(ratios["ft"]!, ratios["lora"]!, "\(ratios)")
        // The LP head is larger and fitted, so the backbone's share of the first step is the
        // largest of the three (the paper: close to 1 for LP-FT, smaller for FT).
        XCTAssertGreaterThan(ratios["lp-ft"]!, ratios["ft"]!, "\(ratios)")
    }

    func testTheSameSeedGivesIdenticalMetrics() throws {
        let c = try config("lp-ft")
        let (a, _) = try run(c), (b, _) = try run(c)
        XCTAssertEqual(a.metrics, b.metrics)
        XCTAssertEqual(a.bestEpoch, b.bestEpoch)
        let (other, _) = try run(try config("lp-ft").with { $0.seed = 6 })
        XCTAssertNotEqual(other.metrics, a.metrics, "the seed matters")
    }

    func testLogisticProbeAndHeadScaling() throws {
        let (lp, _) = try run(try config("lp", extra: "").with { $0.lp.solver = .logistic })
        XCTAssertNotNil(lp.metrics["lp/inverse_regularization"])
        let (scaled, events) = try run(try config("lp-ft", extra: "head_scale: 10"))
        let afterLP = scaled.metrics["head/norm_after_lp"]!
        XCTAssertGreaterThan(afterLP, 0)
        XCTAssertFalse(events.isEmpty)
    }

    /// `pooling: mean` reaches every reader of φ: the probe, the head, the feature statistics
    /// and the NTK (the numbers themselves are checked against PyTorch in the fixture tests).
    func testMeanPoolingReachesTheProbeTheHeadTheFeaturesAndTheNTK() throws {
        let cls = try config("lp-ft", extra: "ntk: {examples: 8, eval_examples: 8}")
        let mean = try config("lp-ft", extra: "ntk: {examples: 8, eval_examples: 8}\npooling: mean")
        XCTAssertEqual(mean.pooling, .mean)
        XCTAssertFalse(cls.canonicalJSON().contains("pooling"), "the default is not written, so earlier trials keep their ids")
        XCTAssertTrue(mean.canonicalJSON().contains(#""pooling":"mean""#))
        let (a, _) = try run(cls), (b, _) = try run(mean)
        // Each reader of φ sees the other pooling: the probe's head, the feature statistics, P and F.
        for name in ["head/norm_after_lp", "features/diff", "features/cosine", "ntk/fro_pretrain", "ntk/fro_ft"] {
            let x = try XCTUnwrap(a.metrics[name], name), y = try XCTUnwrap(b.metrics[name], name)
            XCTAssertNotEqual(x, y, name)
        }
        XCTAssertEqual(try run(mean).0.metrics, b.metrics, "deterministic")
        let (probe, _) = try run(try config("lp", extra: "pooling: mean"))
        XCTAssertEqual(probe.metrics["features/diff"]!, 0, accuracy: 1e-6, "LP leaves the mean-pooled features alone")
        XCTAssertThrowsError(try config("ft", extra: "pooling: max")) { XCTAssertTrue("\($0)".contains("cls, mean"), "\($0)") }
    }

    func testNoopTrialIsQuickDeterministicAndStoppable() throws {
        let c = try TrialConfig(yaml: "method: noop\nduration_ms: 30\nseed: 9", file: "noop.yaml")
        let (a, events) = try run(c)
        XCTAssertEqual(try run(c).0.metrics, a.metrics)
        XCTAssertNotNil(a.metrics["test/accuracy"])
        XCTAssertEqual(events.filter { $0.name == "ft/loss" }.count, 3)
        let runner = TrialRunner(config: c)
        runner.shouldStop = { true }
        XCTAssertThrowsError(try runner.run()) { XCTAssertTrue("\($0)".contains("stopped on request")) }
    }

    func testNonFiniteMetricsAreWrittenAsStrings() throws {
        let out = TrialDirectory(dir.appendingPathComponent("out"))
        let output = try TrialOutput(directory: out, config: try config("ft"))
        output.record(MetricEvent(name: "ft/loss", value: .nan, epoch: 1))
        try output.finish(status: .completed, config: try config("ft"), result: TrialResult(metrics: ["test/nll": .infinity], bestEpoch: 1, timings: [:]))
        let line = try String(contentsOf: out.metrics, encoding: .utf8)
        XCTAssertTrue(line.contains("\"ft/loss\":\"nan\""), line)
        let result = try String(contentsOf: out.result, encoding: .utf8)
        XCTAssertTrue(result.contains("\"test/nll\" : \"inf\""), result)
    }

    func testBadConfigsNameTheKeyAndReason() {
        func error(_ yaml: String) -> String {
            do { _ = try TrialConfig(yaml: yaml, file: "t.yaml"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(error("method: ft\ntask: rt-polarity\nlp: {epoch: 3}").contains("t.yaml: lp.epoch: unknown key"))
        XCTAssertTrue(error("method: ft\ntask: rt-polarity\nft: {epochs: ten}").contains("ft.epochs: expected an integer, got \"ten\""))
        XCTAssertTrue(error("method: sft\ntask: rt-polarity").contains("method: \"sft\" is not one of lp, ft, lp-ft, lora, lp-lora, noop"))
        XCTAssertTrue(error("method: ft\ntask: rt-polarity\nft: {lr: -1}").contains("ft.lr: -1.0 is outside"))
        XCTAssertTrue(error("task: rt-polarity").contains("method: required"))
        XCTAssertTrue(error("method: ft").contains("task: required"))
        XCTAssertTrue(error("method: ft\ntask: rt-polarity\nduration_ms: 5").contains("duration_ms: only applies to method noop"))
        XCTAssertTrue(error("method: lora\ntask: rt-polarity\nlora: {targets: [query, dense]}").contains("\"dense\" is not one of query, key, value"))
        XCTAssertTrue(error("method: ft\ntask: rt-polarity\ntemperature: hot").contains("temperature: expected \"fit\" or a number"))
        XCTAssertTrue(error("[1, 2]").contains("the top level must be a mapping"))
        XCTAssertTrue(error("method: lp\ntask: rt-polarity\nntk: {examples: 10}").contains("ntk: is measured where the FT stage starts"))
        XCTAssertEqual(error("method: ft\ntask: rt-polarity\nft: {lr: 2e-5, clip_norm: null}\ntemperature: 1.5"), "")
    }

    func testCanonicalJSONResolvesDefaults() throws {
        let a = try TrialConfig(yaml: "method: lp-ft\ntask: rt-polarity", file: "a")
        let b = try TrialConfig(yaml: "{\"task\": \"rt-polarity\", \"method\": \"lp-ft\", \"seed\": 1001, \"ft\": {\"lr\": 1e-5}}", file: "b")
        XCTAssertEqual(a.canonicalJSON(), b.canonicalJSON(), "defaults written out make equal trials equal")
        XCTAssertTrue(a.canonicalJSON().contains("\"lr\":1e-05"))
        XCTAssertNotEqual(a.canonicalJSON(), try TrialConfig(yaml: "method: lp-ft\ntask: rt-polarity\nseed: 2", file: "c").canonicalJSON())
    }

    /// Kill-and-resume: a trial stopped mid-FT and resumed from its checkpoints ends with the same
    /// numbers as a straight run; a torn checkpoint is skipped for the previous whole one (kept
    /// here by `checkpoints: every`).
    func testResumeAfterAStopMatchesAStraightRunEvenPastATornCheckpoint() throws {
        let config = try config("lp-ft").with { $0.ft.epochs = 3; $0.checkpoints = .every }

        let straight = TrialRunner(config: config)
        straight.checkpointDirectory = dir.appendingPathComponent("straight")
        let expected = try straight.run()

        let root = dir.appendingPathComponent("stopped")
        let first = TrialRunner(config: config)
        first.checkpointDirectory = root
        var stage = ""
        first.onProgress = { stage = $0.stage }
        first.shouldStop = { stage.hasPrefix("ft epoch 3") }  // one step into epoch 3
        XCTAssertThrowsError(try first.run()) { XCTAssertTrue($0 is TrialError) }
        XCTAssertEqual(try checkpointNames(root), ["epoch-1", "epoch-2", "epoch-2-step-1"])

        // Tear the newest checkpoint: resume must fall back to epoch 2, not load garbage.
        let newest = root.appendingPathComponent("epoch-2-step-1/tensors.safetensors")
        let bytes = try Data(contentsOf: newest)
        try bytes.prefix(bytes.count / 2).write(to: newest)
        let second = TrialRunner(config: config)
        second.checkpointDirectory = root
        var notices: [String] = []
        second.onNotice = { notices.append($0) }
        let resumed = try second.run()
        XCTAssertTrue(notices.contains { $0.contains("skipping checkpoint epoch-2-step-1") }, "\(notices)")
        XCTAssertTrue(notices.contains("resuming after FT epoch 2 of 3"), "\(notices)")
        XCTAssertEqual(resumed.metrics, expected.metrics, "bit-identical final metrics")
        XCTAssertEqual(resumed.bestEpoch, expected.bestEpoch)

        // A checkpoint written for another config is never used.
        let other = TrialRunner(config: config.with { $0.seed = 99 })
        other.checkpointDirectory = root
        var otherNotices: [String] = []
        other.onNotice = { otherNotices.append($0) }
        _ = try other.run()
        XCTAssertTrue(otherNotices.contains { $0.contains("written by a different trial config") }, "\(otherNotices)")
        XCTAssertFalse(otherNotices.contains { $0.contains("resuming") })
    }

    /// SIGTERM mid-epoch: the stop writes a checkpoint at that step (under the default `last`, the
    /// only one kept), and the resumed trial, starting at the next step of the same epoch, ends
    /// bit-identical to a straight run.
    func testAStopMidEpochCheckpointsThatStepAndTheResumeEqualsAStraightRun() throws {
        let config = try config("lp-ft").with { $0.ft.epochs = 3 }
        XCTAssertEqual(config.checkpoints, .last)
        let straight = TrialRunner(config: config)
        let expected = try straight.run()

        let root = dir.appendingPathComponent("mid-epoch")
        let first = TrialRunner(config: config)
        first.checkpointDirectory = root
        var progress = (stage: "", done: 0)
        first.onProgress = { progress = ($0.stage, $0.done) }
        first.shouldStop = { progress.stage.hasPrefix("ft epoch 2") && progress.done == 4 }  // 4 of 6 steps
        XCTAssertThrowsError(try first.run()) { XCTAssertEqual("\($0)", "stopped on request during ft epoch 2") }
        XCTAssertEqual(try checkpointNames(root), ["epoch-1-step-4"], "last keeps the newest only")

        let second = TrialRunner(config: config)
        second.checkpointDirectory = root
        var notices: [String] = [], firstStep: Int?
        second.onNotice = { notices.append($0) }
        second.onProgress = { if firstStep == nil, $0.stage.hasPrefix("ft") { firstStep = $0.done } }
        let resumed = try second.run()
        XCTAssertTrue(notices.contains("resuming after FT epoch 1 of 3 and 4 steps of epoch 2"), "\(notices)")
        XCTAssertEqual(firstStep, 5, "the resumed run starts at the step after the checkpoint")
        XCTAssertEqual(resumed.metrics, expected.metrics, "bit-identical final metrics")
        XCTAssertEqual(resumed.bestEpoch, expected.bestEpoch)
        XCTAssertEqual(try checkpointNames(root), ["epoch-3"])
    }

    /// What each `checkpoints` policy leaves when a trial ends, and what the files hold.
    func testEachCheckpointPolicyKeepsWhatItSays() throws {
        var sizes: [CheckpointPolicy: Int] = [:]
        for policy in CheckpointPolicy.allCases {
            let root = dir.appendingPathComponent("policy-\(policy)")
            let runner = TrialRunner(config: try config("ft").with { $0.ft.epochs = 3; $0.checkpoints = policy })
            runner.checkpointDirectory = root
            _ = try runner.run()
            let expected: [String] = switch policy {
            case .none: []
            case .last: ["epoch-3"]
            case .best: ["best"]
            case .every: ["epoch-1", "epoch-2", "epoch-3"]
            }
            XCTAssertEqual(try checkpointNames(root), expected, "\(policy)")
            let file = policy == .best ? "best/parameters.safetensors" : "epoch-3/tensors.safetensors"
            sizes[policy] = try? FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(file).path)[.size] as? Int
        }
        // FT trains every parameter: a resume needs parameters and both moments (3×), plus the
        // best epoch's parameters when it is not the last (4×); `best` keeps 1×.
        let parameters = try XCTUnwrap(sizes[.best])
        let last = try XCTUnwrap(sizes[.last])
        XCTAssertTrue((3 * parameters - 1_024...4 * parameters + 4_096).contains(last), "last \(last), parameters \(parameters)")
    }

    func testCheckpointsAcceptThePoliciesAndTheBooleansTheyReplaced() throws {
        func parse(_ value: String) throws -> TrialConfig { try TrialConfig(yaml: "method: ft\ntask: rt-polarity\ncheckpoints: \(value)", file: "c") }
        XCTAssertEqual(try parse("true").checkpoints, .last)
        XCTAssertEqual(try parse("false").checkpoints, .none)
        XCTAssertEqual(try parse("every").checkpoints, .every)
        let plain = try TrialConfig(yaml: "method: ft\ntask: rt-polarity", file: "c").canonicalJSON()
        XCTAssertEqual(try parse("last").canonicalJSON(), plain, "the default keeps the trial ids planned before policies")
        XCTAssertTrue(plain.contains("\"checkpoints\":true"), plain)
        XCTAssertTrue(try parse("none").canonicalJSON().contains("\"checkpoints\":false"))
        XCTAssertTrue(try parse("best").canonicalJSON().contains("\"checkpoints\":\"best\""))
        XCTAssertThrowsError(try parse("sometimes")) { XCTAssertTrue("\($0)".contains("checkpoints: \"sometimes\" is not one of none, last, best, every"), "\($0)") }
    }

    func checkpointNames(_ root: URL) throws -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
    }
}

extension TrialConfig {
    func with(_ change: (inout TrialConfig) -> Void) -> TrialConfig {
        var copy = self
        change(&copy)
        return copy
    }
}

extension TrialRunnerTests {
    func testPredictionsNameTheSubsampledRowsAndReproduceEveryAccuracy() throws {
        let (result, _) = try run(try config("lp-ft", extra: "eval_examples: 20"))
        let p = try XCTUnwrap(result.predictions)
        XCTAssertEqual(p.labels, ["alpha", "beta", "gamma"])
        XCTAssertEqual(result.labels, ["alpha", "beta", "gamma"], "the label mapping is part of the result")
        XCTAssertEqual(Set(p.splits.keys), ["validation", "test", "ood/short"])
        XCTAssertEqual(p.temperature, result.metrics["temperature"])
        for (name, metric) in [("test", "test/accuracy"), ("ood/short", "ood/short/accuracy")] {
            let split = try XCTUnwrap(p.splits[name])
            XCTAssertEqual(split.rows.count, 20)
            XCTAssertEqual(split.rows, split.rows.sorted(), "a subsample keeps file order")
            XCTAssertLessThan(split.rows.last!, name == "test" ? 48 : 32, "rows index the file's examples")
            let predicted = TrialPredictions.argmax(split.logits, classes: 3)
            let accuracy = Double(zip(predicted, split.targets).filter { $0 == $1 }.count) / 20
            XCTAssertEqual(accuracy, result.metrics[metric], name)
            XCTAssertEqual(ClassificationMetrics.macroF1(logits: split.logits, labels: split.targets, classes: 3), result.metrics["\(name)/macro_f1"], name)
        }
        XCTAssertEqual(try TrialPredictions(json: p.json()), p, "the JSON form is exact")
    }
}

/// Per-example predictions and the metrics computed from them.
final class TrialPredictionsTests: XCTestCase {

    /// Hand-computed cases, checked against scikit-learn's `f1_score(average="macro")` and
    /// `roc_auc_score` definitions.
    func testMacroF1AndAUROCOnHandComputedCases() {
        // Predictions [0, 1, 1, 2, 2, 2] for labels [0, 0, 1, 1, 2, 2]:
        // F1(0) = 2·1/(1+2) = 2/3, F1(1) = 2·1/(2+2) = 1/2, F1(2) = 2·2/(3+2) = 4/5.
        let oneHot: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
        XCTAssertEqual(ClassificationMetrics.macroF1(logits: oneHot.flatMap { $0 }, labels: [0, 0, 1, 1, 2, 2], classes: 3),
                       (2.0 / 3 + 0.5 + 0.8) / 3, accuracy: 1e-12)
        // Scores z1 − z0: [0.1, 0.4, 0.35, 0.8] for labels [0, 0, 1, 1] → AUROC 0.75 (sklearn's example).
        let scores: [Float] = [0.1, 0.4, 0.35, 0.8]
        XCTAssertEqual(ClassificationMetrics.binaryAUROC(logits: scores.flatMap { [0, $0] }, labels: [0, 0, 1, 1]), 0.75, accuracy: 1e-12)
        // A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
        XCTAssertEqual(ClassificationMetrics.binaryAUROC(logits: [0, 1, 0, 2, 0, 2], labels: [0, 0, 1]), 0.75, accuracy: 1e-12)
        XCTAssertTrue(ClassificationMetrics.binaryAUROC(logits: [0, 1, 0, 2], labels: [1, 1]).isNaN, "one class only")
    }

    func testSeparatingPredictionsLeavesTheRestOfTheResult() throws {
        let p = TrialPredictions(labels: ["a", "b"], temperature: 1.5,
                                 splits: ["test": .init(rows: [3, 7], targets: [1, 0], logits: [0.25, -1e-7, .pi, 2])])
        let result = String(decoding: try JSONNumber.data(["status": "completed", "metrics": ["test/accuracy": 0.5], "predictions": p.jsonObject()]), as: UTF8.self)
        let (rest, predictions) = TrialResultSchema.separatingPredictions(result)
        XCTAssertEqual(rest, #"{"metrics":{"test/accuracy":0.5},"status":"completed"}"#)
        XCTAssertEqual(try TrialPredictions(json: try XCTUnwrap(predictions)), p)
        XCTAssertEqual(TrialResultSchema.separatingPredictions(rest).predictions, nil)
        XCTAssertThrowsError(try TrialPredictions(json: #"{"labels":["a","b"],"temperature":1,"splits":{"test":{"rows":[1],"targets":[0],"logits":"AAAA"}}}"#),
                             "one float for two classes")
    }
}

extension TrialRunnerTests {
    /// The FT epoch a trial reports is picked by validation accuracy unless the config says
    /// otherwise; the default leaves the canonical config (and so every trial id) as it was.
    func testTheSelectionMetricIsAConfigChoiceThatKeepsDefaultIdsStable() throws {
        let plain = try config("ft")
        XCTAssertFalse(plain.canonicalJSON().contains("select_by"), "the default is not written")
        let byLoss = try config("ft", extra: "").with { $0.ft.selectBy = .nll }
        XCTAssertTrue(byLoss.canonicalJSON().contains("\"select_by\":\"nll\""))
        XCTAssertThrowsError(try TrialConfig(yaml: "method: ft\ntask: x\nft: {select_by: f1}", file: "t.yaml")) {
            XCTAssertTrue("\($0)".contains("select_by"), "\($0)")
        }
        let (a, _) = try run(plain), (b, events) = try run(byLoss)
        let best = try XCTUnwrap(b.bestEpoch)
        let accuracies = events.filter { $0.name == TrialMetric.epochValidationAccuracy }.map(\.value)
        XCTAssertEqual(b.metrics[TrialMetric.bestValidationAccuracy], accuracies[best - 1], "the reported accuracy is the selected epoch's")
        XCTAssertEqual(a.metrics[TrialMetric.bestValidationAccuracy], accuracies.max(), "by accuracy: the most accurate epoch")
    }
}

extension TrialRunnerTests {
    /// Patience stops fine-tuning N epochs after the best one and reports that best epoch;
    /// it is recorded, deterministic, and stops a resumed trial where a straight one stopped.
    func testPatienceStopsAfterNEpochsWithoutImprovementAndReportsTheBest() throws {
        let long = try config("ft").with { $0.ft.epochs = 6; $0.ft.lr = 0.01 }
        let (full, fullEvents) = try run(long)
        let accuracies = fullEvents.filter { $0.name == TrialMetric.epochValidationAccuracy }.map(\.value)
        XCTAssertEqual(accuracies.count, 6)
        // Where patience 1 must stop: the first epoch not better than the best so far.
        var best = -1.0, stop: Int?
        for (i, a) in accuracies.enumerated() {
            if a > best { best = a } else { stop = i + 1; break }
        }
        XCTAssertNotNil(stop, "this run must plateau for the test to mean anything: \(accuracies)")
        let patient = long.with { $0.ft.patience = 1 }
        XCTAssertTrue(patient.canonicalJSON().contains("\"patience\":1"))
        XCTAssertFalse(long.canonicalJSON().contains("patience"), "unset, it is not written")
        let (stopped, events) = try run(patient)
        let ran = events.filter { $0.name == TrialMetric.epochValidationAccuracy }.map(\.value)
        XCTAssertEqual(ran, Array(accuracies.prefix(stop ?? 6)), "the same epochs as the full run, up to the stop")
        XCTAssertEqual(stopped.metrics[TrialMetric.stoppedAfterEpoch], stop.map(Double.init))
        XCTAssertEqual(stopped.bestEpoch, ran.firstIndex(of: ran.max()!)! + 1, "the best epoch is reported")
        XCTAssertEqual(stopped.metrics[TrialMetric.bestValidationAccuracy], ran.max())
        XCTAssertNotNil(full.metrics[TrialMetric.lastLoss])
        XCTAssertNil(full.metrics[TrialMetric.stoppedAfterEpoch])
        XCTAssertEqual(try run(patient).0.metrics, stopped.metrics, "deterministic")
    }
}
