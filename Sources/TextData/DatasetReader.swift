import Foundation

/// Reads a dataset file into examples. Every format is one of these.
public protocol DatasetReader: Sendable {
    func read(_ url: URL) throws -> DatasetFile
}

/// The examples of one file, and what was skipped when bad rows may be skipped.
public struct DatasetFile: Sendable {
    public var examples: [Example]
    /// Bad rows passed over (only with `skipBadRows`), each with its file, line and reason.
    public var skipped: [TextDataError]
}

/// A column of a delimited file, by header name or by 0-based position (files without header).
public enum Column: Sendable, Equatable {
    case named(String)
    case position(Int)
}

/// Collects examples from rows, passing over bad rows only when they may be skipped;
/// shared by the delimited and JSON-lines readers.
struct RowCollector: Sendable {
    var skipBadRows: Bool

    /// Runs `parse` on each row, collecting bad rows when they may be skipped.
    func collect<Row>(_ rows: [Row], line: (Row) -> Int, file: String, _ parse: (Row) throws -> Example) throws -> DatasetFile {
        var result = DatasetFile(examples: [], skipped: [])
        result.examples.reserveCapacity(rows.count)
        for row in rows {
            do {
                result.examples.append(try parse(row))
            } catch let error as TextDataError {
                guard skipBadRows else { throw error }
                result.skipped.append(error)
            } catch {
                let wrapped = TextDataError.badRow(file: file, line: line(row), reason: "\(error)")
                guard skipBadRows else { throw wrapped }
                result.skipped.append(wrapped)
            }
        }
        return result
    }
}

/// CSV or TSV with a header row (or positional columns), text, optional pair and label columns.
/// Without a label column (`label` nil) examples are read unlabelled, their label empty.
public struct DelimitedReader: DatasetReader {
    public var delimiter: Character
    /// Honour RFC 4180 quotes. GLUE's TSV files are read without: their text has bare quotes.
    public var quoting = true
    public var hasHeader = true
    public var text: Column
    public var textPair: Column?
    public var label: Column?
    public var encoding: TextEncoding = .utf8
    public var skipBadRows = false

    public init(delimiter: Character, quoting: Bool = true, hasHeader: Bool = true, text: Column = .named("text"),
                textPair: Column? = nil, label: Column? = .named("label"), encoding: TextEncoding = .utf8, skipBadRows: Bool = false) {
        self.delimiter = delimiter
        self.quoting = quoting
        self.hasHeader = hasHeader
        self.text = text
        self.textPair = textPair
        self.label = label
        self.encoding = encoding
        self.skipBadRows = skipBadRows
    }

    public func read(_ url: URL) throws -> DatasetFile {
        let lines = try TextLines(contentsOf: url, encoding: encoding)
        var records = try DelimitedParser(delimiter: delimiter, quoting: quoting).records(lines)
        var header: [String: Int] = [:]
        if hasHeader {
            guard !records.isEmpty else { throw TextDataError.invalidDataset("\(lines.file): empty file, expected a header row") }
            let names = records.removeFirst().fields
            for (i, name) in names.enumerated() where header[name] == nil { header[name] = i }
        }
        func position(_ column: Column) throws -> Int {
            switch column {
            case let .position(i): return i
            case let .named(name):
                guard let i = header[name] else {
                    let known = header.sorted { $0.value < $1.value }.map(\.key).joined(separator: ", ")
                    throw TextDataError.badRow(file: lines.file, line: 1, reason: hasHeader ? "no column \"\(name)\" in the header (\(known))" : "column \"\(name)\" needs a header row")
                }
                return i
            }
        }
        let (t, p, l) = (try position(text), try textPair.map(position), try label.map(position))
        let width = [t, p ?? 0, l ?? 0].max()! + 1
        return try RowCollector(skipBadRows: skipBadRows).collect(records, line: \.line, file: lines.file) { r in
            guard r.fields.count >= width else {
                throw TextDataError.badRow(file: lines.file, line: r.line, reason: "\(r.fields.count) field(s), expected at least \(width) (truncated row?)")
            }
            let labelValue = l.map { r.fields[$0].trimmingCharacters(in: .whitespaces) } ?? ""
            guard l == nil || !labelValue.isEmpty else { throw TextDataError.badRow(file: lines.file, line: r.line, reason: "empty label") }
            return Example(text: r.fields[t], textPair: p.map { r.fields[$0] }, label: labelValue, source: "\(lines.file):\(r.line)")
        }
    }
}

