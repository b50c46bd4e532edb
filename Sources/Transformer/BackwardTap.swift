/// Observes the gradients a backward pass produces at each parameterised op, for work that
/// needs them per example rather than summed over the batch (the NTK's Jacobian rows).
///
/// Pointers are valid only during the call. Rows are the batch's packed tokens: example b's
/// are rows `offsets[b] ..< offsets[b + 1]` of the `TokenBatch` run forward; where
/// `firstTokensOnly` is true (the last layer past its keys and values) there is one row per
/// example, its first token, example b at row b.
public protocol BackwardTap: AnyObject {
    /// A dense layer y = x·Wᵀ + b: ∂/∂y [rows, out] (row stride `dYStride`) and its input x [rows, in].
    /// `weight` and `bias` are the flat-buffer ranges of W [out, in] and b [out] (LoRA's A and B
    /// have no bias; for B, x is the scaled x·Aᵀ, so that W's gradient is still dYᵀ·x).
    func dense(weight: Range<Int>, bias: Range<Int>?, dY: UnsafePointer<Float>, dYStride: Int, x: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
               firstTokensOnly: Bool)
    /// A LayerNorm: ∂/∂(its output) [rows, width] and its input with the saved mean and 1/σ.
    func layerNorm(weight: ParameterView, bias: ParameterView, dY: UnsafePointer<Float>, x: UnsafePointer<Float>,
                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, width: Int, firstTokensOnly: Bool)
    /// ∂/∂(word + position + token-type embeddings) [rows, hidden], before it is scattered into the tables.
    func embeddingSum(_ dSum: UnsafePointer<Float>)
}
