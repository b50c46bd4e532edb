import Foundation
import GRDB

/// The journal events that mark a coordinator's life; the coordinator writes them and the
/// run history reads them.
public enum CoordinatorEvent {
    /// `lpft sweep run` planned the sweep into the journal, just before its coordinator starts.
    public static let planned = "sweep run"
    public static let started = "coordinator started"
    public static let stopped = "sweep stopped"
    /// Asked to start no new attempts and stop once those running end (`lpft sweep drain`).
    public static let draining = "sweep draining"
    /// The detail of the stop that ends a drain (a stop by signal during a drain has another).
    public static let drainedStop = "drained: no attempt was running"
    public static let finished = "sweep finished"
    /// The coordinator did not run for a while (stopped, suspended) and forgave the silence.
    public static let paused = "coordinator paused"
}

/// One `lpft sweep run` of a sweep as its journal tells it: from its coordinator's start to a
/// stop, the sweep's end, or, when it ended without either (killed, or its machine lost), the
/// last thing it journaled. A sweep resumed across sessions is a list of these.
public struct CoordinatorRun: Sendable, Equatable {
    public enum Ending: String, Sendable {
        case finished, stopped
        /// Stopped once its running attempts ended, after a drain was asked for.
        case drained
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
    /// decides whether a last run without a stop is running or was killed (while a new
    /// `sweep run` plans, it holds the lock before its start is journaled, so for those
    /// seconds a killed last run reads as running).
    ///
    /// A run's events are those written after its start and before the sweep is planned or
    /// started again, bounded by event id, so clocks set differently from session to session
    /// cannot move an event into another run. Attempts carry only times: those that started
    /// or ended between the same two events count as the run's.
    public static func history(_ journal: Journal) throws -> [CoordinatorRun] {
        let coordinatorIsRunning = DirectoryLock.isHeld(URL(fileURLWithPath: journal.path).deletingLastPathComponent(), name: DirectoryLock.coordinatorFileName)
        return try journal.read { db in
            let marks = try Row.fetchAll(db, sql: "SELECT id, time, kind FROM events WHERE kind IN (?, ?) ORDER BY id",
                                         arguments: [CoordinatorEvent.planned, CoordinatorEvent.started])
            let starts = marks.indices.filter { marks[$0]["kind"] == CoordinatorEvent.started }
            return try starts.enumerated().map { n, m in
                let (firstID, from): (Int64, Double) = (marks[m]["id"], marks[m]["time"])
                let next = marks[(m + 1)...].first
                let lastID: Int64 = next?["id"] ?? .max
                let to: Double = next?["time"] ?? .infinity
                let end = try Row.fetchOne(db, sql: "SELECT time, kind, detail FROM events WHERE kind IN (?, ?) AND id > ? AND id < ? ORDER BY id LIMIT 1",
                                           arguments: [CoordinatorEvent.stopped, CoordinatorEvent.finished, firstID, lastID])
                var ended: [AttemptState: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM attempts WHERE ended_at >= ? AND ended_at < ? GROUP BY state", arguments: [from, to]) {
                    if let state = AttemptState(rawValue: row["state"]) { ended[state] = row["n"] }
                }
                let started = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE started_at >= ? AND started_at < ?", arguments: [from, to]) ?? 0
                if let end {
                    let ending: Ending = end["kind"] == CoordinatorEvent.finished ? .finished
                        : end["detail"] as String? == CoordinatorEvent.drainedStop ? .drained : .stopped
                    return CoordinatorRun(started: from, ended: end["time"], ending: ending, attemptsStarted: started, attemptsEnded: ended)
                }
                if coordinatorIsRunning && n == starts.count - 1 {
                    return CoordinatorRun(started: from, ended: nil, ending: .running, attemptsStarted: started, attemptsEnded: ended)
                }
                let last = try Double.fetchOne(db, sql: """
                    SELECT MAX(t) FROM (SELECT MAX(time) AS t FROM events WHERE id > ?1 AND id < ?2
                      UNION ALL SELECT MAX(started_at) FROM attempts WHERE started_at >= ?3 AND started_at < ?4
                      UNION ALL SELECT MAX(ended_at) FROM attempts WHERE ended_at >= ?3 AND ended_at < ?4)
                    """, arguments: [firstID, lastID, from, to]) ?? from
                return CoordinatorRun(started: from, ended: last, ending: .unannounced, attemptsStarted: started, attemptsEnded: ended)
            }
        }
    }

    /// "10 (6 stopped, 3 ended without a stop, 1 running)"
    public static func summary(_ runs: [CoordinatorRun]) -> String {
        let endings: [Ending] = [.finished, .drained, .stopped, .unannounced, .running]
        let counts = endings.compactMap { e -> String? in
            let n = runs.count { $0.ending == e }
            return n == 0 ? nil : "\(n) \(e.rawValue)"
        }
        return "\(runs.count)" + (counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")")
    }
}
