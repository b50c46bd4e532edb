import Foundation
import TextData

/// A sweep's trials would fail on their data: files missing on this machine, or a row that
/// does not read.
public struct TrialDataProblem: Error, CustomStringConvertible {
    public let description: String
}

extension TrialConfig {
    /// Fails before a sweep runs when its trials (canonical JSON configs) would fail on their
    /// data: a file missing here, a row that does not parse, a label that is not the task's.
    /// Each distinct task (with its OOD tasks) is read whole once, as its trials read it, so
    /// the error names the user's file and line. Found by a trial instead, it cost every
    /// attempt and named the worker's staged copy of the file.
    public static func checkData(_ canonicalConfigs: [String], store: DataStore = DataStore()) throws {
        var missing: [String] = [], superGLUE = false
        var distinct: [[String: Any]] = [], seen = Set<Data>()
        for text in canonicalConfigs {
            guard let config = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  config["method"] as? String != Method.noop.rawValue else { continue }
            let tasks = [config["task"] as Any] + ((config["ood"] as? [Any]) ?? [])
            for case let task as [String: Any] in tasks {
                for split in ["train", "validation", "test"] {
                    guard let path = task[split] as? String, !FileManager.default.fileExists(atPath: path), !missing.contains(path) else { continue }
                    missing.append(path)
                    superGLUE = superGLUE || task["format"] as? String == "superglue"
                }
            }
            let key = try JSONSerialization.data(withJSONObject: tasks, options: .sortedKeys)
            if seen.insert(key).inserted { distinct.append(config) }
        }
        guard missing.isEmpty else {
            throw TrialDataProblem(description: """
                \(missing.count) data file(s) named by the sweep are missing here: \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : "")
                Relative paths in a spec are relative to the spec file. \
                \(superGLUE ? "SuperGLUE: download https://dl.fbaipublicfiles.com/glue/superglue/data/v2/<TASK>.zip (RTE, CB, BoolQ), unzip it and point the spec's paths at it. " : "")\
                Shipped tasks are named, not pathed (task: rt-polarity; fetch them with `lpft data fetch`). \
                If only the workers see these files, pass --skip-file-check.
                """)
        }
        for mapping in distinct {
            let config = try TrialConfig(mapping: mapping, file: "trial")
            do { _ = try TrialData.Rows(config, store: store) } catch {
                throw TrialDataProblem(description: "task \(config.task.name): \(error) (every trial of it would fail on this; --skip-file-check skips this check)")
            }
        }
    }
}
