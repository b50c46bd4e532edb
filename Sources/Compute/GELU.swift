/// The exact (erf) GELU, as PyTorch `gelu` and Hugging Face `hidden_act: "gelu"`:
/// gelu(x) = x · Φ(x) = ½ x (1 + erf(x / √2)).
public enum GELU {
    private static let invSqrt2: Float = 0.707_106_781_186_547_5
    private static let invSqrt2Pi: Float = 0.398_942_280_401_432_7

    /// out[i] = gelu(x[i]).
    public static func forward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        parallelElements(count, threads: threads) { range in
            forEachBlock(range.count) { j, lanes in
                let i = range.lowerBound + j
                let v = load(x + i, lanes)
                store(0.5 * v * (1 + VectorMath.erf(v * invSqrt2)), out + i, lanes)
            }
        }
    }

    /// dx[i] = dy[i] · gelu'(x[i]), with gelu'(x) = Φ(x) + x·φ(x). `dx` may alias `dy`.
    public static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        parallelElements(count, threads: threads) { range in
            forEachBlock(range.count) { j, lanes in
                let i = range.lowerBound + j
                let v = load(x + i, lanes)
                let cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
                let pdf = VectorMath.exp(-0.5 * v * v) * invSqrt2Pi
                store(load(dy + i, lanes) * (cdf + v * pdf), dx + i, lanes)
            }
        }
    }
}
