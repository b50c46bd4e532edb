import Compute
import Foundation
import Transformer

/// A resumable snapshot of the FT stage at the end of an epoch: the trainable parameters, the
/// AdamW moments and step, the best epoch's parameters, and the metrics so far.
///
/// Layout: `checkpoints/epoch-N/{tensors.safetensors, state.json}`. The directory is written as
/// `epoch-N.partial` and renamed when complete, and `state.json` carries a checksum of the
/// tensors, so a torn or corrupt checkpoint is recognised and skipped, never loaded. The two
/// newest complete checkpoints are kept (the older one is the fallback when the newer is bad).
struct TrialCheckpoint {
    struct State: Codable, Equatable {
        var epoch: Int
        var optimizerStep: Int
        var bestEpoch: Int
        var bestAccuracy: Double
        /// The best epoch's selection score when the trial selects by something other than
        /// accuracy (nil in checkpoints from before selection was a choice).
        var bestScore: Double?
        /// Final metrics reported before this point (LP stage, initial head norm, …).
        var metrics: [String: Double]
        var config: String
        /// The resolved thread count: results are bit-identical only for the same count.
        var threads: Int
        var tensorsChecksum: String
        var bestIsCurrent: Bool
    }

    let state: State
    let tensors: SafeTensorsFile

    static func directory(_ root: URL, epoch: Int) -> URL { root.appendingPathComponent("epoch-\(epoch)") }

    /// FNV-1a, 64-bit, over the file's bytes: enough to recognise a torn or altered file
    /// (this is integrity against accidents, not security).
    static func checksum(of url: URL) throws -> String {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw TrialCheckpointError.unreadable("\(url.path): \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        while let chunk = try handle.read(upToCount: 1 << 24), !chunk.isEmpty {
            chunk.withUnsafeBytes { bytes in
                for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            }
        }
        return String(hash, radix: 16)
    }

    /// Writes the checkpoint for `state.epoch` and prunes all but the two newest.
    static func write(to root: URL, state: State, trainable: [ParameterView], parameters: FloatBuffer, best: FloatBuffer, optimizer: AdamW) throws {
        let fm = FileManager.default
        let final = directory(root, epoch: state.epoch)
        let partial = root.appendingPathComponent("epoch-\(state.epoch).partial")
        try? fm.removeItem(at: partial)
        try fm.createDirectory(at: partial, withIntermediateDirectories: true)
        var tensors: [SafeTensorsWriter.Tensor] = []
        func add(_ prefix: String, _ buffer: FloatBuffer) {
            for v in trainable {
                tensors.append(.init(name: "\(prefix)/\(v.name)", shape: v.shape, values: UnsafeBufferPointer(start: buffer.pointer + v.offset, count: v.count)))
            }
        }
        add("param", parameters)
        add("adam_m", optimizer.firstMoment)
        add("adam_v", optimizer.secondMoment)
        if !state.bestIsCurrent { add("best", best) }
        let tensorsURL = partial.appendingPathComponent("tensors.safetensors")
        try SafeTensorsWriter.write(tensors, to: tensorsURL.path)
        var complete = state
        complete.tensorsChecksum = try checksum(of: tensorsURL)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(complete).write(to: partial.appendingPathComponent("state.json"), options: .atomic)
        if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
        try fm.moveItem(at: partial, to: final)
        let epochs = try completeEpochs(in: root)
        for old in epochs.dropFirst(2) { try? fm.removeItem(at: directory(root, epoch: old)) }
    }

    /// Epoch numbers of the checkpoint directories, newest first.
    static func completeEpochs(in root: URL) throws -> [Int] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.compactMap { $0.hasPrefix("epoch-") ? Int($0.dropFirst(6)) : nil }.sorted(by: >)
    }

    /// The newest checkpoint that is whole and belongs to `config`; bad ones are reported through
    /// `skipped` and passed over.
    static func latest(in root: URL, config: String, threads: Int, trainable: [ParameterView], skipped: (String) -> Void) throws -> TrialCheckpoint? {
        for epoch in try completeEpochs(in: root) {
            let dir = directory(root, epoch: epoch)
            do {
                let stateData = try Data(contentsOf: dir.appendingPathComponent("state.json"))
                let decoder = JSONDecoder()
                decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                let state = try decoder.decode(State.self, from: stateData)
                guard state.epoch == epoch else { throw TrialCheckpointError.invalid("state.json says epoch \(state.epoch)") }
                guard state.config == config else { throw TrialCheckpointError.invalid("written by a different trial config") }
                guard state.threads == threads else {
                    throw TrialCheckpointError.invalid("written with \(state.threads) threads, this run has \(threads); resuming would not reproduce the numbers")
                }
                let tensorsURL = dir.appendingPathComponent("tensors.safetensors")
                guard try checksum(of: tensorsURL) == state.tensorsChecksum else { throw TrialCheckpointError.invalid("tensors.safetensors does not match its checksum (torn or altered)") }
                let tensors = try SafeTensorsFile(path: tensorsURL.path)
                let prefixes = ["param", "adam_m", "adam_v"] + (state.bestIsCurrent ? [] : ["best"])
                for v in trainable {
                    for prefix in prefixes where tensors.tensors["\(prefix)/\(v.name)"]?.shape != v.shape {
                        throw TrialCheckpointError.invalid("\(prefix)/\(v.name) is missing or mis-shaped")
                    }
                }
                return TrialCheckpoint(state: state, tensors: tensors)
            } catch {
                skipped("skipping checkpoint \(dir.lastPathComponent): \(error)")
            }
        }
        return nil
    }

    /// Copies the saved tensors back into the trial's buffers.
    func restore(trainable: [ParameterView], parameters: FloatBuffer, best: FloatBuffer, optimizer: AdamW) throws {
        for v in trainable {
            for (prefix, buffer) in [("param", parameters), ("adam_m", optimizer.firstMoment), ("adam_v", optimizer.secondMoment)] {
                try tensors.read("\(prefix)/\(v.name)", into: buffer.pointer + v.offset)
            }
        }
        best.copy(from: parameters)
        if !state.bestIsCurrent {
            for v in trainable { try tensors.read("best/\(v.name)", into: best.pointer + v.offset) }
        }
        optimizer.step = state.optimizerStep
    }
}

enum TrialCheckpointError: Error, CustomStringConvertible {
    case unreadable(String)
    case invalid(String)

    var description: String {
        switch self {
        case let .unreadable(path): return "cannot read \(path)"
        case let .invalid(reason): return reason
        }
    }
}
