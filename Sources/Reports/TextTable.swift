import Foundation

/// A plain-text table in padded columns, for terminals (`lpft sweep plan`).
public enum TextTable {
    /// The header and rows, each line ending in a newline.
    public static func render(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
        }
        return ([header] + rows).map(line).joined()
    }
}
