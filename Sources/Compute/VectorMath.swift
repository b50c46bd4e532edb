/// Vectorised transcendental functions on 8 lanes, accurate to a few float32 ulp.
///
/// Swift has no vector `exp`/`erf`; calling the scalar libm versions per element would
/// cost more than the GEMMs around them, so these are the classic Cephes (exp) and
/// Eigen/XLA (erf) polynomial approximations. Tests check them against libm in Double.
public typealias Vec8 = SIMD8<Float>

public enum VectorMath {
    /// e^x, lane-wise. Inputs below about −87.3 return the smallest normal (≈1e-38), not 0.
    @inline(__always)
    public static func exp(_ input: Vec8) -> Vec8 {
        let x0 = clamp(input, -87.3, 88.0)
        // n = round(x / ln 2) via the 1.5·2^23 trick, which also leaves n in the low mantissa bits.
        let magic = Vec8(repeating: 12_582_912)
        let shifted = x0 * 1.442_695_04 + magic
        let n = shifted - magic
        // r = x − n·ln2 in two parts so that r is exact to float precision.
        var r = x0 - n * 0.693_359_375
        r = r + n * 2.121_944_40e-4
        var p = Vec8(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        // 2^n: n + 127 in the exponent field.
        let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: Vec8.self)
        return p * scale
    }

    /// erf(x), lane-wise; a rational approximation on [−4, 4] (erf(±4) = ±1 in float32).
    @inline(__always)
    public static func erf(_ input: Vec8) -> Vec8 {
        let x = clamp(input, -4, 4)
        let x2 = x * x
        var p = Vec8(repeating: -2.726_142_258_013_06e-10)
        p = p * x2 + 2.770_681_424_959_02e-08
        p = p * x2 - 2.101_024_020_825_08e-06
        p = p * x2 - 5.692_506_394_623_46e-05
        p = p * x2 - 7.349_906_303_268_55e-04
        p = p * x2 - 2.954_599_808_540_25e-03
        p = p * x2 - 1.609_603_332_624_15e-02
        p = p * x
        var q = Vec8(repeating: -1.456_607_184_649_96e-05)
        q = q * x2 - 2.133_740_552_789_05e-04
        q = q * x2 - 1.682_826_974_382_03e-03
        q = q * x2 - 7.373_329_167_204_68e-03
        q = q * x2 - 1.426_473_905_141_89e-02
        return p / q
    }
}

/// Lane-wise max. The standard library's generic `pointwiseMax` and `clamped` were not
/// inlined in release builds (they showed as separate calls in profiles); a compare and a
/// blend are.
@inline(__always)
public func vmax(_ a: Vec8, _ b: Vec8) -> Vec8 { a.replacing(with: b, where: a .< b) }

@inline(__always)
func clamp(_ x: Vec8, _ lo: Float, _ hi: Float) -> Vec8 {
    x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
}

/// Loads up to 8 floats, padding the rest of the lanes with `fill`.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> Vec8 {
    var v = Vec8(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the first `count` lanes of `v`.
@inline(__always)
func storePartial(_ v: Vec8, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

@inline(__always)
func load(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

@inline(__always)
func store(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// Applies `body` to `count` floats in 8-lane blocks; the tail block is padded.
@inline(__always)
func forEachBlock(_ count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void) {
    var i = 0
    while i + 8 <= count { body(i, 8); i += 8 }
    if i < count { body(i, count - i) }
}

/// Loads `lanes` (≤ 8) floats; a short block is padded with `fill`.
@inline(__always)
func load(_ p: UnsafePointer<Float>, _ lanes: Int, fill: Float = 0) -> Vec8 {
    lanes == 8 ? load(p) : loadPartial(p, lanes, fill: fill)
}

/// Stores the first `lanes` (≤ 8) lanes of `v`.
@inline(__always)
func store(_ v: Vec8, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 { store(v, p) } else { storePartial(v, p, lanes) }
}
