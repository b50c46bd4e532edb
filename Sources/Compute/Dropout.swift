/// Inverted dropout driven by a counter-based stream, so a mask depends only on
/// `(stream, element index)`: identical for any thread count and reproducible from the seed.
public enum Dropout {
    /// Fills `mask` with 0 (dropped, probability `p`) or 1/(1−p) (kept).
    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, count: Int, p: Float, stream: RandomStream) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
        let keep = 1 / (1 - p)
        for i in 0..<count {
            mask[i] = stream.uniform(at: UInt64(i)) < p ? 0 : keep
        }
    }

    /// x[i] *= mask[i], in place.
    public static func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
        forEachBlock(count) { i, lanes in store(load(x + i, lanes) * load(mask + i, lanes), x + i, lanes) }
    }
}
