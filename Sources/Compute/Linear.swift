/// A fully connected layer y = x · Wᵀ + b with W stored [out, in], as in PyTorch.
///
/// With `threads` > 1 each GEMM is split into row blocks that run concurrently, each a
/// single-threaded `sgemm`. OpenBLAS then never needs its own thread pool, whose idle workers
/// spin in `sched_yield` and steal the core from the attention and elementwise work
/// between GEMMs (17% of a MiniLM step in a profile on 2 cores).
public enum Linear {
    /// y[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + b.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int, threads: Int = 1
    ) {
        parallelChunks(rows, threads: threads) { _, r in
            let yr = y + r.lowerBound * outFeatures
            if let bias {
                for row in 0..<r.count { (yr + row * outFeatures).update(from: bias, count: outFeatures) }
            }
            BLAS.gemm(transposeB: true, m: r.count, n: outFeatures, k: inFeatures,
                      a: x + r.lowerBound * inFeatures, lda: inFeatures, b: weight, ldb: inFeatures,
                      beta: bias == nil ? 0 : 1, c: yr, ldc: outFeatures)
        }
    }

    /// Backward pass: dx = dy · W (overwritten, or added to when `accumulateInput`),
    /// dW += dyᵀ · x, db += Σ_rows dy. Pass nil for what is not needed (frozen weights).
    public static func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        rows: Int, inFeatures: Int, outFeatures: Int, threads: Int = 1
    ) {
        if let dx {
            parallelChunks(rows, threads: threads) { _, r in
                BLAS.gemm(m: r.count, n: inFeatures, k: outFeatures, a: dy + r.lowerBound * outFeatures, lda: outFeatures,
                          b: weight, ldb: inFeatures, beta: accumulateInput ? 1 : 0, c: dx + r.lowerBound * inFeatures, ldc: inFeatures)
            }
        }
        // dW and db split by output feature: each thread owns whole rows of dW and entries of db.
        parallelChunks(outFeatures, threads: dWeight == nil && dBias == nil ? 1 : threads) { _, o in
            if let dWeight {
                BLAS.gemm(transposeA: true, m: o.count, n: inFeatures, k: rows, a: dy + o.lowerBound, lda: outFeatures,
                          b: x, ldb: inFeatures, beta: 1, c: dWeight + o.lowerBound * inFeatures, ldc: inFeatures)
            }
            if let dBias {
                for r in 0..<rows {
                    let row = dy + r * outFeatures + o.lowerBound
                    let acc = dBias + o.lowerBound
                    forEachBlock(o.count) { i, lanes in store(load(acc + i, lanes) + load(row + i, lanes), acc + i, lanes) }
                }
            }
        }
    }
}
