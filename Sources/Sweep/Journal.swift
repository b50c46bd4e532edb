import Foundation
import GRDB

/// Where a trial stands in its sweep.
public enum TrialState: String, Sendable, CaseIterable {
    /// Waiting for a worker (new, or requeued after a lost, failed or interrupted attempt).
    case pending
    /// Leased to a worker.
    case running
    case completed
    /// Every allowed attempt failed or was lost; `--retry-failed` gives it new ones.
    case failed
    /// Stopped at a rung by the sweep's `prune:` rule (successive halving): settled, never
    /// retried (not even by `--retry-failed`) and not a failure; its result holds the metrics
    /// it streamed at that rung.
    case pruned
}

/// How one attempt of a trial ended.
public enum AttemptState: String, Sendable, CaseIterable {
    case running, completed, failed
    /// Its worker went silent past the lease, or never reclaimed it after a coordinator restart.
    case lost
    /// Stopped on purpose (the coordinator was stopped); not charged to the trial's attempts.
    case interrupted
    /// Stopped at a rung by the sweep's `prune:` rule; its trial is `pruned`.
    case pruned
}

public struct TrialRecord: Sendable, Equatable {
    public var id: String
    /// Order in the plan; dispatch follows it.
    public var position: Int
    /// The axis values that made the trial (JSON object).
    public var axes: String
    public var config: String
    public var state: TrialState
    /// Attempts that failed or were lost (interrupted ones are free).
    public var chargedAttempts: Int
    /// Every attempt ever started.
    public var attemptCount: Int
    /// Unix time before which a requeued trial is not dispatched (retry backoff).
    public var notBefore: Double
    /// The winning attempt's result object (JSON).
    public var result: String?
    public var reason: String?
}

public struct AttemptRecord: Sendable, Equatable {
    public var lease: Int64
    public var trial: String
    public var number: Int
    public var worker: String
    public var host: String
    public var state: AttemptState
    public var startedAt: Double
    public var endedAt: Double?
    public var reason: String?
    public var logTail: String?
    public var result: String?
    /// A result that arrived after the lease was fenced: kept as history, never the trial's.
    public var late: Bool
    /// The worker's build and machine (JSON, as its HELLO gave them); nil before journals kept them.
    public var machine: String?
}

public struct JournalMetric: Sendable, Equatable {
    public var lease: Int64
    public var seq: Int
    public var trial: String
    public var name: String
    public var value: Double?
    public var epoch: Int?
    public var step: Int?
}

/// A journal could not be opened or read, has the wrong shape, or is damaged.
public struct JournalError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "journal \(path): \(reason)" }

    init(path: String, reason: String) {
        (self.path, self.reason) = (path, reason)
    }

    /// An SQLite error met on the journal at `path`, in one line. Damage (SQLite's CORRUPT or
    /// NOTADB) also says what to do, since no retry can help.
    init(path: String, _ error: DatabaseError) {
        let message = error.message ?? "SQLite error \(error.resultCode.rawValue)"
        let damaged = [ResultCode.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode)
        self = damaged ? .damaged(path: path, problem: message) : JournalError(path: path, reason: message)
    }

    /// The journal failed SQLite's checks (`problem`, as SQLite gave it): it can only be
    /// replaced, by a copy or by what SQLite can still read of it.
    static func damaged(path: String, problem: String) -> JournalError {
        // quick_check heads its list with "*** in database main ***": no news here.
        let problem = problem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("***") }.joined(separator: "; ")
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return JournalError(path: path, reason: """
            damaged (\(problem)): restore it from git or a copy, or copy what SQLite can still read of it \
            into a new sweep directory with `lpft sweep salvage \(directory) NEW` and resume there \
            (`lpft sweep run SPEC --dir NEW`: the completed trials found are kept, the rest run again)
            """)
    }
}

