/// Errors from tokenisers, dataset readers and fetchers; each says where and why.
public enum TextDataError: Error, CustomStringConvertible, Equatable {
    case vocabulary(String)
    /// A tokenizer file that cannot be used: the file and why.
    case tokenizer(file: String, reason: String)
    /// A bad row: file, 1-based line, reason.
    case badRow(file: String, line: Int, reason: String)
    case invalidDataset(String)
    case fetch(String)

    public var description: String {
        switch self {
        case let .vocabulary(reason): return "vocabulary: \(reason)"
        case let .tokenizer(file, reason): return "\(file): \(reason)"
        case let .badRow(file, line, reason): return "\(file):\(line): \(reason)"
        case let .invalidDataset(reason): return reason
        case let .fetch(reason): return reason
        }
    }
}