/// JSON lines: one object per line with text (and optional pair) and label fields, or
/// pre-tokenised `input_ids` (and optional `token_type_ids`) instead of text.
/// Labels may be strings, integers or booleans; they are kept as their text ("1", "true").
/// Without a label field (`label` nil) examples are read unlabelled, their label empty.
public struct JSONLinesReader: DatasetReader {
    public var text: String
    public var textPair: String?
    public var label: String?
    public var skipBadRows: Bool

    public init(text: String = "text", textPair: String? = nil, label: String? = "label", skipBadRows: Bool = false) {
        self.text = text
        self.textPair = textPair
        self.label = label
        self.skipBadRows = skipBadRows
    }

    public func read(_ url: URL) throws -> DatasetFile {
        let lines = try TextLines(contentsOf: url, encoding: .utf8)
        let rows = lines.lines.filter { !$0.text.trimmingCharacters(in: .whitespaces).isEmpty }
        return try RowCollector(skipBadRows: skipBadRows).collect(rows, line: \.number, file: lines.file) { row in
            func bad(_ reason: String) -> TextDataError { .badRow(file: lines.file, line: row.number, reason: reason) }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(row.text.utf8))) as? [String: Any] else {
                throw bad("not a JSON object (broken or truncated line?)")
            }
            var labelName = ""
            if let label {
                guard let rawLabel = object[label] else { throw bad("missing field \"\(label)\"") }
                switch rawLabel {
                case let s as String: labelName = s
                // JSON booleans arrive as NSNumber too; their type code ("c") tells them from integers.
                case let n as NSNumber where String(cString: n.objCType) == "c": labelName = n.boolValue ? "true" : "false"
                case let n as NSNumber where Double(n.intValue) == n.doubleValue: labelName = String(n.intValue)
                default: throw bad("field \"\(label)\" must be a string, integer or boolean")
                }
            }
            let source = "\(lines.file):\(row.number)"
            if let ids = object["input_ids"] {
                guard let raw = ids as? [Int], !raw.isEmpty, let ids = Optional(raw.compactMap { Int32(exactly: $0) }), ids.count == raw.count,
                      ids.allSatisfy({ $0 >= 0 }) else {
                    throw bad("\"input_ids\" must be a non-empty array of non-negative 32-bit integers")
                }
                var types: [Int32]?
                if let raw = object["token_type_ids"] {
                    guard let t = raw as? [Int], t.count == ids.count, let converted = Optional(t.compactMap { Int32(exactly: $0) }), converted.count == t.count else {
                        throw bad("\"token_type_ids\" must be integers, one per input id (\(ids.count))")
                    }
                    types = converted
                }
                return Example(inputIDs: ids, tokenTypeIDs: types, label: labelName, source: source)
            }
            guard let t = object[text] as? String else { throw bad("missing string field \"\(text)\" (or \"input_ids\")") }
            var pair: String?
            if let textPair {
                guard let value = object[textPair] as? String else { throw bad("missing string field \"\(textPair)\"") }
                pair = value
            }
            return Example(text: t, textPair: pair, label: labelName, source: source)
        }
    }
}

/// Plain text, one unlabelled example per line; empty lines are passed over.
public struct PlainTextReader: DatasetReader {
    public init() {}

    public func read(_ url: URL) throws -> DatasetFile {
        let lines = try TextLines(contentsOf: url, encoding: .utf8)
        let examples = lines.lines.filter { !$0.text.isEmpty }.map { Example(text: $0.text, label: "", source: "\(lines.file):\($0.number)") }
        return DatasetFile(examples: examples, skipped: [])
    }
}