/// What a commit survives before the coordinator acknowledges it (SQLite's `synchronous` in WAL mode).
public enum JournalDurability: String, Sendable, CaseIterable {
    /// A crash or `kill -9` of the coordinator loses nothing; a power cut or kernel crash may
    /// lose the last commits (and so results a worker was told are safe). The default: no sync
    /// per commit, only at checkpoints.
    case normal
    /// Every commit is synced to disk before it is acknowledged: survives a power cut, at the
    /// cost of one fsync per transaction (BENCHMARKS.md).
    case full

    var synchronous: String { rawValue.uppercased() }
}

/// The sweep's durable record: SQLite in WAL mode, written only by the coordinator.
///
/// Tables: `sweep` (key/value: spec text and path, the sweep id), `trials`, `attempts` (the
/// row id is the lease, from a random start per journal; the worker's build and machine),
/// `inputs` and `trial_inputs` (the SHA-256 of the files each trial reads), `metrics` (keyed by lease and seq, so a resent row
/// is stored once) and `events`.
/// A commit survives `kill -9` of the coordinator (the WAL is in the kernel's page cache);
/// how it fares when the machine loses power is the ``JournalDurability`` it was opened with.
public final class Journal: Sendable {
    public static let fileName = "journal.sqlite"
    public let path: String
    private let database: any DatabaseWriter

