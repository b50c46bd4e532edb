import Foundation
import GRDB

/// The journal events that mark a coordinator's life; the coordinator writes them and the
/// run history reads them.
public enum CoordinatorEvent {
    /// `lpft sweep run` planned the sweep into the journal, just before its coordinator starts.
    public static let planned = "sweep run"
    public static let started = "coordinator started"
    public static let stopped = "sweep stopped"
    public static let finished = "sweep finished"
}

/// One `lpft sweep run` of a sweep as its journal tells it: from its coordinator's start to a
/// stop, the sweep's end, or, when it ended without either (killed, or its machine lost), the
/// last thing it journaled. A sweep resumed across sessions is a list of these.
public struct CoordinatorRun: Sendable, Equatable {
    public enum Ending: String, Sendable {
        case finished, stopped
        case unannounced = "ended without a stop"
        case running
    }

    public var started: Double
    /// The stop or finish; for a run that ended without a stop, the last attempt start or end,
    /// or event, of the run; nil while it runs.
    public var ended: Double?
    public var ending: Ending
    public var attemptsStarted: Int
    /// Attempts that ended during the run, by how. The attempts of a run that ended without a
    /// stop are declared lost by the next run, so they count there.
    public var attemptsEnded: [AttemptState: Int]

    /// The sweep's runs, oldest first. Whether a coordinator holds the sweep's directory now
    /// decides whether a last run without a stop is running or was killed.
    public static func history(_ journal: Journal) throws -> [CoordinatorRun] {
        let coordinatorIsRunning = DirectoryLock.isHeld(URL(fileURLWithPath: journal.path).deletingLastPathComponent(), name: DirectoryLock.coordinator)
        return try journal.read { db in
            let starts = try Double.fetchAll(db, sql: "SELECT time FROM events WHERE kind = ? ORDER BY id", arguments: [CoordinatorEvent.started])
            return try starts.indices.map { i in
                let (from, to) = (starts[i], i + 1 < starts.count ? starts[i + 1] : Double.infinity)
                let window: StatementArguments = [from, to]
                let end = try Row.fetchOne(db, sql: "SELECT time, kind FROM events WHERE kind IN (?, ?) AND time >= ? AND time < ? ORDER BY id LIMIT 1",
                                           arguments: [CoordinatorEvent.stopped, CoordinatorEvent.finished, from, to])
                var ended: [AttemptState: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM attempts WHERE ended_at >= ? AND ended_at < ? GROUP BY state", arguments: window) {
                    if let state = AttemptState(rawValue: row["state"]) { ended[state] = row["n"] }
                }
                let started = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE started_at >= ? AND started_at < ?", arguments: window) ?? 0
                if let end {
                    return CoordinatorRun(started: from, ended: end["time"], ending: end["kind"] == CoordinatorEvent.finished ? .finished : .stopped,
                                          attemptsStarted: started, attemptsEnded: ended)
                }
                if coordinatorIsRunning && i == starts.count - 1 {
                    return CoordinatorRun(started: from, ended: nil, ending: .running, attemptsStarted: started, attemptsEnded: ended)
                }
                // The next run's planning event comes just before its start: not this run's.
                let last = try Double.fetchOne(db, sql: """
                    SELECT MAX(t) FROM (SELECT MAX(time) AS t FROM events WHERE time >= ?1 AND time < ?2 AND kind != ?3
                      UNION ALL SELECT MAX(started_at) FROM attempts WHERE started_at >= ?1 AND started_at < ?2
                      UNION ALL SELECT MAX(ended_at) FROM attempts WHERE ended_at >= ?1 AND ended_at < ?2)
                    """, arguments: [from, to, CoordinatorEvent.planned]) ?? from
                return CoordinatorRun(started: from, ended: last, ending: .unannounced, attemptsStarted: started, attemptsEnded: ended)
            }
        }
    }

    /// "10 (6 stopped, 3 ended without a stop, 1 running)"
    public static func summary(_ runs: [CoordinatorRun]) -> String {
        let endings: [Ending] = [.finished, .stopped, .unannounced, .running]
        let counts = endings.compactMap { e -> String? in
            let n = runs.count { $0.ending == e }
            return n == 0 ? nil : "\(n) \(e.rawValue)"
        }
        return "\(runs.count)" + (counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")")
    }
}
