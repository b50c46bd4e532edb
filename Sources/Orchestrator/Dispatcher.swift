import Foundation
import Logging
import Logs
import Sweep
import TrialContract
import Wire

/// How the coordinator paces leases and retries.
public struct DispatchSettings: Sendable {
    /// Seconds between heartbeats when nothing else is sent.
    public var heartbeatInterval = Liveness.heartbeatInterval
    /// Heartbeats a worker may miss before its leases expire.
    public var liveness = Liveness.missedHeartbeats
    /// Attempts (failed or lost; interrupted ones are free) before a trial is `failed`.
    public var maxAttempts = 3
    /// The first retry waits this long; each further one doubles it, up to `maxRetryDelay`.
    public var retryDelay = 1.0
    public var maxRetryDelay = 60.0
    /// Times a trial may come back from workers that could not start it (not charged) before
    /// it is `failed`: a sweep whose every worker is broken ends rather than bouncing for ever.
    public var maxStartFailures = 10
    /// The build workers must run (the coordinator's own, ``WorkerFacts/build``); nil: any.
    public var build: String?
    /// Admit workers of another build all the same (`--allow-mixed-builds`); their attempts
    /// say which build ran them, and the report warns.
    public var allowMixedBuilds = false
    /// The longest a coordinator lets messages gather into one journal transaction (see
    /// ``Dispatcher/turnSpacing``): it delays an ACK or ASSIGN by at most this.
    public var maxTurnSpacing = 0.02
    /// The spec's `prune:` rule: trials it stops at a rung end `pruned`. Nil: none is pruned.
    public var prune: PruneRule?

    public init() {}

    /// Silence after which a worker's leases expire.
    public var leaseTimeout: Double { heartbeatInterval * Double(liveness) }

    /// How long a restarted coordinator keeps leases it found running for their workers to
    /// reclaim: the lease timeout plus a worker's longest reconnect interval (2 s) and slack.
    public var restartGrace: Double { leaseTimeout + 5 }
}

/// The coordinator's state machine, free of sockets: messages and clock ticks go in, journal
/// writes happen inside the caller's transaction, and messages to send come out — to be sent
/// only after that transaction commits, so nothing is acknowledged or assigned before it is
/// durable.
public final class Dispatcher {
    public typealias Peer = [UInt8]

    /// A class, so that the passes over every session each turn (expiry, heartbeats, looking
    /// for credit) read and update it in place: with a thousand workers, copying each session,
    /// or the whole dictionary on a write during the pass, was most of the coordinator's CPU.
    final class Session {
        let peer: Peer
        let worker: String
        let host: String
        let slots: Int
        let instance: String?
        /// Its ``WorkerFacts`` as JSON, stored with each attempt it runs.
        let facts: String?
        var credit = 0
        var lastHeard: Double
        var lastSent: Double
        var leases: Set<Lease> = []

        init(peer: Peer, worker: String, host: String, slots: Int, instance: String?, facts: String?, now: Double) {
            (self.peer, self.worker, self.host, self.slots, self.instance, self.facts) = (peer, worker, host, slots, instance, facts)
            (lastHeard, lastSent) = (now, now)
        }
    }

    struct LiveTrial {
        let config: String
        var state: TrialState
        var charged: Int
        var attempts: Int
        /// Attempts that workers could not start, since this coordinator started.
        var notStarted = 0
        /// The current lease while running.
        var lease: Lease?
    }

    struct LeaseInfo {
        let trial: String
        /// The session holding it; nil for a lease found running after a coordinator restart
        /// and not yet reclaimed by its worker.
        var peer: Peer?
        /// How the attempt ended, once it has.
        var ended: AttemptState?
        /// The checkpoint its ASSIGN named: its files are kept while the attempt runs, since
        /// its worker may still be fetching them when a newer upload replaces it.
        var checkpoint: CheckpointManifest? = nil
    }

