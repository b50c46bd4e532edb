import Compute
import Transformer

/// The empirical NTK of a classifier's logits at its current parameters, split as in
/// Proposition 4.1 of the paper: Θ = P + F, with
/// P(x, x′) = (⟨φ(x), φ(x′)⟩ + 1)·I_C from the head, and
/// F(x, x′) = V J_φ(x) J_φ(x′)ᵀ Vᵀ from the backbone (for LoRA models, the adapters only).
///
/// Each row of J is one vector–Jacobian product: head row V[c] back-propagated through φ(x),
/// C backward passes per example. F is summed over parameter groups (embeddings, each
/// layer's attention and feed-forward, or each layer's adapters), so the per-group breakdown
/// comes with it. The word-embedding block is exact and sparse: an example's gradient lives on
/// the rows of the token ids it contains.
public struct NeuralTangentKernel: Sendable {
    /// Examples N and classes C; kernels are [N·C, N·C] with row (n, c) at n·C + c.
    public let examples: Int
    public let classes: Int
    public let pretrainEffective: [Float]
    public let ftEffective: [Float]
    /// F split by parameter group, in `groups` order; they sum to `ftEffective`.
    public let groups: [(name: String, kernel: [Float])]
    /// φ(x) and f(x) of the examples at the parameters the kernel was computed at.
    public let features: [Float]
    public let logits: [Float]
    /// Backward passes done (N·C per pass over the data; more when the budget forced recomputation).
    public let backwardPasses: Int
}

/// A named set of parameter ranges whose gradients form one block of J.
public struct ParameterGroup: Sendable, Equatable {
    public let name: String
    public let ranges: [Range<Int>]
    public var count: Int { ranges.reduce(0) { $0 + $1.count } }

    /// The paper's breakdown for a model: word embeddings, the other embedding parameters, and
    /// per layer attention and feed-forward; for a LoRA model, each layer's adapters.
    public static func groups(for layout: BertLayout) -> (word: ParameterGroup?, dense: [ParameterGroup]) {
        if layout.lora != nil {
            let dense = layout.adapters.enumerated().map { l, adapters in
                ParameterGroup(name: "layer.\(l).lora", ranges: adapters.flatMap { [$0.a.range, $0.b.range] })
            }
            return (nil, dense)
        }
        let e = layout.embeddings
        var dense = [ParameterGroup(name: "embeddings.other", ranges: [e.position.range, e.tokenType.range, e.normWeight.range, e.normBias.range])]
        for (l, w) in layout.layers.enumerated() {
            dense.append(ParameterGroup(name: "layer.\(l).attention", ranges: [w.query.offset..<w.intermediate.offset]))
            dense.append(ParameterGroup(name: "layer.\(l).ffn", ranges: [w.intermediate.offset..<(w.outputNormBias.offset + w.outputNormBias.count)]))
        }
        return (ParameterGroup(name: "embeddings.word", ranges: [e.word.range]), dense)
    }
}

public enum NTKError: Error, CustomStringConvertible {
    case budgetTooSmall(needed: Int, budget: Int)

    public var description: String {
        switch self {
        case let .budgetTooSmall(needed, budget):
            return "the NTK needs at least \(needed / (1 << 20)) MiB for one parameter group's Jacobian block; the budget is \(budget / (1 << 20)) MiB"
        }
    }
}

/// Computes `NeuralTangentKernel`s for one model and parameter vector.
public struct NTKComputer {
    public let model: BertClassifier
    public let parameters: FloatBuffer
    /// Bytes the materialised Jacobian blocks may take; groups are processed in chunks that fit,
    /// recomputing the backward passes for each chunk rather than exceeding it.
    public var memoryBudget: Int

    public init(model: BertClassifier, parameters: FloatBuffer, memoryBudget: Int = 4 << 30) {
        self.model = model
        self.parameters = parameters
        self.memoryBudget = memoryBudget
    }

