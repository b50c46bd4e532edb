import Compute
import Foundation
import Transformer

/// What the FT stage keeps under `checkpoints/`. Each checkpoint holds what a resume needs
/// and no more: the trainable parameters, the AdamW moments and step, and the best epoch's
/// parameters when they are not the current ones (so 3 or 4 times the trainable parameters in
/// float32; the sizes per model are in BENCHMARKS.md).
public enum CheckpointPolicy: String, Sendable, CaseIterable {
    /// None: a retry starts the trial over.
    case none
    /// The newest only, the one before deleted once the new one is whole. The default.
    case last
    /// As `last` while training; when the trial ends, only the selected epoch's trainable
    /// parameters are kept (`best/parameters.safetensors`, no optimizer state), for using the model.
    case best
    /// Every epoch's, for studying the weights along training (the size times the epochs).
    case every
}

/// A resumable snapshot of the FT stage: at the end of an epoch, or within one when the trial
/// is stopped (SIGTERM), at a step boundary. It holds the trainable parameters, the AdamW moments
/// and step, the best epoch's parameters, the metrics so far and, within an epoch, the steps
/// done and their summed loss; the epoch's data order and dropout follow from the seed, the
/// epoch and the step, so the resumed run continues exactly where this one stopped.
///
/// Layout: `checkpoints/epoch-N/{tensors.safetensors, state.json}` after epoch N, and
/// `epoch-N-step-S/` S steps into epoch N+1. A directory is written as `….partial` and renamed
/// when complete, and `state.json` carries a checksum of the tensors, so a torn or corrupt
/// checkpoint is recognised and skipped, never loaded.
struct TrialCheckpoint {
    struct State: Codable, Equatable {
        /// Epochs complete.
        var epoch: Int
        /// Steps done into epoch `epoch + 1` (nil or 0: none) and the sum of their losses.
        var stepsIntoNextEpoch: Int?
        var lossSumIntoNextEpoch: Double?
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

        var position: Position { Position(epoch: epoch, step: stepsIntoNextEpoch ?? 0) }
    }

    /// Where in training a checkpoint was taken: `step` steps into the epoch after `epoch`.
    struct Position: Comparable {
        var epoch: Int, step: Int
        static func < (a: Position, b: Position) -> Bool { (a.epoch, a.step) < (b.epoch, b.step) }

        var directoryName: String { step == 0 ? "epoch-\(epoch)" : "epoch-\(epoch)-step-\(step)" }

        init(epoch: Int, step: Int) { (self.epoch, self.step) = (epoch, step) }

        /// The position a directory name spells; nil for anything else (`.partial`, `best`).
        init?(directoryName name: String) {
            guard name.hasPrefix("epoch-") else { return nil }
            let parts = name.dropFirst(6).components(separatedBy: "-step-")
            guard let epoch = Int(parts[0]), parts.count <= 2 else { return nil }
            guard let step = parts.count == 2 ? Int(parts[1]) : 0, step >= 0, epoch >= 0 else { return nil }
            (self.epoch, self.step) = (epoch, step)
        }
    }

    let state: State
    let tensors: SafeTensorsFile

    static func directory(_ root: URL, _ position: Position) -> URL { root.appendingPathComponent(position.directoryName) }

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

    /// Writes the checkpoint for `state.position`, then removes the ones `policy` does not keep:
    /// under `every` the other epochs' ends stay, otherwise only the new one does.
    static func write(to root: URL, state: State, policy: CheckpointPolicy, trainable: [ParameterView], parameters: FloatBuffer, best: FloatBuffer, optimizer: AdamW) throws {
        let fm = FileManager.default
        let final = directory(root, state.position)
        let partial = root.appendingPathComponent(state.position.directoryName + ".partial")
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
        for old in try positions(in: root) where old != state.position && !(policy == .every && old.step == 0) {
            try? fm.removeItem(at: directory(root, old))
        }
    }

    /// When the trial has ended under `best`: the selected epoch's trainable parameters (in
    /// `parameters`) replace the resumable checkpoints.
    static func keepOnlyBest(in root: URL, trainable: [ParameterView], parameters: FloatBuffer) throws {
        let fm = FileManager.default
        let bestDirectory = root.appendingPathComponent("best")
        try fm.createDirectory(at: bestDirectory, withIntermediateDirectories: true)
        let tensors = trainable.map { SafeTensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer(start: parameters.pointer + $0.offset, count: $0.count)) }
        let partial = bestDirectory.appendingPathComponent("parameters.safetensors.partial")
        try SafeTensorsWriter.write(tensors, to: partial.path)
        guard rename(partial.path, bestDirectory.appendingPathComponent("parameters.safetensors").path) == 0 else {
            throw TrialCheckpointError.unreadable("\(partial.path): \(String(cString: strerror(errno)))")
        }
        for old in try positions(in: root) { try? fm.removeItem(at: directory(root, old)) }
    }

    /// The positions of the checkpoint directories, newest first.
    static func positions(in root: URL) throws -> [Position] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.compactMap(Position.init(directoryName:)).sorted(by: >)
    }

    /// The newest checkpoint that is whole and belongs to `config`; bad ones are reported through
    /// `skipped` and passed over.
    static func latest(in root: URL, config: String, threads: Int, trainable: [ParameterView], skipped: (String) -> Void) throws -> TrialCheckpoint? {
        for position in try positions(in: root) {
            let dir = directory(root, position)
            do {
                let stateData = try Data(contentsOf: dir.appendingPathComponent("state.json"))
                let decoder = JSONDecoder()
                decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                let state = try decoder.decode(State.self, from: stateData)
                guard state.position == position else { throw TrialCheckpointError.invalid("state.json says \(state.position.directoryName)") }
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
