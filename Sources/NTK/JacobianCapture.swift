import Compute
import Foundation
import Transformer

/// Where each row of J keeps the gradients of the parameters that are not dense weights
/// (biases, LayerNorm, position and token-type embeddings): one row of `width` columns per
/// (example, class), a contiguous span per parameter group, so each group's share of these
/// columns is one `ssyrk` straight from the captured rows.
struct VectorColumns {
    /// A parameter range's lower bound → its first column.
    private(set) var start: [Int: Int] = [:]
    /// Per dense group, in order, its columns.
    private(set) var spans: [Range<Int>] = []
    private(set) var width = 0

    /// `denseWeights` are the lower bounds of the ranges formed by GEMMs instead; the position
    /// table keeps only the `positions` rows an example reaches (the others' gradients are 0).
    init(groups: [ParameterGroup], denseWeights: Set<Int>, position: ParameterView, hidden: Int, positions: Int) {
        for g in groups {
            let first = width
            for r in g.ranges where !denseWeights.contains(r.lowerBound) {
                start[r.lowerBound] = width
                width += r.lowerBound == position.offset ? min(r.count, positions * hidden) : r.count
            }
            spans.append(first..<width)
        }
    }
}

/// Keeps, from batched backward passes, what each row of J needs, packed by token: per example
/// every dense layer's input, per (example, class) row every dense layer's output gradient, and
/// per row the gradients of all other parameters, reduced over tokens as they arrive. A dense
/// weight's row of J is then dYᵀ·X over the example's tokens: one small GEMM, no pass repeated.
final class JacobianCapture: BackwardTap {
    /// A dense layer y = x·Wᵀ + b. Tokens whose output gradient is zero in every class add
    /// nothing to J, and `compact()` drops an example's trailing ones: in a BERT classifier's
    /// last layer with `.cls` pooling only the first token reaches φ(x), so there most sites
    /// keep one token (with `.mean` every token does).
    final class DenseSite {
        let weight: Range<Int>, inFeatures: Int, outFeatures: Int, classes: Int
        /// [tokens, in]: example a's rows start at `tokenOffset(a)`.
        let inputs: FloatBuffer
        /// [tokens · classes, out]: row (a, c)'s start at `tokenOffset(a)·classes + c·lengths[a]`.
        let gradients: FloatBuffer
        /// Tokens kept per example, and where each example's start (n + 1 entries).
        private(set) var lengths: [Int]
        private var offsets: [Int]
        /// Per example, one past the last token with a nonzero output gradient so far.
        fileprivate var active: [Int]

        init(weight: Range<Int>, inFeatures: Int, outFeatures: Int, lengths: [Int], offsets: [Int], classes: Int) {
            (self.weight, self.inFeatures, self.outFeatures, self.classes) = (weight, inFeatures, outFeatures, classes)
            (self.lengths, self.offsets) = (lengths, offsets)
            active = Array(repeating: 0, count: lengths.count)
            inputs = FloatBuffer(count: offsets.last! * inFeatures)
            gradients = FloatBuffer(count: offsets.last! * classes * outFeatures)
        }

        var tokens: Int { offsets.last! }
        func tokenOffset(_ a: Int) -> Int { offsets[a] }

        /// Packs each example's active tokens together. Each block moves to the same place or
        /// earlier, after every block before it, so nothing is overwritten before it is moved.
        func compact() {
            guard active != lengths else { return }
            let packed = active.reduce(into: [0]) { $0.append($0.last! + $1) }
            for a in lengths.indices where active[a] > 0 {
                let (from, to) = (offsets[a], packed[a])
                memmove(inputs.pointer + to * inFeatures, inputs.pointer + from * inFeatures, active[a] * inFeatures * 4)
                for c in 0..<classes {
                    memmove(gradients.pointer + (to * classes + c * active[a]) * outFeatures,
                            gradients.pointer + (from * classes + c * lengths[a]) * outFeatures, active[a] * outFeatures * 4)
                }
            }
            (lengths, offsets) = (active, packed)
        }
    }

    let classes: Int, hidden: Int
    /// Tokens per example, and where each example's start when packed (n + 1 entries).
    let lengths: [Int], tokenOffsets: [Int], tokenTypes: [[Int32]]
    let columns: VectorColumns
    /// [rows, columns.width], row (a, c) at a·classes + c.
    let rowVectors: FloatBuffer
    /// In the order the backward pass meets them.
    private(set) var dense: [DenseSite] = []
    private let wanted: Set<Int>
    private let positionColumn: Int?, tokenTypeColumn: Int?
    private let scratch: FloatBuffer

    // The batch being back-propagated.
    var batchExamples: [Int] = []
    /// Where each batch member's tokens start among the pass's packed rows.
    var batchOffsets: [Int] = []
    var classIndex = 0

    /// `wanted`: the weights (lower bounds) whose rows of J are kept; other dense layers are ignored.
    init(examples: [(ids: [Int32], tokenTypeIDs: [Int32])], classes: Int, hidden: Int, columns: VectorColumns, embeddings: BertLayout.Embeddings,
         wanted: Set<Int>) {
        self.wanted = wanted
        self.classes = classes
        self.hidden = hidden
        self.columns = columns
        lengths = examples.map(\.ids.count)
        tokenTypes = examples.map(\.tokenTypeIDs)
        tokenOffsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        rowVectors = FloatBuffer(count: examples.count * classes * columns.width)
        positionColumn = columns.start[embeddings.position.offset]
        tokenTypeColumn = columns.start[embeddings.tokenType.offset]
        scratch = FloatBuffer(count: hidden)
    }

