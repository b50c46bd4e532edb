import Foundation

/// The dataset formats `lpft` reads, with the published layouts of GLUE and SuperGLUE.
public enum DatasetFormat: Sendable, Equatable {
    /// JSONL, CSV or TSV with the given field names (CSV/TSV by header).
    case generic(text: String = "text", textPair: String? = nil, label: String = "label")
    /// A GLUE task's TSV (sst2, cola, mrpc, rte, wnli, qnli, qqp, mnli).
    case glue(task: String)
    /// A SuperGLUE task's JSONL (rte, cb, boolq, wic).
    case superGLUE(task: String)

    public static let glueTasks = ["sst2", "cola", "mrpc", "rte", "wnli", "qnli", "qqp", "mnli"]
    public static let superGLUETasks = ["rte", "cb", "boolq", "wic"]

    /// A reader for `url`; generic files are told apart by extension (.jsonl, .csv, .tsv).
    /// Unlabelled (`labelled` false), the reader ignores labels, and a generic file with any
    /// other extension is plain text, one example per line.
    public func reader(for url: URL, encoding: TextEncoding = .utf8, skipBadRows: Bool = false, labelled: Bool = true) throws -> any DatasetReader {
        switch self {
        case let .generic(text, pair, labelField):
            let label = labelled ? labelField : nil
            switch url.pathExtension.lowercased() {
            case "jsonl", "json": return JSONLinesReader(text: text, textPair: pair, label: label, skipBadRows: skipBadRows)
            case "csv": return DelimitedReader(delimiter: ",", text: .named(text), textPair: pair.map(Column.named), label: label.map(Column.named), encoding: encoding, skipBadRows: skipBadRows)
            case "tsv": return DelimitedReader(delimiter: "\t", text: .named(text), textPair: pair.map(Column.named), label: label.map(Column.named), encoding: encoding, skipBadRows: skipBadRows)
            default:
                guard labelled else { return PlainTextReader() }
                throw TextDataError.invalidDataset("\(url.path): cannot tell the format from the extension \"\(url.pathExtension)\" (use .jsonl, .csv or .tsv)")
            }
        case let .glue(task):
            // Published GLUE layouts; CoLA alone has no header: source, label, original mark, sentence.
            let columns: (Column, Column?, Column)
            switch task.lowercased() {
            case "sst2", "sst-2": columns = (.named("sentence"), nil, .named("label"))
            case "cola": columns = (.position(3), nil, .position(1))
            case "mrpc": columns = (.named("#1 String"), .named("#2 String"), .named("Quality"))
            case "rte", "wnli": columns = (.named("sentence1"), .named("sentence2"), .named("label"))
            case "qnli": columns = (.named("question"), .named("sentence"), .named("label"))
            case "qqp": columns = (.named("question1"), .named("question2"), .named("is_duplicate"))
            case "mnli": columns = (.named("sentence1"), .named("sentence2"), .named("gold_label"))
            default: throw TextDataError.invalidDataset("unknown GLUE task \"\(task)\" (\(Self.glueTasks.joined(separator: ", ")))")
            }
            return DelimitedReader(delimiter: "\t", quoting: false, hasHeader: task.lowercased() != "cola",
                                   text: columns.0, textPair: columns.1, label: labelled ? columns.2 : nil, encoding: encoding, skipBadRows: skipBadRows)
        case let .superGLUE(task):
            let label = labelled ? "label" : nil
            switch task.lowercased() {
            case "rte", "cb": return JSONLinesReader(text: "premise", textPair: "hypothesis", label: label, skipBadRows: skipBadRows)
            case "boolq": return JSONLinesReader(text: "question", textPair: "passage", label: label, skipBadRows: skipBadRows)
            case "wic": return JSONLinesReader(text: "sentence1", textPair: "sentence2", label: label, skipBadRows: skipBadRows)
            default: throw TextDataError.invalidDataset("unknown SuperGLUE task \"\(task)\" (\(Self.superGLUETasks.joined(separator: ", ")))")
            }
        }
    }
}
