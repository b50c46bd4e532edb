import CBLAS

/// Thin, named wrappers over OpenBLAS. All matrices are row-major.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// OpenBLAS's build and the kernel it picked for this CPU, e.g. "OpenBLAS 0.3.21 ... Haswell".
    public static var configuration: String {
        String(cString: openblas_get_config()) + " core=" + String(cString: openblas_get_corename())
    }

    /// C = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Runs `body` with OpenBLAS limited to one thread, restoring the previous count after.
    /// Used where the caller parallelises over independent small GEMMs itself (attention heads).
    public static func withSingleThread<R>(_ body: () throws -> R) rethrows -> R {
        let previous = threads
        if previous == 1 { return try body() }
        threads = 1
        defer { threads = previous }
        return try body()
    }
}

extension BLAS {
    /// C = alpha · op(A) · op(B) + beta · C in double precision (for solvers run to convergence).
    public static func dgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension BLAS {
    /// C = alpha · A · Aᵀ + beta · C for A [n, k] with leading dimension lda; both triangles of
    /// the n × n result are filled (BLAS computes the upper, this mirrors it).
    public static func syrk(n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, beta: Float, c: UnsafeMutablePointer<Float>) {
        syrkUpper(n: n, k: k, alpha: alpha, a: a, lda: lda, beta: beta, c: c)
        mirrorUpper(c, n: n)
    }

    /// `syrk` on the upper triangle only, for sums of many products mirrored once at the end.
    public static func syrkUpper(n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, beta: Float, c: UnsafeMutablePointer<Float>) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(n))
    }

    /// Copies the upper triangle of the row-major n × n matrix `c` onto its lower triangle.
    public static func mirrorUpper(_ c: UnsafeMutablePointer<Float>, n: Int) {
        for i in 0..<n {
            for j in 0..<i { c[i * n + j] = c[j * n + i] }
        }
    }

    /// Eigenvalues of the symmetric n × n matrix `a` (row-major), ascending, by LAPACK `ssyevd`.
    /// Returns nil if LAPACK reports a failure.
    public static func symmetricEigenvalues(_ a: [Float], n: Int) -> [Float]? {
        var work = a
        var values = [Float](repeating: 0, count: n)
        let info = work.withUnsafeMutableBufferPointer { w in
            values.withUnsafeMutableBufferPointer { v in
                LAPACKE_ssyevd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "U")), Int32(n), w.baseAddress, Int32(n), v.baseAddress)
            }
        }
        return info == 0 ? values : nil
    }
}

extension BLAS {
    /// C = Aᵀ · A (both triangles) for A [k, n] row-major: the Gram matrix of A's columns,
    /// by `ssyrk` on the upper triangle then a mirror.
    public static func gram(n: Int, k: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), 1, a, Int32(n), 0, c, Int32(n))
        mirrorUpper(c, n: n)
    }

    /// Overwrites the symmetric n × n matrix `a` with its Cholesky factor (LAPACK `dpotrf`);
    /// false if `a` is not numerically positive definite.
    public static func choleskyFactor(_ a: inout [Double], n: Int) -> Bool {
        LAPACKE_dpotrf(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), &a, Int32(n)) == 0
    }

    /// Solves A · x = b in place given A's factor from `choleskyFactor` (LAPACK `dpotrs`).
    public static func choleskySolve(_ factor: [Double], n: Int, _ b: inout [Double]) {
        _ = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), 1, factor, Int32(n), &b, 1)
    }
}
