import Foundation
import Logs
@testable import Orchestrator
import Sweep
import TestSupport
@testable import Wire
import XCTest

/// The coordinator's state machine on a clock the test moves, with a real journal.
final class DispatcherTests: XCTestCase {
    /// A dispatcher and its journal; `deliver` runs one coordinator turn.
    final class Harness {
        let journal: Journal
        var dispatcher: Dispatcher
        var settings = DispatchSettings()
        var now = 1000.0

        init(_ test: XCTestCase, trials: Int, configure: (inout DispatchSettings) -> Void = { _ in }) throws {
            let dir = try temporaryDirectory(test)
            journal = try Journal(directory: dir)
            try journal.write { w in
                for i in 0..<trials {
                    try w.addTrial(id: "t\(i)", position: i, axes: "{\"seed\":\(i)}", config: "{\"method\":\"noop\",\"seed\":\(i)}", at: 0)
                }
            }
            settings.retryDelay = 0
            configure(&settings)
            dispatcher = try Dispatcher(journal: journal, settings: settings, now: now)
        }

        /// Simulates a coordinator restart on the same journal.
        func restart() throws {
            dispatcher = try Dispatcher(journal: journal, settings: settings, now: now)
        }

        /// Delivers `messages` from `peer` (nil: none, just a tick) at the current time.
        @discardableResult
        func deliver(_ messages: [Message], from peer: String = "") throws -> [(peer: String, message: Message)] {
            try journal.write { w in
                for m in messages {
                    try dispatcher.receive(from: Array(peer.utf8), frames: m.frames()[...], now: now, journal: w)
                }
                try dispatcher.tick(now: now, journal: w)
            }
            return dispatcher.takeOutgoing().map { (String(decoding: $0.0, as: UTF8.self), $0.1) }
        }

        @discardableResult
        func hello(_ peer: String, slots: Int = 1, held: [LeaseReference] = []) throws -> [(peer: String, message: Message)] {
            try deliver([.hello(Hello(worker: "w-\(peer)", host: "h", slots: slots, held: held)), .ready(Ready(credit: slots - held.count))], from: peer)
        }

        func trial(_ id: String) throws -> TrialRecord { try journal.trials().first { $0.id == id }! }
    }

    static func assigns(_ out: [(peer: String, message: Message)]) -> [Assign] {
        out.compactMap { if case .assign(let a) = $0.message { a } else { nil } }
    }

    static func result(_ a: Assign, _ status: TrialReport.Status = .completed, reason: String? = nil) -> Message {
        .result(TrialReport(trial: a.trial, lease: a.lease, status: status, reason: reason, logTail: ["last line"],
                            result: "{\"status\":\"\(status.rawValue)\",\"lease\":\(a.lease)}", sweep: a.sweep))
    }

