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

    /// Fills `mask` ([rows, width]) as `makeMask(_:count:…)` does, drawing row r's element k at
    /// index `rowKeys[r]·width + k`: a row's mask depends on its key, not on where the row sits.
    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, rows: Int, width: Int, rowKeys: UnsafePointer<UInt64>, p: Float,
                                stream: RandomStream, threads: Int = 1) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
        let keep = 1 / (1 - p)
        parallelChunks(rows, threads: rows * width < 16_384 ? 1 : threads) { _, range in
            for r in range {
                let base = rowKeys[r] &* UInt64(width), row = mask + r * width
                for k in 0..<width { row[k] = stream.uniform(at: base &+ UInt64(k)) < p ? 0 : keep }
            }
        }
    }

    /// x[i] *= mask[i], in place.
    public static func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        Elementwise.multiply(x, mask, into: x, count: count, threads: threads)
    }
}
