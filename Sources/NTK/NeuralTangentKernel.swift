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
///
/// The ranges are the units a memory-bounded computation never splits: single tensors, except
/// that a layer's query, key and value weights (and their biases) stay together, as the model
/// computes them as one fused projection.
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
            dense.append(ParameterGroup(name: "layer.\(l).attention", ranges: [
                w.query.offset..<w.value.range.upperBound, w.queryBias.offset..<w.valueBias.range.upperBound,
                w.attentionOutput.range, w.attentionOutputBias.range, w.attentionNormWeight.range, w.attentionNormBias.range,
            ]))
            dense.append(ParameterGroup(name: "layer.\(l).ffn", ranges: [
                w.intermediate.range, w.intermediateBias.range, w.output.range, w.outputBias.range, w.outputNormWeight.range, w.outputNormBias.range,
            ]))
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

    public typealias Example = (ids: [Int32], tokenTypeIDs: [Int32])

    /// The kernel over `batch` (each example unpadded). Without LoRA, and when the per-example
    /// captures leave room in the budget for the largest unsplittable piece of J, one batched
    /// backward pass per class gives every row of J (`fromCaptures`); otherwise each
    /// budget-sized chunk of parameter groups re-runs the backward passes one (example, class)
    /// row at a time (`byRecomputation`).
    public func compute(_ batch: [Example]) throws -> NeuralTangentKernel {
        let c = model.config.classCount
        let captures = JacobianCapture.bytes(for: model.config, tokens: batch.reduce(0) { $0 + $1.ids.count }, classes: c)
        let largestPiece = ParameterGroup.groups(for: model.layout).dense.flatMap(\.ranges).map(\.count).max() ?? 0
        if model.layout.lora == nil, captures + batch.count * c * largestPiece * 4 <= memoryBudget {
            return try fromCaptures(batch)
        }
        return try byRecomputation(batch)
    }

    /// One unsplittable range of a group, as placed in a chunk.
    struct Piece {
        let group: String
        let range: Range<Int>
    }

    /// The dense groups' pieces in chunks whose Jacobian block [rows, parameters] fits in
    /// `budget` bytes; a group may span chunks, its kernel is then a sum over them.
    func chunks(_ dense: [ParameterGroup], rows: Int, budget: Int) throws -> [[Piece]] {
        var chunks: [[Piece]] = [[]]
        var chunkSize = 0
        for g in dense {
            for r in g.ranges {
                let bytes = rows * r.count * 4
                guard bytes <= budget else { throw NTKError.budgetTooSmall(needed: bytes, budget: budget) }
                if (chunkSize + r.count) * rows * 4 > budget {
                    chunks.append([])
                    chunkSize = 0
                }
                chunks[chunks.count - 1].append(Piece(group: g.name, range: r))
                chunkSize += r.count
            }
        }
        return chunks
    }

    /// Adds J Jᵀ of each piece of a chunk (pieces side by side in the block) to its group's kernel.
    /// The columns are split across the model's threads, each a single-threaded `ssyrk` into its
    /// own partial kernel, summed in thread order: no OpenBLAS pool spinning between the fills,
    /// and the same numbers for the same thread count.
    func accumulateKernels(_ chunk: [Piece], jacobian: FloatBuffer, rows: Int, into kernels: inout [String: [Float]]) {
        let width = chunk.reduce(0) { $0 + $1.range.count }
        let workers = max(1, model.threads)
        let partial = FloatBuffer(count: workers * rows * rows)
        var column = 0
        for piece in chunk {
            partial.zero()
            let start = column
            BLAS.withSingleThread {
                parallelChunks(piece.range.count, threads: workers) { w, range in
                    BLAS.syrk(n: rows, k: range.count, a: jacobian.pointer + start + range.lowerBound, lda: width, beta: 0,
                              c: partial.pointer + w * rows * rows)
                }
            }
            var k = kernels[piece.group] ?? [Float](repeating: 0, count: rows * rows)
            k.withUnsafeMutableBufferPointer { out in
                for w in 0..<workers { Elementwise.add(partial.pointer + w * rows * rows, into: out.baseAddress!, count: rows * rows) }
            }
            kernels[piece.group] = k
            column += piece.range.count
        }
    }

    /// The word-embedding block from sparse rows: token id → (Jacobian row, gradient of that table row).
    func wordKernel(_ wordRows: [Int32: [(row: Int, values: [Float])]], rows: Int, width h: Int) -> [Float] {
        var word = [Float](repeating: 0, count: rows * rows)
        for entries in wordRows.values {
            for a in entries {
                for b in entries {
                    var dot: Float = 0
                    for j in 0..<h { dot += a.values[j] * b.values[j] }
                    word[a.row * rows + b.row] += dot
                }
            }
        }
        return word
    }

    func assemble(_ n: Int, word: [Float]?, kernels: [String: [Float]], features: [Float], logits: [Float], passes: Int) -> NeuralTangentKernel {
        let c = model.config.classCount, h = model.config.hiddenSize, rows = n * c
        let (wordGroup, dense) = ParameterGroup.groups(for: model.layout)
        var groups: [(String, [Float])] = []
        if let wordGroup, let word { groups.append((wordGroup.name, word)) }
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

    /// One forward pass per batch of examples and one backward pass per class, with no weight
    /// gradients: the tap keeps what each row of J needs, and each row's weight gradients are
    /// then formed directly in the Jacobian block.
    func fromCaptures(_ batch: [Example]) throws -> NeuralTangentKernel {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize, rows = n * c
        let layout = model.layout, p = parameters.pointer
        let (wordGroup, dense) = ParameterGroup.groups(for: layout)
        let capture = JacobianCapture(examples: n, classes: c, hidden: h)
        let batchSize = 16
        let workspace = model.makeWorkspace(maxBatchSize: batchSize, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        let unused = FloatBuffer(count: model.parameterCount)  // an empty scope writes no weight gradient
        let dFeatures = FloatBuffer(count: batchSize * h)
        var features = [Float](repeating: 0, count: n * h), logits = [Float](repeating: 0, count: n * c)
        var passes = 0
        for start in stride(from: 0, to: n, by: batchSize) {
            let members = Array(start..<min(n, start + batchSize))
            let input = try TokenBatch(sequences: members.map { batch[$0].ids }, tokenTypes: members.map { batch[$0].tokenTypeIDs })
            try model.forward(p, input, workspace: workspace)
            for (b, i) in members.enumerated() {
                for j in 0..<h { features[i * h + j] = workspace.features[b * h + j] }
                for k in 0..<c { logits[i * c + k] = workspace.logits[b * c + k] }
            }
            capture.batchExamples = members
            capture.lengths = members.map { batch[$0].ids.count }
            capture.paddedLength = input.sequenceLength
            for k in 0..<c {
                for b in members.indices { (dFeatures.pointer + b * h).update(from: p + layout.head.weight.offset + k * h, count: h) }
                capture.classIndex = k
                model.encoderBackward(p, dFeatures: dFeatures.pointer, gradients: unused.pointer, workspace: workspace, scope: .ranges([]), tap: capture)
                passes += 1
            }
        }

        let captured = JacobianCapture.bytes(for: model.config, tokens: batch.reduce(0) { $0 + $1.ids.count }, classes: c)
        var kernels = [String: [Float]]()
        let e = layout.embeddings
        let plan = try chunks(dense, rows: rows, budget: memoryBudget - captured)
        // One block for all chunks: fresh gigabytes per chunk cost more in page faults than the fill.
        let jacobian = FloatBuffer(count: rows * (plan.map { $0.reduce(0) { $0 + $1.range.count } }.max() ?? 0))
        for chunk in plan {
            let width = chunk.reduce(0) { $0 + $1.range.count }
            jacobian.pointer.update(repeating: 0, count: rows * width)
            var columns: [(range: Range<Int>, start: Int)] = []
            for r in chunk.map(\.range) { columns.append((r, (columns.last.map { $0.start + $0.range.count }) ?? 0)) }
            func column(_ offset: Int) -> Int? {
                columns.first { $0.range.contains(offset) }.map { $0.start + offset - $0.range.lowerBound }
            }
            BLAS.withSingleThread {
                parallelChunks(rows, threads: model.threads) { _, range in
                    for r in range {
                        let a = r / c, tokens = batch[a].ids.count
                        let out = jacobian.pointer + r * width
                        // A weight and its bias may sit in different chunks: each is filled where it is.
                        for site in capture.dense {
                            let dY = site.gradients[r]
                            if let col = column(site.weight.lowerBound) {
                                dY.withUnsafeBufferPointer { dy in
                                    site.inputs[a].withUnsafeBufferPointer { x in
                                        BLAS.gemm(transposeA: true, m: site.outFeatures, n: site.inFeatures, k: tokens, a: dy.baseAddress!, lda: site.outFeatures,
                                                  b: x.baseAddress!, ldb: site.inFeatures, c: out + col, ldc: site.inFeatures)
                                    }
                                }
                            }
                            if let biasColumn = column(site.bias.lowerBound) {
                                dY.withUnsafeBufferPointer { dy in
                                    for t in 0..<tokens { Elementwise.add(dy.baseAddress! + t * site.outFeatures, into: out + biasColumn, count: site.outFeatures) }
                                }
                            }
                        }
                        for site in capture.norms {
                            site.gradients[r].withUnsafeBufferPointer { dy in
                                site.normalized[a].withUnsafeBufferPointer { xhat in
                                    if let col = column(site.weight.offset) {
                                        for t in 0..<tokens { Elementwise.addProduct(dy.baseAddress! + t * h, xhat.baseAddress! + t * h, into: out + col, count: h) }
                                    }
                                    if let col = column(site.bias.offset) {
                                        for t in 0..<tokens { Elementwise.add(dy.baseAddress! + t * h, into: out + col, count: h) }
                                    }
                                }
                            }
                        }
                        capture.embeddingGradients[r].withUnsafeBufferPointer { dSum in
                            if let col = column(e.position.offset) {
                                for t in 0..<tokens { Elementwise.add(dSum.baseAddress! + t * h, into: out + col + t * h, count: h) }
                            }
                            if let col = column(e.tokenType.offset) {
                                for t in 0..<tokens { Elementwise.add(dSum.baseAddress! + t * h, into: out + col + Int(batch[a].tokenTypeIDs[t]) * h, count: h) }
                            }
                        }
                    }
                }
            }
            accumulateKernels(chunk, jacobian: jacobian, rows: rows, into: &kernels)
        }

        var word: [Float]?
        if wordGroup != nil {
            var wordRows: [Int32: [(row: Int, values: [Float])]] = [:]
            for r in 0..<rows {
                let example = batch[r / c], dSum = capture.embeddingGradients[r]
                var sums: [Int32: [Float]] = [:]
                for (t, id) in example.ids.enumerated() {
                    var v = sums[id] ?? [Float](repeating: 0, count: h)
                    for j in 0..<h { v[j] += dSum[t * h + j] }
                    sums[id] = v
                }
                for (id, v) in sums { wordRows[id, default: []].append((r, v)) }
            }
            word = wordKernel(wordRows, rows: rows, width: h)
        }
        return assemble(n, word: word, kernels: kernels, features: features, logits: logits, passes: passes)
    }

    /// The budget-bounded path: per chunk of groups, one backward pass per (example, class) row
    /// at batch 1, copying the chunk's gradients into the Jacobian block.
    func byRecomputation(_ batch: [Example]) throws -> NeuralTangentKernel {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize
        let rows = n * c
        let layout = model.layout
        let (wordGroup, dense) = ParameterGroup.groups(for: layout)
        let workspace = model.makeWorkspace(maxBatchSize: 1, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        let gradient = FloatBuffer(count: model.parameterCount)
        let dFeatures = FloatBuffer(count: h)
        let p = parameters.pointer
        var features = [Float](repeating: 0, count: n * h), logits = [Float](repeating: 0, count: n * c)
        var kernels = [String: [Float]]()
        var passes = 0
        var word: [Float]?

        let plan = try chunks(dense, rows: rows, budget: memoryBudget)
        let jacobian = FloatBuffer(count: rows * (plan.map { $0.reduce(0) { $0 + $1.range.count } }.max() ?? 0))
        for (chunkIndex, chunk) in plan.enumerated() {
            let width = chunk.reduce(0) { $0 + $1.range.count }
            // Sparse word-embedding gradients, collected on the first pass: token id → (row, gradient row).
            var wordRows: [Int32: [(row: Int, values: [Float])]] = [:]
            gradient.zero()  // what the previous chunk left to accumulate
            // Weight gradients only for this chunk's pieces (and the word rows, read on the first chunk).
            let scope: GradientScope = layout.lora != nil ? .headAndLoRA
                : .ranges(chunk.map(\.range) + (chunkIndex == 0 ? wordGroup?.ranges ?? [] : []))
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
                    for r in chunk.map(\.range) {
                        (jacobian.pointer + row * width + column).update(from: gradient.pointer + r.lowerBound, count: r.count)
                        (gradient.pointer + r.lowerBound).update(repeating: 0, count: r.count)
                        column += r.count
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
            accumulateKernels(chunk, jacobian: jacobian, rows: rows, into: &kernels)
            if chunkIndex == 0, wordGroup != nil { word = wordKernel(wordRows, rows: rows, width: h) }
        }
        return assemble(n, word: word, kernels: kernels, features: features, logits: logits, passes: passes)
    }
}