    func testAssignsOnlyAgainstCreditAndAcksResultsAfterCommit() throws {
        let h = try Harness(self, trials: 3)
        // HELLO alone carries no credit: nothing is assigned.
        XCTAssertTrue(Self.assigns(try h.deliver([.hello(Hello(worker: "w", host: "h", slots: 2, held: []))], from: "a")).isEmpty)
        let assigned = Self.assigns(try h.deliver([.ready(Ready(credit: 2))], from: "a"))
        XCTAssertEqual(assigned.map(\.trial), ["t0", "t1"])
        XCTAssertEqual(assigned.map(\.attempt), [1, 1])
        XCTAssertEqual(try h.trial("t0").state, .running)
        let out = try h.deliver([Self.result(assigned[0])], from: "a")
        XCTAssertTrue(out.contains { if case .ack(let ack) = $0.message { ack.lease == assigned[0].lease && ack.kind == .result } else { false } })
        XCTAssertEqual(try h.trial("t0").state, .completed)
        XCTAssertEqual(try h.trial("t0").result, "{\"status\":\"completed\",\"lease\":\(assigned[0].lease)}")
        // The freed slot is not refilled until the worker asks.
        XCTAssertTrue(Self.assigns(out).isEmpty)
        XCTAssertEqual(Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "a")).map(\.trial), ["t2"])
    }

    /// Messages gather into one transaction for longer the more workers there are, never
    /// past the cap: one worker's short trials are answered at once.
    func testTurnSpacingGrowsWithTheWorkersUpToItsCap() throws {
        let h = try Harness(self, trials: 1) { $0.maxTurnSpacing = 100e-6 }
        XCTAssertEqual(h.dispatcher.turnSpacing, 0)
        try h.hello("a")
        XCTAssertEqual(h.dispatcher.turnSpacing, 20e-6, accuracy: 1e-12)
        for peer in ["b", "c", "d", "e", "f", "g"] { try h.hello(peer) }
        XCTAssertEqual(h.dispatcher.turnSpacing, 100e-6, accuracy: 1e-12)
    }

    /// Two live processes under one name (cloned hosts): the second is told to wait, and the
    /// first keeps its session and lease; a restarted process holding its lease takes over.
    func testASecondProcessUnderAConnectedNameWaitsInsteadOfTakingOver() throws {
        let h = try Harness(self, trials: 2)
        func hello(_ instance: String, host: String, held: [LeaseReference] = []) -> Message {
            .hello(Hello(worker: "w", host: host, slots: 1, held: held, instance: instance))
        }
        let first = Self.assigns(try h.deliver([hello("a", host: "h1"), .ready(Ready(credit: 1))], from: "p1"))[0]
        let out = try h.deliver([hello("b", host: "h2"), .ready(Ready(credit: 1))], from: "p2")
        XCTAssertTrue(Self.assigns(out).isEmpty, "nothing for the second process")
        guard case .reconnect(let notice)? = out.first(where: { $0.peer == "p2" })?.message else { return XCTFail("\(out)") }
        XCTAssertEqual(notice.retryAfter, h.settings.leaseTimeout / 2)
        XCTAssertTrue(notice.reason.contains("its own --name"), notice.reason)
        XCTAssertTrue(try h.deliver([.heartbeat], from: "p2").isEmpty, "its heartbeats meanwhile get no answer")
        try h.deliver([hello("b", host: "h2")], from: "p2")
        XCTAssertEqual(try h.journal.events(kind: "worker refused").count, 1, "logged once per process")
        try h.deliver([Self.result(first)], from: "p1")
        XCTAssertEqual(try h.trial(first.trial).state, .completed, "the first process kept its lease")

        let second = Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "p1"))[0]
        let restarted = try h.deliver([hello("c", host: "h1", held: [LeaseReference(trial: second.trial, lease: second.lease)])], from: "p3")
        XCTAssertFalse(restarted.contains { if case .reconnect = $0.message { true } else { false } }, "\(restarted)")
        try h.deliver([Self.result(second)], from: "p3")
        XCTAssertEqual(try h.trial(second.trial).state, .completed, "the restarted process's result counts")
    }

    func testSilentWorkerLosesItsLeaseAndItsLateResultNeverWins() throws {
        let h = try Harness(self, trials: 1) { $0.heartbeatInterval = 1; $0.liveness = 3 }
        let first = Self.assigns(try h.hello("a"))[0]
        _ = try h.hello("b")  // a second worker, idle
        h.now += 2
        _ = try h.deliver([.heartbeat], from: "b")
        XCTAssertEqual(try h.trial("t0").state, .running, "within the lease")
        h.now += 1.5  // a: 3.5 s of silence > 3 s
        let out = try h.deliver([.heartbeat], from: "b")
        let second = try XCTUnwrap(Self.assigns(out).first, "requeued to the live worker")
        XCTAssertEqual(out.first { if case .assign = $0.message { true } else { false } }?.peer, "b")
        XCTAssertEqual(second.attempt, 2)
        XCTAssertGreaterThan(second.lease, first.lease)
        XCTAssertEqual(try h.journal.attempts(trial: "t0").map(\.state), [.lost, .running])

        // The cut-off worker comes back: its lease is fenced, its result kept as history only.
        let back = try h.hello("a", held: [LeaseReference(trial: "t0", lease: first.lease)])
        XCTAssertTrue(back.contains { if case .cancel(let c) = $0.message { c.lease == first.lease } else { false } })
        let late = try h.deliver([Self.result(first)], from: "a")
        XCTAssertTrue(late.contains { if case .ack = $0.message { true } else { false } }, "a late result is acknowledged so the worker stops resending")
        XCTAssertEqual(try h.trial("t0").state, .running)
        XCTAssertNil(try h.trial("t0").result)
        _ = try h.deliver([Self.result(second)], from: "b")
        let t = try h.trial("t0")
        XCTAssertEqual(t.state, .completed)
        XCTAssertEqual(t.result, "{\"status\":\"completed\",\"lease\":\(second.lease)}")
        let attempts = try h.journal.attempts(trial: "t0")
        XCTAssertEqual(attempts.map(\.state), [.lost, .completed])
        XCTAssertEqual(attempts.map(\.late), [true, false])
        XCTAssertEqual(t.chargedAttempts, 1)
    }

    /// After the coordinator's own pause the workers' silence counts from its wake-up: none
    /// is retired for it, and one that stays silent still expires a lease timeout later.
    func testAPauseOfTheCoordinatorIsNotCountedAsTheWorkersSilence() throws {
        let h = try Harness(self, trials: 2) { $0.heartbeatInterval = 1; $0.liveness = 3 }
        let a = Self.assigns(try h.hello("a"))[0]
        let b = Self.assigns(try h.hello("b"))[0]
        h.now += 60
        h.dispatcher.resumeAfterPause(now: h.now)
        try h.deliver([])
        XCTAssertEqual(try h.journal.attempts().map(\.state), [.running, .running], "nobody is retired for the coordinator's pause")
        h.now += 2
        try h.deliver([.heartbeat], from: "a")
        h.now += 1.5  // b: 3.5 s silent since the wake-up
        try h.deliver([.heartbeat], from: "a")
        XCTAssertEqual(try h.journal.attempts(trial: a.trial).map(\.state), [.running])
        XCTAssertEqual(try h.journal.attempts(trial: b.trial).first?.state, .lost)
    }

    /// A result that says what its attempt already ended as is a repeat, not a late result:
    /// a failed attempt's own result resent after a reconnect and again to a restarted
    /// coordinator (issue 36), and a worker's word that an attempt the coordinator stopped was
    /// interrupted. A result that ends a lost lease still is late.
    func testARepeatedResultIsNotALateOne() throws {
        let h = try Harness(self, trials: 3) { $0.heartbeatInterval = 1; $0.liveness = 3 }
        let failed = Self.assigns(try h.hello("a"))[0]
        func hello(holding a: Assign) -> Message {
            .hello(Hello(worker: "w-a", host: "h", slots: 1, held: [LeaseReference(trial: a.trial, lease: a.lease)]))
        }
        let killed = Self.result(failed, .failed, reason: "killed by signal 9")
        try h.deliver([killed], from: "a")
        try h.deliver([hello(holding: failed), killed], from: "a2")  // its ACK was lost
        try h.restart()
        try h.deliver([hello(holding: failed), killed], from: "a3")

        let stopped = Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "a3"))[0]
        try h.journal.write { try h.dispatcher.stop(now: h.now, journal: $0, reason: "stopped by the test") }
        try h.restart()
        try h.deliver([hello(holding: stopped), Self.result(stopped, .interrupted, reason: "worker w-a is stopping")], from: "a4")

        let lost = Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "a4"))[0]
        h.now += 4  // past the lease timeout: lost
        try h.deliver([])
        try h.deliver([hello(holding: lost), Self.result(lost)], from: "a5")

        let late = Dictionary(uniqueKeysWithValues: try h.journal.attempts().map { ($0.lease, $0.late) })
        XCTAssertEqual(late, [failed.lease: false, stopped.lease: false, lost.lease: true])
        XCTAssertEqual(try h.journal.events(kind: "late result").count, 1)
    }

    func testFailedAttemptsAreRetriedWithBackoffThenTheTrialFails() throws {
        let h = try Harness(self, trials: 1) { $0.maxAttempts = 2; $0.retryDelay = 5 }
        let first = Self.assigns(try h.hello("a"))[0]
        _ = try h.deliver([Self.result(first, .failed, reason: "exit code 1"), .ready(Ready(credit: 1))], from: "a")
        XCTAssertEqual(try h.trial("t0").state, .pending)
        h.now += 4
        XCTAssertTrue(Self.assigns(try h.deliver([.heartbeat], from: "a")).isEmpty, "still backing off")
        h.now += 1.5
        let second = try XCTUnwrap(Self.assigns(try h.deliver([.heartbeat], from: "a")).first)
        XCTAssertEqual(second.attempt, 2)
        _ = try h.deliver([Self.result(second, .failed, reason: "exit code 1")], from: "a")
        let t = try h.trial("t0")
        XCTAssertEqual(t.state, .failed)
        XCTAssertEqual(t.reason, "2 attempt(s) failed or were lost; last: exit code 1")
        XCTAssertTrue(h.dispatcher.isFinished)
        XCTAssertEqual(try h.journal.attempts(trial: "t0").last?.logTail, "last line")
        // --retry-failed gives it a fresh set of attempts.
        XCTAssertEqual(try h.journal.write { try $0.retryFailedTrials(at: h.now) }, 1)
        try h.restart()
        XCTAssertEqual(Self.assigns(try h.hello("c")).first?.attempt, 3)
    }

    /// A worker directory reused after another sweep of the same configs resends that sweep's
    /// result: same trial id, and it must not name a lease of this sweep.
    func testAResultLeftFromAnotherSweepIsNotTakenForThisOne() throws {
        let earlier = try Harness(self, trials: 1), now = try Harness(self, trials: 1)
        let old = Self.assigns(try earlier.hello("a"))[0]
        let current = Self.assigns(try now.hello("b"))[0]
        XCTAssertEqual(old.trial, current.trial)
        XCTAssertNotEqual(old.lease, current.lease, "each journal's leases start at a random point")
        try now.deliver([.hello(Hello(worker: "w-a", host: "h", slots: 1, held: [LeaseReference(trial: old.trial, lease: old.lease)])), Self.result(old)], from: "a")
        XCTAssertEqual(try now.trial(current.trial).state, .running, "the stale result is dropped")
        try now.deliver([Self.result(current)], from: "b")
        XCTAssertEqual(try now.trial(current.trial).result, "{\"status\":\"completed\",\"lease\":\(current.lease)}")
    }

    static func facts(build: String) -> WorkerFacts {
        WorkerFacts(build: build, blas: "OpenBLAS 0.3.21 core=Zen", cpu: "AMD EPYC", cpuFlags: ["avx2", "fma"], threads: 1)
    }

    func testAWorkerOfAnotherBuildIsRefusedAndTheSameBuildsFactsGoWithEachAttempt() throws {
        let h = try Harness(self, trials: 2) { $0.build = "0.1.0+aaaaaaaaaaaa" }
        for (peer, facts) in [("old", nil), ("other", Self.facts(build: "0.1.0+bbbbbbbbbbbb"))] {
            let out = try h.deliver([.hello(Hello(worker: "w-\(peer)", host: "h", slots: 1, held: [], facts: facts)), .ready(Ready(credit: 1))], from: peer)
            XCTAssertTrue(Self.assigns(out).isEmpty)
            guard case .reconnect(let notice)? = out.first?.message else { return XCTFail("\(out)") }
            XCTAssertTrue(notice.reason.contains("but the coordinator runs 0.1.0+aaaaaaaaaaaa"), notice.reason)
            XCTAssertTrue(notice.reason.contains("--allow-mixed-builds"), notice.reason)
            XCTAssertNotNil(notice.retryAfter, "it tries again later: a rebuilt worker then joins")
        }
        XCTAssertEqual(try h.journal.events(kind: "worker refused").count, 2)
        let same = Self.facts(build: "0.1.0+aaaaaaaaaaaa")
        let a = Self.assigns(try h.deliver([.hello(Hello(worker: "w-same", host: "h", slots: 1, held: [], facts: same)), .ready(Ready(credit: 1))], from: "same"))
        XCTAssertEqual(a.count, 1)
        XCTAssertEqual(try h.journal.attempts().map(\.machine), [same.json])
    }

    func testMixedBuildsAreAdmittedWhenAllowedAndOnRecord() throws {
        let h = try Harness(self, trials: 1) { ($0.build, $0.allowMixedBuilds) = ("0.1.0+aaaaaaaaaaaa", true) }
        let other = Self.facts(build: "0.1.0+bbbbbbbbbbbb")
        let a = Self.assigns(try h.deliver([.hello(Hello(worker: "w", host: "h", slots: 1, held: [], facts: other)), .ready(Ready(credit: 1))], from: "a"))
        XCTAssertEqual(a.count, 1)
        XCTAssertEqual(try h.journal.attempts().first?.machine, other.json)
        XCTAssertEqual(try h.journal.events(kind: "mixed build").first?.detail, "worker build 0.1.0+bbbbbbbbbbbb, coordinator build 0.1.0+aaaaaaaaaaaa")
    }

    /// The sweep on the wire: even a RESULT whose trial and lease match a running attempt is
    /// not taken when it names another sweep, and the worker is told to keep it, not drop it.
    func testAResultNamingAnotherSweepIsNeverTakenEvenWhenItsLeaseMatches() throws {
        let h = try Harness(self, trials: 1)
        let a = Self.assigns(try h.hello("a"))[0]
        XCTAssertEqual(a.sweep, try h.journal.sweepID(), "every ASSIGN names the sweep")
        var impostor = a
        impostor.sweep = "0123456789abcdef"
        let out = try h.deliver([Self.result(impostor)], from: "a")
        XCTAssertEqual(try h.trial(a.trial).state, .running)
        XCTAssertEqual(try h.journal.attempts().map(\.state), [.running])
        let acks = out.compactMap { if case .ack(let ack) = $0.message { ack } else { nil } }
        XCTAssertEqual(acks, [Ack(lease: a.lease, kind: .foreign, seq: nil)], "not a .result ACK: that would delete the other sweep's only copy")
        try h.deliver([Self.result(a)], from: "a")
        XCTAssertEqual(try h.trial(a.trial).state, .completed, "its own sweep's result is taken")
    }

    func testRestartedCoordinatorAdoptsReclaimedLeasesAndLosesTheRest() throws {
        let h = try Harness(self, trials: 3) { $0.heartbeatInterval = 1; $0.liveness = 2 }
        let a = Self.assigns(try h.hello("a"))[0]
        let b = Self.assigns(try h.hello("b"))[0]
        _ = try h.deliver([Self.result(b)], from: "b")
        try h.restart()
        // Unknown on the new coordinator: asked to HELLO again.
        let asked = try h.deliver([.heartbeat, .heartbeat, .metrics(MetricBatch(trial: a.trial, lease: a.lease, rows: []))], from: "a")
        XCTAssertEqual(asked.filter { if case .reconnect = $0.message { true } else { false } }.count, 1, "asked once, not once per queued message")
        let adopted = try h.deliver([.hello(Hello(worker: "w-a", host: "h", slots: 1, held: [LeaseReference(trial: a.trial, lease: a.lease)])), Self.result(a)], from: "a2")
        XCTAssertTrue(Self.assigns(adopted).isEmpty, "no credit was offered")
        XCTAssertEqual(try h.trial(a.trial).state, .completed)
        XCTAssertEqual(try h.journal.attempts(trial: a.trial).map(\.state), [.completed], "adopted, not rerun")
        XCTAssertEqual(try h.trial(b.trial).state, .completed)
        // A lease nobody reclaims within the lease timeout is lost and its trial requeued.
        let c = Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "a2"))[0]
        try h.restart()
        h.now += h.settings.restartGrace - 0.5
        _ = try h.deliver([])
        XCTAssertEqual(try h.journal.attempts(trial: c.trial).map(\.state), [.running], "still within the restart grace")
        h.now += 1
        _ = try h.deliver([])
        XCTAssertEqual(try h.journal.attempts(trial: c.trial).map(\.state), [.lost])
        XCTAssertEqual(try h.trial(c.trial).state, .pending)
    }

    func testResentMetricsAreStoredOnceAndAcknowledgedCumulatively() throws {
        let h = try Harness(self, trials: 1)
        let a = Self.assigns(try h.hello("a"))[0]
        let rows = (0..<3).map { MetricRow(seq: $0, name: "ft/loss", value: [0.5, .nan, .infinity][$0], epoch: $0 + 1) }
        let batch = Message.metrics(MetricBatch(trial: a.trial, lease: a.lease, rows: rows))
        let out = try h.deliver([batch, batch], from: "a")
        let acks = out.compactMap { if case .ack(let ack) = $0.message { ack } else { nil } }
        XCTAssertEqual(acks, [Ack(lease: a.lease, kind: .metrics, seq: 2), Ack(lease: a.lease, kind: .metrics, seq: 2)])
        let stored = try h.journal.metrics(trial: a.trial)
        XCTAssertEqual(stored.map(\.seq), [0, 1, 2])
        XCTAssertEqual(stored[0].value, 0.5)
        XCTAssertNil(stored[1].value, "NaN is stored as NULL")
        XCTAssertEqual(stored[2].value, .infinity)
        // Metrics for a lease the coordinator never issued are dropped, not stored.
        _ = try h.deliver([.metrics(MetricBatch(trial: a.trial, lease: a.lease + 99, rows: rows))], from: "a")
        XCTAssertEqual(try h.journal.metricCount(), 3)
        XCTAssertEqual(h.dispatcher.droppedMessages, 1)
    }

    /// Trials handed back by workers that could not start them are not charged, but a trial
    /// no worker can start is failed after `maxStartFailures` tries, so the sweep ends.
    func testATrialNoWorkerCanStartFailsAfterItsStartFailuresWithoutCharges() throws {
        let h = try Harness(self, trials: 1) { $0.maxStartFailures = 3; $0.maxAttempts = 1 }
        func bounce(_ a: Assign, notStarted: Bool) -> Message {
            .result(TrialReport(trial: a.trial, lease: a.lease, status: .interrupted, reason: notStarted ? "could not start it: no such file" : "stopped",
                                logTail: [], result: nil, notStarted: notStarted))
        }
        var a = Self.assigns(try h.hello("a"))[0]
        // Plain interruptions (a stopped worker) never fail a trial.
        for _ in 0..<4 {
            a = Self.assigns(try h.deliver([bounce(a, notStarted: false), .ready(Ready(credit: 1))], from: "a"))[0]
        }
        for _ in 0..<2 {
            a = Self.assigns(try h.deliver([bounce(a, notStarted: true), .ready(Ready(credit: 1))], from: "a"))[0]
            XCTAssertEqual(try h.trial(a.trial).chargedAttempts, 0)
        }
        try h.deliver([bounce(a, notStarted: true)], from: "a")
        let trial = try h.trial(a.trial)
        XCTAssertEqual(trial.state, .failed)
        XCTAssertEqual(trial.chargedAttempts, 0)
        XCTAssertTrue(trial.reason?.hasPrefix("no worker could start it in 3 tries; last: could not start it") == true, trial.reason ?? "")
        XCTAssertTrue(h.dispatcher.isFinished)
    }

    /// An ASSIGN the socket could not route (the worker went away after READY) costs the trial
    /// nothing: its attempt ends interrupted and the next worker gets it.
    func testAnUndeliverableAssignmentIsHandedBackUncharged() throws {
        let h = try Harness(self, trials: 1)
        let lost = Self.assigns(try h.hello("a"))[0]
        try h.journal.write { try h.dispatcher.undeliverable(lost, to: Array("a".utf8), now: h.now, journal: $0) }
        XCTAssertEqual(try h.trial(lost.trial).state, .pending)
        XCTAssertEqual(try h.trial(lost.trial).chargedAttempts, 0)
        let attempt = try XCTUnwrap(try h.journal.attempts().first)
        XCTAssertEqual(attempt.state, .interrupted)
        XCTAssertTrue(attempt.reason?.contains("could not be sent") == true, attempt.reason ?? "")
        let next = Self.assigns(try h.hello("b"))
        XCTAssertEqual(next.map(\.trial), [lost.trial])
        XCTAssertEqual(next.first?.attempt, 2)
    }

    func testStopInterruptsRunningAttemptsWithoutChargingThem() throws {
        let h = try Harness(self, trials: 2)
        let a = Self.assigns(try h.hello("a"))[0]
        let out: [(peer: String, message: Message)] = try h.journal.write { w in
            try h.dispatcher.stop(now: h.now, journal: w, reason: "stopped by the test")
            return h.dispatcher.takeOutgoing().map { (String(decoding: $0.0, as: UTF8.self), $0.1) }
        }
        XCTAssertEqual(out.map(\.message), [.shutdown(Notice(reason: "stopped by the test"))])
        XCTAssertEqual(try h.journal.attempts(trial: a.trial).map(\.state), [.interrupted])
        let t = try h.trial(a.trial)
        XCTAssertEqual(t.state, .pending)
        XCTAssertEqual(t.chargedAttempts, 0)
        XCTAssertTrue(Self.assigns(try h.deliver([.ready(Ready(credit: 1))], from: "a")).isEmpty, "no dispatch after stop")
    }

    func testGarbageIsDroppedAndTheDispatcherKeepsServing() throws {
        let h = try Harness(self, trials: 1)
        let garbage: [[[UInt8]]] = [
            [], [Array("LPFT/1".utf8)], [Array("LPFT/9".utf8), Array("HELLO".utf8), Array("{}".utf8)],
            [Array("LPFT/1".utf8), Array("FLY".utf8), Array("{}".utf8)],
            [Array("LPFT/1".utf8), Array("HELLO".utf8), Array("{\"worker\":".utf8)],
            [Array("LPFT/1".utf8), Array("HELLO".utf8), Array("{\"worker\":\"w\",\"host\":\"h\",\"slots\":0,\"held\":[]}".utf8)],
        ]
        try h.journal.write { w in
            for frames in garbage { try h.dispatcher.receive(from: Array("x".utf8), frames: frames[...], now: h.now, journal: w) }
        }
        XCTAssertEqual(h.dispatcher.droppedMessages, garbage.count)
        XCTAssertEqual(h.dispatcher.workerCount, 0)
        XCTAssertEqual(Self.assigns(try h.hello("a")).count, 1)
        // Absurd credit neither overflows nor buys more than the worker's slots.
        _ = try h.deliver([.ready(Ready(credit: .max)), .ready(Ready(credit: .max))], from: "a")
    }

    /// The flood of the issue (24 peers, 86,809 malformed messages over 20 s) on the
    /// dispatcher's clock: every message is counted, and the log gets at most the first five
    /// of each peer and a summary per peer per 10 s.
    func testAFloodOfMalformedMessagesLogsABoundedNumberOfLines() throws {
        let h = try Harness(self, trials: 1)
        let log = CollectedLines()
        h.dispatcher.logger = log.logger()
        let total = 86_809, peers = 24, turns = 200
        var sent = 0
        for turn in 0..<turns {
            let batch = (turn + 1) * total / turns - sent
            try h.journal.write { w in
                for i in sent..<(sent + batch) {
                    try h.dispatcher.receive(from: Array("peer\(i % peers)".utf8), frames: [[0xFF, 0x00]][...], now: h.now, journal: w)
                }
                try h.dispatcher.tick(now: h.now, journal: w)
            }
            sent += batch
            h.now += 0.1
        }
        h.now += 11
        try h.deliver([])
        XCTAssertEqual(sent, total)
        XCTAssertEqual(h.dispatcher.droppedMessages, total, "every message is counted")
        let lines = log.lines
        XCTAssertEqual(lines.filter { $0.contains("dropped a message") }.count, peers * 5)
        XCTAssertLessThanOrEqual(lines.count, peers * 5 + peers * 3, "\(lines.count) lines")
        XCTAssertTrue(lines.contains { $0.contains("suppressed") }, "the rest are counted, not silently lost")
    }
}