    public let settings: DispatchSettings
    /// The journal's sweep id, named in every ASSIGN.
    public let sweep: String
    private var trials: [String: LiveTrial] = [:]
    private var ready: [String] = []
    private var readyHead = 0
    private var delayed: [(notBefore: Double, trial: String)] = []
    private var sessions: [Peer: Session] = [:]
    private var sessionOrder: [Session] = []
    /// Credit summed over the sessions: with none, dispatch need not look at each.
    private var totalCredit = 0
    /// Every session was last heard from at or after this, as of the last expiry pass: none
    /// can expire before it is a lease timeout old (`lastHeard` only grows).
    private var oldestHeard = -Double.infinity
    private var nextSession = 0
    private var leases: [Lease: LeaseInfo] = [:]
    /// Running leases that no session holds (after a coordinator restart, or a worker that
    /// reconnected holding them), with the time by which a worker must reclaim them.
    private var unowned: [Lease: Double] = [:]
    private var outgoing: [(Peer, Message)] = []
    /// Each trial's pinned inputs, named in its ASSIGN.
    private let inputs: [String: [PinnedInput]]
    /// FETCHes from workers this turn, for the coordinator's ``ContentServer``.
    private var fetches: [(Peer, Fetch)] = []
    /// The newest checkpoint stored for each unfinished trial that has one, named in its ASSIGN.
    public private(set) var checkpoints: [String: StoredCheckpoint] = [:]
    /// Checkpoint OFFERs and pieces of them from workers this turn, for ``CheckpointUploads``.
    private var offers: [(Peer, Offer)] = []
    private var chunks: [(Peer, Chunk)] = []
    /// A finished trial's checkpoint was forgotten: its files can go.
    public private(set) var checkpointsRetired = false
    private var unfinished = 0
    /// Peers asked to HELLO again and not yet heard from with one: asked once, not per message.
    private var askedToReconnect = Set<Peer>()
    /// Worker processes refused for a name already in use, logged once each.
    private var refusedInstances = Set<String>()
    /// Worker processes of another build, refused or admitted: logged once each.
    private var otherBuilds = Set<String>()
    public private(set) var stopping = false
    /// Asked to drain: no new attempts start; the coordinator stops once none runs.
    public private(set) var draining = false

    /// Counters for status lines and benchmarks.
    public private(set) var completed = 0
    public private(set) var failed = 0
    public private(set) var metricRows = 0
    public private(set) var droppedMessages = 0
    /// Notable happenings, for the coordinator's log.
    public var logger = Logger(label: "lpft.coordinator")
    /// Dropped messages are counted always but logged through this: their number is the peer's choice.
    private var dropWarnings = WarningThrottle()
    /// Applies `settings.prune` to the metrics as they are journaled.
    private var pruner: TrialPruner?
    public private(set) var pruned = 0

    /// Loads the journal's trials. Attempts still `running` there belong to workers that may
    /// still be at work (the coordinator was restarted): they are held for `restartGrace`
    /// for their workers to reclaim, then declared lost.
    public init(journal: Journal, settings: DispatchSettings, now: Double) throws {
        self.settings = settings
        sweep = try journal.sweepID()
        inputs = try journal.pinnedInputs()
        checkpoints = try journal.storedCheckpoints()
        let attempts = try journal.attempts()
        let running = Dictionary(attempts.filter { $0.state == .running }.map { ($0.trial, $0.lease) }) { _, newer in newer }
        for record in try journal.trials() {
            var trial = LiveTrial(config: record.config, state: record.state, charged: record.chargedAttempts, attempts: record.attemptCount)
            switch record.state {
            case .pending:
                ready.append(record.id)
            case .running:
                if let lease = running[record.id] {
                    trial.lease = lease
                    leases[lease] = LeaseInfo(trial: record.id, peer: nil)
                    unowned[lease] = now + settings.restartGrace
                } else {
                    trial.state = .pending
                    ready.append(record.id)
                }
            case .completed, .failed, .pruned:
                break
            }
            if trial.state == .pending || trial.state == .running { unfinished += 1 }
            trials[record.id] = trial
        }
        // Ended leases of earlier runs, so a late or repeated RESULT is recognised.
        for attempt in attempts where attempt.state != .running {
            leases[attempt.lease] = LeaseInfo(trial: attempt.trial, peer: nil, ended: attempt.state)
        }
        pruner = try settings.prune.map { try TrialPruner(rule: $0, journal: journal) }
    }

    /// Every trial is completed, failed or pruned.
    public var isFinished: Bool { unfinished == 0 }
    public var workerCount: Int { sessions.count }
    /// While messages wait, a turn starts no sooner than this after the previous one, so that
    /// what arrives meanwhile shares one journal transaction. A transaction costs a fixed
    /// ~20 µs, so the spacing grows by that per worker up to `maxTurnSpacing` (20 ms at a
    /// thousand workers): a few workers with short trials are answered at once, and a thousand
    /// share each transaction's cost among about 20 messages (BENCHMARKS.md).
    public var turnSpacing: Double { min(settings.maxTurnSpacing, Double(sessions.count) * 20e-6) }
    public var runningCount: Int { leases.values.filter { $0.ended == nil }.count }

    /// Messages to send now that the caller's transaction has committed.
    public func takeOutgoing() -> [(Peer, Message)] {
        defer { outgoing.removeAll(keepingCapacity: true) }
        return outgoing
    }

    /// The FETCHes connected workers sent since the last call: file pieces are the
    /// coordinator's to serve, outside the journal's transaction.
    public func takeFetches() -> [(Peer, Fetch)] {
        defer { fetches.removeAll(keepingCapacity: true) }
        return fetches
    }

