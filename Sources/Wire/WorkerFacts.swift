import Foundation

/// What a worker computes with: named in its HELLO, stored with every attempt it runs, shown in
/// reports, so that numbers from two builds or two BLAS kernels never mix unnoticed.
public struct WorkerFacts: Codable, Equatable, Sendable {
    /// The lpft build (version and git commit). A coordinator refuses a worker of another
    /// build unless it runs with `--allow-mixed-builds`.
    public var build: String
    /// The BLAS library and the kernel it picked for this CPU.
    public var blas: String
    /// The CPU model.
    public var cpu: String
    /// The CPU's vector-instruction flags, which decide the kernels (avx2, fma, avx512f…).
    public var cpuFlags: [String]
    /// Threads per trial, when the worker sets them (nil: each trial's config decides).
    public var threads: Int?

    public init(build: String, blas: String, cpu: String, cpuFlags: [String], threads: Int?) {
        (self.build, self.blas, self.cpu, self.cpuFlags, self.threads) = (build, blas, cpu, cpuFlags, threads)
    }

    /// This machine's CPU (from /proc/cpuinfo) with the given build, BLAS and threads.
    public static func thisMachine(build: String, blas: String, threads: Int?) -> WorkerFacts {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let (cpu, flags) = cpuDescription(info)
        return WorkerFacts(build: build, blas: blas, cpu: cpu, cpuFlags: flags, threads: threads)
    }

    /// The model and vector flags of the first processor in /proc/cpuinfo's text (x86's
    /// `model name` and `flags`, ARM's `Features`).
    static func cpuDescription(_ cpuinfo: String) -> (model: String, flags: [String]) {
        var fields: [String: String] = [:]
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty, !fields.isEmpty { break }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let vector = ["sse", "ssse", "avx", "fma", "f16c", "amx", "asimd", "sve", "neon"]
        let flags = (fields["flags"] ?? fields["Features"] ?? "").split(separator: " ").map(String.init)
            .filter { flag in vector.contains { flag.hasPrefix($0) } }
        let model = fields["model name"] ?? fields["CPU part"].map { "CPU part \($0)" } ?? "unknown"
        return (model, flags)
    }

    /// One JSON object, as the journal stores it with each attempt.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
