import Compute
import Transformer

extension NTKComputer {
    /// One forward pass per batch of examples and one backward pass per class, with no weight
    /// gradients: the tap keeps what each row of J needs. Then each thread forms J a slab at a
    /// time (a few output rows of one weight, for all rows) in a buffer it reuses, and adds the
    /// slab's J Jᵀ to its own partial kernels; J is never whole in memory.
    func fromCaptures(_ batch: [Example], slabColumns: Int) throws -> NeuralTangentKernel {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize, rows = n * c
        let (wordGroup, dense) = ParameterGroup.groups(for: model.layout)
        let capture = JacobianCapture(examples: batch, classes: c, hidden: h, columns: vectorColumns(for: batch), embeddings: model.layout.embeddings)
        let (features, logits, passes) = try capturePasses(batch, into: capture)
        let kernels = denseKernels(dense, capture: capture, slabColumns: slabColumns)

        var word: [Float]?
        if wordGroup != nil {
            var wordRows: [Int32: [(row: Int, values: [Float])]] = [:]
            for (a, example) in batch.enumerated() {
                let positions = Dictionary(grouping: example.ids.indices) { example.ids[$0] }
                for k in 0..<c {
                    let r = a * c + k
                    for (id, tokens) in positions {
                        var sum = [Float](repeating: 0, count: h)
                        for t in tokens { Elementwise.add(capture.embeddingGradient(row: r, token: t), into: &sum, count: h) }
                        wordRows[id, default: []].append((r, sum))
                    }
                }
            }
            word = wordKernel(wordRows, rows: rows, width: h)
        }
        return assemble(n, word: word, kernels: kernels, features: features, logits: logits, passes: passes)
    }

    /// The batched passes, in batches of similar length so that little is padding.
    private func capturePasses(_ batch: [Example], into capture: JacobianCapture) throws -> (features: [Float], logits: [Float], passes: Int) {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize
        let layout = model.layout, p = parameters.pointer
        let batchSize = 16
        let workspace = model.makeWorkspace(maxBatchSize: batchSize, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        let unused = FloatBuffer(count: model.parameterCount)  // an empty scope writes no weight gradient
        let dFeatures = FloatBuffer(count: batchSize * h)
        var features = [Float](repeating: 0, count: n * h), logits = [Float](repeating: 0, count: n * c)
        var passes = 0
        let order = batch.indices.sorted { (batch[$0].ids.count, $0) < (batch[$1].ids.count, $1) }
        for start in stride(from: 0, to: n, by: batchSize) {
            let members = Array(order[start..<min(n, start + batchSize)])
            let input = try TokenBatch(sequences: members.map { batch[$0].ids }, tokenTypes: members.map { batch[$0].tokenTypeIDs })
            try model.forward(p, input, workspace: workspace)
            for (b, i) in members.enumerated() {
                for j in 0..<h { features[i * h + j] = workspace.features[b * h + j] }
                for k in 0..<c { logits[i * c + k] = workspace.logits[b * c + k] }
            }
            capture.batchExamples = members
            capture.paddedLength = input.sequenceLength
            for k in 0..<c {
                for b in members.indices { (dFeatures.pointer + b * h).update(from: p + layout.head.weight.offset + k * h, count: h) }
                capture.classIndex = k
                model.encoderBackward(p, dFeatures: dFeatures.pointer, gradients: unused.pointer, workspace: workspace, scope: .ranges([]), tap: capture)
                passes += 1
            }
        }
        return (features, logits, passes)
    }

    /// A unit of the dense kernels' work: a group's captured vector columns, or some output rows
    /// of one of its weights.
    private enum Block {
        case vectors(Range<Int>)
        case weight(JacobianCapture.DenseSite, outputs: Range<Int>)
    }

    /// Each dense group's kernel. Blocks go to threads round-robin, each thread summing into its
    /// own partial kernels, added in thread order: the same numbers for the same thread count.
    private func denseKernels(_ dense: [ParameterGroup], capture: JacobianCapture, slabColumns: Int) -> [String: [Float]] {
        let c = capture.classes, rows = capture.lengths.count * c
        var blocks: [(group: Int, block: Block)] = []
        for (g, group) in dense.enumerated() {
            if !capture.columns.spans[g].isEmpty { blocks.append((g, .vectors(capture.columns.spans[g]))) }
            for r in group.ranges where capture.columns.start[r.lowerBound] == nil {
                guard let site = capture.dense.first(where: { $0.weight == r }) else {
                    preconditionFailure("no dense layer was captured for \(group.name)'s parameters \(r)")
                }
                let step = max(1, slabColumns / site.inFeatures)
                for o in stride(from: 0, to: site.outFeatures, by: step) {
                    blocks.append((g, .weight(site, outputs: o..<min(site.outFeatures, o + step))))
                }
            }
        }
        let workers = max(1, min(model.threads, blocks.count))
        let partials = (0..<workers).map { _ in FloatBuffer(count: dense.count * rows * rows) }
        BLAS.withSingleThread {
            parallelChunks(workers, threads: workers) { w, _ in
                let slab = FloatBuffer(count: rows * slabColumns)
                for i in stride(from: w, to: blocks.count, by: workers) {
                    let kernel = partials[w].pointer + blocks[i].group * rows * rows
                    switch blocks[i].block {
                    case let .vectors(span):
                        BLAS.syrkUpper(n: rows, k: span.count, a: capture.rowVectors.pointer + span.lowerBound, lda: capture.columns.width, beta: 1, c: kernel)
                    case let .weight(site, outputs):
                        let width = outputs.count * site.inFeatures
                        for r in 0..<rows {
                            let a = r / c, tokens = capture.lengths[a], first = capture.tokenOffsets[a]
                            BLAS.gemm(transposeA: true, m: outputs.count, n: site.inFeatures, k: tokens,
                                      a: site.gradients.pointer + (first * c + r % c * tokens) * site.outFeatures + outputs.lowerBound, lda: site.outFeatures,
                                      b: site.inputs.pointer + first * site.inFeatures, ldb: site.inFeatures,
                                      c: slab.pointer + r * width, ldc: site.inFeatures)
                        }
                        BLAS.syrkUpper(n: rows, k: width, a: slab.pointer, lda: width, beta: 1, c: kernel)
                    }
                }
            }
        }
        var kernels = [String: [Float]]()
        for (g, group) in dense.enumerated() {
            var k = [Float](repeating: 0, count: rows * rows)
            k.withUnsafeMutableBufferPointer { out in
                for partial in partials { Elementwise.add(partial.pointer + g * rows * rows, into: out.baseAddress!, count: rows * rows) }
                BLAS.mirrorUpper(out.baseAddress!, n: rows)
            }
            kernels[group.name] = k
        }
        return kernels
    }
}
