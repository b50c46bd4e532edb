import Foundation
import GRDB

/// What a salvage copied of one table of a damaged journal.
public struct SalvagedTable: Sendable, Equatable {
    public let name: String
    public let rows: Int
    /// A damaged page stopped the reading of it: the rows on such pages are lost.
    public let damaged: Bool
}

extension Journal {
    /// The tables a salvage copies, trials before the attempts that refer to them, each with
    /// the order its rows are stored in (the rowid, or a `WITHOUT ROWID` table's primary key):
    /// a scan in another order (an index's) meets the damaged pages of the table all along it.
    private static let salvaged: KeyValuePairs<String, [String]> = [
        "sweep": ["rowid"], "trials": ["rowid"], "attempts": ["rowid"], "metrics": ["lease", "seq"], "events": ["rowid"],
        "inputs": ["rowid"], "trial_inputs": ["trial", "name"], "predictions": ["rowid"],
    ]

    /// Copies every row SQLite can still read of the (damaged) journal of `directory` into a
    /// new journal in `newDirectory`, for `lpft sweep run --dir NEW` to resume: completed trials
    /// found are kept, lost ones run again. A scan stops at the first damaged page of a table,
    /// so each table is read from both ends and only the rows of damaged pages are lost
    /// (attempts of a lost trial too). The new journal keeps the old sweep id, so workers'
    /// results for the old sweep are still taken.
    public static func salvage(_ directory: URL, into newDirectory: URL) throws -> [SalvagedTable] {
        let path = directory.appendingPathComponent(fileName).path
        guard FileManager.default.fileExists(atPath: path) else { throw JournalError(path: path, reason: "no journal here to salvage") }
        let newPath = newDirectory.appendingPathComponent(fileName).path
        guard !FileManager.default.fileExists(atPath: newPath) else {
            throw JournalError(path: newPath, reason: "already exists: salvage into a new sweep directory")
        }
        let source: DatabaseQueue
        let tables: Set<String>
        do {
            source = try DatabaseQueue(path: path, configuration: readOnly)
            tables = Set(try source.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") })
        } catch let error as DatabaseError {
            throw JournalError(path: path, reason: "cannot be salvaged (\(error.message ?? "\(error)")): restore it from git or a copy")
        }
        return try Journal(directory: newDirectory).write { w in
            // A journal of an older version may lack a table.
            try salvaged.filter { tables.contains($0.key) }.map { table, key in try copy(table, orderedBy: key, from: source, to: w.db) }
        }
    }

    private static func copy(_ table: String, orderedBy key: [String], from source: DatabaseQueue, to db: Database) throws -> SalvagedTable {
        // A journal of an older version may lack a column.
        let old = Set(try source.read { try $0.columns(in: table) }.map(\.name))
        let names = try db.columns(in: table).map(\.name).filter(old.contains)
        let (columns, placeholders) = (names.joined(separator: ", "), databaseQuestionMarks(count: names.count))
        // The old sweep id replaces the one the new journal was made with.
        let insert = try db.makeStatement(sql: "INSERT OR \(table == "sweep" ? "REPLACE" : "IGNORE") INTO \(table) (\(columns)) VALUES (\(placeholders))")
        var (rows, damaged) = (0, false)
        for direction in ["ASC", "DESC"] {
            do {
                try source.read { src in
                    let cursor = try Row.fetchCursor(src, sql: "SELECT \(columns) FROM \(table) ORDER BY " + key.map { "\($0) \(direction)" }.joined(separator: ", "))
                    while let row = try cursor.next() {
                        do { try insert.execute(arguments: StatementArguments(row.databaseValues)) } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                            continue  // an attempt of a lost trial
                        }
                        rows += db.changesCount
                    }
                }
                break  // read to the end: nothing is left for the other direction
            } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
                damaged = true
            }
        }
        return SalvagedTable(name: table, rows: rows, damaged: damaged)
    }
}
