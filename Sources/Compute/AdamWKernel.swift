#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The AdamW update on a contiguous slice, with PyTorch's arithmetic
/// (`torch.optim.AdamW`, non-fused): decoupled decay, then a bias-corrected Adam step.
public enum AdamWKernel {
    public struct Step {
        public let learningRate: Float
        public let beta1: Float
        public let beta2: Float
        public let eps: Float
        public let weightDecay: Float
        /// 1 − β1^t and 1 − β2^t for the step number t ≥ 1.
        public let biasCorrection1: Float
        public let biasCorrection2: Float

        public init(learningRate: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.weightDecay = weightDecay
            biasCorrection1 = 1 - Float(pow(Double(beta1), Double(step)))
            biasCorrection2 = 1 - Float(pow(Double(beta2), Double(step)))
        }
    }

    /// Updates `count` parameters in place; `decay` false skips weight decay (biases, LayerNorm).
    public static func update(
        _ p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        count: Int, step s: Step, decay: Bool, gradientScale: Float = 1, threads: Int = 1
    ) {
        let shrink = decay ? 1 - s.learningRate * s.weightDecay : 1
        let stepSize = s.learningRate / s.biasCorrection1
        let rootCorrection2 = s.biasCorrection2.squareRoot()
        parallelElements(count, threads: threads) { range in
            forEachBlock(range.count) { j, lanes in
                let i = range.lowerBound + j
                let grad = load(g + i, lanes) * gradientScale
                let mv = s.beta1 * load(m + i, lanes) + (1 - s.beta1) * grad
                let vv = s.beta2 * load(v + i, lanes) + (1 - s.beta2) * grad * grad
                let denom = vv.squareRoot() / rootCorrection2 + s.eps
                let pv = load(p + i, lanes) * shrink - stepSize * mv / denom
                store(mv, m + i, lanes)
                store(vv, v + i, lanes)
                store(pv, p + i, lanes)
            }
        }
    }
}
