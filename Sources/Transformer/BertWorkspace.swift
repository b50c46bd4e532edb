import Compute

/// Activations cached by the forward pass for the backward pass, and the backward pass's
/// scratch, for packed batches of up to `maxBatchSize` sequences of up to `maxSequenceLength`
/// tokens.
///
/// Allocated once and reused for every step. Token buffers hold the current batch's packed
/// tokens ([tokens, width], sequence after sequence); attention scores hold each
/// (sequence, head) block at its own length.
public final class BertWorkspace {
    /// One encoder layer's cache.
    final class LayerCache {
        let qkv, probs, probsMask, context, residual1, mean1, rstd1, attentionOutputMask: FloatBuffer
        let normed1, intermediate, activated, outputMask, residual2, mean2, rstd2: FloatBuffer
        /// x Aᵀ of each LoRA adapter, [adapter][tokens, rank].
        let loraHidden: FloatBuffer

        init(_ c: BertConfig, tokens n: Int, batchSize: Int, sequenceLength: Int, lora: LoRAConfig?) {
            let h = c.hiddenSize
            qkv = FloatBuffer(count: n * 3 * h)
            let scores = batchSize * c.headCount * sequenceLength * sequenceLength
            probs = FloatBuffer(count: scores)
            probsMask = FloatBuffer(count: scores)
            context = FloatBuffer(count: n * h)
            residual1 = FloatBuffer(count: n * h)
            mean1 = FloatBuffer(count: n)
            rstd1 = FloatBuffer(count: n)
            attentionOutputMask = FloatBuffer(count: n * h)
            normed1 = FloatBuffer(count: n * h)
            intermediate = FloatBuffer(count: n * c.intermediateSize)
            activated = FloatBuffer(count: n * c.intermediateSize)
            outputMask = FloatBuffer(count: n * h)
            residual2 = FloatBuffer(count: n * h)
            mean2 = FloatBuffer(count: n)
            rstd2 = FloatBuffer(count: n)
            loraHidden = FloatBuffer(count: n * (lora.map { $0.rank * $0.targets.count } ?? 0))
        }
    }

    public let maxBatchSize: Int
    public let maxSequenceLength: Int
    /// The batch last run forward; its shape below.
    var batch = TokenBatch.empty
    /// The row of the position table each of the batch's tokens reads.
    var positionRows: [Int32] = []
    public var batchSize: Int { batch.batchSize }
    public var tokenCount: Int { batch.tokenCount }
    /// Where each sequence starts among the packed tokens (batchSize + 1 entries).
    public var sequenceOffsets: [Int] { batch.offsets }
    /// Whether the last forward pass ran with dropout.
    public internal(set) var training = false
    /// Whether the last forward pass ran the last layer past its keys and values for each
    /// sequence's first token only (the one `.cls` pooling reads), leaving that layer's rows compact.
    public internal(set) var firstTokensOnly = false
    /// How the last forward pass pooled φ(x): the backward pass must spread ∂/∂φ the same way.
    public internal(set) var pooling = Pooling.cls

    let embeddingSum, embeddingMean, embeddingRstd, embeddingMask: FloatBuffer
    /// hidden[0] is the embedding output, hidden[l + 1] the output of layer l.
    let hidden: [FloatBuffer]
    let layers: [LayerCache]
    /// Per token, the key of its dropout draws: (sequence, position), not where it sits in the
    /// packed stream, so a token's mask is the same however the batch is laid out.
    let dropoutKeys: UnsafeMutableBufferPointer<UInt64>
    /// The first tokens' dropout keys, and the last layer's input at the first tokens, [batch, hidden].
    let firstTokenKeys: UnsafeMutableBufferPointer<UInt64>
    let firstTokenInput: FloatBuffer
    /// Per sequence, where its (sequence, head) blocks of attention scores start.
    var scoreOffsets: [Int] = [0]

    /// φ(x), pooled from the final hidden states by the model's `Pooling`, [batch, hidden].
    public let features: FloatBuffer
    let headMask, headInput: FloatBuffer
    /// The classifier's output, [batch, classes].
    public let logits: FloatBuffer

