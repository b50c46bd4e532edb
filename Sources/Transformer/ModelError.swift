/// Errors from reading or building a model. Each message names the file or tensor and says why.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case invalidConfig(String)
    case invalidSafeTensors(path: String, reason: String)
    case missingTensor(name: String, expectedShape: [Int], path: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int], path: String)
    case unexpectedTensors(names: [String], path: String)
    case invalidBatch(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .invalidConfig(reason): return "invalid model config: \(reason)"
        case let .invalidSafeTensors(path, reason): return "\(path) is not a valid safetensors file: \(reason)"
        case let .missingTensor(name, shape, path):
            let prefix = ModelFamily.allCases.map(\.parameterPrefix).first { name.hasPrefix($0) }
            return "\(path): tensor \(name) \(shape) is missing" + (prefix.map { " (looked for it with and without the \"\($0)\" prefix)" } ?? "")
        case let .shapeMismatch(name, expected, found, path):
            return "\(path): tensor \(name) has shape \(found), the config needs \(expected)"
        case let .unexpectedTensors(names, path):
            let shown = names.prefix(5).joined(separator: ", ")
            return "\(path): \(names.count) tensor(s) this model does not use: \(shown)\(names.count > 5 ? ", …" : "")"
        case let .invalidBatch(reason): return "invalid batch: \(reason)"
        }
    }
}
