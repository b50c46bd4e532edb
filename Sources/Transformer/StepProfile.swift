import Dispatch

/// Wall-clock time spent in each kind of work during forward and backward passes.
public struct StepProfile: Sendable {
    /// Dense-layer GEMMs (QKV, attention output, FFN, head), forward and backward.
    public var linearGEMM: Double = 0
    /// The per-(batch, head) attention block: its GEMMs plus softmax and dropout.
    public var attention: Double = 0
    /// Everything else (embeddings, LayerNorm, GELU, residuals, dropout masks).
    public var elementwise: Double = 0

    public var total: Double { linearGEMM + attention + elementwise }

    public init() {}

    public static func += (lhs: inout StepProfile, rhs: StepProfile) {
        lhs.linearGEMM += rhs.linearGEMM
        lhs.attention += rhs.attention
        lhs.elementwise += rhs.elementwise
    }
}

/// Measures consecutive sections of code and charges each to a `StepProfile` field.
struct SectionTimer {
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func charge(_ field: WritableKeyPath<StepProfile, Double>, to profile: inout StepProfile) {
        let now = DispatchTime.now().uptimeNanoseconds
        profile[keyPath: field] += Double(now - last) * 1e-9
        last = now
    }
}