    // Backward scratch.
    let gradA, gradB, gradQKV, gradContext, gradIntermediate, gradLoRA: FloatBuffer
    /// ∂loss/∂φ(x), [batch, hidden]; the input of the encoder's backward pass.
    public let featureGradient: FloatBuffer
    let attentionScratch: FloatBuffer
    let attentionWorkers: Int

    /// Time spent per kind of work since the last `resetProfile()`.
    public var profile = StepProfile()

    public init(config c: BertConfig, lora: LoRAConfig? = nil, maxBatchSize: Int, maxSequenceLength: Int, threads: Int) {
        self.maxBatchSize = maxBatchSize
        self.maxSequenceLength = maxSequenceLength
        let n = maxBatchSize * maxSequenceLength, h = c.hiddenSize
        embeddingSum = FloatBuffer(count: n * h)
        embeddingMean = FloatBuffer(count: n)
        embeddingRstd = FloatBuffer(count: n)
        embeddingMask = FloatBuffer(count: n * h)
        hidden = (0...c.layerCount).map { _ in FloatBuffer(count: n * h) }
        layers = (0..<c.layerCount).map { _ in LayerCache(c, tokens: n, batchSize: maxBatchSize, sequenceLength: maxSequenceLength, lora: lora) }
        dropoutKeys = .allocate(capacity: n)
        firstTokenKeys = .allocate(capacity: maxBatchSize)
        firstTokenInput = FloatBuffer(count: maxBatchSize * h)
        features = FloatBuffer(count: maxBatchSize * h)
        headMask = FloatBuffer(count: maxBatchSize * h)
        headInput = FloatBuffer(count: maxBatchSize * h)
        logits = FloatBuffer(count: maxBatchSize * c.classCount)
        gradA = FloatBuffer(count: n * h)
        gradB = FloatBuffer(count: n * h)
        gradQKV = FloatBuffer(count: n * 3 * h)
        gradContext = FloatBuffer(count: n * h)
        gradIntermediate = FloatBuffer(count: n * c.intermediateSize)
        gradLoRA = FloatBuffer(count: n * (lora?.rank ?? 0))
        featureGradient = FloatBuffer(count: maxBatchSize * h)
        attentionWorkers = max(1, threads)
        attentionScratch = FloatBuffer(count: attentionWorkers * 2 * maxSequenceLength * maxSequenceLength)
    }

    deinit {
        dropoutKeys.deallocate()
        firstTokenKeys.deallocate()
    }

    public func resetProfile() { profile = StepProfile() }

    /// The encoder's final hidden states of the last forward pass, packed [tokens, hidden]:
    /// sequence b's are rows `sequenceOffsets[b] ..< sequenceOffsets[b + 1]`. Only a pass that
    /// computed every token (`encode(…, everyToken: true)`) has them.
    public var finalHiddenStates: UnsafeBufferPointer<Float> {
        precondition(!firstTokensOnly, "the last pass computed the first tokens only: encode with everyToken: true")
        let last = hidden[hidden.count - 1]
        return UnsafeBufferPointer(start: last.pointer, count: tokenCount * (last.count / (maxBatchSize * maxSequenceLength)))
    }

    func fits(_ batch: TokenBatch) -> Bool {
        batch.batchSize <= maxBatchSize && batch.sequenceLength <= maxSequenceLength
    }

    /// Takes `batch`'s packed layout.
    func load(_ batch: TokenBatch, heads: Int, maxPositions: Int) {
        self.batch = batch
        scoreOffsets = [0]
        for b in 0..<batch.batchSize {
            let length = batch.length(b)
            scoreOffsets.append(scoreOffsets[b] + heads * length * length)
            for i in batch.offsets[b]..<batch.offsets[b + 1] {
                dropoutKeys[i] = UInt64(b * maxPositions) + UInt64(batch.positions[i])
            }
            firstTokenKeys[b] = dropoutKeys[batch.offsets[b]]
        }
    }
}
