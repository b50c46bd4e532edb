import Config
import Foundation
import TextData
import TrialContract

extension TrialConfig {
    /// Model files a loader may read (which exist depends on the tokenizer's family).
    static let modelFiles = ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]

    /// This config with every file it names made absolute (`~` expanded, `.` and `..` gone): a
    /// model given as a directory, and a task's files. Names of fetched models and tasks stay
    /// names. A sweep plans with it, relative to the spec's directory, so that the same spec and
    /// files give the same trials (and ids) from any working directory, and every machine that
    /// runs a trial (and the input view a bare worker builds) reads the paths the plan pinned.
    public func resolvingFilePaths(relativeTo directory: URL) -> TrialConfig {
        var config = self
        if let model = Self.givenModelDirectory(model, relativeTo: directory) { config.model = model }
        func resolved(_ task: TaskSpec) -> TaskSpec {
            var task = task
            let absolute = { Self.absolutePath($0, relativeTo: directory) }
            (task.train, task.validation, task.test) = (task.train.map(absolute), task.validation.map(absolute), task.test.map(absolute))
            return task
        }
        config.task = resolved(task)
        config.ood = ood.map(resolved)
        return config
    }

    private static func absolutePath(_ path: String, relativeTo directory: URL) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let url = expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded) : directory.appendingPathComponent(expanded)
        return url.standardizedFileURL.path
    }

    /// The absolute path of `model` if it names a directory (relative to `directory`), which
    /// `ModelStore.resolve` takes before a fetched model's name; else nil: a name.
    private static func givenModelDirectory(_ model: String, relativeTo directory: URL) -> String? {
        let path = absolutePath(model, relativeTo: directory)
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue ? path : nil
    }

    /// The files a trial of `canonicalConfig` reads, for the sweep to pin by content: the
    /// model's, and the task's and each OOD task's (a fetched task's manifest and splits, or
    /// the files the config names). What a name resolved to under `home` (a fetched model or
    /// task) is named relative to `home`, so each box finds it under its own; a path the config
    /// gives is named by its absolute path, the string a worker finds in the config.
    public static func inputFiles(ofCanonical canonicalConfig: String, home: LPFTHome = LPFTHome()) throws -> [InputFile] {
        // Canonical configs are JSON: read without the YAML parser, as for every trial of a big sweep.
        guard let mapping = try JSONSerialization.jsonObject(with: Data(canonicalConfig.utf8)) as? [String: Any] else {
            throw ConfigError(file: "trial", path: "", reason: "a canonical config is a JSON object")
        }
        guard mapping["method"] as? String != TrialConfig.Method.noop.rawValue else { return [] }
        let config = try TrialConfig(mapping: mapping, file: "trial")
        let root = home.root.standardizedFileURL.path + "/"
        func named(_ url: URL, given: Bool) -> InputFile {
            let path = url.standardizedFileURL.path
            return InputFile(name: !given && path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path, url: url)
        }
        let model = try ModelStore(home: home).resolve(config.model)
        // Given as a directory, as `ModelStore.resolve` took it: relative to the working directory.
        let modelGiven = givenModelDirectory(config.model, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) != nil
        var files = modelFiles.map { model.appendingPathComponent($0) }.filter { FileManager.default.fileExists(atPath: $0.path) }
            .map { named($0, given: modelGiven) }
        for task in [config.task] + config.ood {
            if task.isFetched {
                let fetched = try DataStore(home: home).task(task.name)
                files += ([fetched.directory.appendingPathComponent("task.json")] + DataStore.splits.map(fetched.split)).map { named($0, given: false) }
            } else {
                files += [task.train, task.validation, task.test].compactMap { $0 }.map { named(URL(fileURLWithPath: $0), given: true) }
            }
        }
        var seen = Set<String>()
        return files.filter { seen.insert($0.name).inserted }
    }
}
