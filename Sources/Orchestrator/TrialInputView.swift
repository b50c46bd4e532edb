import Foundation
import Sweep
import TrialContract

/// What a trial with pinned inputs reads, whatever this box holds: a directory of symbolic
/// links to the verified copies (a local file with the pinned content, or the content cache's),
/// laid out as `$LPFT_HOME` under `home/` for names relative to it, and under `root/` for
/// absolute names; the trial runs with `LPFT_HOME` set to `home/` and its config's absolute
/// paths moved under `root/`. So a trial reads exactly the content it was pinned to, and a box
/// with other files under the same names cannot mix them in.
struct TrialInputView {
    /// The view's directory (rebuilt for every attempt): the trial directory's `inputs/`.
    let url: URL
    /// Where absolute names go (``TrialDirectory/inputsRoot``, whose prefix a checkpoint's
    /// config is written without).
    private let root: URL

    var home: URL { url.appendingPathComponent("home") }

    /// Builds the view of `files` (each pinned name and the verified copy it stands for) in `directory`.
    static func build(in directory: TrialDirectory, files: [(name: String, copy: URL)]) throws -> TrialInputView {
        let view = TrialInputView(url: directory.inputs, root: directory.inputsRoot)
        let url = view.url
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) { try fm.removeItem(at: url) }
        try fm.createDirectory(at: view.home, withIntermediateDirectories: true)
        for (name, copy) in files {
            let link = view.place(of: name)
            guard link.path.hasPrefix(url.path + "/") else { throw WorkerError("input name \(String(reflecting: name)) leaves the trial's input view") }
            try fm.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.createSymbolicLink(at: link, withDestinationURL: copy)
        }
        return view
    }

    /// Where the pinned `name` appears in the view.
    func place(of name: String) -> URL {
        let relative = name.hasPrefix("/") ? root.appendingPathComponent(String(name.dropFirst())) : home.appendingPathComponent(name)
        return relative.standardizedFileURL
    }

    /// The trial's config with every absolute path that is, or is a directory of, a pinned
    /// name (a model directory, a data file) moved into the view.
    func rewrite(config: String, names: [String]) throws -> String {
        let absolute = names.filter { $0.hasPrefix("/") }
        guard !absolute.isEmpty else { return config }
        guard let object = TrialJSON.value(config) else { throw WorkerError("the trial's config is not JSON") }
        func moved(_ value: Any) -> Any {
            switch value {
            case let s as String where s.hasPrefix("/"):
                let path = URL(fileURLWithPath: s).standardizedFileURL.path
                return absolute.contains { $0 == path || $0.hasPrefix(path + "/") } ? place(of: path).path : s
            case let list as [Any]: return list.map(moved)
            case let map as [String: Any]: return map.mapValues(moved)
            default: return value
            }
        }
        let data = try JSONSerialization.data(withJSONObject: moved(object), options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
