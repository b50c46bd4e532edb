/// Row-wise softmax with an optional key mask, in place.
public enum Softmax {
    /// Replaces each row of `x` (`rows` × `cols`) by its softmax over the columns where
    /// `keyMask[j] != 0`; masked columns become exactly 0, as with Hugging Face's additive
    /// `finfo.min` mask. At least one column of every row must be unmasked.
    public static func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, keyMask: UnsafePointer<Float>? = nil) {
        for r in 0..<rows {
            let row = x + r * cols
            var maxV = Vec8(repeating: -.infinity)
            forEachBlock(cols) { i, lanes in
                var v = load(row + i, lanes, fill: -.infinity)
                if let keyMask { v.replace(with: -.infinity, where: load(keyMask + i, lanes) .== 0) }
                maxV = vmax(maxV, v)
            }
            let m = maxV.max()
            var sum = Vec8()
            forEachBlock(cols) { i, lanes in
                var e = VectorMath.exp(load(row + i, lanes) - m)
                if let keyMask { e.replace(with: 0, where: load(keyMask + i, lanes) .== 0) }
                if lanes < 8 { e.replace(with: 0, where: Vec8.laneIndices .>= Float(lanes)) }
                sum += e
                store(e, row + i, lanes)
            }
            let inv = 1 / sum.sum()
            forEachBlock(cols) { i, lanes in store(load(row + i, lanes) * inv, row + i, lanes) }
        }
    }

    /// Given probabilities p and upstream dp, writes ds = p ⊙ (dp − ⟨p, dp⟩) into `dp`, row-wise.
    public static func backward(_ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let pr = p + r * cols, dr = dp + r * cols
            var dot = Vec8()
            forEachBlock(cols) { i, lanes in dot.addProduct(load(pr + i, lanes), load(dr + i, lanes)) }
            let s = dot.sum()
            forEachBlock(cols) { i, lanes in
                let pv = load(pr + i, lanes)
                store(pv * (load(dr + i, lanes) - s), dr + i, lanes)
            }
        }
    }
}

extension SIMD8 where Scalar == Float {
    /// 0, 1, …, 7 as floats, for masking a partial tail block.
    @inline(__always)
    static var laneIndices: Vec8 { Vec8(0, 1, 2, 3, 4, 5, 6, 7) }
}