    /// The checkpoint OFFERs and their pieces workers sent since the last call: uploads are
    /// the coordinator's to fetch, outside the journal's transaction.
    public func takeUploads() -> (offers: [(Peer, Offer)], chunks: [(Peer, Chunk)]) {
        defer {
            offers.removeAll(keepingCapacity: true)
            chunks.removeAll(keepingCapacity: true)
            checkpointsRetired = false
        }
        return (offers, chunks)
    }

    /// An uploaded checkpoint is whole in the store: it becomes the trial's, named in the
    /// ASSIGN of its next attempt, and its worker is told (ACK) so it may stop serving it.
    /// Not kept for a trial that has finished meanwhile, nor over one a later attempt
    /// uploaded (an old attempt's offer resent after a reconnect); returns whether it was kept.
    @discardableResult
    public func stored(_ offer: Offer, from peer: Peer, now: Double, journal: JournalWriter) throws -> Bool {
        acknowledge(offer, to: peer, now: now)
        guard wants(offer) else { return false }
        let checkpoint = StoredCheckpoint(lease: offer.lease, manifest: offer.checkpoint)
        checkpoints[offer.trial] = checkpoint
        try journal.storeCheckpoint(checkpoint, trial: offer.trial, at: now)
        try journal.event("checkpoint stored", at: now, trial: offer.trial, lease: offer.lease, worker: sessions[peer]?.worker,
                          detail: String(format: "%@, %.1f MB", offer.checkpoint.name, Double(offer.checkpoint.bytes) / 1e6))
        return true
    }

    /// Whether an offered checkpoint is still worth having: its trial is unfinished and no later
    /// attempt's is stored (an old attempt's offer resent after a reconnect must not replace it).
    /// Asked when the OFFER arrives and again when the upload is whole, since either may change
    /// in between.
    private func wants(_ offer: Offer) -> Bool {
        guard let state = trials[offer.trial]?.state, state == .pending || state == .running else { return false }
        return checkpoints[offer.trial].map { $0.lease <= offer.lease } ?? true
    }

    /// Tells a worker its offer is settled (stored, declined or not wanted), so it stops serving it.
    private func acknowledge(_ offer: Offer, to peer: Peer, now: Double) {
        send(.ack(Ack(lease: offer.lease, kind: .checkpoint, seq: nil, checkpoint: offer.checkpoint.name)), to: peer, now: now)
    }

    /// An upload could not be had: recorded, and its worker told (ACK) to stop serving it; the
    /// trial keeps the checkpoint stored before, if any.
    public func declined(_ offer: Offer, from peer: Peer, reason: String, now: Double, journal: JournalWriter) throws {
        acknowledge(offer, to: peer, now: now)
        try journal.event("checkpoint not stored", at: now, trial: offer.trial, lease: offer.lease, worker: sessions[peer]?.worker,
                          detail: "\(offer.checkpoint.name): \(reason)")
        logger.warning("checkpoint \(offer.checkpoint.name) of trial \(offer.trial) not stored: \(reason)")
    }

    /// The checkpoints whose files must stay: each unfinished trial's stored one, and those
    /// named in the ASSIGNs of attempts still running.
    public var checkpointsInUse: [CheckpointManifest] {
        checkpoints.values.map(\.manifest) + leases.values.compactMap { $0.ended == nil ? $0.checkpoint : nil }
    }

    /// Whether `peer` is a worker this coordinator still hears: uploads from one it lost are
    /// given up.
    public func isConnected(_ peer: Peer) -> Bool { sessions[peer] != nil }

    /// Forgets the stored checkpoints whose files `isWhole` says the store no longer holds (a
    /// sweep directory carried without its `checkpoints/`): their trials' next attempts start
    /// over at once, rather than be sent to fetch files no one has; the journal says which.
    public func forgetCheckpoints(unless isWhole: (CheckpointManifest) -> Bool, now: Double, journal: JournalWriter) throws {
        for (trial, stored) in checkpoints.sorted(by: { $0.key < $1.key }) where !isWhole(stored.manifest) {
            checkpoints[trial] = nil
            try journal.dropCheckpoint(trial: trial)
            let detail = "\(stored.manifest.name): its files are not in the sweep's checkpoints/ (was the directory carried without it?); the trial's next attempt starts over"
            try journal.event("checkpoint missing", at: now, trial: trial, lease: stored.lease, detail: detail)
            logger.warning("checkpoint of trial \(trial) forgotten: \(detail)")
        }
    }

    /// A trial has finished: its checkpoint is no longer needed.
    private func retireCheckpoint(_ trial: String, journal: JournalWriter) throws {
        guard checkpoints.removeValue(forKey: trial) != nil else { return }
        try journal.dropCheckpoint(trial: trial)
        checkpointsRetired = true
    }

    /// Peers that have been sent nothing for a heartbeat interval; marks them as sent to.
    public func heartbeatsDue(now: Double) -> [Peer] {
        var due: [Peer] = []
        // The array, not the dictionary: this pass runs every turn over every session.
        for s in sessionOrder where now - s.lastSent >= settings.heartbeatInterval {
            due.append(s.peer)
            s.lastSent = now
        }
        return due
    }

