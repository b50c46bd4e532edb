/// A counter-based random number generator: the value at `index` depends only on
/// `(seed, stream, index)`, never on call order or thread schedule.
///
/// That makes dropout masks reproducible whatever the thread count, and lets any
/// draw be regenerated instead of stored. Mixing is SplitMix64.
public struct RandomStream: Sendable, Hashable {
    public let seed: UInt64
    public let stream: UInt64
    private let key: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
        key = RandomStream.mix(seed &+ RandomStream.mix(stream &+ 0x632B_E59B_D9B4_E019))
    }

    /// A sub-stream, e.g. one per training step and dropout site.
    public func derived(_ substream: UInt64) -> RandomStream {
        RandomStream(seed: key, stream: substream)
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 64 random bits for `index`.
    @inline(__always)
    public func bits(at index: UInt64) -> UInt64 {
        RandomStream.mix(key &+ index &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public func uniform(at index: UInt64) -> Float {
        Float(bits(at: index) >> 40) * 0x1p-24
    }

    /// A Fisher–Yates permutation of 0..<n.
    public func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(bits(at: UInt64(i)) % UInt64(i + 1))) }
        return order
    }

    /// `count` of `items` drawn without replacement, kept in their original order
    /// (all of them when there are no more than `count`).
    public func sample<T>(_ items: [T], count: Int) -> [T] {
        items.count <= count ? items : permutation(items.count).prefix(count).sorted().map { items[$0] }
    }

    /// Standard normal (Box–Muller on two independent uniforms).
    public func normal(at index: UInt64) -> Float {
        let word = bits(at: index)
        let u1 = (Double(word >> 32) + 1) * 0x1p-32  // (0, 1]: log is finite
        let u2 = Double(word & 0xFFFF_FFFF) * 0x1p-32
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