    /// Bytes the captures take: the dense sites' inputs and output gradients, and the row vectors.
    static func bytes(sites: [(weight: Int, inFeatures: Int, outFeatures: Int)], tokens: Int, rows: Int, classes: Int, columns: VectorColumns) -> Int {
        let perToken = sites.reduce(0) { $0 + $1.inFeatures + classes * $1.outFeatures }
        return 4 * (tokens * perToken + rows * columns.width)
    }

    private func row(_ b: Int) -> Int { batchExamples[b] * classes + classIndex }

    /// Batch member b's rows in a tap call: where they start and how many (its first token
    /// alone where the call has first tokens only).
    private func rows(_ b: Int, firstTokensOnly: Bool) -> (first: Int, count: Int) {
        firstTokensOnly ? (b, 1) : (batchOffsets[b], lengths[batchExamples[b]])
    }

    /// Copies batch member b's rows (row stride `stride`) into `destination`, `width` each.
    private func pack(_ source: UnsafePointer<Float>, stride: Int, width: Int, example b: Int, firstTokensOnly: Bool, into destination: UnsafeMutablePointer<Float>) {
        let (row, count) = rows(b, firstTokensOnly: firstTokensOnly)
        let first = source + row * stride
        if stride == width { return destination.update(from: first, count: count * width) }
        for t in 0..<count { (destination + t * width).update(from: first + t * stride, count: width) }
    }

    func dense(weight: Range<Int>, bias: Range<Int>?, dY: UnsafePointer<Float>, dYStride: Int, x: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
               firstTokensOnly: Bool) {
        guard wanted.contains(weight.lowerBound) else { return }
        let site: DenseSite
        if let existing = dense.first(where: { $0.weight == weight }) {
            site = existing
        } else {
            site = DenseSite(weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, lengths: lengths, offsets: tokenOffsets, classes: classes)
            dense.append(site)
        }
        let biasColumn = bias.map { columns.start[$0.lowerBound]! }
        for (b, a) in batchExamples.enumerated() {
            // Rows a call does not have (past the first token) stay zero: the site's buffers start so.
            if classIndex == 0 {
                pack(x, stride: inFeatures, width: inFeatures, example: b, firstTokensOnly: firstTokensOnly, into: site.inputs.pointer + tokenOffsets[a] * inFeatures)
            }
            let packed = site.gradients.pointer + (tokenOffsets[a] * classes + classIndex * lengths[a]) * outFeatures
            pack(dY, stride: dYStride, width: outFeatures, example: b, firstTokensOnly: firstTokensOnly, into: packed)
            let count = rows(b, firstTokensOnly: firstTokensOnly).count
            if let biasColumn {
                let biasGradient = rowVectors.pointer + row(b) * columns.width + biasColumn
                for t in 0..<count { Elementwise.add(packed + t * outFeatures, into: biasGradient, count: outFeatures) }
            }
            var last = count
            while last > site.active[a], UnsafeBufferPointer(start: packed + (last - 1) * outFeatures, count: outFeatures).allSatisfy({ $0 == 0 }) { last -= 1 }
            site.active[a] = max(site.active[a], last)
        }
    }

    func layerNorm(weight: ParameterView, bias: ParameterView, dY: UnsafePointer<Float>, x: UnsafePointer<Float>,
                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, width: Int, firstTokensOnly: Bool) {
        // Not in any group (LoRA: the backbone is frozen).
        guard let weightColumn = columns.start[weight.offset], let biasColumn = columns.start[bias.offset] else { return }
        let xhat = scratch.pointer
        for b in batchExamples.indices {
            let out = rowVectors.pointer + row(b) * columns.width
            let weightGradient = out + weightColumn, biasGradient = out + biasColumn
            let (first, count) = rows(b, firstTokensOnly: firstTokensOnly)
            for t in 0..<count {
                let r = first + t
                for j in 0..<width { xhat[j] = (x[r * width + j] - mean[r]) * rstd[r] }
                Elementwise.addProduct(dY + r * width, xhat, into: weightGradient, count: width)
                Elementwise.add(dY + r * width, into: biasGradient, count: width)
            }
        }
    }

    /// Token t's gradient goes to position column t, the row it reads while rows follow places:
    /// RoBERTa's do not after a literal `<pad>` in a text (``BertConfig/positionRows(_:)``), and
    /// the position part of such an example's kernel entries is then not exact.
    func embeddingSum(_ dSum: UnsafePointer<Float>) {
        for (b, a) in batchExamples.enumerated() {
            let out = rowVectors.pointer + row(b) * columns.width
            for t in 0..<lengths[a] {
                let gradient = dSum + (batchOffsets[b] + t) * hidden
                if let positionColumn { (out + positionColumn + t * hidden).update(from: gradient, count: hidden) }
                if let tokenTypeColumn { Elementwise.add(gradient, into: out + tokenTypeColumn + Int(tokenTypes[a][t]) * hidden, count: hidden) }
            }
        }
    }

    /// ∂/∂(embedding sum) of row r at token t: the position columns hold it.
    func embeddingGradient(row r: Int, token t: Int) -> UnsafePointer<Float> {
        UnsafePointer(rowVectors.pointer + r * columns.width + positionColumn! + t * hidden)
    }
}