    private func send(_ message: Message, to peer: Peer, now: Double) {
        outgoing.append((peer, message))
        sessions[peer]?.lastSent = now
    }

    // MARK: Messages

    /// Handles one inbound message (the frames after the routing id).
    public func receive(from peer: Peer, frames: ArraySlice<[UInt8]>, now: Double, journal: JournalWriter) throws {
        let message: Message
        do { message = try Message(frames: frames) } catch {
            drop("malformed messages from peer \(Self.describe(peer))", now: now, "dropped a message from peer \(Self.describe(peer)): \(error)")
            return
        }
        if case .hello(let hello) = message {
            askedToReconnect.remove(peer)
            try welcome(hello, peer: peer, now: now, journal: journal)
            return
        }
        guard sessions[peer] != nil else {
            // Not HELLOed on this connection (e.g. this coordinator restarted): ask for one;
            // the worker then resends what is unacknowledged.
            if askedToReconnect.insert(peer).inserted {
                send(.reconnect(Notice(reason: "unknown worker: send HELLO")), to: peer, now: now)
            }
            return
        }
        sessions[peer]!.lastHeard = now
        switch message {
        case .ready(let r):
            let s = sessions[peer]!
            let credit = min(s.credit + min(max(0, r.credit), s.slots), s.slots)
            totalCredit += credit - s.credit
            s.credit = credit
        case .metrics(let m):
            try ingest(m, from: peer, now: now, journal: journal)
        case .result(let r):
            try settle(r, from: peer, now: now, journal: journal)
        case .fetch(let f):
            fetches.append((peer, f))
        case .offer(let o):
            // Only from the worker that ran the attempt, for a trial that still needs it.
            // An unknown lease's (another sweep's worker) is answered too, so it is not offered for ever.
            guard let info = leases[o.lease], info.trial == o.trial else {
                drop("OFFERs for unknown leases from \(sessions[peer]!.worker)", now: now, "dropped OFFER for unknown lease \(o.lease) of trial \(o.trial) from \(sessions[peer]!.worker)")
                acknowledge(o, to: peer, now: now)
                return
            }
            if wants(o) {
                offers.append((peer, o))
            } else {
                acknowledge(o, to: peer, now: now)
            }
        case .chunk(let c):
            chunks.append((peer, c))
        case .heartbeat:
            break
        case .hello, .assign, .ack, .cancel, .reconnect, .shutdown:
            drop("messages not a worker's from \(sessions[peer]!.worker)", now: now, "dropped \(message.command) from worker \(sessions[peer]!.worker): not a worker's message")
        }
    }

    private func welcome(_ hello: Hello, peer: Peer, now: Double, journal: JournalWriter) throws {
        guard hello.slots > 0, hello.slots <= 1024, !hello.worker.isEmpty else {
            drop("invalid HELLOs from peer \(Self.describe(peer))", now: now, "dropped HELLO from peer \(Self.describe(peer)): slots must be 1…1024 and the worker named")
            return
        }
        // Leases this worker may take over: running, of the trial it names, still current.
        let adoptable = Set(hello.held.filter { h in
            guard let info = leases[h.lease] else { return false }
            return info.trial == h.trial && info.ended == nil && trials[h.trial]?.lease == h.lease
        }.map(\.lease))
        if try refuseDuplicate(hello, peer: peer, holding: adoptable, now: now, journal: journal) { return }
        if try refuseOtherBuild(hello, peer: peer, now: now, journal: journal) { return }
        // A second HELLO on this connection, or the same worker on a new one: the old
        // session's leases move to the new one if the worker still holds them; the rest are lost.
        for (old, s) in sessions where old == peer || s.worker == hello.worker {
            try retire(old, now: now, journal: journal, reason: "worker \(s.worker) said HELLO again without it", keeping: adoptable)
        }
        let facts = hello.facts?.json
        let session = Session(peer: peer, worker: hello.worker, host: hello.host, slots: hello.slots, instance: hello.instance, facts: facts, now: now)
        sessionOrder.append(session)
        sessions[peer] = session
        try journal.event("worker joined", at: now, worker: hello.worker, detail: "host \(hello.host), \(hello.slots) slot(s), holding \(hello.held.count)"
                          + (hello.facts.map { "; build \($0.build), \($0.blas), \($0.cpu)" } ?? "; build unknown"))
        logger.info("worker \(hello.worker) joined from \(hello.host) with \(hello.slots) slot(s)")
        for held in hello.held {
            guard var info = leases[held.lease], info.trial == held.trial else {
                send(.cancel(Cancel(lease: held.lease, reason: "unknown lease")), to: peer, now: now)
                continue
            }
            if adoptable.contains(held.lease) {
                if let holder = info.peer, holder != peer { sessions[holder]?.leases.remove(held.lease) }
                info.peer = peer
                leases[held.lease] = info
                unowned[held.lease] = nil
                sessions[peer]!.leases.insert(held.lease)
                try journal.adoptAttempt(lease: held.lease, worker: hello.worker, host: hello.host, machine: facts)
                try journal.event("lease adopted", at: now, trial: held.trial, lease: held.lease, worker: hello.worker)
            } else if info.ended != .completed {
                // Fenced: stop it; a result it already has is still taken as history.
                send(.cancel(Cancel(lease: held.lease, reason: "the lease expired and the trial was requeued")), to: peer, now: now)
            }
        }
    }

