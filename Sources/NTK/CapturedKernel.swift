import Compute
import Dispatch
import Transformer

extension NTKComputer {
    /// One forward pass per batch of examples and one backward pass per class, with no weight
    /// gradients: the tap keeps what each row of J needs. Then the threads share out the dense
    /// weights: most are formed a slab of J at a time (a few output rows, for all rows of J) in
    /// a buffer each thread reuses, followed by `ssyrk`; those with many inputs per output
    /// against few tokens per example go through Gram matrices of the tokens instead. J is
    /// never whole in memory.
    func fromCaptures(_ batch: [Example], slabColumns: Int) throws -> NeuralTangentKernel {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize, rows = n * c
        let (wordGroup, dense) = ParameterGroup.groups(for: model.layout)
        let capture = JacobianCapture(examples: batch, classes: c, hidden: h, columns: vectorColumns(for: batch), embeddings: model.layout.embeddings,
                                      wanted: denseWeights)
        var phases: [(name: String, seconds: Double)] = []
        var phaseStart = DispatchTime.now().uptimeNanoseconds
        func phase(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            phases.append((name, Double(now - phaseStart) * 1e-9))
            phaseStart = now
        }
        let (features, logits, passes) = try capturePasses(batch, into: capture)
        capture.dense.forEach { $0.compact() }
        phase("passes and captures")
        let kernels = denseKernels(dense, capture: capture, slabColumns: slabColumns)
        phase("dense kernels")

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
        var ntk = assemble(n, word: word, kernels: kernels, features: features, logits: logits, passes: passes)
        phase("word kernel and assembly")
        ntk.phases = phases
        return ntk
    }

