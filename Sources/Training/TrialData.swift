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

    /// Reads, subsamples and tokenises everything the trial needs.
    static func load(_ config: TrialConfig, tokenizer: any Tokenizer, store: DataStore) throws -> TrialData {
        let trainRaw = try examples(of: config.task, split: .train, store: store)
        let labels = try labelSet(of: config.task, train: trainRaw, store: store)
        func encode(_ examples: [Example]) throws -> [LabeledSequence] {
            try examples.map { e in
                guard let label = labels.index(of: e.label) else {
                    throw TextDataError.invalidDataset("\(e.source): label \"\(e.label)\" is not one of the task's labels [\(labels.names.joined(separator: ", "))]")
                }
                if let ids = e.inputIDs {
                    return LabeledSequence(inputIDs: Array(ids.prefix(config.maxLength)), tokenTypeIDs: e.tokenTypeIDs.map { Array($0.prefix(config.maxLength)) }, label: label)
                }
                let encoded = tokenizer.encode(e.text ?? "", pair: e.textPair, maxLength: config.maxLength)
                return LabeledSequence(inputIDs: encoded.ids, tokenTypeIDs: encoded.tokenTypeIDs, label: label)
            }
        }
        let train = config.trainExamples.map { RandomStreamFactory.subsample(config.seed).sample(trainRaw, count: $0) } ?? trainRaw
        var rows: [String: [Int]] = [:]
        func evaluation(_ spec: TrialConfig.TaskSpec, _ split: Split, as name: String) throws -> [Example] {
            let all = try examples(of: spec, split: split, store: store)
            let kept = config.evalExamples.map { RandomStreamFactory.evaluationSubsample.sample(Array(all.indices), count: $0) } ?? Array(all.indices)
            rows[name] = kept
            return kept.map { all[$0] }
        }
        let ood = try config.ood.map { spec -> (String, [LabeledSequence]) in
            let test = try evaluation(spec, .test, as: PredictionSplit.ood(spec.name))
            try labels.requireSuperset(of: LabelSet(of: test), what: "OOD task \(spec.name)")
            return (spec.name, try encode(test))
        }
        let validation = try encode(try evaluation(config.task, .validation, as: PredictionSplit.validation))
        let test = try encode(try evaluation(config.task, .test, as: PredictionSplit.test))
        return TrialData(labels: labels, train: try encode(train), validation: validation, test: test, ood: ood, rows: rows)
    }
}