    /// A second live process under a connected worker's name (a cloned host, a copied unit
    /// file) is told to wait rather than swapped in: swapping would flap between the two and
    /// lose both's trials. A process that holds some of the session's leases is its successor
    /// (restarted on the same directory); one that holds none waits until the session expires.
    private func refuseDuplicate(_ hello: Hello, peer: Peer, holding adoptable: Set<Lease>, now: Double, journal: JournalWriter) throws -> Bool {
        guard let instance = hello.instance,
              let existing = sessions.values.first(where: { $0.peer != peer && $0.worker == hello.worker }),
              let other = existing.instance, other != instance,
              existing.leases.isDisjoint(with: adoptable) else { return false }
        let retry = max(1, settings.leaseTimeout / 2)
        let reason = "another worker named \(hello.worker) is connected (from \(existing.host)); give each worker its own --name"
        if refusedInstances.insert(instance).inserted {
            try journal.event("worker refused", at: now, worker: hello.worker, detail: "\(reason); this one is on \(hello.host)")
            logger.warning("refused a second worker named \(hello.worker) from \(hello.host): one from \(existing.host) is connected")
        }
        askToWait(peer, reason: reason, retryAfter: retry, now: now)
        return true
    }

    /// A refused worker is told why and when to say HELLO again; its heartbeats meanwhile need no answer.
    private func askToWait(_ peer: Peer, reason: String, retryAfter: Double, now: Double) {
        askedToReconnect.insert(peer)
        send(.reconnect(Notice(reason: reason, retryAfter: retryAfter)), to: peer, now: now)
    }

    /// A worker of another build than the coordinator's computes other numbers, or may: it is
    /// told why and to try again later (a rebuilt worker then joins), unless mixed builds are
    /// allowed, when it joins and the mix is on record.
    private func refuseOtherBuild(_ hello: Hello, peer: Peer, now: Double, journal: JournalWriter) throws -> Bool {
        guard let build = settings.build, hello.facts?.build != build else { return false }
        let theirs = hello.facts?.build ?? "unknown (an lpft that predates build checks)"
        let first = otherBuilds.insert(hello.instance ?? hello.worker).inserted
        if settings.allowMixedBuilds {
            if first {
                try journal.event("mixed build", at: now, worker: hello.worker, detail: "worker build \(theirs), coordinator build \(build)")
                logger.warning("worker \(hello.worker) runs build \(theirs), not this coordinator's \(build); admitted (--allow-mixed-builds)")
            }
            return false
        }
        let reason = "this worker runs lpft build \(theirs) but the coordinator runs \(build); run the same build on both, or start the coordinator with --allow-mixed-builds"
        if first {
            try journal.event("worker refused", at: now, worker: hello.worker, detail: reason)
            logger.warning("refused worker \(hello.worker) from \(hello.host): it runs build \(theirs), this coordinator \(build) (--allow-mixed-builds admits it)")
        }
        askToWait(peer, reason: reason, retryAfter: max(5, settings.leaseTimeout), now: now)
        return true
    }

    private func ingest(_ m: MetricBatch, from peer: Peer, now: Double, journal: JournalWriter) throws {
        guard let info = leases[m.lease], info.trial == m.trial else {
            drop("METRICs for unknown leases from \(sessions[peer]!.worker)", now: now, "dropped METRIC for unknown lease \(m.lease) of trial \(m.trial) from \(sessions[peer]!.worker)")
            return
        }
        guard !m.rows.isEmpty else { return }
        for row in m.rows {
            try journal.insertMetric(lease: m.lease, trial: m.trial, seq: row.seq, name: row.name, value: row.value, epoch: row.epoch, step: row.step)
        }
        metricRows += m.rows.count
        send(.ack(Ack(lease: m.lease, kind: .metrics, seq: m.rows.map(\.seq).max())), to: peer, now: now)
        if let ended = info.ended, ended != .completed {
            send(.cancel(Cancel(lease: m.lease, reason: ended == .pruned ? "the trial was pruned" : "the lease ended as \(ended.rawValue); the trial runs elsewhere")), to: peer, now: now)
        } else if pruner != nil, trials[m.trial]?.lease == m.lease {
            try decideRungs(m, now: now, journal: journal)
        }
    }