    /// The batched passes, in batches of similar length.
    private func capturePasses(_ batch: [Example], into capture: JacobianCapture) throws -> (features: [Float], logits: [Float], passes: Int) {
        let n = batch.count, c = model.config.classCount, h = model.config.hiddenSize
        let layout = model.layout, p = parameters.pointer
        let batchSize = 16
        let workspace = model.makeWorkspace(maxBatchSize: batchSize, maxSequenceLength: batch.map(\.ids.count).max() ?? 1)
        // Weight gradients nobody reads: the empty scope skips the backbone's; LoRA adapters still write theirs.
        let unused = FloatBuffer(count: model.parameterCount)
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
            capture.batchOffsets = input.offsets
            for k in 0..<c {
                for b in members.indices { (dFeatures.pointer + b * h).update(from: p + layout.head.weight.offset + k * h, count: h) }
                capture.classIndex = k
                model.encoderBackward(p, dFeatures: dFeatures.pointer, gradients: unused.pointer, workspace: workspace, scope: .ranges([]), tap: capture)
                passes += 1
            }
        }
        return (features, logits, passes)
    }

    /// A unit of the dense kernels' work.
    private enum Block {
        /// A group's captured vector columns: one `ssyrk`.
        case vectors(Range<Int>)
        /// Some output rows of a weight: J's columns for them formed in the slab, then `ssyrk`.
        case weight(JacobianCapture.DenseSite, outputs: Range<Int>)
        /// A weight's kernel between a run of examples and itself and every later run, from Gram
        /// matrices of the tokens: ⟨dY_aᵀX_a, dY_bᵀX_b⟩ = Σ_ts (dY_a dY_bᵀ)_ts (X_a X_bᵀ)_ts.
        /// The block's run is `runs[index]`.
        case gram(JacobianCapture.DenseSite, runs: [Range<Int>], index: Int)
    }

    /// Which weights take the Gram route (`whenCheaper` outside tests).
    enum GramRule { case whenCheaper, never, always }

    /// Multiply–adds of a weight's kernel by forming J (fill plus `ssyrk`) and by Gram matrices.
    /// Per pair of examples the Gram route costs T²·(C²·out + in) against C²·in·out, so it wins
    /// for short texts: at C = 2 on MiniLM below 28 tokens for the feed-forward output layer
    /// (1536 → 384), below about 19 for the other weights.
    private static func costs(_ site: JacobianCapture.DenseSite) -> (formed: Double, gram: Double) {
        let c = Double(site.classes), rows = Double(site.lengths.count) * c, tokens = Double(site.tokens)
        let (inputs, outputs) = (Double(site.inFeatures), Double(site.outFeatures))
        let formed = (rows * (rows + 1) / 2 + c * tokens) * inputs * outputs
        let gram = (c * tokens) * (c * tokens) / 2 * outputs + tokens * tokens / 2 * inputs
        return (formed, gram)
    }

    private func blocks(_ dense: [ParameterGroup], capture: JacobianCapture, scratch: Int, slabColumns: Int) -> [(group: Int, block: Block, cost: Double)] {
        let c = capture.classes, n = capture.lengths.count, rows = n * c
        var blocks: [(group: Int, block: Block, cost: Double)] = []
        for (g, group) in dense.enumerated() {
            let span = capture.columns.spans[g]
            if !span.isEmpty { blocks.append((g, .vectors(span), Double(rows * rows / 2 * span.count))) }
            for r in group.ranges where capture.columns.start[r.lowerBound] == nil {
                guard let site = capture.dense.first(where: { $0.weight == r }) else {
                    preconditionFailure("no dense layer was captured for \(group.name)'s parameters \(r)")
                }
                let (formed, gram) = Self.costs(site)
                let runs = tokenRuns(site)
                if gramRule == .always || (gramRule == .whenCheaper && gram < formed), gramScratch(site, runs: runs) <= scratch {
                    for (i, run) in runs.enumerated() {
                        let own = Double(site.tokenOffset(run.upperBound) - site.tokenOffset(run.lowerBound))
                        let later = Double(site.tokens - site.tokenOffset(run.lowerBound))
                        blocks.append((g, .gram(site, runs: runs, index: i), own * later * Double(c * c * site.outFeatures + site.inFeatures)))
                    }
                } else {
                    let step = max(1, slabColumns / site.inFeatures)
                    for o in stride(from: 0, to: site.outFeatures, by: step) {
                        let outputs = o..<min(site.outFeatures, o + step)
                        blocks.append((g, .weight(site, outputs: outputs), formed * Double(outputs.count) / Double(site.outFeatures)))
                    }
                }
            }
        }
        return blocks
    }

    /// Consecutive examples of about `gramRunTokens` tokens (at least one example each): the
    /// Gram route's unit, small enough that a pair of runs' Gram matrices stay in cache while
    /// they are reduced.
    private func tokenRuns(_ site: JacobianCapture.DenseSite) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0
        for a in site.lengths.indices where site.tokenOffset(a + 1) - site.tokenOffset(start) >= gramRunTokens || a == site.lengths.count - 1 {
            runs.append(start..<(a + 1))
            start = a + 1
        }
        return runs
    }

    /// Floats the Gram matrices of the largest pair of runs take.
    private func gramScratch(_ site: JacobianCapture.DenseSite, runs: [Range<Int>]) -> Int {
        let tokens = runs.map { site.tokenOffset($0.upperBound) - site.tokenOffset($0.lowerBound) }.max() ?? 0
        return (site.classes * tokens) * (site.classes * tokens) + tokens * tokens
    }

    /// Blocks to threads, largest first, each to the least loaded thread so far: balanced, and
    /// fixed by the shapes alone, so each thread's partial sums are the same on every run.
    private static func schedule(_ costs: [Double], workers: Int) -> [[Int]] {
        var load = [Double](repeating: 0, count: workers)
        var assigned = [[Int]](repeating: [], count: workers)
        for i in costs.indices.sorted(by: { (costs[$0], $1) > (costs[$1], $0) }) {
            let w = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            assigned[w].append(i)
            load[w] += costs[i]
        }
        return assigned.map { $0.sorted() }
    }

    /// Each dense group's kernel, every thread summing its blocks into its own partial kernels,
    /// which are added in thread order.
    private func denseKernels(_ dense: [ParameterGroup], capture: JacobianCapture, slabColumns: Int) -> [String: [Float]] {
        let c = capture.classes, n = capture.lengths.count, rows = n * c
        let scratch = rows * slabColumns
        let blocks = blocks(dense, capture: capture, scratch: scratch, slabColumns: slabColumns)
        let workers = max(1, min(model.threads, blocks.count))
        let assignment = Self.schedule(blocks.map(\.cost), workers: workers)
        let partials = (0..<workers).map { _ in FloatBuffer(count: dense.count * rows * rows) }
        BLAS.withSingleThread {
            parallelChunks(workers, threads: workers) { w, _ in
                let buffer = FloatBuffer(count: scratch)
                for i in assignment[w] {
                    let kernel = partials[w].pointer + blocks[i].group * rows * rows
                    switch blocks[i].block {
                    case let .vectors(span):
                        BLAS.syrkUpper(n: rows, k: span.count, a: capture.rowVectors.pointer + span.lowerBound, lda: capture.columns.width, beta: 1, c: kernel)
                    case let .weight(site, outputs):
                        let width = outputs.count * site.inFeatures
                        for r in 0..<rows {
                            let a = r / c, tokens = site.lengths[a], first = site.tokenOffset(a)
                            BLAS.gemm(transposeA: true, m: outputs.count, n: site.inFeatures, k: tokens,
                                      a: site.gradients.pointer + (first * c + r % c * tokens) * site.outFeatures + outputs.lowerBound, lda: site.outFeatures,
                                      b: site.inputs.pointer + first * site.inFeatures, ldb: site.inFeatures,
                                      c: buffer.pointer + r * width, ldc: site.inFeatures)
                        }
                        BLAS.syrkUpper(n: rows, k: width, a: buffer.pointer, lda: width, beta: 1, c: kernel)
                    case let .gram(site, runs, index):
                        for target in runs[index...] {
                            addGram(site, rows: runs[index], columns: target, capture: capture, scratch: buffer.pointer, into: kernel)
                        }
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

    /// Adds the weight's kernel entries between the rows of examples `sources` and of `targets`
    /// (a later run, or the same one) to the upper triangle of `kernel`.
    private func addGram(_ site: JacobianCapture.DenseSite, rows sources: Range<Int>, columns targets: Range<Int>, capture: JacobianCapture,
                         scratch: UnsafeMutablePointer<Float>, into kernel: UnsafeMutablePointer<Float>) {
        let c = capture.classes, rows = capture.lengths.count * c
        let (from, to) = (site.tokenOffset(sources.lowerBound), site.tokenOffset(targets.lowerBound))
        let m = site.tokenOffset(sources.upperBound) - from, n = site.tokenOffset(targets.upperBound) - to
        // Tokens are packed by example, output gradients by (example, class): each Gram matrix is one GEMM.
        let dGram = scratch, xGram = scratch + c * m * c * n
        let (dY, x) = (site.gradients.pointer, site.inputs.pointer)
        BLAS.gemm(transposeB: true, m: c * m, n: c * n, k: site.outFeatures, a: dY + c * from * site.outFeatures, lda: site.outFeatures,
                  b: dY + c * to * site.outFeatures, ldb: site.outFeatures, c: dGram, ldc: c * n)
        BLAS.gemm(transposeB: true, m: m, n: n, k: site.inFeatures, a: x + from * site.inFeatures, lda: site.inFeatures,
                  b: x + to * site.inFeatures, ldb: site.inFeatures, c: xGram, ldc: n)
        for a in sources {
            let ta = site.lengths[a], ia = site.tokenOffset(a) - from
            for b in targets where b >= a {
                let tb = site.lengths[b], ib = site.tokenOffset(b) - to
                for k in 0..<c {
                    for k2 in 0..<c where b > a || k2 >= k {
                        var sum: Float = 0
                        for t in 0..<ta {
                            sum += Elementwise.dot(dGram + (c * ia + k * ta + t) * c * n + c * ib + k2 * tb, xGram + (ia + t) * n + ib, count: tb)
                        }
                        kernel[(a * c + k) * rows + b * c + k2] += sum
                    }
                }
            }
        }
    }
}
