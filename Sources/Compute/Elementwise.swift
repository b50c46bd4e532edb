/// Small vector operations used between the GEMMs.
public enum Elementwise {
    /// y[i] += x[i].
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        parallelElements(count, threads: threads) { r in
            forEachBlock(r.count) { j, lanes in
                let i = r.lowerBound + j
                store(load(y + i, lanes) + load(x + i, lanes), y + i, lanes)
            }
        }
    }

    /// out[i] = a[i] + b[i] + c[i].
    public static func sum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        forEachBlock(count) { i, lanes in store(load(a + i, lanes) + load(b + i, lanes) + load(c + i, lanes), out + i, lanes) }
    }

    /// out[i] = x[i] · m[i]. `out` may alias `x`.
    public static func multiply(_ x: UnsafePointer<Float>, _ m: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        parallelElements(count, threads: threads) { r in
            forEachBlock(r.count) { j, lanes in
                let i = r.lowerBound + j
                store(load(x + i, lanes) * load(m + i, lanes), out + i, lanes)
            }
        }
    }

    /// out[i] = a · x[i]. `out` may alias `x`.
    public static func scale(_ x: UnsafePointer<Float>, by a: Float, into out: UnsafeMutablePointer<Float>, count: Int) {
        forEachBlock(count) { i, lanes in store(load(x + i, lanes) * Vec8(repeating: a), out + i, lanes) }
    }

    /// y[i] += a[i] · b[i].
    public static func addProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        forEachBlock(count) { i, lanes in
            var acc = load(y + i, lanes)
            acc.addProduct(load(a + i, lanes), load(b + i, lanes))
            store(acc, y + i, lanes)
        }
    }

    /// Σ a[i] · b[i], eight lanes then their sum (a fixed order).
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vec8()
        forEachBlock(count) { i, lanes in acc.addProduct(load(a + i, lanes), load(b + i, lanes)) }
        return acc.sum()
    }

    /// Σ x[i]², accumulated in Double so that norms over millions of parameters stay exact enough.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 4096)
            var acc = Vec8()
            forEachBlock(end - start) { i, lanes in
                let v = load(x + start + i, lanes)
                acc.addProduct(v, v)
            }
            total += Double(acc.sum())
            start = end
        }
        return total
    }
}
