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
    /// Seconds per phase, in order: where the time went.
    public var phases: [(name: String, seconds: Double)] = []
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
    case noExamples

    public var description: String {
        switch self {
        case .noExamples:
            return "the NTK needs at least one example"
        case let .budgetTooSmall(needed, budget):
            return "the NTK needs at least \(NTKBudget.mib(bytes: needed)) MiB for one parameter group's Jacobian block; the budget is \(NTKBudget.mib(bytes: budget)) MiB"
        }
    }
}

/// Computes `NeuralTangentKernel`s for one model and parameter vector.
public struct NTKComputer {
    public let model: BertClassifier
    public let parameters: FloatBuffer
    /// Bytes the computation may hold: the captured activations, Jacobian slabs and partial
    /// kernels; when those do not fit, Jacobian chunks of parameter groups, recomputing the
    /// backward passes for each chunk rather than exceeding it.
    public var memoryBudget: Int
    /// Which dense weights the captured path computes from token Gram matrices.
    var gramRule = GramRule.whenCheaper
    /// Tokens per run of examples on the Gram route: 256 keeps a pair of runs' Gram matrices
    /// (about 1.3 MB at C = 2) in cache for the reduction that follows.
    var gramRunTokens = 256

    public init(model: BertClassifier, parameters: FloatBuffer, memoryBudget: Int = NTKBudget.bytes(mib: NTKBudget.defaultMiB)) {
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

    /// The kernel over `batch` (each example unpadded). When the per-example captures leave
    /// room in the budget for each thread's slab of J (at least one output row of the widest
    /// captured weight), one batched backward pass per class gives every row of J
    /// (`fromCaptures`); otherwise each budget-sized chunk of parameter groups re-runs the
    /// backward passes one (example, class) row at a time (`byRecomputation`).
    public func compute(_ batch: [Example]) throws -> NeuralTangentKernel {
        guard !batch.isEmpty else { throw NTKError.noExamples }
        if let slabColumns = slabColumns(for: batch) {
            return try fromCaptures(batch, slabColumns: slabColumns)
        }
        return try byRecomputation(batch)
    }

    /// Columns of J a slab holds in the captured path: a few output rows of one weight. About
    /// 100 MB at 500 rows keeps `ssyrk` at its full rate (wider slabs only touch more memory).
    static let preferredSlabColumns = 24_576

    /// The captured path's slab width within the budget, or nil when it does not fit.
    func slabColumns(for batch: [Example]) -> Int? {
        let rows = batch.count * model.config.classCount
        let free = memoryBudget - captureBytes(for: batch)
        let fitting = min(Self.preferredSlabColumns, free / (max(1, model.threads) * rows * 4))
        return fitting >= capturedSites.map(\.inFeatures).max() ?? 0 ? fitting : nil
    }

    /// What the captured path holds besides its slabs: the captures, and every thread's
    /// partial kernels (one rows × rows block per group: large for thousands of rows).
    func captureBytes(for batch: [Example]) -> Int {
        let rows = batch.count * model.config.classCount, groups = ParameterGroup.groups(for: model.layout).dense.count
        return JacobianCapture.bytes(sites: capturedSites, tokens: batch.reduce(0) { $0 + $1.ids.count }, rows: rows,
                                     classes: model.config.classCount, columns: vectorColumns(for: batch))
            + max(1, model.threads) * groups * rows * rows * 4
    }

    /// The dense layers whose weights' rows of J are GEMMs of captured activations: per layer
    /// the backbone's four, or with LoRA each adapter's A (hidden → rank) and B (rank → hidden).
    var capturedSites: [(weight: Int, inFeatures: Int, outFeatures: Int)] {
        let (h, i) = (model.config.hiddenSize, model.config.intermediateSize)
        if let lora = model.layout.lora {
            return model.layout.adapters.flatMap { $0.flatMap { [($0.a.offset, h, lora.rank), ($0.b.offset, lora.rank, h)] } }
        }
        return model.layout.layers.flatMap { [($0.query.offset, h, 3 * h), ($0.attentionOutput.offset, h, h), ($0.intermediate.offset, h, i), ($0.output.offset, i, h)] }
    }

    var denseWeights: Set<Int> { Set(capturedSites.map(\.weight)) }

    func vectorColumns(for batch: [Example]) -> VectorColumns {
        VectorColumns(groups: ParameterGroup.groups(for: model.layout).dense, denseWeights: denseWeights, position: model.layout.embeddings.position,
                      hidden: model.config.hiddenSize, positions: batch.map(\.ids.count).max() ?? 0)
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

    /// The word-embedding block from sparse rows: token id → (Jacobian row, gradient of that
    /// table row), the rows in ascending order. Per id, the rows that contain it times their
    /// transpose; ids in ascending order, so the sum is the same in every process.
    func wordKernel(_ wordRows: [Int32: [(row: Int, values: [Float])]], rows: Int, width h: Int) -> [Float] {
        var word = [Float](repeating: 0, count: rows * rows)
        for id in wordRows.keys.sorted() {
            let entries = wordRows[id]!, m = entries.count
            let stacked = entries.flatMap(\.values)
            var gram = [Float](repeating: 0, count: m * m)
            BLAS.syrk(n: m, k: h, a: stacked, lda: h, beta: 0, c: &gram)
            for (i, a) in entries.enumerated() {
                for (j, b) in entries.enumerated() { word[a.row * rows + b.row] += gram[i * m + j] }
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
