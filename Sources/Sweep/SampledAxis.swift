import Config
import Crypto
import Foundation

/// An axis whose values are drawn rather than listed: `lr: {log_uniform: [1e-6, 1e-4], samples: 8}`,
/// `{uniform: [0.1, 0.9], samples: 4}` or `{choice: [8, 16, 32], samples: 2}`. The draws depend
/// only on the sweep's `seed` and the axis's path, so a spec plans the same values, and so the
/// same trial ids, on every run and machine; the drawn values then cross the other axes like a
/// listed axis's (FT and LP-FT get the same rates, so they pair).
enum SampledAxis {
    /// The kinds, as a spec names them.
    static let kinds = ["log_uniform", "uniform", "choice"]

    /// The values an axis mapping draws, or nil when it names no sampling kind.
    static func values(_ axis: ConfigReader, path: String, sweepSeed: UInt64) throws -> [ConfigValue]? {
        let named = kinds.filter { axis.has($0) }
        guard let kind = named.first else { return nil }
        guard named.count == 1, !axis.has("values") else { throw axis.fail(kind, "give one of values, \(kinds.joined(separator: ", "))") }
        guard let samples = try axis.int("samples", range: 1...10_000) else { throw axis.fail("samples", "required with \(kind): how many values to draw") }
        var rng = SplitMix64(seed: sweepSeed ^ pathSeed(path))
        if kind == "choice" {
            guard let options = axis.raw(kind) as? [Any], !options.isEmpty else { throw axis.fail(kind, "expected a non-empty list") }
            return (0..<samples).map { _ in ConfigValue(options[rng.below(options.count)]) }
        }
        guard let bounds = axis.raw(kind) as? [Any], bounds.count == 2,
              let lo = ConfigValue(bounds[0]).double, let hi = ConfigValue(bounds[1]).double, lo < hi
        else { throw axis.fail(kind, "expected [low, high] with low < high") }
        if kind == "log_uniform", lo <= 0 { throw axis.fail(kind, "needs positive bounds, got \(lo)") }
        return (0..<samples).map { _ in
            let u = rng.unit()
            let x = kind == "uniform" ? lo + u * (hi - lo) : exp(log(lo) + u * (log(hi) - log(lo)))
            return .number(rounded(x))
        }
    }

    /// Four significant digits: values that read well in tables, and that plan the same on a
    /// machine whose `exp` and `log` differ from this one's in the last bit.
    static func rounded(_ x: Double) -> Double {
        Double(String(format: "%.4g", x))!
    }

    /// A stable 64-bit seed for an axis from its path (Swift's `hashValue` changes per process).
    static func pathSeed(_ path: String) -> UInt64 {
        SHA256.hash(data: Data(path.utf8)).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, the same on every machine, for
/// draws that must not depend on the platform's random source.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (Lemire's multiply-shift; its bias is below 2⁻³² for n < 2³², far under
    /// a bootstrap's or a search's noise).
    public mutating func below(_ n: Int) -> Int { Int(((next() >> 32) &* UInt64(n)) >> 32) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
