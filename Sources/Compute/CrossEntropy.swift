#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Mean softmax cross-entropy over a batch of logits.
public enum CrossEntropy {
    /// Returns the mean loss over `rows`; if `dLogits` is given, writes ∂loss/∂logits
    /// = (softmax − onehot) / rows into it. Accumulates in Double: C is small, rows few.
    @discardableResult
    public static func forwardBackward(
        logits: UnsafePointer<Float>, labels: [Int], classes: Int, dLogits: UnsafeMutablePointer<Float>?
    ) -> Float {
        var total = 0.0
        let rows = labels.count
        for r in 0..<rows {
            let z = logits + r * classes
            var m = -Double.infinity
            for c in 0..<classes { m = Swift.max(m, Double(z[c])) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(z[c]) - m) }
            let logSum = m + log(sum)
            total += logSum - Double(z[labels[r]])
            if let dLogits {
                for c in 0..<classes {
                    let prob = exp(Double(z[c]) - logSum)
                    dLogits[r * classes + c] = Float((prob - (c == labels[r] ? 1 : 0)) / Double(rows))
                }
            }
        }
        return Float(total / Double(rows))
    }
}
