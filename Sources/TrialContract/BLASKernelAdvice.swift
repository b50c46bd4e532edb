import Foundation

/// OpenBLAS picks its kernels by the CPU it recognises; a CPU newer than the library (0.3.21's
/// Debian build on recent Xeons) falls back to the generic `Prescott` kernels, about 3× slower for
/// a MiniLM training step than the AVX-512 `SkylakeX` ones on the same machine (BENCHMARKS.md).
/// Nothing says so unless asked: this says so, with the setting that fixes it.
public enum BLASKernelAdvice {
    /// Advice for a run on `blas` (OpenBLAS's configuration string, which names its `core=`) on
    /// a CPU with `cpuFlags`; nil when the kernels fit the CPU.
    public static func advice(blas: String, cpuFlags: [String]) -> String? {
        guard blas.contains("core=Prescott") || blas.contains("core=Core2") || blas.contains("core=Nehalem") else { return nil }
        let better = cpuFlags.contains("avx512f") ? "SkylakeX" : cpuFlags.contains("avx2") ? "Haswell" : nil
        guard let better else { return nil }
        return "OpenBLAS is running its generic kernels (\(blas.components(separatedBy: " ").first { $0.hasPrefix("core=") } ?? "")) "
            + "on a CPU with \(better == "SkylakeX" ? "AVX-512" : "AVX2"): it does not recognise this CPU. "
            + "Set OPENBLAS_CORETYPE=\(better) for about 3× faster training; each attempt records the kernel it ran on"
    }

    /// The vector flags of this machine's first processor, from /proc/cpuinfo (none elsewhere).
    public static var thisMachineFlags: [String] {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") }
        return line.map { $0.split(separator: ":", maxSplits: 1).last.map { $0.split(separator: " ").map(String.init) } ?? [] } ?? []
    }
}