extension DispatcherTests {
    /// Draining: what runs goes on to its end, nothing new starts (not even a lost attempt's
    /// retry), and the dispatcher is drained once nothing runs.
    func testADrainStartsNothingNewAndEndsWhenTheRunningAttemptsDo() throws {
        let h = try Harness(self, trials: 4)
        let running = Self.assigns(try h.hello("a", slots: 2)) + Self.assigns(try h.hello("b", slots: 1))
        XCTAssertEqual(running.map(\.trial), ["t0", "t1", "t2"])
        try h.journal.write { try h.dispatcher.drain(now: h.now, journal: $0) }
        XCTAssertFalse(h.dispatcher.isDrained, "three attempts still run")
        XCTAssertEqual(try h.journal.events(kind: CoordinatorEvent.draining).map(\.detail), ["3 attempt(s) running; no new ones start"])

        // a finishes t0 and asks for more: no ASSIGN.
        let a0 = running.first { $0.trial == "t0" }!
        XCTAssertTrue(Self.assigns(try h.deliver([Self.result(a0), .ready(Ready(credit: 1))], from: "a")).isEmpty)
        // b falls silent: its attempt is lost and its trial waits, not reassigned to a.
        h.now += h.settings.leaseTimeout + 1
        XCTAssertTrue(Self.assigns(try h.deliver([.heartbeat], from: "a")).isEmpty)
        XCTAssertEqual(try h.trial("t2").state, .pending)
        XCTAssertFalse(h.dispatcher.isDrained, "t1 still runs on a")
        let a1 = running.first { $0.trial == "t1" }!
        XCTAssertTrue(Self.assigns(try h.deliver([Self.result(a1), .ready(Ready(credit: 1))], from: "a")).isEmpty)
        XCTAssertTrue(h.dispatcher.isDrained)
        XCTAssertEqual(try h.journal.trials().map(\.state), [.completed, .completed, .pending, .pending])
    }
}