    /// Applies the `prune:` rule to the current attempt's rows: a trial that a rung decision
    /// stops ends `pruned` now, with the metrics of that rung as its result (a result its
    /// worker sends later is history only), and its worker is told to stop it.
    private func decideRungs(_ m: MetricBatch, now: Double, journal: JournalWriter) throws {
        guard let record = try pruner!.observe(trial: m.trial, lease: m.lease, rows: m.rows.lazy.map { ($0.name, $0.value, $0.epoch) }, now: now, journal: journal) else { return }
        let holder = leases[m.lease]?.peer
        if let holder { sessions[holder]?.leases.remove(m.lease) }
        let reason = pruner!.reason(record)
        try close(m.lease, as: .pruned, now: now, journal: journal, reason: reason)
        trials[m.trial]!.state = .pruned
        unfinished -= 1
        pruned += 1
        try journal.updateTrial(m.trial, state: .pruned, chargedAttempts: trials[m.trial]!.charged,
                                result: try pruner!.result(of: record, reason: reason, lease: m.lease, journal: journal), reason: reason, finishedAt: now)
        try retireCheckpoint(m.trial, journal: journal)
        // Its worker stops it at its next step (SIGTERM to `lpft train`); an unowned lease's
        // worker is told when it says HELLO holding it.
        if let holder { send(.cancel(Cancel(lease: m.lease, reason: reason)), to: holder, now: now) }
    }

    private func settle(_ r: TrialReport, from peer: Peer, now: Double, journal: JournalWriter) throws {
        if let other = r.sweep, other != sweep {
            // Its lease may even match one of ours; an ACK would make the worker delete the only
            // copy of another sweep's result, so it is told to keep it instead.
            drop("RESULTs of other sweeps from \(sessions[peer]!.worker)", now: now,
                 "RESULT of lease \(r.lease) from \(sessions[peer]!.worker) is for sweep \(other), not this one (\(sweep)); left in its outbox")
            send(.ack(Ack(lease: r.lease, kind: .foreign, seq: nil)), to: peer, now: now)
            return
        }
        guard let info = leases[r.lease], info.trial == r.trial, trials[r.trial] != nil else {
            drop("RESULTs for unknown leases from \(sessions[peer]!.worker)", now: now, "dropped RESULT for unknown lease \(r.lease) of trial \(r.trial) from \(sessions[peer]!.worker)")
            // Acknowledged so the worker stops resending something no journal will take.
            send(.ack(Ack(lease: r.lease, kind: .result, seq: nil)), to: peer, now: now)
            return
        }
        let tail = r.logTail.isEmpty ? nil : r.logTail.joined(separator: "\n")
        defer { send(.ack(Ack(lease: r.lease, kind: .result, seq: nil)), to: peer, now: now) }
        let state: AttemptState = switch r.status {
        case .completed: .completed
        case .failed: .failed
        case .interrupted: .interrupted
        }
        // A result that says what its attempt already ended as adds nothing: the attempt's own
        // result again (its ACK was lost, or the worker resent its outbox on a reconnect), or a
        // worker's word that an attempt this coordinator stopped was interrupted. Only a result
        // that reports another end after the lease ended (a trial that completed or failed
        // behind a lost lease) is a late one.
        // What the pruned attempt's process cost joins the pruned trial's result, however it
        // ended (stopped as asked, or finished before the CANCEL reached it).
        if info.ended == .pruned, let cpu = TrialResultSchema.cpuSeconds(r.result) {
            try journal.recordPrunedCPU(trial: r.trial, seconds: cpu)
        }
        // A pruned attempt's worker says it stopped (interrupted): what the coordinator asked.
        if let ended = info.ended, ended == state || ended == .completed || (ended == .pruned && state == .interrupted) { return }
        // The predictions go to a table of their own; the result keeps the rest.
        var r = r
        if let full = r.result {
            let (rest, predictions) = TrialResultSchema.separatingPredictions(full)
            r.result = rest
            if let predictions { try journal.recordPredictions(lease: r.lease, trial: r.trial, json: predictions) }
        }
        if let ended = info.ended {
            try journal.recordLateResult(lease: r.lease, result: r.result, reason: r.reason, logTail: tail)
            try journal.event("late result", at: now, trial: r.trial, lease: r.lease, worker: sessions[peer]!.worker, detail: "\(r.status.rawValue); the lease had ended as \(ended.rawValue)")
            return
        }
        sessions[peer]?.leases.remove(r.lease)
        // The only other session that can hold a running lease is its holder (it was adopted
        // on another connection, or this one is a stranger's).
        if let holder = info.peer, holder != peer { sessions[holder]?.leases.remove(r.lease) }
        try close(r.lease, as: state, now: now, journal: journal, reason: r.reason, logTail: tail, result: r.result)
        var trial = trials[r.trial]!
        switch r.status {
        case .completed:
            trial.state = .completed
            unfinished -= 1
            completed += 1
            try journal.updateTrial(r.trial, state: .completed, chargedAttempts: trial.charged, result: r.result, finishedAt: now)
            trials[r.trial] = trial
            try retireCheckpoint(r.trial, journal: journal)
        case .failed:
            trials[r.trial] = trial
            try requeue(r.trial, charge: true, reason: r.reason ?? "failed", now: now, journal: journal)
        case .interrupted:
            if r.notStarted == true {
                trial.notStarted += 1
                try journal.event("trial not started", at: now, trial: r.trial, lease: r.lease, worker: sessions[peer]!.worker, detail: r.reason)
            }
            trials[r.trial] = trial
            if trial.notStarted >= settings.maxStartFailures {
                try fail(r.trial, why: "no worker could start it in \(trial.notStarted) tries; last: \(r.reason ?? "?")", now: now, journal: journal)
            } else {
                try requeue(r.trial, charge: false, reason: r.reason ?? "interrupted", now: now, journal: journal)
            }
        }
    }