    /// Opens (creating or migrating) the journal of the sweep directory `directory` for writing.
    public init(directory: URL, durability: JournalDurability = .normal) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(Self.fileName).path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            // Checked before the pool opens, since opening it writes (GRDB makes sure of the WAL
            // file by creating and dropping a table): a damaged journal is left as it was.
            if FileManager.default.fileExists(atPath: path) {
                try Self.check(DatabaseQueue(path: path, configuration: Self.readOnly), path: path)
            }
            let pool = try DatabasePool(path: path, configuration: configuration)
            // After the pool is open: GRDB sets NORMAL when it turns WAL on, after any
            // prepareDatabase. The pool keeps its one writer connection, and with it this setting.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(durability.synchronous)") }
            try Self.migrator.migrate(pool)
            database = pool
        } catch let error as DatabaseError {
            throw JournalError(path: path, error)
        }
    }

    /// Fails unless SQLite's `quick_check` finds every page of every table and index well
    /// formed: a damaged page otherwise goes unnoticed by every query that does not touch it
    /// (status and reports printed as if healthy, and a resumed sweep wrote into it). It reads
    /// the whole file: 0.12 s of CPU for 100,000 trials (BENCHMARKS.md), so every open pays it.
    private static func check(_ database: some DatabaseReader, path: String) throws {
        let problems = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(1)") }
        guard problems == ["ok"] else { throw JournalError.damaged(path: path, problem: problems.joined(separator: "; ")) }
    }

    /// Copies the commits in the WAL into the journal file and empties the WAL (SQLite's
    /// `wal_checkpoint(TRUNCATE)`), so that the file alone (a copy, a commit to git) holds the
    /// whole sweep. SQLite does so itself when the last connection closes, but not while a
    /// reader (a dashboard, `sweep status --watch`) still has the journal open: a sweep that
    /// finished under a dashboard kept its last commits in `journal.sqlite-wal` only. A reader
    /// in the middle of a read keeps the commits after its snapshot from the file; the
    /// checkpoint waits for it to end, as long as the busy timeout (10 s).
    /// - Returns: the WAL pages still not in the file: 0 unless a read outlasted the wait.
    @discardableResult
    public func checkpoint() throws -> Int {
        try naming {
            try database.writeWithoutTransaction { db in
                guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") else { return 0 }
                let (pages, copied): (Int, Int) = (row[1], row[2])
                return max(0, pages - copied)
            }
        }
    }

    /// SQLite's `synchronous` level on the writer's connections (1 NORMAL, 2 FULL).
    func synchronousLevel() throws -> Int {
        try database.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Opens an existing journal for reading while a coordinator may be writing it.
    public init(readingDirectory directory: URL) throws {
        path = directory.appendingPathComponent(Self.fileName).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw JournalError(path: path, reason: "no journal here: is \(directory.path) a sweep directory (made by `lpft sweep run`)?")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: Self.readOnly)
            try Self.check(pool, path: path)
            database = pool
        } catch let error as DatabaseError {
            throw JournalError(path: path, error)
        }
    }

    static var readOnly: Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        return configuration
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE sweep (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE trials (
                    id TEXT PRIMARY KEY, position INTEGER NOT NULL, axes TEXT NOT NULL, config TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending', charged_attempts INTEGER NOT NULL DEFAULT 0,
                    not_before REAL NOT NULL DEFAULT 0, result TEXT, reason TEXT,
                    added_at REAL NOT NULL, finished_at REAL);
                CREATE TABLE attempts (
                    lease INTEGER PRIMARY KEY AUTOINCREMENT, trial TEXT NOT NULL REFERENCES trials(id),
                    number INTEGER NOT NULL, worker TEXT NOT NULL, host TEXT NOT NULL, state TEXT NOT NULL,
                    started_at REAL NOT NULL, ended_at REAL, reason TEXT, log_tail TEXT, result TEXT,
                    late INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX attempts_by_trial ON attempts(trial);
                CREATE TABLE metrics (
                    lease INTEGER NOT NULL, seq INTEGER NOT NULL, trial TEXT NOT NULL, name TEXT NOT NULL,
                    value REAL, epoch INTEGER, step INTEGER, PRIMARY KEY (lease, seq)) WITHOUT ROWID;
                CREATE INDEX metrics_by_trial ON metrics(trial, name);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL,
                    trial TEXT, lease INTEGER, worker TEXT, detail TEXT);
                """)
        }
        // Leases are the only thing on the wire that says which attempt a result is for, and
        // trial ids repeat across sweeps of the same configs: a worker directory reused after
        // another sweep could resend an old result whose lease and trial match a new attempt.
        // A new journal's leases start at a random point of a 2^52 range, so they never do.
        m.registerMigration("v2 random lease start") { db in
            try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) SELECT 'attempts', ? WHERE NOT EXISTS (SELECT 1 FROM attempts)",
                           arguments: [Int64.random(in: (1 << 32)..<(1 << 52))])
        }
        // Trial ids and leases alone cannot say which sweep a message is for; a random id per
        // journal, named in every ASSIGN and RESULT, can. Journals that predate it get one.
        m.registerMigration("v3 sweep id") { db in
            try db.execute(sql: "INSERT OR IGNORE INTO sweep (key, value) VALUES (?, ?)",
                           arguments: [sweepIDKey, String(format: "%016llx", UInt64.random(in: 1...UInt64.max))])
        }
        // Which build and machine ran each attempt, so mixed builds or BLAS kernels show.
        m.registerMigration("v4 attempt machine") { db in
            try db.execute(sql: "ALTER TABLE attempts ADD COLUMN machine TEXT")
        }
        // Each trial pinned to the SHA-256 of the files it reads, and the hashes cached by
        // path, size and modification time (`JournalWriter.pinInputs`).
        m.registerMigration("v5 trial inputs") { db in
            try db.execute(sql: """
                CREATE TABLE inputs (name TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL, sha256 TEXT NOT NULL);
                CREATE TABLE trial_inputs (trial TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (trial, name)) WITHOUT ROWID;
                """)
        }
        // Per-example predictions, kept apart from results (whose readers would otherwise parse
        // thousands of logits per trial) and keyed by lease like the attempt they came with.
        m.registerMigration("v6 predictions") { db in
            try db.execute(sql: "CREATE TABLE predictions (lease INTEGER PRIMARY KEY, trial TEXT NOT NULL, body TEXT NOT NULL)")
        }
        // The newest checkpoint a worker uploaded for each unfinished trial (its files are in
        // the sweep directory's `checkpoints/` store, by content).
        m.registerMigration("v7 stored checkpoints") { db in
            try db.execute(sql: """
                CREATE TABLE checkpoints (trial TEXT PRIMARY KEY, lease INTEGER NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
                                          manifest TEXT NOT NULL, stored_at REAL NOT NULL)
                """)
        }
        return m
    }

    static let sweepIDKey = "sweep id"

    /// The sweep's id, random per journal, made when the journal was (or first opened for writing).
    public func sweepID() throws -> String {
        guard let id = try value(forKey: Self.sweepIDKey) else {
            throw JournalError(path: path, reason: "it has no sweep id: open it once with `lpft sweep run` to upgrade it")
        }
        return id
    }

    /// Runs `body` in one transaction: all of its writes commit together or not at all.
    public func write<T>(_ body: (JournalWriter) throws -> T) throws -> T {
        try naming { try database.write { db in try body(JournalWriter(db: db)) } }
    }

    /// `body`'s SQLite errors as one line that names this journal (a damaged one: with what to
    /// do), not GRDB's dump of the statement.
    private func naming<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError { throw JournalError(path: path, error) }
    }

    // MARK: Reading

    /// A read of its own, for every query of the journal (here and in other files of this module).
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try naming { try database.read(body) }
    }

    /// Every trial's axes, config and result as the journal holds them (JSON texts), in plan
    /// order: what a report decodes, for `lpft bench decode`.
    package func trialTexts() throws -> [(axes: String, config: String, result: String?)] {
        try read { db in
            try Self.fetch(db, sql: "SELECT axes, config, result FROM trials ORDER BY position", arguments: []) { ($0[0], $0[1], $0[2]) }
        }
    }

    /// Each row of `sql` made into a value as it is stepped: a cursor rather than `fetchAll`,
    /// which copies every row of 100,000 into a `Row` of its own first.
    private static func fetch<T>(_ db: Database, sql: String, arguments: StatementArguments, _ make: (Row) throws -> T) throws -> [T] {
        var values: [T] = []
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() { values.append(try make(row)) }
        return values
    }

    /// A state as the journal stores it; one this build does not know (a newer lpft's) is an
    /// error naming it, not silently read as pending or lost.
    static func state<State: RawRepresentable<String>>(_ text: String, path: String) throws -> State {
        guard let state = State(rawValue: text) else {
            throw JournalError(path: path, reason: "unknown \(State.self) \"\(text)\": written by another version of lpft? Read it with that version")
        }
        return state
    }

    public func value(forKey key: String) throws -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT value FROM sweep WHERE key = ?", arguments: [key]) }
    }

    public func trials() throws -> [TrialRecord] {
        try trials(where: "1", arguments: [])
    }

    func trials(where condition: String, arguments: StatementArguments) throws -> [TrialRecord] {
        try read { db in
            // Columns by position, not name: a name is looked up case-insensitively for every
            // row, which was most of reading 10,000 trials.
            try Self.fetch(db, sql: """
                SELECT t.id, t.position, t.axes, t.config, t.state, t.charged_attempts,
                  (SELECT COUNT(*) FROM attempts a WHERE a.trial = t.id), t.not_before, t.result, t.reason
                FROM trials t WHERE \(condition) ORDER BY position
                """, arguments: arguments) { row in
                TrialRecord(
                    id: row[0], position: row[1], axes: row[2], config: row[3], state: try Self.state(row[4], path: path),
                    chargedAttempts: row[5], attemptCount: row[6], notBefore: row[7], result: row[8], reason: row[9])
            }
        }
    }

    /// `attempts.machine`, or NULL in a journal opened read-only that predates the column.
    static func machineColumn(_ db: Database) throws -> String {
        try db.columns(in: "attempts").contains { $0.name == "machine" } ? "machine" : "NULL"
    }

    public func attempts(trial: String? = nil) throws -> [AttemptRecord] {
        try read { db in
            let machine = try Journal.machineColumn(db)
            let sql = "SELECT lease, trial, number, worker, host, state, started_at, ended_at, reason, log_tail, result, late, \(machine) FROM attempts"
                + (trial == nil ? "" : " WHERE trial = ?") + " ORDER BY lease"
            return try Self.fetch(db, sql: sql, arguments: trial.map { [$0] } ?? []) { row in
                AttemptRecord(
                    lease: row[0], trial: row[1], number: row[2], worker: row[3], host: row[4], state: try Self.state(row[5], path: path),
                    startedAt: row[6], endedAt: row[7], reason: row[8], logTail: row[9], result: row[10], late: row[11], machine: row[12])
            }
        }
    }

    /// Streamed metric rows, of one trial and/or one name, in the order they were emitted.
    public func metrics(trial: String? = nil, named name: String? = nil) throws -> [JournalMetric] {
        try read { db in
            let clauses = [trial.map { _ in "trial = ?" }, name.map { _ in "name = ?" }].compactMap { $0 }
            let sql = "SELECT * FROM metrics" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY lease, seq"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments([trial, name].compactMap { $0 })).map { row in
                JournalMetric(lease: row["lease"], seq: row["seq"], trial: row["trial"], name: row["name"], value: row["value"], epoch: row["epoch"], step: row["step"])
            }
        }
    }

    /// The predictions (``TrialPredictions`` JSON) of each completed trial that has them, by
    /// trial id: those of the attempt whose result is the trial's.
    public func predictions(trial: String? = nil) throws -> [String: String] {
        try read { db in
            guard try db.tableExists("predictions") else { return [:] }  // a read-only journal that predates them
            let sql = """
                SELECT p.trial, p.body FROM predictions p JOIN attempts a ON a.lease = p.lease
                WHERE a.state = 'completed' AND a.late = 0
                """ + (trial == nil ? "" : " AND p.trial = ?")
            var byTrial: [String: String] = [:]
            for (id, body) in try Self.fetch(db, sql: sql, arguments: trial.map { [$0] } ?? [], { row -> (String, String) in (row[0], row[1]) }) {
                byTrial[id] = body
            }
            return byTrial
        }
    }

    /// The names of the metrics streamed per epoch (`ft/loss`, `val/accuracy`, …).
    public func epochMetricNames() throws -> [String] {
        try database.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT name FROM metrics WHERE epoch IS NOT NULL ORDER BY name") }
    }

    public func metricCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics") ?? 0 }
    }

    /// Events, oldest first: (time, kind, trial, worker, detail).
    public func events(kind: String? = nil) throws -> [(time: Double, kind: String, trial: String?, worker: String?, detail: String?)] {
        try read { db in
            let sql = "SELECT * FROM events" + (kind == nil ? "" : " WHERE kind = ?") + " ORDER BY id"
            return try Row.fetchAll(db, sql: sql, arguments: kind.map { [$0] } ?? []).map { row in
                (row["time"], row["kind"], row["trial"], row["worker"], row["detail"])
            }
        }
    }
}

/// The writes of one journal transaction.
public struct JournalWriter {
    let db: Database

    public func setValue(_ value: String, forKey key: String) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO sweep (key, value) VALUES (?, ?)", arguments: [key, value])
    }

    /// Adds a planned trial unless its id is already in the journal; returns whether it was new.
    @discardableResult
    public func addTrial(id: String, position: Int, axes: String, config: String, at time: Double) throws -> Bool {
        try db.execute(
            sql: "INSERT OR IGNORE INTO trials (id, position, axes, config, added_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [id, position, axes, config, time])
        return db.changesCount > 0
    }

    /// Records a new running attempt and returns its lease; `machine`: the worker's facts (JSON).
    public func startAttempt(trial: String, number: Int, worker: String, host: String, machine: String? = nil, at time: Double) throws -> Int64 {
        try db.cachedStatement(sql: "INSERT INTO attempts (trial, number, worker, host, machine, state, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)")
            .execute(arguments: [trial, number, worker, host, machine, time])
        try db.cachedStatement(sql: "UPDATE trials SET state = 'running' WHERE id = ?").execute(arguments: [trial])
        return db.lastInsertedRowID
    }

    /// Moves a running attempt to a new worker (adopted after a reconnect or a restart).
    public func adoptAttempt(lease: Int64, worker: String, host: String, machine: String? = nil) throws {
        try db.cachedStatement(sql: "UPDATE attempts SET worker = ?, host = ?, machine = ? WHERE lease = ?").execute(arguments: [worker, host, machine, lease])
    }

    public func endAttempt(lease: Int64, state: AttemptState, at time: Double, reason: String? = nil, logTail: String? = nil, result: String? = nil) throws {
        try db.cachedStatement(sql: """
            UPDATE attempts SET state = ?, ended_at = ?, reason = COALESCE(?, reason), log_tail = COALESCE(?, log_tail),
            result = COALESCE(?, result) WHERE lease = ?
            """).execute(arguments: [state.rawValue, time, reason, logTail, result, lease])
    }

    /// Keeps the predictions an attempt's result carried (a resend is kept once).
    public func recordPredictions(lease: Int64, trial: String, json: String) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO predictions (lease, trial, body) VALUES (?, ?, ?)").execute(arguments: [lease, trial, json])
    }

    /// Keeps a result that lost its lease: history only.
    public func recordLateResult(lease: Int64, result: String?, reason: String?, logTail: String?) throws {
        try db.cachedStatement(sql: "UPDATE attempts SET late = 1, result = COALESCE(?, result), reason = COALESCE(reason, ?), log_tail = COALESCE(log_tail, ?) WHERE lease = ?")
            .execute(arguments: [result, reason, logTail, lease])
    }

    public func updateTrial(_ id: String, state: TrialState, chargedAttempts: Int, notBefore: Double = 0, result: String? = nil, reason: String? = nil, finishedAt: Double? = nil) throws {
        try db.cachedStatement(sql: "UPDATE trials SET state = ?, charged_attempts = ?, not_before = ?, result = ?, reason = ?, finished_at = ? WHERE id = ?")
            .execute(arguments: [state.rawValue, chargedAttempts, notBefore, result, reason, finishedAt, id])
    }

    /// Adds the CPU its stopped process reported to a pruned trial's result (`timings.cpu`),
    /// so the report counts what pruned trials cost.
    public func recordPrunedCPU(trial id: String, seconds: Double) throws {
        try db.cachedStatement(sql: "UPDATE trials SET result = json_set(result, '$.timings', json_object('cpu', ?)) WHERE id = ? AND state = 'pruned' AND json_valid(result)")
            .execute(arguments: [seconds, id])
    }

    /// Makes every failed trial pending with a fresh set of attempts; returns how many.
    public func retryFailedTrials(at time: Double) throws -> Int {
        try db.execute(sql: "UPDATE trials SET state = 'pending', charged_attempts = 0, not_before = 0, reason = NULL, finished_at = NULL WHERE state = 'failed'")
        return db.changesCount
    }

    /// Deletes the trials that never started and are not in `plan` (they left the spec);
    /// returns how many. Trials with attempts stay: their history is part of the sweep.
    public func dropUnstartedTrials(notIn plan: Set<String>) throws -> Int {
        let ids = try String.fetchAll(db, sql: "SELECT id FROM trials t WHERE state = 'pending' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.trial = t.id)")
            .filter { !plan.contains($0) }
        for id in ids { try db.execute(sql: "DELETE FROM trials WHERE id = ?", arguments: [id]) }
        return ids.count
    }

    /// Stores metric rows; a row resent after a reconnect (same lease and seq) is kept once.
    public func insertMetric(lease: Int64, trial: String, seq: Int, name: String, value: Double, epoch: Int?, step: Int?) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO metrics (lease, seq, trial, name, value, epoch, step) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [lease, seq, trial, name, value.isNaN ? nil : value, epoch, step])
    }

    public func event(_ kind: String, at time: Double, trial: String? = nil, lease: Int64? = nil, worker: String? = nil, detail: String? = nil) throws {
        try db.cachedStatement(sql: "INSERT INTO events (time, kind, trial, lease, worker, detail) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [time, kind, trial, lease, worker, detail])
    }
}
