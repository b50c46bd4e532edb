import Compute
import Transformer

/// Keeps, from batched backward passes, what each Jacobian row needs: per example the input of
/// every dense layer and every LayerNorm's normalised input, and per (example, class) row the
/// gradient at every dense and LayerNorm output and at the embedding sum. A weight's row of J
/// is then dYᵀ·X over the example's tokens, one small GEMM, with no backward pass repeated.
final class JacobianCapture: BackwardTap {
    final class DenseSite {
        let weight: Range<Int>, bias: Range<Int>, inFeatures: Int, outFeatures: Int
        var inputs: [[Float]]    // per example: [tokens, in]
        var gradients: [[Float]] // per row: [tokens, out]
        init(weight: Range<Int>, bias: Range<Int>, inFeatures: Int, outFeatures: Int, examples: Int, rows: Int) {
            (self.weight, self.bias, self.inFeatures, self.outFeatures) = (weight, bias, inFeatures, outFeatures)
            inputs = Array(repeating: [], count: examples)
            gradients = Array(repeating: [], count: rows)
        }
    }

    final class NormSite {
        let weight: ParameterView, bias: ParameterView
        var normalized: [[Float]] // per example: [tokens, width]
        var gradients: [[Float]]  // per row: [tokens, width]
        init(weight: ParameterView, bias: ParameterView, examples: Int, rows: Int) {
            (self.weight, self.bias) = (weight, bias)
            normalized = Array(repeating: [], count: examples)
            gradients = Array(repeating: [], count: rows)
        }
    }

    let examples: Int, classes: Int, hidden: Int
    private(set) var dense: [DenseSite] = []
    private(set) var norms: [NormSite] = []
    /// Per row: ∂/∂(embedding sum), [tokens, hidden].
    private(set) var embeddingGradients: [[Float]]

    // The batch being back-propagated.
    var batchExamples: [Int] = []
    var lengths: [Int] = []
    var paddedLength = 0
    var classIndex = 0

    init(examples: Int, classes: Int, hidden: Int) {
        self.examples = examples
        self.classes = classes
        self.hidden = hidden
        embeddingGradients = Array(repeating: [], count: examples * classes)
    }

    /// Bytes the captures of `tokens` tokens in total will take for this model.
    static func bytes(for config: BertConfig, tokens: Int, classes: Int) -> Int {
        let (h, i, l) = (config.hiddenSize, config.intermediateSize, config.layerCount)
        let perExample = l * (3 * h + i + 2 * h) + h
        let perRow = l * (5 * h + i + 2 * h) + 2 * h
        return 4 * tokens * (perExample + classes * perRow)
    }

    private func gather(_ source: UnsafePointer<Float>, stride: Int, width: Int, row b: Int) -> [Float] {
        var out = [Float](repeating: 0, count: lengths[b] * width)
        for t in 0..<lengths[b] {
            for j in 0..<width { out[t * width + j] = source[(b * paddedLength + t) * stride + j] }
        }
        return out
    }

    func dense(weight: Range<Int>, bias: Range<Int>, dY: UnsafePointer<Float>, dYStride: Int, x: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int) {
        let site: DenseSite
        if let existing = dense.first(where: { $0.weight == weight }) {
            site = existing
        } else {
            site = DenseSite(weight: weight, bias: bias, inFeatures: inFeatures, outFeatures: outFeatures, examples: examples, rows: examples * classes)
            dense.append(site)
        }
        for (b, example) in batchExamples.enumerated() {
            if classIndex == 0 { site.inputs[example] = gather(x, stride: inFeatures, width: inFeatures, row: b) }
            site.gradients[example * classes + classIndex] = gather(dY, stride: dYStride, width: outFeatures, row: b)
        }
    }

    func layerNorm(weight: ParameterView, bias: ParameterView, dY: UnsafePointer<Float>, x: UnsafePointer<Float>,
                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, width: Int) {
        let site: NormSite
        if let existing = norms.first(where: { $0.weight == weight }) {
            site = existing
        } else {
            site = NormSite(weight: weight, bias: bias, examples: examples, rows: examples * classes)
            norms.append(site)
        }
        for (b, example) in batchExamples.enumerated() {
            if classIndex == 0 {
                var xhat = gather(x, stride: width, width: width, row: b)
                for t in 0..<lengths[b] {
                    let row = b * paddedLength + t
                    for j in 0..<width { xhat[t * width + j] = (xhat[t * width + j] - mean[row]) * rstd[row] }
                }
                site.normalized[example] = xhat
            }
            site.gradients[example * classes + classIndex] = gather(dY, stride: width, width: width, row: b)
        }
    }

    func embeddingSum(_ dSum: UnsafePointer<Float>) {
        for (b, example) in batchExamples.enumerated() {
            embeddingGradients[example * classes + classIndex] = gather(dSum, stride: hidden, width: hidden, row: b)
        }
    }
}
