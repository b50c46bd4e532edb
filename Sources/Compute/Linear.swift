/// A fully connected layer y = x · Wᵀ + b with W stored [out, in], as in PyTorch.
public enum Linear {
    /// y[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + b.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: x, lda: inFeatures, b: weight, ldb: inFeatures,
                  beta: bias == nil ? 0 : 1, c: y, ldc: outFeatures)
    }

    /// Backward pass: dx = dy · W (overwritten, or added to when `accumulateInput`),
    /// dW += dyᵀ · x, db += Σ_rows dy. Pass nil for what is not needed (frozen weights).
    public static func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        if let dx {
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: weight, ldb: inFeatures,
                      beta: accumulateInput ? 1 : 0, c: dx, ldc: inFeatures)
        }
        if let dWeight {
            BLAS.gemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: dy, lda: outFeatures,
                      b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
        }
        if let dBias { addColumnSums(dy, rows: rows, cols: outFeatures, into: dBias) }
    }

    /// into[j] += Σ_r m[r, j].
    public static func addColumnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = m + r * cols
            forEachBlock(cols) { i, lanes in store(load(into + i, lanes) + load(row + i, lanes), into + i, lanes) }
        }
    }
}
