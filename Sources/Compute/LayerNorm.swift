/// Row-wise LayerNorm: y = (x − mean) / √(var + eps) · γ + β, biased variance as in PyTorch.
public enum LayerNorm {
    /// Normalises `rows` rows of `width`, saving each row's mean and 1/σ for the backward pass.
    public static func forward(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, eps: Float, threads: Int = 1
    ) {
        parallelElements(rows, threads: threads, grain: max(1, 16_384 / width)) { range in
            for r in range {
                let xr = x + r * width, yr = out + r * width
                // Two passes (mean, then centred squares) keep the variance accurate in float32.
                var sum = Vec8()
                forEachBlock(width) { i, lanes in sum += load(xr + i, lanes) }
                let mu = sum.sum() / Float(width)
                var squares = Vec8()
                forEachBlock(width) { i, lanes in
                    let d = load(xr + i, lanes, fill: mu) - mu
                    squares.addProduct(d, d)
                }
                let inv = 1 / (squares.sum() / Float(width) + eps).squareRoot()
                mean[r] = mu
                rstd[r] = inv
                forEachBlock(width) { i, lanes in
                    let xv = load(xr + i, lanes)
                    let g = load(gamma + i, lanes)
                    let b = load(beta + i, lanes)
                    let y = (xv - mu) * inv * g + b
                    store(y, yr + i, lanes)
                }
            }
        }
    }

    /// Writes dx and accumulates dγ, dβ. `dx` may alias `dy`.
    ///
    /// dx = (1/σ) · (d̂ − mean(d̂) − x̂ · mean(d̂ · x̂)), where d̂ = dy · γ and x̂ the normalised input.
    /// With several threads each sums its rows' dγ, dβ privately; the partial sums are then
    /// added in worker order, so the result is the same for the same thread count.
    public static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        dGamma: UnsafeMutablePointer<Float>?, dBeta: UnsafeMutablePointer<Float>?,
        rows: Int, width: Int, threads: Int = 1
    ) {
        let workers = max(1, min(threads, rows * width / 16_384))
        if workers == 1 {
            backwardRows(0..<rows, dy, x, mean: mean, rstd: rstd, gamma: gamma, dx, dGamma: dGamma, dBeta: dBeta, width: width)
            return
        }
        let partial = FloatBuffer(count: workers * 2 * width)
        parallelChunks(rows, threads: workers) { w, range in
            let pg = partial.pointer + w * 2 * width
            backwardRows(range, dy, x, mean: mean, rstd: rstd, gamma: gamma, dx,
                         dGamma: dGamma == nil ? nil : pg, dBeta: dBeta == nil ? nil : pg + width, width: width)
        }
        for w in 0..<workers {
            let pg = partial.pointer + w * 2 * width
            if let dGamma { Elementwise.add(pg, into: dGamma, count: width) }
            if let dBeta { Elementwise.add(pg + width, into: dBeta, count: width) }
        }
    }

    private static func backwardRows(
        _ rows: Range<Int>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        dGamma: UnsafeMutablePointer<Float>?, dBeta: UnsafeMutablePointer<Float>?, width: Int
    ) {
        for r in rows {
            let xr = x + r * width, dyr = dy + r * width, dxr = dx + r * width
            let mu = mean[r], inv = rstd[r]
            var sumD = Vec8(), sumDX = Vec8()
            forEachBlock(width) { i, lanes in
                let xhat = (load(xr + i, lanes, fill: mu) - mu) * inv
                let g = load(dyr + i, lanes)
                let d = g * load(gamma + i, lanes)
                sumD += d
                sumDX.addProduct(d, xhat)
                if let dGamma {
                    let acc = load(dGamma + i, lanes) + g * xhat
                    store(acc, dGamma + i, lanes)
                }
                if let dBeta {
                    let acc = load(dBeta + i, lanes) + g
                    store(acc, dBeta + i, lanes)
                }
            }
            let meanD = sumD.sum() / Float(width)
            let meanDX = sumDX.sum() / Float(width)
            forEachBlock(width) { i, lanes in
                let xhat = (load(xr + i, lanes) - mu) * inv
                let d = load(dyr + i, lanes) * load(gamma + i, lanes)
                let out = inv * (d - meanD - xhat * meanDX)
                store(out, dxr + i, lanes)
            }
        }
    }
}
