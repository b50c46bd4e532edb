import Foundation
import Logging
import Sweep
@testable import Orchestrator
@testable import Wire
import XCTest

/// The worker's state machine alone: no sockets and no processes, on a clock the test moves.
/// Heartbeats every second and 5 missed ones (the defaults), so a lease timeout is 5 s.
final class WorkerSessionTests: XCTestCase {
    typealias Action = WorkerSession.Action

    static func settings(slots: Int = 1, maxIdle: Double? = nil) -> WorkerSettings {
        var s = WorkerSettings(endpoint: "tcp://coordinator:5555", name: "w", host: "h", directory: URL(fileURLWithPath: "/w"),
                               runs: URL(fileURLWithPath: "/w/runs"), executable: "lpft")
        (s.slots, s.maxIdle) = (slots, maxIdle)
        return s
    }

    /// A session started at time 0 with `outbox`, and the actions of that start.
    static func started(slots: Int = 1, maxIdle: Double? = nil, outbox: [Lease: TrialReport] = [:]) -> (WorkerSession, [Action]) {
        var session = WorkerSession(settings: settings(slots: slots, maxIdle: maxIdle), instance: "i")
        session.logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let actions = session.start(outbox: outbox, now: 0)
        return (session, actions)
    }

    static func hello(slots: Int = 1, held: [LeaseReference] = []) -> Action {
        .send(.hello(Hello(worker: "w", host: "h", slots: slots, held: held, instance: "i")))
    }

    static func assign(_ lease: Lease) -> Assign {
        Assign(trial: "t\(lease)", lease: lease, attempt: 1, config: "{}", sweep: "s")
    }

    static func completed(_ lease: Lease, sweep: String? = nil) -> TrialReport {
        TrialReport(trial: "t\(lease)", lease: lease, status: .completed, reason: nil, logTail: [], result: "{}", sweep: sweep)
    }

    /// Ticks every `step` from `start` through `end`, the coordinator sending a heartbeat every
    /// whole second if `coordinatorTalks`; returns each tick's actions with its time.
    static func run(_ session: inout WorkerSession, from start: Double, to end: Double, step: Double = 0.25,
                    coordinatorTalks: Bool = true) -> [(time: Double, action: Action)] {
        var out: [(Double, Action)] = []
        for now in stride(from: start, through: end, by: step) {
            if coordinatorTalks, now == now.rounded() { out += session.receive(.heartbeat, now: now).map { (now, $0) } }
            out += session.tick(now: now).map { (now, $0) }
        }
        return out
    }

    func testItSaysHelloThenOffersItsFreeSlotsOnce() {
        var (session, actions) = Self.started(slots: 2)
        XCTAssertEqual(actions, [.connect, Self.hello(slots: 2)])
        XCTAssertEqual(session.tick(now: 0), [.send(.ready(Ready(credit: 2)))])
        XCTAssertEqual(session.tick(now: 0.1), [], "the coordinator has the credit already")
    }

