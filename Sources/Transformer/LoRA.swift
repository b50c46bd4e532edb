/// Low-rank adapters (Hu et al., 2021) on attention projections: W x + (α/r)·B A x, with
/// A ∈ R^{r×d_in} Kaiming-uniform (a = √5, as PEFT) and B ∈ R^{d_out×r} zero at the start.
public struct LoRAConfig: Sendable, Equatable, Codable {
    public enum Target: String, Sendable, Codable, CaseIterable {
        case query, key, value

        /// Column offset of this projection's output inside the fused [q | k | v] activations.
        func qkvColumn(hidden: Int) -> Int {
            switch self {
            case .query: return 0
            case .key: return hidden
            case .value: return 2 * hidden
            }
        }
    }

    public var rank: Int
    public var alpha: Float
    public var targets: [Target]

    /// α / r, the factor on B A x.
    public var scale: Float { alpha / Float(rank) }

    public init(rank: Int = 8, alpha: Float = 8, targets: [Target] = [.query, .value]) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
    }
}

/// Which parameters a backward pass computes gradients for. Frozen parameters still pass
/// gradients through to the layers below when something below is trained.
public enum GradientScope: Sendable, Equatable {
    /// Every parameter (full fine-tuning).
    case all
    /// The head and the LoRA adapters; the rest of the backbone is frozen.
    case headAndLoRA
    /// The head only (linear probing): the backward pass stops at the features.
    case head
    /// The backbone parameters inside these ranges of the flat buffer (and any LoRA adapters):
    /// the NTK's chunks of parameter groups, which need no other weight gradients.
    case ranges([Range<Int>])

    /// Whether backbone parameters in `range` get gradients.
    func includes(_ range: Range<Int>) -> Bool {
        switch self {
        case .all: return true
        case .headAndLoRA, .head: return false
        case let .ranges(ranges): return ranges.contains { $0.overlaps(range) }
        }
    }

    func includes(_ view: ParameterView) -> Bool { includes(view.range) }
}
