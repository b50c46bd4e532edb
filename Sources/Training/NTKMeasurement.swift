import Compute
import Dispatch
import NTK

/// The NTK of a model on seeded samples of training and evaluation examples, with its
/// statistics: the one path `lpft train` (where FT starts) and `lpft ntk` both take, so that
/// the same seed picks the same examples and gives the same numbers in either.
struct NTKMeasurement {
    let kernel: NeuralTangentKernel
    let summary: NTKSummary
    /// Wall-clock seconds of the kernels and of their statistics.
    let seconds: (kernels: Double, statistics: Double)

    /// The training examples the measurement uses (at most `count`, in their original order).
    static func trainSample<T>(_ all: [T], count: Int, seed: UInt64) -> [T] {
        RandomStream(seed: seed, stream: 0x4E54_4B).sample(all, count: count)  // "NTK"
    }

    /// The evaluation examples, from a stream of their own.
    static func evalSample<T>(_ all: [T], count: Int, seed: UInt64) -> [T] {
        RandomStream(seed: seed, stream: 0x4E54_4B45).sample(all, count: count)  // "NTKE"
    }

    /// - Parameters: `batch` and `labels` hold the training examples first, then the evaluation ones.
    init(_ computer: NTKComputer, batch: [(ids: [Int32], tokenTypeIDs: [Int32])], labels: [Int], trainCount: Int) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        kernel = try computer.compute(batch)
        let computed = DispatchTime.now().uptimeNanoseconds
        summary = NTKSummary(kernel, labels: labels, trainCount: trainCount)
        seconds = (Double(computed - start) * 1e-9, Double(DispatchTime.now().uptimeNanoseconds - computed) * 1e-9)
    }
}
