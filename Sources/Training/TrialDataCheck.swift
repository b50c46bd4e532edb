import Foundation

/// Data files a sweep's trials name that this machine does not have.
public struct MissingDataFiles: Error, CustomStringConvertible {
    public let description: String
}

extension TrialConfig {
    /// Fails before a sweep runs when one of its trials (canonical JSON configs) names a data
    /// file that is not there; the error lists them and how to get them.
    public static func checkDataFiles(_ canonicalConfigs: [String]) throws {
        var missing: [String] = []
        for text in canonicalConfigs {
            guard let config = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { continue }
            let tasks = [config["task"] as Any] + ((config["ood"] as? [Any]) ?? [])
            for case let task as [String: Any] in tasks {
                for split in ["train", "validation", "test"] {
                    if let path = task[split] as? String, !FileManager.default.fileExists(atPath: path), !missing.contains(path) { missing.append(path) }
                }
            }
        }
        guard missing.isEmpty else {
            throw MissingDataFiles(description: """
                \(missing.count) data file(s) named by the sweep are missing here: \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : "")
                Relative paths in a spec are relative to the spec file. SuperGLUE: download https://dl.fbaipublicfiles.com/glue/superglue/data/v2/<TASK>.zip (RTE, CB, BoolQ), unzip it and point the spec's paths at it. \
                Shipped tasks are named, not pathed (task: rt-polarity; fetch them with `lpft data fetch`). \
                If only the workers see these files, pass --skip-file-check.
                """)
        }
    }
}