    // MARK: Time

    /// The coordinator itself did not run until `now` (a stopped process, a suspended VM): it
    /// heard nobody, so nobody's silence is counted. Each worker's silence and each unclaimed
    /// lease's deadline start again from this wake-up; a worker that is really gone still
    /// expires a lease timeout later.
    public func resumeAfterPause(now: Double) {
        for session in sessionOrder { session.lastHeard = max(session.lastHeard, now) }
        oldestHeard = max(oldestHeard, now)
        for (lease, deadline) in unowned { unowned[lease] = max(deadline, now + settings.leaseTimeout) }
    }

    /// Expires silent workers and unclaimed leases, releases retries whose backoff is over,
    /// and assigns pending trials to workers with credit.
    public func tick(now: Double, journal: JournalWriter) throws {
        dropWarnings.flush(logger, now: now)
        if now - oldestHeard > settings.leaseTimeout {
            for (peer, s) in sessions where now - s.lastHeard > settings.leaseTimeout {
                try retire(peer, now: now, journal: journal, reason: String(format: "worker %@ silent for %.1f s", s.worker, now - s.lastHeard), keeping: [])
            }
            oldestHeard = sessions.values.lazy.map(\.lastHeard).min() ?? now
        }
        for (lease, deadline) in unowned where deadline < now {
            unowned[lease] = nil
            try end(lease, as: .lost, charge: true, now: now, journal: journal, reason: "not reclaimed by a worker within the lease timeout (coordinator restart or reconnect)")
        }
        if !delayed.isEmpty {
            let due = delayed.filter { $0.notBefore <= now }
            delayed.removeAll { $0.notBefore <= now }
            ready += due.map(\.trial)
        }
        guard !stopping, !draining else { return }
        try dispatch(now: now, journal: journal)
    }

    private func dispatch(now: Double, journal: JournalWriter) throws {
        guard !sessionOrder.isEmpty else { return }
        var idle = 0
        // Stopping when the credit is used up leaves `nextSession` where a full fruitless
        // round would have left it.
        while readyHead < ready.count, totalCredit > 0, idle < sessionOrder.count {
            nextSession = (nextSession + 1) % sessionOrder.count
            let s = sessionOrder[nextSession]
            guard s.credit > 0 else {
                idle += 1
                continue
            }
            idle = 0
            let id = ready[readyHead]
            readyHead += 1
            guard var trial = trials[id], trial.state == .pending else { continue }
            trial.attempts += 1
            let lease = try journal.startAttempt(trial: id, number: trial.attempts, worker: s.worker, host: s.host, machine: s.facts, at: now)
            trial.state = .running
            trial.lease = lease
            trials[id] = trial
            leases[lease] = LeaseInfo(trial: id, peer: s.peer, checkpoint: checkpoints[id]?.manifest)
            s.credit -= 1
            totalCredit -= 1
            s.leases.insert(lease)
            send(.assign(Assign(trial: id, lease: lease, attempt: trial.attempts, config: trial.config, sweep: sweep, inputs: inputs[id],
                                      checkpoint: checkpoints[id]?.manifest)), to: s.peer, now: now)
        }
        if readyHead > 4096, readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
    }

    /// An ASSIGN the socket could not route (its worker went away between READY and the send):
    /// the attempt never began, so it ends interrupted and the trial goes back uncharged.
    public func undeliverable(_ a: Assign, to peer: Peer, now: Double, journal: JournalWriter) throws {
        guard leases[a.lease]?.peer == peer else { return }
        sessions[peer]?.leases.remove(a.lease)
        try end(a.lease, as: .interrupted, charge: false, now: now, journal: journal,
                reason: "the assignment could not be sent: worker \(sessions[peer]?.worker ?? "?") has gone")
    }

