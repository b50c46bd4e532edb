/// Inverted dropout driven by a counter-based stream, so a mask depends only on
/// `(stream, element index)`: identical for any thread count and reproducible from the seed.
public enum Dropout {
    /// Fills `mask` with 0 (dropped, probability `p`) or 1/(1−p) (kept).
    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, count: Int, p: Float, stream: RandomStream, threads: Int = 1) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
        let keep = 1 / (1 - p)
        parallelElements(count, threads: threads) { range in
            for i in range {
                mask[i] = stream.uniform(at: UInt64(i)) < p ? 0 : keep
            }
        }
    }

    /// x[i] *= mask[i], in place.
    public static func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        Elementwise.multiply(x, mask, into: x, count: count, threads: threads)
    }
}
