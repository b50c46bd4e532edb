import Foundation
import TextData
import Transformer
import TrialContract

/// A trial's datasets, tokenised, with labels as indices into the model's label set.
struct TrialData {
    let labels: LabelSet
    var train: [LabeledSequence]
    let validation: [LabeledSequence]
    let test: [LabeledSequence]
    /// Test splits of the out-of-distribution tasks, by task name.
    let ood: [(name: String, examples: [LabeledSequence])]
    /// Each evaluated example's position among its file's examples, by prediction split name
    /// (`validation`, `test`, `ood/<task>`): what the trial's predictions name.
    let rows: [String: [Int]]

    enum Split: String { case train, validation, test }

    static func examples(of spec: TrialConfig.TaskSpec, split: Split, store: DataStore) throws -> [Example] {
        if spec.isFetched {
            return try JSONLinesReader().read(try store.task(spec.name).split(split.rawValue)).examples
        }
        let path: String? = switch split {
        case .train: spec.train
        case .validation: spec.validation
        case .test: spec.test
        }
        guard let path else { throw TextDataError.invalidDataset("task \(spec.name): no \(split.rawValue) file given") }
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        let file = try spec.format.reader(for: url, encoding: spec.encoding).read(url)
        return file.examples
    }

    static func labelSet(of spec: TrialConfig.TaskSpec, train: [Example], store: DataStore) throws -> LabelSet {
        if let names = spec.labels { return LabelSet(names) }
        if spec.isFetched { return try store.task(spec.name).manifest.labels }
        return LabelSet(of: train)
    }

    /// Every row of every file a trial of `config` reads, with each label checked against the
    /// task's: read whole by `lpft sweep run` before any trial starts
    /// (``TrialConfig/checkData(_:store:)``), and by each trial before it subsamples them.
    struct Rows {
        let labels: LabelSet
        let train: [Example]
        let validation: [Example]
        let test: [Example]
        /// The test split of each out-of-distribution task, by task name.
        let ood: [(name: String, test: [Example])]

        init(_ config: TrialConfig, store: DataStore) throws {
            let train = try TrialData.examples(of: config.task, split: .train, store: store)
            let labels = try TrialData.labelSet(of: config.task, train: train, store: store)
            func read(_ spec: TrialConfig.TaskSpec, _ split: Split, whose: String = "the task") throws -> [Example] {
                let examples = try TrialData.examples(of: spec, split: split, store: store)
                try labels.requireKnown(examples, whose: whose)
                return examples
            }
            try labels.requireKnown(train)
            (self.labels, self.train) = (labels, train)
            validation = try read(config.task, .validation)
            test = try read(config.task, .test)
            ood = try config.ood.map { ($0.name, try read($0, .test, whose: "the trained task")) }
        }
    }

    /// Reads, subsamples and tokenises everything the trial needs.
    static func load(_ config: TrialConfig, tokenizer: any Tokenizer, store: DataStore) throws -> TrialData {
        let read = try Rows(config, store: store)
        let labels = read.labels
        func encode(_ examples: [Example]) -> [LabeledSequence] {
            examples.map { e in
                let label = labels.index(of: e.label)!  // every label was checked by `Rows`
                if let ids = e.inputIDs {
                    return LabeledSequence(inputIDs: Array(ids.prefix(config.maxLength)), tokenTypeIDs: e.tokenTypeIDs.map { Array($0.prefix(config.maxLength)) }, label: label)
                }
                let encoded = tokenizer.encode(e.text ?? "", pair: e.textPair, maxLength: config.maxLength)
                return LabeledSequence(inputIDs: encoded.ids, tokenTypeIDs: encoded.tokenTypeIDs, label: label)
            }
        }
        let train = config.trainExamples.map { RandomStreamFactory.subsample(config.seed).sample(read.train, count: $0) } ?? read.train
        var rows: [String: [Int]] = [:]
        func evaluation(_ all: [Example], as name: String) -> [LabeledSequence] {
            let kept = config.evalExamples.map { RandomStreamFactory.evaluationSubsample.sample(Array(all.indices), count: $0) } ?? Array(all.indices)
            rows[name] = kept
            return encode(kept.map { all[$0] })
        }
        let ood = read.ood.map { ($0.name, evaluation($0.test, as: PredictionSplit.ood($0.name))) }
        let validation = evaluation(read.validation, as: PredictionSplit.validation)
        let test = evaluation(read.test, as: PredictionSplit.test)
        return TrialData(labels: labels, train: encode(train), validation: validation, test: test, ood: ood, rows: rows)
    }
}