    /// Drops a session; its leases not in `keeping` are lost.
    private func retire(_ peer: Peer, now: Double, journal: JournalWriter, reason: String, keeping: Set<Lease>) throws {
        guard let s = sessions.removeValue(forKey: peer) else { return }
        sessionOrder.removeAll { $0 === s }
        totalCredit -= s.credit
        nextSession = 0
        try journal.event("worker lost", at: now, worker: s.worker, detail: reason)
        logger.warning("\(reason)")
        for lease in s.leases {
            if keeping.contains(lease) {
                leases[lease]?.peer = nil
                unowned[lease] = now + settings.leaseTimeout
            } else {
                try end(lease, as: .lost, charge: true, now: now, journal: journal, reason: reason)
            }
        }
    }

    /// Ends a running lease that did not complete and puts its trial back (or fails it).
    private func end(_ lease: Lease, as state: AttemptState, charge: Bool, now: Double, journal: JournalWriter, reason: String) throws {
        guard let info = leases[lease], info.ended == nil else { return }
        try close(lease, as: state, now: now, journal: journal, reason: reason)
        try requeue(info.trial, charge: charge, reason: reason, now: now, journal: journal)
    }

    /// What every lease's end does, however it ends: it is marked ended (so a later result is
    /// only history), no longer owned, recorded in the journal, and its trial holds it no more.
    private func close(_ lease: Lease, as state: AttemptState, now: Double, journal: JournalWriter,
                       reason: String?, logTail: String? = nil, result: String? = nil) throws {
        leases[lease]!.ended = state
        leases[lease]!.peer = nil
        unowned[lease] = nil
        try journal.endAttempt(lease: lease, state: state, at: now, reason: reason, logTail: logTail, result: result)
        trials[leases[lease]!.trial]?.lease = nil
    }

    /// Puts a trial whose attempt ended without completing back in the queue, or fails it
    /// when its attempts are used up.
    private func requeue(_ id: String, charge: Bool, reason: String, now: Double, journal: JournalWriter) throws {
        var trial = trials[id]!
        if charge { trial.charged += 1 }
        if trial.charged >= settings.maxAttempts {
            trials[id] = trial
            return try fail(id, why: "\(trial.charged) attempt(s) failed or were lost; last: \(reason)", now: now, journal: journal)
        } else {
            trial.state = .pending
            let delay = charge ? min(settings.retryDelay * pow(2, Double(trial.charged - 1)), settings.maxRetryDelay) : 0
            try journal.updateTrial(id, state: .pending, chargedAttempts: trial.charged, notBefore: now + delay, reason: reason)
            if delay > 0 { delayed.append((now + delay, id)) } else { ready.append(id) }
        }
        trials[id] = trial
    }

    private func fail(_ id: String, why: String, now: Double, journal: JournalWriter) throws {
        trials[id]!.state = .failed
        unfinished -= 1
        failed += 1
        try journal.updateTrial(id, state: .failed, chargedAttempts: trials[id]!.charged, reason: why, finishedAt: now)
        try retireCheckpoint(id, journal: journal)
        try journal.event("trial failed", at: now, trial: id, detail: why)
        logger.warning("trial \(id) failed: \(why)")
    }

    /// Starts no new attempts from now on; those running go on to their end, and trials that
    /// come back (a lost attempt, a retry) wait as pending for the next run.
    public func drain(now: Double, journal: JournalWriter) throws {
        guard !draining else { return }
        draining = true
        try journal.event(CoordinatorEvent.draining, at: now, detail: "\(runningCount) attempt(s) running; no new ones start")
        logger.info("draining: \(runningCount) attempt(s) running, no new ones start; the coordinator stops when they end")
    }

    /// Drained: asked to drain, and no attempt runs any more.
    public var isDrained: Bool { draining && runningCount == 0 }

    /// Stops dispatching, tells every worker to stop, and records every running attempt as
    /// interrupted (their trials pending again, not charged).
    public func stop(now: Double, journal: JournalWriter, reason: String) throws {
        stopping = true
        for (lease, info) in leases where info.ended == nil {
            try close(lease, as: .interrupted, now: now, journal: journal, reason: reason)
            trials[info.trial]!.state = .pending
            try journal.updateTrial(info.trial, state: .pending, chargedAttempts: trials[info.trial]!.charged, reason: reason)
        }
        try journal.event(CoordinatorEvent.stopped, at: now, detail: reason)
        for peer in sessions.keys { send(.shutdown(Notice(reason: reason)), to: peer, now: now) }
    }

    /// Tells every worker the sweep is over.
    public func finish(now: Double) {
        for peer in sessions.keys { send(.shutdown(Notice(reason: "the sweep is finished")), to: peer, now: now) }
    }

    /// Counts a dropped message and warns about it, throttled per `kind` (which names the peer).
    private func drop(_ kind: String, now: Double, _ warning: @autoclosure () -> String) {
        droppedMessages += 1
        dropWarnings.warn(logger, key: kind, now: now, warning())
    }

    static func describe(_ peer: Peer) -> String {
        peer.prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