extension DispatcherTests {
    func testADrainWithNothingRunningIsDrainedAtOnce() throws {
        let h = try Harness(self, trials: 2)
        try h.journal.write { try h.dispatcher.drain(now: h.now, journal: $0) }
        XCTAssertTrue(h.dispatcher.isDrained)
        XCTAssertTrue(Self.assigns(try h.hello("a", slots: 2)).isEmpty, "a worker that joins now gets nothing")
    }
}

/// The checkpoints a dispatcher keeps: the newest stored of each unfinished trial, named in
/// the ASSIGN of its retry, forgotten when the trial ends; an older attempt's never replaces
/// a newer one's.
extension DispatcherTests {
    static func offer(_ a: Assign, _ name: String) -> Offer {
        Offer(trial: a.trial, lease: a.lease, checkpoint: CheckpointManifest(name: name, files: [
            PinnedInput(name: "checkpoints/\(name)/state.json", sha256: String(repeating: "a", count: 64), size: 10),
        ]))
    }

    func testAStoredCheckpointGoesWithTheRetryAndIsForgottenWhenTheTrialEnds() throws {
        let h = try Harness(self, trials: 1) { $0.heartbeatInterval = 1; $0.liveness = 3 }
        let first = Self.assigns(try h.hello("a"))[0]
        XCTAssertNil(first.checkpoint)
        let offer = Self.offer(first, "epoch-2")
        try h.deliver([.offer(offer)], from: "a")
        XCTAssertEqual(h.dispatcher.takeUploads().offers.map(\.1), [offer], "handed to the uploads, outside the transaction")
        try h.journal.write { XCTAssertTrue(try h.dispatcher.stored(offer, from: Array("a".utf8), now: h.now, journal: $0)) }
        XCTAssertEqual(h.dispatcher.takeOutgoing().map(\.1), [.ack(Ack(lease: first.lease, kind: .checkpoint, seq: nil, checkpoint: "epoch-2"))])
        XCTAssertEqual(try h.journal.storedCheckpoints()["t0"], StoredCheckpoint(lease: first.lease, manifest: offer.checkpoint))
        try h.restart()
        XCTAssertEqual(h.dispatcher.checkpoints["t0"]?.manifest, offer.checkpoint, "kept across a coordinator restart")

        _ = try h.hello("a", held: [LeaseReference(trial: "t0", lease: first.lease)])
        _ = try h.hello("b")
        h.now += 3.5  // a falls silent past its lease
        let second = try XCTUnwrap(Self.assigns(try h.deliver([.heartbeat], from: "b")).first)
        XCTAssertEqual(second.checkpoint, offer.checkpoint, "the retry is told where to resume from")

        // The retry's own replaces it; the lost attempt's, arriving late, never replaces the retry's.
        try h.journal.write { XCTAssertTrue(try h.dispatcher.stored(Self.offer(second, "epoch-3"), from: Array("b".utf8), now: h.now, journal: $0)) }
        try h.journal.write { XCTAssertFalse(try h.dispatcher.stored(Self.offer(first, "epoch-5"), from: Array("a".utf8), now: h.now, journal: $0)) }
        XCTAssertEqual(h.dispatcher.checkpoints["t0"], StoredCheckpoint(lease: second.lease, manifest: Self.offer(second, "epoch-3").checkpoint))
        XCTAssertEqual(h.dispatcher.takeOutgoing().count, 2, "both workers told to stop serving theirs")
        XCTAssertEqual(Set(h.dispatcher.checkpointsInUse), [offer.checkpoint, Self.offer(second, "epoch-3").checkpoint],
                       "the checkpoint the running retry was assigned stays: its worker may still be fetching it")

        try h.deliver([Self.result(second)], from: "b")
        XCTAssertTrue(h.dispatcher.checkpointsRetired)
        XCTAssertEqual(h.dispatcher.checkpointsInUse, [])
        XCTAssertEqual(try h.journal.storedCheckpoints(), [:])
        // An offer for a finished trial is answered at once: nothing to keep.
        let out = try h.deliver([.offer(Self.offer(second, "epoch-4"))], from: "b")
        XCTAssertTrue(out.contains { $0.message == .ack(Ack(lease: second.lease, kind: .checkpoint, seq: nil, checkpoint: "epoch-4")) })
        XCTAssertTrue(h.dispatcher.takeUploads().offers.isEmpty)
    }

