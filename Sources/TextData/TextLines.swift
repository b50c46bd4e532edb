import Foundation

/// How a delimited file's bytes are decoded.
public enum TextEncoding: String, Sendable, Codable {
    case utf8 = "utf-8", latin1 = "latin-1"
}

/// A file's bytes as decoded lines, each with its 1-based line number.
///
/// Lines are split on "\n" (a trailing "\r" is dropped) before decoding, so that invalid
/// UTF-8 is reported at the line that holds it rather than as "the file is not UTF-8".
struct TextLines {

    let file: String
    let lines: [(number: Int, text: String)]

    init(contentsOf url: URL, encoding: TextEncoding) throws {
        // The whole path: every task has a train.jsonl, so the name alone does not say which.
        file = url.path
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TextDataError.invalidDataset("\(url.path) does not exist: check the task's paths in the config (`lpft data fetch` downloads the shipped tasks)")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TextDataError.invalidDataset("cannot read \(url.path) (check its permissions)")
        }
        var lines: [(Int, String)] = []
        var number = 0
        for var raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if raw.last == UInt8(ascii: "\r") { raw = raw.dropLast() }
            switch encoding {
            case .utf8:
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw TextDataError.badRow(file: url.path, line: number, reason: "invalid UTF-8 (is the file latin-1? pass encoding latin-1)")
                }
                lines.append((number, text))
            case .latin1:
                lines.append((number, String(decoding: raw.map { UInt16($0) }, as: UTF16.self)))
            }
        }
        // A final newline leaves one empty "line" behind it that is not a row.
        if let last = lines.last, last.1.isEmpty { lines.removeLast() }
        self.lines = lines
    }
}

/// One compact JSON object with sorted keys: a line of `lpft tokenize` or `lpft embed`.
public enum JSONLine {
    public static func encode(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }
}