    func testAnAssignmentStartsItsTrialAndItsEndFreesTheSlot() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        let a = Self.assign(7)
        XCTAssertEqual(session.receive(.assign(a), now: 0.5), [.start(a)])
        XCTAssertEqual(session.receive(.assign(a), now: 0.6), [], "a repeated ASSIGN is not run twice")
        session.started(7)
        XCTAssertEqual(session.tick(now: 0.7), [], "no free slot")
        let row = MetricRow(seq: 0, name: "ft/loss", value: 0.5)
        XCTAssertEqual(session.report([row], lease: 7, now: 0.8), [.send(.metrics(MetricBatch(trial: "t7", lease: 7, rows: [row])))])
        let kept = Self.completed(7, sweep: "s")
        XCTAssertEqual(session.finished(Self.completed(7), now: 0.9), [.keep(kept), .send(.result(kept))], "kept on disk, then sent, naming its sweep")
        XCTAssertEqual(session.tick(now: 0.9), [.send(.ready(Ready(credit: 1)))])
    }

    func testAResultIsResentEveryLeaseTimeoutUntilItsACKAndNotAfter() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        _ = session.receive(.assign(Self.assign(1)), now: 0)
        session.started(1)
        let result = Self.completed(1, sweep: "s")
        XCTAssertEqual(session.finished(Self.completed(1), now: 1), [.keep(result), .send(.result(result))])
        let sends = Self.run(&session, from: 1, to: 12).filter { $0.action == .send(.result(result)) }.map(\.time)
        // Counted from the result's own first send at 1 s, not from the session's start: a
        // resend 4 s after the send would reach the coordinator as a second, late copy.
        XCTAssertEqual(sends, [6.25, 11.5], "the first tick more than 5 s after the last (re)send")
        XCTAssertEqual(session.receive(.ack(Ack(lease: 1, kind: .result, seq: nil)), now: 12), [.discard(1)])
        XCTAssertEqual(session.receive(.ack(Ack(lease: 1, kind: .result, seq: nil)), now: 12), [], "a repeated ACK")
        XCTAssertFalse(Self.run(&session, from: 12, to: 60).contains { if case .send(.result) = $0.action { true } else { false } })
    }

    func testAnIdleWorkerHeartbeatsEverySecond() {
        var (session, _) = Self.started()
        XCTAssertEqual(session.tick(now: 0), [.send(.ready(Ready(credit: 1)))])
        let actions = Self.run(&session, from: 0.25, to: 3.5)
        XCTAssertEqual(actions.map(\.time), [1, 2, 3], "a second after the last message sent")
        XCTAssertTrue(actions.allSatisfy { $0.action == .send(.heartbeat) })
    }

    /// Silence for a lease timeout means a fresh connection; each one that hears nothing
    /// doubles the silence allowed, up to 30 s; a word from the coordinator resets it.
    func testCoordinatorSilenceReconnectsWithBackoff() {
        var (session, _) = Self.started()
        let actions = Self.run(&session, from: 0, to: 100, coordinatorTalks: false)
        let connects = actions.filter { $0.action == .connect }.map(\.time)
        XCTAssertEqual(connects, [5.25, 15.5, 35.75, 66, 96.25], "after 5, 10, 20, 30 and 30 s of silence, at the next tick")
        let atFirst = actions.filter { $0.time == 5.25 }.map(\.action)
        XCTAssertEqual(atFirst, [.connect, Self.hello()], "HELLO again on the new connection")

        _ = session.receive(.heartbeat, now: 100)
        XCTAssertEqual(Self.run(&session, from: 100.25, to: 106, coordinatorTalks: false).filter { $0.action == .connect }.map(\.time), [105.25])
    }

    func testWithoutACoordinatorForMaxIdleItExits() {
        var (session, _) = Self.started(maxIdle: 12)
        let exit = Self.run(&session, from: 0, to: 40, coordinatorTalks: false).first { $0.action == .exit(.idle) }
        XCTAssertEqual(exit?.time, 15.5, "when it would reconnect the second time, past 12 s")
        XCTAssertFalse(session.heardFromCoordinator)
    }

    func testReconnectSaysHelloAgainWithWhatItHoldsAndWhatIsUnacknowledged() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        _ = session.receive(.assign(Self.assign(3)), now: 0)
        session.started(3)
        let rows = [MetricRow(seq: 0, name: "a", value: 1), MetricRow(seq: 1, name: "a", value: 2)]
        _ = session.report(rows, lease: 3, now: 1)
        _ = session.receive(.ack(Ack(lease: 3, kind: .metrics, seq: 0)), now: 1)
        XCTAssertEqual(session.receive(.reconnect(Notice(reason: "unknown worker: send HELLO")), now: 2), [
            .resetFetches, Self.hello(held: [LeaseReference(trial: "t3", lease: 3)]),
            .send(.metrics(MetricBatch(trial: "t3", lease: 3, rows: [rows[1]]))),
        ], "only the row not ACKed")
    }

    /// A coordinator that refuses the worker for now names when to say HELLO again: until then
    /// the worker sends nothing and does not take the wait for a dead link.
    func testAReconnectWithADelayWaitsBeforeTheNextHello() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        XCTAssertEqual(session.receive(.reconnect(Notice(reason: "a worker named w is connected", retryAfter: 8)), now: 1), [])
        let actions = Self.run(&session, from: 1.25, to: 9.5, coordinatorTalks: false)
        XCTAssertEqual(actions.map(\.time), [9, 9.25])
        XCTAssertEqual(actions.map(\.action), [Self.hello(), .send(.ready(Ready(credit: 1)))])
    }

    func testShutdownStopsTrialsHandsBackWaitingOnesAndExitsOnceResultsAreTaken() {
        var (session, _) = Self.started(slots: 2)
        _ = session.tick(now: 0)
        _ = session.receive(.assign(Self.assign(1)), now: 0)
        session.started(1)
        _ = session.receive(.assign(Self.assign(2)), now: 0)  // waits for its inputs
        let waiting = TrialReport(trial: "t2", lease: 2, status: .interrupted, reason: "worker w is stopping: coordinator says: the sweep is finished",
                                  logTail: [], result: nil, sweep: "s")
        XCTAssertEqual(session.receive(.shutdown(Notice(reason: "the sweep is finished")), now: 1),
                       [.stop(1), .stop(2), .keep(waiting), .send(.result(waiting))])
        var late = waiting
        (late.trial, late.lease) = ("t3", 3)
        XCTAssertEqual(session.receive(.assign(Self.assign(3)), now: 1), [.keep(late), .send(.result(late))], "handed back at once")
        XCTAssertEqual(session.tick(now: 1), [], "no READY, and a trial still runs")

        let stopped = TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil, sweep: "s")
        XCTAssertEqual(session.finished(TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil), now: 1.5),
                       [.keep(stopped), .send(.result(stopped))])
        XCTAssertEqual(session.tick(now: 1.5), [], "its results are not taken yet")
        for lease: Lease in [1, 2, 3] { _ = session.receive(.ack(Ack(lease: lease, kind: .result, seq: nil)), now: 1.6) }
        XCTAssertEqual(session.tick(now: 1.6), [.exit(.shutdown("coordinator says: the sweep is finished"))])
    }

    func testAShutdownWaitsForItsResultsOnlyWhileTheCoordinatorTalks() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        _ = session.receive(.assign(Self.assign(1)), now: 0)
        session.started(1)
        _ = session.shutDown("stopped by a signal", now: 1)
        _ = session.finished(Self.completed(1), now: 1)
        XCTAssertEqual(session.tick(now: 1.9), [])
        XCTAssertEqual(session.tick(now: 2.1), [.exit(.shutdown("stopped by a signal"))], "two heartbeat intervals without a word")
    }

    func testACancelStopsARunningTrialAndDropsAWaitingOne() {
        var (session, _) = Self.started(slots: 2)
        _ = session.tick(now: 0)
        _ = session.receive(.assign(Self.assign(1)), now: 0)
        session.started(1)
        _ = session.receive(.assign(Self.assign(2)), now: 0)
        XCTAssertEqual(session.receive(.cancel(Cancel(lease: 1, reason: "fenced")), now: 1), [.stop(1)])
        XCTAssertEqual(session.receive(.cancel(Cancel(lease: 2, reason: "fenced")), now: 1), [.stop(2)])
        XCTAssertEqual(session.receive(.reconnect(Notice(reason: "again")), now: 2),
                       [.resetFetches, Self.hello(slots: 2, held: [LeaseReference(trial: "t1", lease: 1)])], "the dropped one is no longer held")
        XCTAssertEqual(session.tick(now: 2), [.send(.ready(Ready(credit: 1)))])
    }

    /// A worker that cannot start trials hands each back and pauses for 1, 2, 4 … s, taking
    /// no new trial meanwhile.
    func testTrialsItCannotStartAreHandedBackWithAGrowingPause() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        var readies: [Double] = []
        var now = 0.0
        for lease: Lease in 1...3 {
            _ = session.receive(.assign(Self.assign(lease)), now: now)
            let back = TrialReport(trial: "t\(lease)", lease: lease, status: .interrupted, reason: "worker w could not start it: no disk",
                                   logTail: [], result: nil, notStarted: true, sweep: "s")
            XCTAssertEqual(session.couldNotStart(lease, reason: "no disk", now: now), [.keep(back), .send(.result(back))])
            while true {
                now += 0.25
                if session.tick(now: now).contains(.send(.ready(Ready(credit: 1)))) { break }
            }
            readies.append(now)
        }
        XCTAssertEqual(readies, [1, 3, 7])
    }

    /// A restarted worker finds results in its outbox: it names their leases in HELLO and
    /// sends them, and never reruns those leases.
    func testAnOutboxLeftByAnEarlierProcessIsReplayed() {
        let left = Self.completed(9, sweep: "s")
        var (session, actions) = Self.started(outbox: [9: left])
        XCTAssertEqual(actions, [.connect, Self.hello(held: [LeaseReference(trial: "t9", lease: 9)]), .send(.result(left))])
        _ = session.tick(now: 0)
        XCTAssertEqual(session.receive(.assign(Self.assign(9)), now: 0.5), [], "its result is already here")
        XCTAssertEqual(session.receive(.ack(Ack(lease: 9, kind: .result, seq: nil)), now: 1), [.discard(9)])
        XCTAssertEqual(session.outbox, [:])
    }

    /// A coordinator of another sweep calls the result foreign: kept, not resent to it, sent
    /// again on the next connection.
    func testAForeignResultIsKeptAndResentOnlyOnTheNextConnection() {
        let left = Self.completed(9, sweep: "other")
        var (session, _) = Self.started(outbox: [9: left])
        XCTAssertEqual(session.receive(.ack(Ack(lease: 9, kind: .foreign, seq: nil)), now: 0.5), [])
        XCTAssertFalse(Self.run(&session, from: 0.5, to: 20).contains { $0.action == .send(.result(left)) })
        let actions = Self.run(&session, from: 20.25, to: 40, coordinatorTalks: false).map(\.action)
        XCTAssertEqual(Array(actions.drop(while: { $0 != .connect }).prefix(3)), [.connect, Self.hello(held: [LeaseReference(trial: "t9", lease: 9)]), .send(.result(left))])
        XCTAssertEqual(session.outbox, [9: left])
    }

    func testMessagesNotACoordinatorsAndGarbledOnesAreDroppedButCountAsHeard() {
        var (session, _) = Self.started()
        XCTAssertEqual(session.receive([Array("LPFT/1".utf8), Array("ASSIGN".utf8), Array("{".utf8)], now: 4), [])
        XCTAssertEqual(session.receive(.ready(Ready(credit: 1)), now: 4), [])
        XCTAssertTrue(session.heardFromCoordinator)
        XCTAssertFalse(Self.run(&session, from: 4, to: 9, coordinatorTalks: false).contains { $0.action == .connect }, "heard at 4 s")
    }

    // MARK: Checkpoints

    /// A session whose one slot runs the trial of `lease` (`t<lease>`), assigned at time 0.
    static func running(_ lease: Lease) -> WorkerSession {
        var (session, _) = started()
        _ = session.tick(now: 0)
        _ = session.receive(.assign(assign(lease)), now: 0)
        session.started(lease)
        return session
    }

    static func offer(_ lease: Lease, _ name: String = "epoch-1") -> Offer {
        Offer(trial: "t\(lease)", lease: lease, checkpoint: CheckpointManifest(name: name, files: [
            PinnedInput(name: "checkpoints/\(name)/state.json", sha256: String(repeating: "a", count: 64), size: 10),
        ]))
    }

    func testACheckpointIsOfferedServedResentAfterAHelloAndWithdrawnOnItsACK() {
        var session = Self.running(3)
        XCTAssertEqual(session.offer(Self.offer(3), now: 1), [.send(.offer(Self.offer(3)))])
        XCTAssertEqual(session.offer(Self.offer(3, "epoch-2"), now: 2), [.send(.offer(Self.offer(3, "epoch-2")))], "a newer one replaces it")
        let fetch = Fetch(sha256: String(repeating: "a", count: 64), offset: 0, length: 1 << 18)
        XCTAssertEqual(session.receive(.fetch(fetch), now: 2), [.serve(fetch)], "the coordinator fetches it from the worker")
        XCTAssertEqual(session.receive(.reconnect(Notice(reason: "who?")), now: 3), [
            .resetFetches, Self.hello(held: [LeaseReference(trial: "t3", lease: 3)]), .send(.offer(Self.offer(3, "epoch-2"))),
        ], "offered again on the new connection, the newest only")
        XCTAssertEqual(session.receive(.ack(Ack(lease: 3, kind: .checkpoint, seq: nil, checkpoint: "epoch-1")), now: 4), [], "an ACK of the older one is stale")
        XCTAssertEqual(session.receive(.ack(Ack(lease: 3, kind: .checkpoint, seq: nil, checkpoint: "epoch-2")), now: 4), [.withdraw(3)])
        XCTAssertEqual(session.offers, [:])
    }

    func testACompletedTrialsCheckpointIsWithdrawn() {
        var session = Self.running(3)
        _ = session.offer(Self.offer(3), now: 1)
        XCTAssertEqual(session.finished(Self.completed(3), now: 2).first, .withdraw(3), "never resumed: nobody needs it")
        XCTAssertEqual(session.offers, [:])
    }

    /// SLURM and Kubernetes send SIGKILL 30 s after SIGTERM: the checkpoint a stopped trial
    /// wrote goes to the coordinator within `uploadGrace` (25 s), or the worker exits without it.
    func testAStoppingWorkerWaitsForItsCheckpointsOnlyUpToTheGrace() {
        for taken in [false, true] {
            var session = Self.running(1)
            XCTAssertEqual(session.shutDown("stopped by a signal", now: 1), [.stop(1)])
            _ = session.finished(TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil), now: 1.5)
            _ = session.offer(Self.offer(1, "epoch-1-step-3"), now: 1.5)
            _ = session.receive(.ack(Ack(lease: 1, kind: .result, seq: nil)), now: 1.6)
            if taken {
                XCTAssertEqual(session.receive(.ack(Ack(lease: 1, kind: .checkpoint, seq: nil, checkpoint: "epoch-1-step-3")), now: 3), [.withdraw(1)])
                XCTAssertEqual(session.tick(now: 3), [.exit(.shutdown("stopped by a signal"))], "taken: it exits at once")
                continue
            }
            let waited = Self.run(&session, from: 1.75, to: 25.75)
            XCTAssertFalse(waited.contains { $0.action == .exit(.shutdown("stopped by a signal")) }, "the result is taken, the checkpoint not yet")
            XCTAssertEqual(session.tick(now: 26), [.exit(.shutdown("stopped by a signal"))], "25 s after the stop it goes without it")
        }
    }

    /// The checkpoint a stopped trial writes is hashed before it is offered (seconds for a
    /// large model), after the trial has ended: the worker waits for it as for an offer, and
    /// sends the trial's result only once the checkpoint is taken, so that the retry the
    /// result starts is assigned this checkpoint and not the one before.
    func testAStoppedTrialsResultWaitsUntilItsLastCheckpointIsTaken() {
        var session = Self.running(1)
        _ = session.shutDown("stopped by a signal", now: 1)
        session.hashing(1)
        let stopped = TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil, sweep: "s")
        XCTAssertEqual(session.finished(TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil), now: 1.5),
                       [.keep(stopped)], "kept on disk, not sent yet")
        XCTAssertFalse(Self.run(&session, from: 1.75, to: 4).contains { if case .send(.result) = $0.action { true } else { $0.action == .exit(.shutdown("stopped by a signal")) } },
                       "hashing: neither sent nor gone")
        XCTAssertEqual(session.offer(Self.offer(1, "epoch-1-step-3"), now: 4), [.send(.offer(Self.offer(1, "epoch-1-step-3")))])
        XCTAssertEqual(session.tick(now: 4.1), [])
        XCTAssertEqual(session.receive(.ack(Ack(lease: 1, kind: .checkpoint, seq: nil, checkpoint: "epoch-1-step-3")), now: 4.5), [.withdraw(1)])
        XCTAssertEqual(session.tick(now: 4.5), [.send(.result(stopped))], "taken: now the result")
        _ = session.receive(.ack(Ack(lease: 1, kind: .result, seq: nil)), now: 4.6)
        XCTAssertEqual(session.tick(now: 4.6), [.exit(.shutdown("stopped by a signal"))])
    }

    func testAStoppedTrialsResultGoesAtTheGraceIfItsCheckpointIsNotTaken() {
        var session = Self.running(1)
        _ = session.shutDown("stopped by a signal", now: 1)
        _ = session.offer(Self.offer(1, "epoch-1-step-3"), now: 1.2)
        _ = session.finished(TrialReport(trial: "t1", lease: 1, status: .interrupted, reason: "stopped", logTail: [], result: nil), now: 1.5)
        let sent = Self.run(&session, from: 1.75, to: 27).filter { if case .send(.result) = $0.action { true } else { false } }
        XCTAssertEqual(sent.map(\.time), [26], "25 s after the stop, taken or not (SLURM's SIGKILL comes at 30 s)")
    }

    func testACheckpointNotOfferedAfterItsHashDoesNotHoldTheWorker() {
        var (session, _) = Self.started()
        _ = session.tick(now: 0)
        _ = session.shutDown("stopped by a signal", now: 1)
        session.hashing(1)
        session.hashed(1)
        XCTAssertEqual(session.tick(now: 1.1), [.exit(.shutdown("stopped by a signal"))])
    }
}
