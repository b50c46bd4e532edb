import Compute
import Transformer

/// AdamW over the trainable slices of a flat parameter buffer, with PyTorch defaults
/// (β = 0.9, 0.999, ε = 1e-8) and Hugging Face Trainer's rule of no weight decay on
/// biases and LayerNorm parameters.
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var eps: Float = 1e-8
        public var weightDecay: Float = 0
        public init(weightDecay: Float = 0) { self.weightDecay = weightDecay }
    }

    /// A slice of the parameter buffer this optimiser updates.
    struct Slice {
        let range: Range<Int>
        let decay: Bool
    }

    public let hyperparameters: Hyperparameters
    /// Threads for the element-wise update.
    public let threads: Int
    /// Updates done so far (t in the bias corrections); restored when a trial resumes.
    public internal(set) var step = 0
    let slices: [Slice]
    /// m and v, mirroring the parameter buffer (zero outside the trainable slices).
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer

    /// - Parameter trainable: the views to update; all others stay frozen.
    public init(views trainable: [ParameterView], parameterCount: Int, hyperparameters: Hyperparameters = .init(), threads: Int = 1) {
        self.hyperparameters = hyperparameters
        self.threads = threads
        slices = trainable.map { view in
            let exempt = view.shape.count == 1 || view.name.contains("LayerNorm")
            return Slice(range: view.range, decay: !exempt)
        }
        // Moments mirror the whole buffer so that slices index them directly.
        firstMoment = FloatBuffer(count: parameterCount)
        secondMoment = FloatBuffer(count: parameterCount)
    }

    /// The global L2 norm of the trainable gradients (Double accumulation).
    public func gradientNorm(_ gradients: UnsafePointer<Float>) -> Double {
        slices.reduce(0.0) { $0 + Elementwise.sumOfSquares(gradients + $1.range.lowerBound, count: $1.range.count) }.squareRoot()
    }

    /// One update. Gradients are first clipped to global norm `clipNorm` (as
    /// `torch.nn.utils.clip_grad_norm_`), if given. Returns the gradient norm before clipping.
    @discardableResult
    public func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float, clipNorm: Float? = nil) -> Double {
        step += 1
        let norm = gradientNorm(gradients)
        var scale: Float = 1
        if let clipNorm, norm > Double(clipNorm) { scale = Float(Double(clipNorm) / (norm + 1e-6)) }
        let h = hyperparameters
        let s = AdamWKernel.Step(learningRate: learningRate, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay, step: step)
        for slice in slices {
            let o = slice.range.lowerBound
            AdamWKernel.update(parameters + o, gradient: gradients + o, m: firstMoment.pointer + o, v: secondMoment.pointer + o,
                               count: slice.range.count, step: s, decay: slice.decay, gradientScale: scale, threads: threads)
        }
        return norm
    }
}

/// Linear warm-up from 0, then linear decay to 0 at `totalSteps`
/// (Hugging Face `get_linear_schedule_with_warmup`).
public struct LinearSchedule: Sendable {
    public let peak: Float
    public let totalSteps: Int
    public let warmupSteps: Int

    public init(peak: Float, totalSteps: Int, warmupRatio: Double = 0) {
        self.peak = peak
        self.totalSteps = max(1, totalSteps)
        warmupSteps = Int((warmupRatio * Double(totalSteps)).rounded(.up))
    }

    /// The learning rate for the update with 0-based index `step`.
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        return peak * max(0, Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps)))
    }
}
