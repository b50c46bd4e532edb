import Compute

/// How the features φ(x) read the encoder's final hidden states.
public enum Pooling: String, CaseIterable, Sendable {
    /// The first token's ([CLS], RoBERTa's `<s>`): the paper's classifier.
    case cls
    /// The mean over the sequence's tokens: how sentence-embedding models such as
    /// all-MiniLM-L6-v2 were trained to summarise a text.
    case mean
}

/// A BERT-family encoder (BERT, RoBERTa: see `ModelFamily`) with a single linear head on the
/// pooled final hidden states: f(x) = V·φ(x) + b, with no pooler and no tanh (the paper's
/// classifier, whose φ is the first token's state; see `Pooling`).
///
/// The model holds no weights: `forward` and `backward` take pointers into a flat parameter
/// buffer laid out by `layout`, and a `BertWorkspace` that carries the activations from one
/// to the other. Each op is a forward/backward pair from `Compute`; the passes below read
/// top to bottom like the equations.
public struct BertClassifier: Sendable {
    public let config: BertConfig
    public let layout: BertLayout
    /// Threads for the attention block (parallel over batch × head) and sized scratch.
    public let threads: Int
    /// What φ(x) reads: with `.cls` the last layer runs past its keys and values for the first
    /// tokens only; with `.mean` it runs for every token.
    public let pooling: Pooling

    /// Dropout site ids, mixed into the step's random stream so every site draws independently.
    enum DropoutSite {
        static let embeddings: UInt64 = 0
        static func attentionProbs(_ l: Int) -> UInt64 { UInt64(1 + 3 * l) }
        static func attentionOutput(_ l: Int) -> UInt64 { UInt64(2 + 3 * l) }
        static func feedForwardOutput(_ l: Int) -> UInt64 { UInt64(3 + 3 * l) }
        static let head: UInt64 = 1 << 32
    }

    /// - Parameter lora: adapters to add (their parameters are stored after the head).
    public init(config: BertConfig, lora: LoRAConfig? = nil, threads: Int = 1, pooling: Pooling = .cls) throws {
        try config.validate()
        if let lora {
            guard lora.rank > 0, lora.alpha > 0, !lora.targets.isEmpty, Set(lora.targets).count == lora.targets.count else {
                throw ModelError.invalidConfig("LoRA needs rank > 0, alpha > 0 and distinct targets, got \(lora)")
            }
        }
        self.config = config
        layout = BertLayout(config, lora: lora)
        self.threads = max(1, threads)
        self.pooling = pooling
    }

    public var parameterCount: Int { layout.parameters.count }

    public func makeWorkspace(maxBatchSize: Int, maxSequenceLength: Int) -> BertWorkspace {
        BertWorkspace(config: config, lora: layout.lora, maxBatchSize: maxBatchSize, maxSequenceLength: maxSequenceLength, threads: threads)
    }

    // MARK: - Forward

    /// Runs the classifier on `batch`; the logits are left in `workspace.logits` and
    /// the features φ(x) in `workspace.features`.
    ///
    /// - Parameter dropout: the step's random stream to train with dropout, or nil for eval mode.
    public func forward(_ parameters: UnsafePointer<Float>, _ batch: TokenBatch, workspace ws: BertWorkspace, dropout: RandomStream? = nil) throws {
        try BLAS.withSingleThread { try forwardAll(parameters, batch, ws, dropout: dropout) }
    }

    /// Runs the encoder only, leaving φ(x) in `workspace.features`.
    ///
    /// - Parameter everyToken: run the last layer for every token, so that
    ///   `workspace.finalHiddenStates` holds them all; by default it runs past its keys and
    ///   values only for the tokens φ(x) reads (the first ones, with `.cls` pooling).
    public func encode(_ parameters: UnsafePointer<Float>, _ batch: TokenBatch, workspace ws: BertWorkspace, dropout: RandomStream? = nil,
                       everyToken: Bool = false) throws {
        try BLAS.withSingleThread { try encodeAll(parameters, batch, ws, dropout: dropout, everyToken: everyToken) }
    }