    /// A journal carried without its checkpoint store: the stored checkpoint is forgotten,
    /// said so in the journal, and the retry starts over instead of asking for its files.
    func testAStoredCheckpointWhoseFilesAreGoneIsForgottenAndTheRetryStartsOver() throws {
        let h = try Harness(self, trials: 2) { $0.heartbeatInterval = 1; $0.liveness = 3 }
        let firsts = Self.assigns(try h.hello("a", slots: 2))
        for (a, name) in zip(firsts, ["epoch-2", "epoch-3"]) {
            try h.journal.write { XCTAssertTrue(try h.dispatcher.stored(Self.offer(a, name), from: Array("a".utf8), now: h.now, journal: $0)) }
        }
        try h.restart()
        try h.journal.write { try h.dispatcher.forgetCheckpoints(unless: { $0.name == "epoch-3" }, now: h.now, journal: $0) }
        XCTAssertEqual(Set(h.dispatcher.checkpoints.keys), ["t1"], "the whole one stays")
        XCTAssertEqual(Set(try h.journal.storedCheckpoints().keys), ["t1"])
        let events = try h.journal.events(kind: "checkpoint missing")
        XCTAssertEqual(events.map(\.trial), ["t0"])
        XCTAssertTrue(events[0].detail?.hasPrefix("epoch-2: its files are not in the sweep's checkpoints/") == true, "\(events)")

        _ = try h.hello("a", slots: 2, held: firsts.map { LeaseReference(trial: $0.trial, lease: $0.lease) })
        _ = try h.hello("b", slots: 2)
        h.now += 3.5  // a falls silent past its leases
        let retries = Self.assigns(try h.deliver([.heartbeat], from: "b"))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: retries.map { ($0.trial, $0.checkpoint?.name) }), ["t0": nil, "t1": "epoch-3"])
    }

    func testAnOfferForAnUnknownLeaseIsAnsweredSoItIsNotOfferedForEver() throws {
        let h = try Harness(self, trials: 1)
        _ = try h.hello("a")
        let stray = Offer(trial: "elsewhere", lease: 99, checkpoint: CheckpointManifest(name: "epoch-1", files: []))
        let out = try h.deliver([.offer(stray)], from: "a")
        XCTAssertTrue(out.contains { $0.message == .ack(Ack(lease: 99, kind: .checkpoint, seq: nil, checkpoint: "epoch-1")) })
        XCTAssertTrue(h.dispatcher.takeUploads().offers.isEmpty)
    }
}
