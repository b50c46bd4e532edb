import Dispatch
import Foundation
import NTK
import TextData
import Training
import Transformer

/// `lpft bench ntk`: the exact kernels of a fetched model on rt-polarity training texts, with
/// a fresh head, timed; optionally the inputs exported for bench/torch_ntk.py.
public enum NTKBenchmark {
    /// The encoded batch, the kernel and the seconds it took.
    public static func run(modelDirectory directory: URL, examples: Int, length: Int, threads: Int, budgetMiB: Int, seed: UInt64,
                           export: URL?) throws -> (batch: [(ids: [Int32], tokenTypeIDs: [Int32])], kernel: NeuralTangentKernel, seconds: Double) {
        let model = try PretrainedModel(directory: directory)
        let texts = try JSONLinesReader().read(try DataStore().task("rt-polarity").split("train")).examples.prefix(examples)
        let batch = texts.map { model.tokenizer.encode($0.text ?? "", maxLength: length) }
        let loaded = try model.loadWeights(labels: ["negative", "positive"], threads: threads, seed: seed)
        let computer = NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: NTKBudget.bytes(mib: budgetMiB))
        if let export {
            let head = loaded.model.layout.head
            let object: [String: Any] = ["input_ids": batch.map { $0.ids.map(Int.init) },
                                         "head_weight": Array(loaded.parameters.buffer[head.weight.range]).map(Double.init),
                                         "head_bias": Array(loaded.parameters.buffer[head.bias.range]).map(Double.init)]
            try JSONSerialization.data(withJSONObject: object).write(to: export)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let ntk = try computer.compute(batch)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (batch.map { ($0.ids, $0.tokenTypeIDs) }, ntk, seconds)
    }
}