    // OpenBLAS stays single-threaded inside the passes: `threads` parallelises them instead (see `Linear`).
    private func forwardAll(_ parameters: UnsafePointer<Float>, _ batch: TokenBatch, _ ws: BertWorkspace, dropout: RandomStream?) throws {
        try encodeAll(parameters, batch, ws, dropout: dropout, everyToken: false)
        var timer = SectionTimer()
        let (b, h, c) = (batch.batchSize, config.hiddenSize, config.classCount)
        ws.headInput.pointer.update(from: ws.features.pointer, count: b * h)
        if let dropout, config.hiddenDropout > 0 {
            Dropout.makeMask(ws.headMask.pointer, count: b * h, p: config.hiddenDropout, stream: dropout.derived(DropoutSite.head), threads: threads)
            Dropout.apply(ws.headInput.pointer, mask: ws.headMask.pointer, count: b * h, threads: threads)
        }
        timer.charge(\.elementwise, to: &ws.profile)
        Linear.forward(ws.headInput.pointer, weight: parameters + layout.head.weight.offset, bias: parameters + layout.head.bias.offset,
                       ws.logits.pointer, rows: b, inFeatures: h, outFeatures: c, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
    }

    private func encodeAll(_ p: UnsafePointer<Float>, _ batch: TokenBatch, _ ws: BertWorkspace, dropout: RandomStream?, everyToken: Bool) throws {
        guard ws.fits(batch) else {
            throw ModelError.invalidBatch("batch \(batch.batchSize)×\(batch.sequenceLength) exceeds the workspace's \(ws.maxBatchSize)×\(ws.maxSequenceLength)")
        }
        try batch.validate(for: config)
        let h = config.hiddenSize
        ws.load(batch, heads: config.headCount, maxPositions: config.maxPositions)
        ws.positionRows = config.positionRows(batch)
        ws.training = dropout != nil
        ws.firstTokensOnly = !everyToken && pooling == .cls
        ws.pooling = pooling
        let n = ws.tokenCount

        var timer = SectionTimer()
        let e = layout.embeddings
        for row in 0..<n {
            Elementwise.sum(p + e.word.offset + Int(ws.batch.inputIDs[row]) * h,
                            p + e.position.offset + positionRow(row, ws) * h,
                            p + e.tokenType.offset + Int(ws.batch.tokenTypeIDs[row]) * h,
                            into: ws.embeddingSum.pointer + row * h, count: h)
        }
        LayerNorm.forward(ws.embeddingSum.pointer, gamma: p + e.normWeight.offset, beta: p + e.normBias.offset,
                          ws.hidden[0].pointer, mean: ws.embeddingMean.pointer, rstd: ws.embeddingRstd.pointer,
                          rows: n, width: h, eps: config.layerNormEps, threads: threads)
        if let dropout, config.hiddenDropout > 0 {
            hiddenDropout(ws.hidden[0].pointer, mask: ws.embeddingMask.pointer, rows: n, keys: ws.dropoutKeys.baseAddress!,
                          stream: dropout.derived(DropoutSite.embeddings))
        }
        timer.charge(\.elementwise, to: &ws.profile)

        for l in 0..<config.layerCount {
            layerForward(l, p, ws, dropout: dropout)
        }
        let last = ws.hidden[config.layerCount].pointer
        for b in 0..<ws.batchSize {
            let feature = ws.features.pointer + b * h
            switch pooling {
            case .cls:
                feature.update(from: last + (ws.firstTokensOnly ? b : ws.sequenceOffsets[b]) * h, count: h)
            case .mean:
                let tokens = ws.sequenceOffsets[b]..<ws.sequenceOffsets[b + 1]
                feature.update(repeating: 0, count: h)
                for row in tokens { Elementwise.add(last + row * h, into: feature, count: h) }
                Elementwise.scale(feature, by: 1 / Float(tokens.count), into: feature, count: h)
            }
        }
    }

    /// The row of the position table packed token `row` reads (``BertConfig/positionRows(_:)``).
    private func positionRow(_ row: Int, _ ws: BertWorkspace) -> Int {
        Int(ws.positionRows[row])
    }

    /// Whether layer l runs past its keys and values for the first tokens only: the last layer
    /// of a pass that feeds the head, where no other token's output reaches φ(x).
    private func isFirstTokensOnly(_ l: Int, _ ws: BertWorkspace) -> Bool {
        ws.firstTokensOnly && l == config.layerCount - 1
    }

    /// Hidden-state dropout over the packed tokens, in place; each token's draws are keyed by
    /// (sequence, position), so they do not depend on the batch's layout.
    private func hiddenDropout(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, rows n: Int, keys: UnsafePointer<UInt64>,
                               stream: RandomStream) {
        let h = config.hiddenSize
        Dropout.makeMask(mask, rows: n, width: h, rowKeys: keys, p: config.hiddenDropout, stream: stream, threads: threads)
        Dropout.apply(x, mask: mask, count: n * h, threads: threads)
    }

    private func layerForward(_ l: Int, _ p: UnsafePointer<Float>, _ ws: BertWorkspace, dropout: RandomStream?) {
        let w = layout.layers[l], cache = ws.layers[l]
        let (n, h, inter) = (ws.tokenCount, config.hiddenSize, config.intermediateSize)
        let x = ws.hidden[l].pointer
        var timer = SectionTimer()
        // Past the attention the rows are every token, or in the head's last layer each sequence's
        // first (queries of the other tokens are computed with the fused projection, but unused).
        let firstOnly = isFirstTokensOnly(l, ws)
        let m = firstOnly ? ws.batchSize : n
        let keys = UnsafePointer(firstOnly ? ws.firstTokenKeys.baseAddress! : ws.dropoutKeys.baseAddress!)

        /// `out = LayerNorm(input + dropout(sublayer))`, where `sublayer` already sits in `residual`.
        func residualNorm(_ input: UnsafePointer<Float>, residual: FloatBuffer, mask: FloatBuffer, site: UInt64, weight: ParameterView, bias: ParameterView,
                          mean: FloatBuffer, rstd: FloatBuffer, out: UnsafeMutablePointer<Float>) {
            if let dropout, config.hiddenDropout > 0 {
                hiddenDropout(residual.pointer, mask: mask.pointer, rows: m, keys: keys, stream: dropout.derived(site))
            }
            Elementwise.add(input, into: residual.pointer, count: m * h, threads: threads)
            LayerNorm.forward(residual.pointer, gamma: p + weight.offset, beta: p + bias.offset, out, mean: mean.pointer, rstd: rstd.pointer,
                              rows: m, width: h, eps: config.layerNormEps, threads: threads)
        }

        Linear.forward(x, weight: p + w.qkvOffset, bias: p + w.qkvBiasOffset, cache.qkv.pointer, rows: n, inFeatures: h, outFeatures: 3 * h, threads: threads)
        loraForward(l, p, x, cache, rows: n)
        timer.charge(\.linearGEMM, to: &ws.profile)
        attentionForward(cache, ws, firstTokensOnly: firstOnly, dropout: dropout?.derived(DropoutSite.attentionProbs(l)))
        timer.charge(\.attention, to: &ws.profile)
        Linear.forward(cache.context.pointer, weight: p + w.attentionOutput.offset, bias: p + w.attentionOutputBias.offset,
                       cache.residual1.pointer, rows: m, inFeatures: h, outFeatures: h, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        var residualInput = UnsafePointer(x)
        if firstOnly {
            for b in 0..<m { (ws.firstTokenInput.pointer + b * h).update(from: x + ws.sequenceOffsets[b] * h, count: h) }
            residualInput = UnsafePointer(ws.firstTokenInput.pointer)
        }
        residualNorm(residualInput, residual: cache.residual1, mask: cache.attentionOutputMask, site: DropoutSite.attentionOutput(l),
                     weight: w.attentionNormWeight, bias: w.attentionNormBias, mean: cache.mean1, rstd: cache.rstd1, out: cache.normed1.pointer)
        timer.charge(\.elementwise, to: &ws.profile)

        Linear.forward(cache.normed1.pointer, weight: p + w.intermediate.offset, bias: p + w.intermediateBias.offset,
                       cache.intermediate.pointer, rows: m, inFeatures: h, outFeatures: inter, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        GELU.forward(cache.intermediate.pointer, cache.activated.pointer, count: m * inter, threads: threads)
        timer.charge(\.elementwise, to: &ws.profile)
        Linear.forward(cache.activated.pointer, weight: p + w.output.offset, bias: p + w.outputBias.offset,
                       cache.residual2.pointer, rows: m, inFeatures: inter, outFeatures: h, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        residualNorm(cache.normed1.pointer, residual: cache.residual2, mask: cache.outputMask, site: DropoutSite.feedForwardOutput(l),
                     weight: w.outputNormWeight, bias: w.outputNormBias, mean: cache.mean2, rstd: cache.rstd2, out: ws.hidden[l + 1].pointer)
        timer.charge(\.elementwise, to: &ws.profile)
    }

    /// Adds (α/r)·(x Aᵀ) Bᵀ to each adapted projection, keeping x Aᵀ for the backward pass.
    private func loraForward(_ l: Int, _ p: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ cache: BertWorkspace.LayerCache, rows n: Int) {
        guard let lora = layout.lora else { return }
        let (h, r) = (config.hiddenSize, lora.rank)
        for (k, adapter) in layout.adapters[l].enumerated() {
            let xa = cache.loraHidden.pointer + k * n * r
            Linear.forward(x, weight: p + adapter.a.offset, bias: nil, xa, rows: n, inFeatures: h, outFeatures: r, threads: threads)
            let column = adapter.target.qkvColumn(hidden: h)
            parallelChunks(n, threads: threads) { _, rows in
                BLAS.gemm(transposeB: true, m: rows.count, n: h, k: r, alpha: lora.scale, a: xa + rows.lowerBound * r, lda: r,
                          b: p + adapter.b.offset, ldb: r, beta: 1, c: cache.qkv.pointer + rows.lowerBound * 3 * h + column, ldc: 3 * h)
            }
        }
    }

    /// From ∂/∂(adapted projections) in gradQKV: the adapters' gradients, and their share of ∂/∂x added to gradA.
    private func loraBackward(_ l: Int, _ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ cache: BertWorkspace.LayerCache,
                              _ ws: BertWorkspace, rows n: Int, tap: BackwardTap?) {
        guard let lora = layout.lora else { return }
        let (h, r) = (config.hiddenSize, lora.rank)
        let x = ws.hidden[l].pointer, dXA = ws.gradLoRA.pointer
        for (k, adapter) in layout.adapters[l].enumerated() {
            let xa = cache.loraHidden.pointer + k * n * r
            let dOut = ws.gradQKV.pointer + adapter.target.qkvColumn(hidden: h)
            // dB += s · dOutᵀ (x Aᵀ), split by rows of B; d(x Aᵀ) = s · dOut B, split by tokens.
            parallelChunks(h, threads: threads) { _, o in
                BLAS.gemm(transposeA: true, m: o.count, n: r, k: n, alpha: lora.scale, a: dOut + o.lowerBound, lda: 3 * h,
                          b: xa, ldb: r, beta: 1, c: g + adapter.b.offset + o.lowerBound * r, ldc: r)
            }
            parallelChunks(n, threads: threads) { _, rows in
                BLAS.gemm(m: rows.count, n: r, k: h, alpha: lora.scale, a: dOut + rows.lowerBound * 3 * h, lda: 3 * h,
                          b: p + adapter.b.offset, ldb: r, c: dXA + rows.lowerBound * r, ldc: r)
            }
            if let tap {
                let scaled = FloatBuffer(count: n * r)
                for i in 0..<(n * r) { scaled[i] = lora.scale * xa[i] }
                tap.dense(weight: adapter.b.range, bias: nil, dY: dOut, dYStride: 3 * h, x: scaled.pointer, inFeatures: r, outFeatures: h,
                          firstTokensOnly: false)
                tap.dense(weight: adapter.a.range, bias: nil, dY: dXA, dYStride: r, x: x, inFeatures: h, outFeatures: r, firstTokensOnly: false)
            }
            // Through A: dA += d(xAᵀ)ᵀ x, dx += d(xAᵀ) A.
            Linear.backward(dXA, x: x, weight: p + adapter.a.offset, dx: ws.gradA.pointer, accumulateInput: true,
                            dWeight: g + adapter.a.offset, dBias: nil, rows: n, inFeatures: h, outFeatures: r, threads: threads)
        }
    }

    /// Where one (sequence, head) block of the attention lives in the QKV, context and score buffers.
    private struct HeadBlock {
        let query, key, value: Int  // offsets into qkv, leading dimension 3h
        let context: Int            // offset into context, leading dimension h
        let scores: Int             // offset into probs, [queries, length]
        /// The sequence's own length (its block attends over no padding), and the query rows:
        /// all its tokens, or its first only (then its context is row `sequence`, compact).
        let length, queries: Int

        init(_ index: Int, heads: Int, _ ws: BertWorkspace, h: Int, headSize: Int, firstTokensOnly: Bool) {
            let sequence = index / heads, head = index % heads
            let first = ws.sequenceOffsets[sequence]
            length = ws.batch.length(sequence)
            queries = firstTokensOnly ? 1 : length
            query = first * 3 * h + head * headSize
            key = query + h
            value = query + 2 * h
            context = (firstTokensOnly ? sequence : first) * h + head * headSize
            scores = ws.scoreOffsets[sequence] + head * queries * length
        }
    }

    /// softmax(Q Kᵀ/√d) V per (sequence, head), in parallel with BLAS single-threaded.
    private func attentionForward(_ cache: BertWorkspace.LayerCache, _ ws: BertWorkspace, firstTokensOnly: Bool, dropout: RandomStream?) {
        let (h, heads, d) = (config.hiddenSize, config.headCount, config.headSize)
        let scratch = ws.maxSequenceLength * ws.maxSequenceLength
        let scale = 1 / Float(d).squareRoot()
        let p = config.attentionDropout
        let (qkv, probs, probsMask, context) = (cache.qkv.pointer, cache.probs.pointer, cache.probsMask.pointer, cache.context.pointer)
        parallelChunks(ws.batchSize * heads, threads: threads) { worker, range in
            let dropped = ws.attentionScratch.pointer + worker * 2 * scratch
            for index in range {
                let blk = HeadBlock(index, heads: heads, ws, h: h, headSize: d, firstTokensOnly: firstTokensOnly)
                let (q, t, s) = (blk.queries, blk.length, probs + blk.scores)
                BLAS.gemm(transposeB: true, m: q, n: t, k: d, alpha: scale, a: qkv + blk.query, lda: 3 * h,
                          b: qkv + blk.key, ldb: 3 * h, c: s, ldc: t)
                Softmax.forward(s, rows: q, cols: t)
                var weights = UnsafePointer(s)
                if let dropout, p > 0 {
                    // Indexing the stream by the block's (sequence, head) keeps masks independent of chunking;
                    // query row i draws at i·length + j, so the first row's draws are the same either way.
                    let m = probsMask + blk.scores
                    Dropout.makeMask(m, count: q * t, p: p, stream: dropout.derived(UInt64(index)))
                    Elementwise.multiply(s, m, into: dropped, count: q * t)
                    weights = UnsafePointer(dropped)
                }
                BLAS.gemm(m: q, n: d, k: t, a: weights, lda: t, b: qkv + blk.value, ldb: 3 * h, c: context + blk.context, ldc: h)
            }
        }
    }

    // MARK: - Backward

    /// Back-propagates ∂loss/∂logits (`dLogits`, [batch, classes]) from the last forward pass,
    /// adding every parameter's gradient into `gradients` (same layout as the parameters).
    ///
    /// - Parameter scope: which parameters get gradients; frozen ones are skipped entirely.
    public func backward(_ p: UnsafePointer<Float>, dLogits: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                         workspace ws: BertWorkspace, scope: GradientScope = .all) {
        BLAS.withSingleThread { backwardAll(p, dLogits: dLogits, gradients: g, ws, scope: scope) }
    }

    /// Back-propagates ∂/∂φ(x) (`dFeatures`, [batch, hidden]) through the encoder, adding the
    /// backbone's gradients into `gradients`. One such pass per head row is one NTK VJP.
    ///
    /// - Parameter tap: observes every op's gradients on the way down; with a tap the pass goes
    ///   all the way to the embeddings whatever the scope.
    public func encoderBackward(_ p: UnsafePointer<Float>, dFeatures: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                                workspace ws: BertWorkspace, scope: GradientScope = .all, tap: BackwardTap? = nil) {
        BLAS.withSingleThread { encoderBackwardAll(p, dFeatures: dFeatures, gradients: g, ws, scope: scope, tap: tap) }
    }

    private func backwardAll(_ p: UnsafePointer<Float>, dLogits: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                             _ ws: BertWorkspace, scope: GradientScope) {
        let backbone = scope != .head
        var timer = SectionTimer()
        let (b, h, c) = (ws.batchSize, config.hiddenSize, config.classCount)
        let head = layout.head
        Linear.backward(dLogits, x: ws.headInput.pointer, weight: p + head.weight.offset,
                        dx: backbone ? ws.featureGradient.pointer : nil,
                        dWeight: g + head.weight.offset, dBias: g + head.bias.offset, rows: b, inFeatures: h, outFeatures: c, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        guard backbone else { return }
        if ws.training, config.hiddenDropout > 0 {
            Dropout.apply(ws.featureGradient.pointer, mask: ws.headMask.pointer, count: b * h, threads: threads)
        }
        timer.charge(\.elementwise, to: &ws.profile)
        encoderBackwardAll(p, dFeatures: ws.featureGradient.pointer, gradients: g, ws, scope: scope, tap: nil)
    }

    /// Weights outside `scope` get no gradient work (LoRA adapters always do); the pass stops
    /// before the embeddings when none of their tensors is in scope.
    private func encoderBackwardAll(_ p: UnsafePointer<Float>, dFeatures: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                                    _ ws: BertWorkspace, scope: GradientScope, tap: BackwardTap?) {
        var timer = SectionTimer()
        let (n, h) = (ws.tokenCount, config.hiddenSize)
        // With `.cls` only the first token of each sequence reaches the head (a first-tokens-only
        // last layer keeps them compact); with `.mean` every token gets 1/length of ∂/∂φ.
        precondition(ws.pooling == pooling, "the workspace's forward pass pooled by \(ws.pooling), this model by \(pooling)")
        let dHidden = ws.gradA.pointer
        if ws.firstTokensOnly {
            dHidden.update(from: dFeatures, count: ws.batchSize * h)
        } else {
            if pooling == .cls { dHidden.update(repeating: 0, count: n * h) }
            for b in 0..<ws.batchSize {
                let tokens = ws.sequenceOffsets[b]..<ws.sequenceOffsets[b + 1]
                switch pooling {
                case .cls:
                    (dHidden + tokens.lowerBound * h).update(from: dFeatures + b * h, count: h)
                case .mean:
                    let share = dHidden + tokens.lowerBound * h
                    Elementwise.scale(dFeatures + b * h, by: 1 / Float(tokens.count), into: share, count: h)
                    for row in tokens.dropFirst() { (dHidden + row * h).update(from: share, count: h) }
                }
            }
        }
        timer.charge(\.elementwise, to: &ws.profile)
        let e = layout.embeddings
        let embeddingsInScope = [e.word, e.position, e.tokenType, e.normWeight, e.normBias].contains(where: scope.includes)
        // Below the lowest layer with a parameter in scope nothing is needed (the NTK's chunks of upper layers).
        let lowest = embeddingsInScope || layout.lora != nil || tap != nil ? 0
            : layout.layers.firstIndex { w in scope.includes(w.query.offset..<(w.outputNormBias.offset + w.outputNormBias.count)) } ?? config.layerCount
        for l in stride(from: config.layerCount - 1, through: lowest, by: -1) {
            layerBackward(l, p, g, ws, scope: scope, tap: tap)
        }
        guard embeddingsInScope || tap != nil else { return }
        timer = SectionTimer()
        // Embeddings: dropout, LayerNorm, then scatter rows into the three tables.
        if ws.training, config.hiddenDropout > 0 {
            Dropout.apply(dHidden, mask: ws.embeddingMask.pointer, count: n * h, threads: threads)
        }
        tap?.layerNorm(weight: e.normWeight, bias: e.normBias, dY: dHidden, x: ws.embeddingSum.pointer,
                       mean: ws.embeddingMean.pointer, rstd: ws.embeddingRstd.pointer, width: h, firstTokensOnly: false)
        LayerNorm.backward(dHidden, ws.embeddingSum.pointer, mean: ws.embeddingMean.pointer, rstd: ws.embeddingRstd.pointer,
                           gamma: p + e.normWeight.offset, dHidden,
                           dGamma: scope.includes(e.normWeight) ? g + e.normWeight.offset : nil, dBeta: scope.includes(e.normBias) ? g + e.normBias.offset : nil,
                           rows: n, width: h, threads: threads)
        tap?.embeddingSum(dHidden)
        for (view, index) in [(e.word, { (row: Int) in Int(ws.batch.inputIDs[row]) }), (e.position, { positionRow($0, ws) }), (e.tokenType, { Int(ws.batch.tokenTypeIDs[$0]) })]
            where scope.includes(view) {
            for row in 0..<n { Elementwise.add(dHidden + row * h, into: g + view.offset + index(row) * h, count: h) }
        }
        timer.charge(\.elementwise, to: &ws.profile)
    }

    /// Layer l backward. On entry gradA holds ∂/∂(layer output) (compact first tokens in a
    /// first-tokens-only layer); on exit ∂/∂(layer input), every token.
    private func layerBackward(_ l: Int, _ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ ws: BertWorkspace, scope: GradientScope,
                               tap: BackwardTap?) {
        // For weights out of scope, nil gradient pointers make the kernels skip that work.
        func grad(_ view: ParameterView) -> UnsafeMutablePointer<Float>? { scope.includes(view) ? g + view.offset : nil }
        let w = layout.layers[l], cache = ws.layers[l]
        let (n, h, inter) = (ws.tokenCount, config.hiddenSize, config.intermediateSize)
        let dropout = ws.training && config.hiddenDropout > 0
        let dA = ws.gradA.pointer, dB = ws.gradB.pointer
        var timer = SectionTimer()
        let firstOnly = isFirstTokensOnly(l, ws)
        let m = firstOnly ? ws.batchSize : n

        /// Through `LayerNorm(x + dropout(sublayer))`: dA becomes ∂/∂(x + …), the residual path's
        /// gradient, and the returned pointer holds ∂/∂sublayer (dA itself without dropout).
        func normBackward(residual: FloatBuffer, mean: FloatBuffer, rstd: FloatBuffer, weight: ParameterView, bias: ParameterView,
                          mask: FloatBuffer) -> UnsafePointer<Float> {
            tap?.layerNorm(weight: weight, bias: bias, dY: dA, x: residual.pointer, mean: mean.pointer, rstd: rstd.pointer, width: h,
                           firstTokensOnly: firstOnly)
            LayerNorm.backward(dA, residual.pointer, mean: mean.pointer, rstd: rstd.pointer, gamma: p + weight.offset, dA,
                               dGamma: grad(weight), dBeta: grad(bias), rows: m, width: h, threads: threads)
            guard dropout else { return UnsafePointer(dA) }
            Elementwise.multiply(dA, mask.pointer, into: dB, count: m * h, threads: threads)
            return UnsafePointer(dB)
        }

        let dFFN = normBackward(residual: cache.residual2, mean: cache.mean2, rstd: cache.rstd2,
                                weight: w.outputNormWeight, bias: w.outputNormBias, mask: cache.outputMask)
        timer.charge(\.elementwise, to: &ws.profile)
        tap?.dense(weight: w.output.range, bias: w.outputBias.range, dY: dFFN, dYStride: h, x: cache.activated.pointer, inFeatures: inter, outFeatures: h,
                   firstTokensOnly: firstOnly)
        Linear.backward(dFFN, x: cache.activated.pointer, weight: p + w.output.offset, dx: ws.gradIntermediate.pointer,
                        dWeight: grad(w.output), dBias: grad(w.outputBias), rows: m, inFeatures: inter, outFeatures: h, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        GELU.backward(ws.gradIntermediate.pointer, cache.intermediate.pointer, ws.gradIntermediate.pointer, count: m * inter, threads: threads)
        timer.charge(\.elementwise, to: &ws.profile)
        tap?.dense(weight: w.intermediate.range, bias: w.intermediateBias.range, dY: ws.gradIntermediate.pointer, dYStride: inter,
                   x: cache.normed1.pointer, inFeatures: h, outFeatures: inter, firstTokensOnly: firstOnly)
        // dA already holds the residual path's share of ∂/∂normed1; the FFN's share is added to it.
        Linear.backward(ws.gradIntermediate.pointer, x: cache.normed1.pointer, weight: p + w.intermediate.offset,
                        dx: dA, accumulateInput: true, dWeight: grad(w.intermediate), dBias: grad(w.intermediateBias),
                        rows: m, inFeatures: h, outFeatures: inter, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)

        let dAttention = normBackward(residual: cache.residual1, mean: cache.mean1, rstd: cache.rstd1,
                                      weight: w.attentionNormWeight, bias: w.attentionNormBias, mask: cache.attentionOutputMask)
        timer.charge(\.elementwise, to: &ws.profile)
        tap?.dense(weight: w.attentionOutput.range, bias: w.attentionOutputBias.range, dY: dAttention, dYStride: h,
                   x: cache.context.pointer, inFeatures: h, outFeatures: h, firstTokensOnly: firstOnly)
        Linear.backward(dAttention, x: cache.context.pointer, weight: p + w.attentionOutput.offset, dx: ws.gradContext.pointer,
                        dWeight: grad(w.attentionOutput), dBias: grad(w.attentionOutputBias), rows: m, inFeatures: h, outFeatures: h, threads: threads)
        timer.charge(\.linearGEMM, to: &ws.profile)
        attentionBackward(cache, ws, firstTokensOnly: firstOnly)
        if firstOnly {
            // The residual path's gradient reaches the first tokens' inputs only: spread it to every token's row.
            dB.update(from: dA, count: m * h)
            dA.update(repeating: 0, count: n * h)
            for b in 0..<m { (dA + ws.sequenceOffsets[b] * h).update(from: dB + b * h, count: h) }
        }
        timer.charge(\.attention, to: &ws.profile)
        tap?.dense(weight: w.query.offset..<w.value.range.upperBound, bias: w.queryBias.offset..<w.valueBias.range.upperBound,
                   dY: ws.gradQKV.pointer, dYStride: 3 * h, x: ws.hidden[l].pointer, inFeatures: h, outFeatures: 3 * h, firstTokensOnly: false)
        Linear.backward(ws.gradQKV.pointer, x: ws.hidden[l].pointer, weight: p + w.qkvOffset, dx: dA, accumulateInput: true,
                        dWeight: scope.includes(w.query.offset..<w.value.range.upperBound) ? g + w.qkvOffset : nil,
                        dBias: scope.includes(w.queryBias.offset..<w.valueBias.range.upperBound) ? g + w.qkvBiasOffset : nil,
                        rows: n, inFeatures: h, outFeatures: 3 * h, threads: threads)
        loraBackward(l, p, g, cache, ws, rows: n, tap: tap)
        timer.charge(\.linearGEMM, to: &ws.profile)
    }

    /// From ∂/∂context (gradContext) to ∂/∂(Q, K, V) (gradQKV), per (sequence, head). With
    /// `firstTokensOnly` only the first tokens' queries get a gradient; the others' stay 0.
    private func attentionBackward(_ cache: BertWorkspace.LayerCache, _ ws: BertWorkspace, firstTokensOnly: Bool) {
        let (h, heads, d) = (config.hiddenSize, config.headCount, config.headSize)
        let scratch = ws.maxSequenceLength * ws.maxSequenceLength
        let scale = 1 / Float(d).squareRoot()
        let dropout = ws.training && config.attentionDropout > 0
        let (qkv, probs, probsMask) = (cache.qkv.pointer, cache.probs.pointer, cache.probsMask.pointer)
        let (dContext, dQKV) = (ws.gradContext.pointer, ws.gradQKV.pointer)
        if firstTokensOnly { dQKV.update(repeating: 0, count: ws.tokenCount * 3 * h) }
        parallelChunks(ws.batchSize * heads, threads: threads) { worker, range in
            let dP = ws.attentionScratch.pointer + worker * 2 * scratch
            let dropped = dP + scratch
            for index in range {
                let blk = HeadBlock(index, heads: heads, ws, h: h, headSize: d, firstTokensOnly: firstTokensOnly)
                let (q, t, s) = (blk.queries, blk.length, probs + blk.scores)
                var weights = UnsafePointer(s)
                if dropout {
                    Elementwise.multiply(s, probsMask + blk.scores, into: dropped, count: q * t)
                    weights = UnsafePointer(dropped)
                }
                // dV = P'ᵀ · dC ; dP' = dC · Vᵀ
                BLAS.gemm(transposeA: true, m: t, n: d, k: q, a: weights, lda: t, b: dContext + blk.context, ldb: h,
                          c: dQKV + blk.value, ldc: 3 * h)
                BLAS.gemm(transposeB: true, m: q, n: t, k: d, a: dContext + blk.context, lda: h, b: qkv + blk.value, ldb: 3 * h,
                          c: dP, ldc: t)
                if dropout { Dropout.apply(dP, mask: probsMask + blk.scores, count: q * t) }
                Softmax.backward(s, dP, rows: q, cols: t)
                // dQ = scale · dS · K ; dK = scale · dSᵀ · Q
                BLAS.gemm(m: q, n: d, k: t, alpha: scale, a: dP, lda: t, b: qkv + blk.key, ldb: 3 * h,
                          c: dQKV + blk.query, ldc: 3 * h)
                BLAS.gemm(transposeA: true, m: t, n: d, k: q, alpha: scale, a: dP, lda: t, b: qkv + blk.query, ldb: 3 * h,
                          c: dQKV + blk.key, ldc: 3 * h)
            }
        }
    }
}
