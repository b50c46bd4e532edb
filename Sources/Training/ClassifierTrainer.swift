import Compute
import Transformer

/// A labelled, tokenised example.
public struct LabeledSequence: Sendable, Equatable {
    public var inputIDs: [Int32]
    public var tokenTypeIDs: [Int32]
    public var label: Int

    public init(inputIDs: [Int32], tokenTypeIDs: [Int32]? = nil, label: Int) {
        self.inputIDs = inputIDs
        self.tokenTypeIDs = tokenTypeIDs ?? [Int32](repeating: 0, count: inputIDs.count)
        self.label = label
    }
}

/// Owns what one training run of a classifier needs: parameters, gradients, a workspace and
/// the optimiser, and runs steps and evaluations on them.
public final class ClassifierTrainer {
    public let model: BertClassifier
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let workspace: BertWorkspace
    public let optimizer: AdamW
    /// Seeds the dropout streams: step k draws from `RandomStream(seed).derived(k)`.
    public let seed: UInt64
    /// What the backward pass computes, from which views are trainable.
    let scope: GradientScope

    public init(model: BertClassifier, parameters: FloatBuffer, maxBatchSize: Int, maxSequenceLength: Int,
                trainable: [ParameterView]? = nil, hyperparameters: AdamW.Hyperparameters = .init(), seed: UInt64) {
        self.model = model
        self.parameters = parameters
        self.seed = seed
        gradients = FloatBuffer(count: model.parameterCount)
        workspace = model.makeWorkspace(maxBatchSize: maxBatchSize, maxSequenceLength: maxSequenceLength)
        let views = trainable ?? model.layout.parameters.views
        optimizer = AdamW(views: views, parameterCount: model.parameterCount, hyperparameters: hyperparameters, threads: model.threads)
        let layout = model.layout
        scope = views.contains { layout.backboneRange.contains($0.offset) } ? .all
            : views.contains { layout.loraRange.contains($0.offset) } ? .headAndLoRA : .head
    }

    /// One forward (with dropout), backward and AdamW update. Returns the batch's mean loss.
    @discardableResult
    public func step(_ examples: ArraySlice<LabeledSequence>, learningRate: Float, clipNorm: Float? = 1) throws -> Float {
        let batch = try TokenBatch(sequences: examples.map(\.inputIDs), tokenTypes: examples.map(\.tokenTypeIDs))
        let labels = examples.map(\.label)
        try model.forward(parameters.pointer, batch, workspace: workspace, dropout: RandomStream(seed: seed).derived(UInt64(optimizer.step)))
        let dLogits = FloatBuffer(count: labels.count * model.config.classCount)
        let loss = CrossEntropy.forwardBackward(logits: workspace.logits.pointer, labels: labels,
                                                classes: model.config.classCount, dLogits: dLogits.pointer)
        gradients.zero()
        model.backward(parameters.pointer, dLogits: dLogits.pointer, gradients: gradients.pointer, workspace: workspace, scope: scope)
        optimizer.update(parameters.pointer, gradients: gradients.pointer, learningRate: learningRate, clipNorm: clipNorm)
        return loss
    }

    /// Eval-mode logits for `examples`, row-major [n, classes].
    public func logits(_ examples: [LabeledSequence]) throws -> [Float] {
        try evaluate(examples, width: model.config.classCount) { ws, _ in UnsafePointer(ws.logits.pointer) }
    }

    /// Eval-mode features φ(x) (the final hidden states pooled as the model pools them) for
    /// `examples`, row-major [n, hidden].
    public func features(_ examples: [LabeledSequence]) throws -> [Float] {
        try evaluate(examples, width: model.config.hiddenSize, encoderOnly: true) { ws, _ in UnsafePointer(ws.features.pointer) }
    }

    /// Runs `examples` forward in eval mode in batches of similar length (so that the attention
    /// blocks, one per sequence and head, share out evenly over the threads) and gathers
    /// `width` outputs per example back into input order.
    private func evaluate(_ examples: [LabeledSequence], width: Int, encoderOnly: Bool = false,
                          _ output: (BertWorkspace, Int) -> UnsafePointer<Float>) throws -> [Float] {
        var out = [Float](repeating: 0, count: examples.count * width)
        let order = examples.indices.sorted { (examples[$0].inputIDs.count, $0) < (examples[$1].inputIDs.count, $1) }
        for start in stride(from: 0, to: order.count, by: workspace.maxBatchSize) {
            let rows = order[start..<min(order.count, start + workspace.maxBatchSize)]
            let batch = try TokenBatch(sequences: rows.map { examples[$0].inputIDs }, tokenTypes: rows.map { examples[$0].tokenTypeIDs })
            if encoderOnly {
                try model.encode(parameters.pointer, batch, workspace: workspace)
            } else {
                try model.forward(parameters.pointer, batch, workspace: workspace)
            }
            let values = output(workspace, rows.count)
            for (i, row) in rows.enumerated() {
                for j in 0..<width { out[row * width + j] = values[i * width + j] }
            }
        }
        return out
    }

    /// Fraction of `examples` whose arg-max logit is the label.
    public func accuracy(_ examples: [LabeledSequence]) throws -> Double {
        guard !examples.isEmpty else { return .nan }
        let c = model.config.classCount
        let z = try logits(examples)
        var correct = 0
        for (i, example) in examples.enumerated() {
            let row = z[(i * c)..<((i + 1) * c)]
            if row.indices.max(by: { row[$0] < row[$1] })! - i * c == example.label { correct += 1 }
        }
        return Double(correct) / Double(examples.count)
    }
}
