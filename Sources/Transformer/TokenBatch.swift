/// A batch of token sequences, packed: the real tokens of every sequence one after another,
/// with no padding. Sequence b's tokens are `offsets[b] ..< offsets[b + 1]`.
///
/// Dense layers, LayerNorm, GELU and dropout then run over real tokens only, and attention
/// runs per sequence on its own length: on rt-polarity's short snippets 44% of a padded
/// batch's tokens (and 64% of its attention work) would be padding.
public struct TokenBatch: Sendable {
    public let batchSize: Int
    /// The longest sequence's length (the padded width the batch would have had).
    public let sequenceLength: Int
    /// [tokens], sequence after sequence.
    public let inputIDs: [Int32]
    public let tokenTypeIDs: [Int32]
    /// Each token's place in its sequence: what BERT's position rows and every dropout mask
    /// are keyed by (RoBERTa's rows count tokens by their ids: ``BertConfig/positionRows(_:)``).
    public let positions: [Int32]
    /// batchSize + 1 entries: where each sequence starts, then the token count.
    public let offsets: [Int]

    public var tokenCount: Int { offsets[batchSize] }

    public func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }

    /// Packs a padded batch: `batchSize` rows of `sequenceLength` positions, row-major, with
    /// `attentionMask` 1 for real tokens and 0 for padding. Masked positions are dropped
    /// (padding never reaches a real token's state); the rest keep their positions, as BERT
    /// numbers them. RoBERTa numbers the tokens that are not `<pad>` instead; the two agree for
    /// right-padded rows (the first token real, as the head requires, and padding only after the
    /// text) without a literal `<pad>` in the text.
    public init(batchSize: Int, sequenceLength: Int, inputIDs: [Int32], tokenTypeIDs: [Int32]? = nil, attentionMask: [Float]? = nil) throws {
        let n = batchSize * sequenceLength
        guard batchSize > 0, sequenceLength > 0 else { throw ModelError.invalidBatch("empty batch (\(batchSize)×\(sequenceLength))") }
        guard inputIDs.count == n else { throw ModelError.invalidBatch("\(inputIDs.count) input ids for \(batchSize)×\(sequenceLength)") }
        let types = tokenTypeIDs ?? [Int32](repeating: 0, count: n)
        let mask = attentionMask ?? [Float](repeating: 1, count: n)
        guard types.count == n, mask.count == n else { throw ModelError.invalidBatch("token types or mask do not match \(batchSize)×\(sequenceLength)") }
        var ids = [Int32](), packedTypes = [Int32](), positions = [Int32](), offsets = [0]
        for b in 0..<batchSize {
            guard mask[b * sequenceLength] != 0 else {
                throw ModelError.invalidBatch("row \(b): the first token is masked; it is the one the head reads")
            }
            for t in 0..<sequenceLength where mask[b * sequenceLength + t] != 0 {
                ids.append(inputIDs[b * sequenceLength + t])
                packedTypes.append(types[b * sequenceLength + t])
                positions.append(Int32(t))
            }
            offsets.append(ids.count)
        }
        self.init(ids: ids, types: packedTypes, positions: positions, offsets: offsets)
    }

    /// Packs sequences of unequal length as they are.
    public init(sequences: [[Int32]], tokenTypes: [[Int32]]? = nil) throws {
        guard !sequences.isEmpty else { throw ModelError.invalidBatch("empty batch (no sequences)") }
        var ids = [Int32](), types = [Int32](), positions = [Int32](), offsets = [0]
        for (row, seq) in sequences.enumerated() {
            guard !seq.isEmpty else { throw ModelError.invalidBatch("row \(row): an empty sequence; the head reads its first token") }
            let t = tokenTypes?[row] ?? [Int32](repeating: 0, count: seq.count)
            guard t.count == seq.count else { throw ModelError.invalidBatch("row \(row): \(t.count) token types for \(seq.count) tokens") }
            ids += seq
            types += t
            positions += (0..<Int32(seq.count))
            offsets.append(ids.count)
        }
        self.init(ids: ids, types: types, positions: positions, offsets: offsets)
    }

    /// No sequences: a workspace's batch before its first pass.
    static let empty = TokenBatch(ids: [], types: [], positions: [], offsets: [0])

    private init(ids: [Int32], types: [Int32], positions: [Int32], offsets: [Int]) {
        batchSize = offsets.count - 1
        sequenceLength = (0..<batchSize).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0
        inputIDs = ids
        tokenTypeIDs = types
        self.positions = positions
        self.offsets = offsets
    }

    /// Where packed token `i` sits: its row and position, for error messages.
    private func place(_ i: Int) -> String {
        let row = offsets.lastIndex { $0 <= i }!
        return "row \(row), position \(positions[i])"
    }

    /// Checks ids against the model's vocabulary, token-type and position tables.
    func validate(for config: BertConfig) throws {
        guard let last = positions.max(), Int(last) < config.maxSequenceLength else {
            throw ModelError.invalidBatch("sequence length \(sequenceLength) exceeds the \(config.maxSequenceLength) positions of max_position_embeddings \(config.maxPositions)")
        }
        if let bad = inputIDs.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw ModelError.invalidBatch("\(place(bad)): token id \(inputIDs[bad]) outside the vocabulary of \(config.vocabSize)")
        }
        if let bad = tokenTypeIDs.firstIndex(where: { $0 < 0 || Int($0) >= config.typeVocabSize }) {
            throw ModelError.invalidBatch("\(place(bad)): token type \(tokenTypeIDs[bad]) outside 0..<\(config.typeVocabSize)")
        }
    }
}
