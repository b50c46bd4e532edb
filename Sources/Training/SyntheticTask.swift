import Compute

/// A small, learnable sequence-classification task that needs no downloaded data:
/// each sequence mixes tokens from `classCount` disjoint groups and the label is the group
/// that occurs most often. Solving it needs attention to pool over the whole sequence.
///
/// Used by `lpft demo` and tests until real datasets are fetched; deterministic in `seed`.
public struct SyntheticTask: Sendable {
    public let classCount: Int
    public let tokensPerGroup: Int
    /// Ids 0 ([PAD]) and 1 ([CLS]) are reserved; groups start at 2.
    public var vocabularySize: Int { 2 + classCount * tokensPerGroup }

    public init(classCount: Int = 3, tokensPerGroup: Int = 10) {
        self.classCount = classCount
        self.tokensPerGroup = tokensPerGroup
    }

    /// `count` examples of 8–24 tokens after [CLS]; `split` separates train/test streams.
    public func examples(_ count: Int, seed: UInt64, split: UInt64) -> [LabeledSequence] {
        let rng = RandomStream(seed: seed, stream: split)
        var draw: UInt64 = 0
        func next(_ n: Int) -> Int {
            defer { draw += 1 }
            return Int(rng.bits(at: draw) % UInt64(n))
        }
        return (0..<count).map { _ in
            let length = 8 + next(17)
            var counts = [Int](repeating: 0, count: classCount)
            var ids: [Int32] = [1]
            for _ in 0..<length {
                let group = next(classCount)
                counts[group] += 1
                ids.append(Int32(2 + group * tokensPerGroup + next(tokensPerGroup)))
            }
            let label = counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!
            return LabeledSequence(inputIDs: ids, label: label)
        }
    }
}
