import Foundation
import GRDB

/// A worker as the journal saw it.
public struct WorkerActivity: Sendable, Equatable {
    public var name: String
    public var host: String
    /// The last time the journal recorded anything of it (joined, started or ended an attempt).
    /// Heartbeats are not journaled, so an idle connected worker's time stands still.
    public var lastSeen: Double
    public var running: Int
    public var completed: Int
    /// Joined since the coordinator last started, not lost since, and the sweep not over.
    public var connected: Bool
}

/// A failed trial with why, and the last lines its process wrote.
public struct TrialFailure: Sendable, Equatable {
    public var id: String
    public var axes: String
    public var reason: String
    public var logTail: String
}

/// What a sweep's overview shows, read with a few aggregate queries (no per-trial decoding
/// but the ETA's), so it stays quick on sweeps of many thousand trials.
public struct SweepOverview: Sendable {
    public var trials: [TrialState: Int] = [:]
    public var attempts: [AttemptState: Int] = [:]
    public var lateResults = 0
    public var metricRows = 0
    public var rejectedHandshakes = 0
    public var workers: [WorkerActivity] = []
    /// The most recent failures, newest first.
    public var failures: [TrialFailure] = []
    /// Completed attempts per minute between the first start and the last completion.
    public var throughputPerMinute: Double?
    public var etaSeconds: Double?
    /// Seconds from a worker's attempt ending to its next attempt starting: how long a freed
    /// slot waited for work, as the journal shows it.
    public var dispatchLatencies: [Double] = []

    public var totalTrials: Int { trials.values.reduce(0, +) }

    /// `kinds`: kept from earlier overviews of the same journal, so the ETA's kinds are found
    /// once per trial.
    public init(journal: Journal, now: Double, failureLimit: Int = 20, kinds: TrialKinds = TrialKinds()) throws {
        let timings = try journal.trialTimings(memo: kinds)
        etaSeconds = SweepETA.seconds(timings, now: now)
        try journal.read { db in
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM trials GROUP BY state") {
                if let state = TrialState(rawValue: row["state"]) { trials[state] = row["n"] }
            }
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n, SUM(late) AS late FROM attempts GROUP BY state") {
                if let state = AttemptState(rawValue: row["state"]) { attempts[state] = row["n"] }
                lateResults += row["late"] as Int? ?? 0
            }
            metricRows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics") ?? 0
            rejectedHandshakes = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE kind = 'handshake rejected'") ?? 0
            if let span = try Row.fetchOne(db, sql: "SELECT MIN(started_at) AS first, (SELECT MAX(ended_at) FROM attempts WHERE state = 'completed') AS last, (SELECT COUNT(*) FROM attempts WHERE state = 'completed') AS n FROM attempts"),
               let first = span["first"] as Double?, let last = span["last"] as Double?, last > first {
                throughputPerMinute = Double(span["n"] as Int) / (last - first) * 60
            }
            failures = try Row.fetchAll(db, sql: """
                SELECT t.id, t.axes, COALESCE(t.reason, '') AS reason,
                  COALESCE((SELECT a.log_tail FROM attempts a WHERE a.trial = t.id ORDER BY a.lease DESC LIMIT 1), '') AS tail
                FROM trials t WHERE t.state = 'failed' ORDER BY t.finished_at DESC LIMIT ?
                """, arguments: [failureLimit]).map { TrialFailure(id: $0["id"], axes: $0["axes"], reason: $0["reason"], logTail: $0["tail"]) }
            workers = try Self.workers(db)
            dispatchLatencies = try Self.dispatchLatencies(db)
        }
    }

    private static func workers(_ db: Database) throws -> [WorkerActivity] {
        let sessionStart = try Double.fetchOne(db, sql: "SELECT MAX(time) FROM events WHERE kind = ?", arguments: [CoordinatorEvent.started]) ?? 0
        let over = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM events WHERE kind IN (?, ?) AND time >= ?)",
                                     arguments: [CoordinatorEvent.finished, CoordinatorEvent.stopped, sessionStart]) ?? false
        var byName: [String: WorkerActivity] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT worker, MAX(host) AS host, MAX(MAX(started_at), COALESCE(MAX(ended_at), 0)) AS seen,
              SUM(state = 'running') AS running, SUM(state = 'completed') AS completed
            FROM attempts GROUP BY worker
            """) {
            byName[row["worker"]] = WorkerActivity(name: row["worker"], host: row["host"], lastSeen: row["seen"], running: row["running"],
                                                   completed: row["completed"], connected: false)
        }
        // The last of each worker's joined/lost events since the coordinator started says whether it is connected.
        for row in try Row.fetchAll(db, sql: """
            SELECT worker, kind, time FROM events WHERE kind IN ('worker joined', 'worker lost') AND worker IS NOT NULL ORDER BY id
            """) {
            let name: String = row["worker"], time: Double = row["time"]
            var w = byName[name] ?? WorkerActivity(name: name, host: "", lastSeen: time, running: 0, completed: 0, connected: false)
            w.lastSeen = max(w.lastSeen, time)
            w.connected = row["kind"] == "worker joined" && time >= sessionStart && !over
            byName[name] = w
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// Pairs each attempt's end with the same worker's next start after it.
    private static func dispatchLatencies(_ db: Database) throws -> [Double] {
        var starts: [String: [Double]] = [:], ends: [String: [Double]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT worker, started_at, ended_at FROM attempts") {
            let worker: String = row[0]
            starts[worker, default: []].append(row[1])
            if let end = row[2] as Double? { ends[worker, default: []].append(end) }
        }
        var latencies: [Double] = []
        for (worker, var finished) in ends {
            finished.sort()
            let begun = starts[worker]!.sorted()
            var next = 0
            for end in finished {
                while next < begun.count, begun[next] < end { next += 1 }
                guard next < begun.count else { break }
                latencies.append(begun[next] - end)
                next += 1
            }
        }
        return latencies
    }
}

extension Journal {
    /// One trial, or nil if the journal has no trial of that id.
    public func trial(_ id: String) throws -> TrialRecord? {
        try trials(where: "t.id = ?", arguments: [id]).first
    }
}