    /// φ(x) for each example, [N, hidden] (eval mode).
    public func features(_ batch: [(ids: [Int32], tokenTypeIDs: [Int32])]) throws -> [Float] {
        let h = model.config.hiddenSize
        let workspace = model.makeWorkspace(maxBatchSize: 1, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        var out = [Float](repeating: 0, count: batch.count * h)
        for (i, example) in batch.enumerated() {
            try model.encode(parameters.pointer, try TokenBatch(sequences: [example.ids], tokenTypes: [example.tokenTypeIDs]), workspace: workspace)
            for j in 0..<h { out[i * h + j] = workspace.features[j] }
        }
        return out
    }

    public func compute(_ batch: [(ids: [Int32], tokenTypeIDs: [Int32])]) throws -> NeuralTangentKernel {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize
        let rows = n * c
        let layout = model.layout
        let (wordGroup, dense) = ParameterGroup.groups(for: layout)

        // Chunks of dense groups whose Jacobian block [rows, params] fits the budget.
        var chunks: [[ParameterGroup]] = [[]]
        var chunkSize = 0
        for g in dense {
            let bytes = rows * g.count * 4
            guard bytes <= memoryBudget else { throw NTKError.budgetTooSmall(needed: bytes, budget: memoryBudget) }
            if (chunkSize + g.count) * rows * 4 > memoryBudget {
                chunks.append([])
                chunkSize = 0
            }
            chunks[chunks.count - 1].append(g)
            chunkSize += g.count
        }

        let workspace = model.makeWorkspace(maxBatchSize: 1, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        let gradient = FloatBuffer(count: model.parameterCount)
        let dFeatures = FloatBuffer(count: h)
        let p = parameters.pointer
        var features = [Float](repeating: 0, count: n * h), logits = [Float](repeating: 0, count: n * c)
        var kernels = [String: [Float]]()
        var passes = 0
        var word = [Float](repeating: 0, count: rows * rows)

        for (chunkIndex, chunk) in chunks.enumerated() {
            let width = chunk.reduce(0) { $0 + $1.count }
            let jacobian = FloatBuffer(count: rows * width)
            // Sparse word-embedding gradients, collected on the first pass: token id → (row, gradient row).
            var wordRows: [Int32: [(row: Int, values: [Float])]] = [:]
            gradient.zero()  // what the previous chunk left to accumulate
            // Weight gradients only for this chunk's groups (and the word rows, read on the first chunk).
            let scope: GradientScope = layout.lora != nil ? .headAndLoRA
                : .ranges(chunk.flatMap(\.ranges) + (chunkIndex == 0 ? wordGroup?.ranges ?? [] : []))
            for (i, example) in batch.enumerated() {
                let input = try TokenBatch(sequences: [example.ids], tokenTypes: [example.tokenTypeIDs])
                try model.forward(p, input, workspace: workspace)
                if chunkIndex == 0 {
                    for j in 0..<h { features[i * h + j] = workspace.features[j] }
                    for k in 0..<c { logits[i * c + k] = workspace.logits[k] }
                }
                for k in 0..<c {
                    let row = i * c + k
                    (dFeatures.pointer).update(from: p + layout.head.weight.offset + k * h, count: h)
                    model.encoderBackward(p, dFeatures: dFeatures.pointer, gradients: gradient.pointer, workspace: workspace, scope: scope)
                    passes += 1
                    // Only what is read is zeroed again: the rest of the buffer may accumulate,
                    // it is never looked at (zeroing all of MiniLM's 90 MB per pass cost more than the pass).
                    var column = 0
                    for g in chunk {
                        for r in g.ranges {
                            (jacobian.pointer + row * width + column).update(from: gradient.pointer + r.lowerBound, count: r.count)
                            (gradient.pointer + r.lowerBound).update(repeating: 0, count: r.count)
                            column += r.count
                        }
                    }
                    if let wordGroup {
                        let base = wordGroup.ranges[0].lowerBound
                        for id in Set(example.ids) {
                            let rowPointer = gradient.pointer + base + Int(id) * h
                            if chunkIndex == 0 { wordRows[id, default: []].append((row, Array(UnsafeBufferPointer(start: rowPointer, count: h)))) }
                            rowPointer.update(repeating: 0, count: h)
                        }
                    }
                }
            }
            var column = 0
            for g in chunk {
                var k = [Float](repeating: 0, count: rows * rows)
                k.withUnsafeMutableBufferPointer {
                    BLAS.syrk(n: rows, k: g.count, a: jacobian.pointer + column, lda: width, beta: 0, c: $0.baseAddress!)
                }
                kernels[g.name] = k
                column += g.count
            }
            if chunkIndex == 0 {
                for entries in wordRows.values {
                    for a in entries {
                        for b in entries {
                            var dot: Float = 0
                            for j in 0..<h { dot += a.values[j] * b.values[j] }
                            word[a.row * rows + b.row] += dot
                        }
                    }
                }
            }
        }

        var groups: [(String, [Float])] = []
        if let wordGroup { groups.append((wordGroup.name, word)) }
        groups += dense.map { ($0.name, kernels[$0.name]!) }
        var ft = [Float](repeating: 0, count: rows * rows)
        for (_, k) in groups {
            for i in ft.indices { ft[i] += k[i] }
        }
        var pretrain = [Float](repeating: 0, count: rows * rows)
        for a in 0..<n {
            for b in 0..<n {
                var dot: Float = 1
                for j in 0..<h { dot += features[a * h + j] * features[b * h + j] }
                for k in 0..<c { pretrain[(a * c + k) * rows + b * c + k] = dot }
            }
        }
        return NeuralTangentKernel(examples: n, classes: c, pretrainEffective: pretrain, ftEffective: ft, groups: groups,
                                   features: features, logits: logits, backwardPasses: passes)
    }
}
