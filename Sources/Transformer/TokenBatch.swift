/// A padded batch of token sequences: `batchSize` rows of `sequenceLength` positions.
public struct TokenBatch: Sendable {
    public let batchSize: Int
    public let sequenceLength: Int
    /// Row-major [batchSize, sequenceLength].
    public let inputIDs: [Int32]
    public let tokenTypeIDs: [Int32]
    /// 1 for real tokens, 0 for padding.
    public let attentionMask: [Float]

    public init(batchSize: Int, sequenceLength: Int, inputIDs: [Int32], tokenTypeIDs: [Int32]? = nil, attentionMask: [Float]? = nil) throws {
        let n = batchSize * sequenceLength
        guard batchSize > 0, sequenceLength > 0 else { throw ModelError.invalidBatch("empty batch (\(batchSize)×\(sequenceLength))") }
        guard inputIDs.count == n else { throw ModelError.invalidBatch("\(inputIDs.count) input ids for \(batchSize)×\(sequenceLength)") }
        let types = tokenTypeIDs ?? [Int32](repeating: 0, count: n)
        let mask = attentionMask ?? [Float](repeating: 1, count: n)
        guard types.count == n, mask.count == n else { throw ModelError.invalidBatch("token types or mask do not match \(batchSize)×\(sequenceLength)") }
        for b in 0..<batchSize where mask[b * sequenceLength] == 0 {
            throw ModelError.invalidBatch("row \(b): the first token is masked; it is the one the head reads")
        }
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.inputIDs = inputIDs
        self.tokenTypeIDs = types
        self.attentionMask = mask
    }

    /// Pads unequal sequences to the longest with `padID` and mask 0.
    public init(sequences: [[Int32]], tokenTypes: [[Int32]]? = nil, padID: Int32 = 0) throws {
        let length = sequences.map(\.count).max() ?? 0
        var ids = [Int32](), types = [Int32](), mask = [Float]()
        for (row, seq) in sequences.enumerated() {
            let pad = length - seq.count
            ids += seq + [Int32](repeating: padID, count: pad)
            let t = tokenTypes?[row] ?? [Int32](repeating: 0, count: seq.count)
            guard t.count == seq.count else { throw ModelError.invalidBatch("row \(row): \(t.count) token types for \(seq.count) tokens") }
            types += t + [Int32](repeating: 0, count: pad)
            mask += [Float](repeating: 1, count: seq.count) + [Float](repeating: 0, count: pad)
        }
        try self.init(batchSize: sequences.count, sequenceLength: length, inputIDs: ids, tokenTypeIDs: types, attentionMask: mask)
    }

    /// Checks ids against the model's vocabulary, token-type and position tables.
    func validate(for config: BertConfig) throws {
        guard sequenceLength <= config.maxPositions else {
            throw ModelError.invalidBatch("sequence length \(sequenceLength) exceeds max_position_embeddings \(config.maxPositions)")
        }
        if let bad = inputIDs.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw ModelError.invalidBatch("row \(bad / sequenceLength), position \(bad % sequenceLength): token id \(inputIDs[bad]) outside the vocabulary of \(config.vocabSize)")
        }
        if let bad = tokenTypeIDs.firstIndex(where: { $0 < 0 || Int($0) >= config.typeVocabSize }) {
            throw ModelError.invalidBatch("row \(bad / sequenceLength), position \(bad % sequenceLength): token type \(tokenTypeIDs[bad]) outside 0..<\(config.typeVocabSize)")
        }
    }
}
