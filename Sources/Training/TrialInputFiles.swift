import Config
import Foundation
import TextData
import TrialContract

extension TrialConfig {
    /// Model files a loader may read (which exist depends on the tokenizer's family).
    static let modelFiles = ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]

    /// The files a trial of `canonicalConfig` reads, for the sweep to pin by content: the
    /// model's, and the task's and each OOD task's (a fetched task's manifest and splits, or
    /// the files the config names). Names are relative to `home` for what lives there.
    public static func inputFiles(ofCanonical canonicalConfig: String, home: LPFTHome = LPFTHome()) throws -> [InputFile] {
        // Canonical configs are JSON: read without the YAML parser, as for every trial of a big sweep.
        guard let mapping = try JSONSerialization.jsonObject(with: Data(canonicalConfig.utf8)) as? [String: Any] else {
            throw ConfigError(file: "trial", path: "", reason: "a canonical config is a JSON object")
        }
        guard mapping["method"] as? String != TrialConfig.Method.noop.rawValue else { return [] }
        let config = try TrialConfig(mapping: mapping, file: "trial")
        func named(_ url: URL) -> InputFile {
            let path = url.standardizedFileURL.path, root = home.root.standardizedFileURL.path + "/"
            return InputFile(name: path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path, url: url)
        }
        let model = try ModelStore(home: home).resolve(config.model)
        var files = modelFiles.map { model.appendingPathComponent($0) }.filter { FileManager.default.fileExists(atPath: $0.path) }
        for task in [config.task] + config.ood {
            if task.isFetched {
                let fetched = try DataStore(home: home).task(task.name)
                files += [fetched.directory.appendingPathComponent("task.json")] + DataStore.splits.map(fetched.split)
            } else {
                files += [task.train, task.validation, task.test].compactMap { $0 }.map { URL(fileURLWithPath: $0) }
            }
        }
        var seen = Set<String>()
        return files.map(named).filter { seen.insert($0.name).inserted }
    }
}
