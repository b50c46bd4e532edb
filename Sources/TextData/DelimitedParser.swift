/// Splits delimited text (CSV, TSV) into records, RFC 4180 style: fields may be quoted, a quote
/// inside a quoted field is doubled, and quoted fields may span lines.
///
/// Written here rather than taken from SwiftCSV or CSV.swift: a bad row must be reported with
/// its file and line, and quoting must be switchable off (GLUE's TSV files contain bare quotes).
struct DelimitedParser {
    let delimiter: Character
    let quoting: Bool

    struct Record {
        /// The line the record starts on.
        let line: Int
        let fields: [String]
    }

    func records(_ lines: TextLines) throws -> [Record] {
        var records: [Record] = []
        var index = 0
        while index < lines.lines.count {
            let (start, text) = lines.lines[index]
            index += 1
            if text.isEmpty { continue }
            guard quoting else {
                records.append(Record(line: start, fields: text.split(separator: delimiter, omittingEmptySubsequences: false).map(String.init)))
                continue
            }
            var fields: [String] = []
            var field = ""
            var inQuotes = false
            var atFieldStart = true
            var current = Array(text)
            var i = 0
            while true {
                if i == current.count {
                    if inQuotes {
                        // The quoted field continues on the next physical line.
                        guard index < lines.lines.count else {
                            throw TextDataError.badRow(file: lines.file, line: start, reason: "unterminated quoted field (a quote opened here is never closed)")
                        }
                        field.append("\n")
                        current = Array(lines.lines[index].text)
                        index += 1
                        i = 0
                        continue
                    }
                    fields.append(field)
                    break
                }
                let c = current[i]
                if inQuotes {
                    if c == "\"" {
                        if i + 1 < current.count, current[i + 1] == "\"" {
                            field.append("\"")
                            i += 2
                            continue
                        }
                        inQuotes = false
                        if i + 1 < current.count, current[i + 1] != delimiter {
                            throw TextDataError.badRow(file: lines.file, line: start, reason: "text after a closing quote: a quote inside a quoted field must be doubled")
                        }
                    } else {
                        field.append(c)
                    }
                } else if c == delimiter {
                    fields.append(field)
                    field = ""
                    atFieldStart = true
                    i += 1
                    continue
                } else if c == "\"" && atFieldStart {
                    inQuotes = true
                } else if c == "\"" {
                    throw TextDataError.badRow(file: lines.file, line: start, reason: "a quote inside an unquoted field (quote the whole field and double the quote)")
                } else {
                    field.append(c)
                }
                atFieldStart = false
                i += 1
            }
            records.append(Record(line: start, fields: fields))
        }
        return records
    }
}
