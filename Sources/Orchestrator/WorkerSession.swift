import Logging
import Logs
import Wire

/// The worker's side of the protocol as a state machine free of sockets, processes and
/// sleeps: what the coordinator says, what the worker's trials do and the clock go in, and
/// what to send and do comes out as ``Action``s, which the driver carries out in order.
/// ``Worker`` drives it with a DEALER socket, trial processes and a poll loop;
/// ``DispatchSimulation`` drives a thousand of them on a virtual clock, so the simulation
/// runs the same rules as a real worker.
///
/// The rules: HELLO with the leases still held (running, waiting for inputs, or finished and
/// not ACKed), then READY for the free slots. Metric rows and results stay queued until
/// ACKed; results are also kept in the outbox (``Action/keep(_:)``), which the driver stores
/// on disk and hands back to a restarted worker, and are sent again after a lease timeout
/// without an ACK. Silence from the coordinator for `liveness` heartbeats means a fresh
/// connection, with the allowed silence doubling up to 30 s, for ever (or until `maxIdle`).
/// A trial's newest whole checkpoint is OFFERed (again after each HELLO) and its pieces
/// served as the coordinator FETCHes them, until an ACK says it is stored; a stopping worker
/// waits up to `uploadGrace` for that.
package struct WorkerSession {
    /// What the driver is to do, in order: each may depend on the one before (a result is
    /// kept on disk before it is sent; messages after a ``connect`` go on the new connection).
    package enum Action: Equatable {
        /// Replace the connection with a fresh one; whatever was queued on the old one is lost.
        case connect
        case send(Message)
        /// Run this trial: fetch the inputs it lacks, then start it and report ``started(_:)``,
        /// or report ``couldNotStart(_:reason:now:)``.
        case start(Assign)
        /// Stop the trial of this lease if it runs (it then ends as usual, interrupted), or
        /// drop it if it waits for inputs.
        case stop(Lease)
        /// Keep this result in the outbox on disk until the coordinator takes it.
        case keep(TrialReport)
        /// The coordinator took the result of this lease: remove it from the outbox.
        case discard(Lease)
        /// A piece of an input the driver asked for with a FETCH.
        case takeChunk(Chunk)
        /// The coordinator starts a new session: pieces asked for before will not come.
        case resetFetches
        /// Send the coordinator this piece of a checkpoint offered.
        case serve(Fetch)
        /// The checkpoint this lease offered is stored or not wanted: stop serving it.
        case withdraw(Lease)
        case exit(Worker.Exit)
    }

    let settings: WorkerSettings
    /// Random per process, in HELLO: another process under this name is told apart from this one.
    let instance: String
    /// Where the session says what happens to it; each line starts with `worker NAME:`.
    package var logger = Logger(label: "lpft.worker")
    /// Dropped messages, logged through this: a broken coordinator decides how many arrive.
    private var dropWarnings = WarningThrottle()
    /// Whether any coordinator answered: a worker that idles out without one was pointed at
    /// the wrong place (or nothing listens there), which is a failure, not a finished sweep.
    private(set) var heardFromCoordinator = false
    /// Why the worker is stopping, once it is: it takes no more trials.
    private(set) var shuttingDown: String?

    /// A lease assigned here that has not ended.
    private struct Held {
        let trial: String
        /// The sweep its ASSIGN named, put in its RESULT.
        let sweep: String?
        /// Started; otherwise waiting for its inputs.
        var running = false
    }
    private var held: [Lease: Held] = [:]
    private var unackedMetrics = UnackedMetrics()
    /// Results sent and not ACKed, as the outbox on disk holds them.
    private(set) var outbox: [Lease: TrialReport] = [:]
    /// Each lease's newest checkpoint offered and not yet taken.
    private(set) var offers: [Lease: Offer] = [:]
    /// Checkpoints written and still being hashed, per lease: offers to come, which a stopping
    /// worker waits for as for those made.
    private var hashingCount: [Lease: Int] = [:]
    /// Interrupted results kept but not yet sent, and since when: each waits until its
    /// trial's last checkpoint is taken (or `uploadGrace` has passed), so that the retry the
    /// result starts is assigned that checkpoint and not the one before.
    private var awaitingUpload: [Lease: Double] = [:]
    /// When the worker began to stop.
    private var stoppingSince: Double?
    /// Outbox results this connection's coordinator called another sweep's: kept, not resent
    /// to it (a later connection may be to their own coordinator).
    private var foreign = Set<Lease>()
    /// READY credit the coordinator has and has not used.
    private var advertised = 0
    private var lastHeard = 0.0
    private var lastSent = 0.0
    private var lastResend = 0.0
    /// When any coordinator was last heard from, for `maxIdle`.
    private var lastCoordinator = 0.0
    /// Silence after which the worker reconnects: a lease timeout, doubled by each reconnect
    /// that hears nothing.
    private var silenceAllowed: Double
    /// When a coordinator that refused this worker expects the next HELLO.
    private var helloAt: Double?
    private var lastRefusal: String?
    /// Trials this worker failed to start in a row, and until when it takes no new ones.
    private var startFailures = 0
    private var pausedUntil = 0.0
    /// What the current input has asked for so far.
    private var actions: [Action] = []

    package init(settings: WorkerSettings, instance: String) {
        self.settings = settings
        self.instance = instance
        silenceAllowed = settings.leaseTimeout
    }

    // MARK: Inputs

    /// Starts the session with the results a previous process left in the outbox: connects,
    /// says HELLO holding them, and resends them.
    package mutating func start(outbox: [Lease: TrialReport], now: Double) -> [Action] {
        self.outbox = outbox
        (lastResend, lastCoordinator) = (now, now)
        connect(now: now)
        return takeActions()
    }

    /// A message from the coordinator, as it came off the connection.
    mutating func receive(_ frames: [[UInt8]], now: Double) -> [Action] {
        do {
            return receive(try Message(frames: frames), now: now)
        } catch {
            heard(now: now)
            dropWarnings.warn(logger, key: "malformed messages", now: now, "worker \(settings.name): dropped a message from the coordinator: \(error)")
            return []
        }
    }

    /// A message from the coordinator.
    package mutating func receive(_ message: Message, now: Double) -> [Action] {
        heard(now: now)
        handle(message, now: now)
        return takeActions()
    }

    /// The trial of `lease` has started (its inputs are all here).
    package mutating func started(_ lease: Lease) {
        held[lease]?.running = true
        startFailures = 0
    }

    /// The worker's fault, not the trial's: hands the trial back uncharged, and backs off so
    /// that a broken worker (missing program, full disk) neither spins nor burns other trials'
    /// attempts. Assignments already under way when the pause began don't lengthen it.
    mutating func couldNotStart(_ lease: Lease, reason: String, now: Double) -> [Action] {
        guard let trial = held[lease]?.trial else { return [] }
        if now >= pausedUntil {
            startFailures += 1
            let pause = min(60, Double(1 << min(startFailures - 1, 6)))
            pausedUntil = now + pause
            say(.warning, "could not start trial \(trial): \(reason); handed back, no new trials for \(Int(pause)) s")
        }
        end(interrupted(trial, lease, "could not start it: \(reason)", notStarted: true), now: now)
        return takeActions()
    }

    /// Metric rows a running trial wrote.
    package mutating func report(_ rows: [MetricRow], lease: Lease, now: Double) -> [Action] {
        guard let trial = held[lease]?.trial else { return [] }
        unackedMetrics.add(rows, lease: lease, trial: trial)
        send(.metrics(MetricBatch(trial: trial, lease: lease, rows: rows)), now: now)
        return takeActions()
    }

    /// A trial has ended.
    package mutating func finished(_ report: TrialReport, now: Double) -> [Action] {
        // A completed trial is never resumed: its checkpoint is of no use to anyone.
        if report.status == .completed, offers.removeValue(forKey: report.lease) != nil { actions.append(.withdraw(report.lease)) }
        end(report, now: now)
        return takeActions()
    }

    /// A trial has written a whole checkpoint, which is being hashed before it is offered.
    package mutating func hashing(_ lease: Lease) {
        hashingCount[lease, default: 0] += 1
    }

    /// A checkpoint being hashed will not be offered (it was replaced while hashed).
    package mutating func hashed(_ lease: Lease) {
        hashingCount[lease] = hashingCount[lease].flatMap { $0 > 1 ? $0 - 1 : nil }
    }

    /// A trial's checkpoint is hashed: offered to the coordinator (replacing the lease's
    /// earlier one), and served until it is taken.
    package mutating func offer(_ offer: Offer, now: Double) -> [Action] {
        hashed(offer.lease)
        offers[offer.lease] = offer
        if helloAt == nil { send(.offer(offer), now: now) }  // otherwise with the next HELLO
        return takeActions()
    }

    /// Stops taking trials and has the running ones stopped: ``tick(now:fetches:)`` says
    /// ``Action/exit(_:)`` once they have ended and their results are taken (or the
    /// coordinator has gone quiet).
    mutating func shutDown(_ reason: String, now: Double) -> [Action] {
        stop(reason, now: now)
        return takeActions()
    }

    private mutating func stop(_ reason: String, now: Double) {
        guard shuttingDown == nil else { return }
        shuttingDown = reason
        stoppingSince = now
        say(.info, "\(reason); stopping running trials")
        for lease in held.keys.sorted() {
            actions.append(.stop(lease))
            if let waiting = held[lease], !waiting.running {
                end(interrupted(waiting.trial, lease, "is stopping: \(reason)"), now: now)
            }
        }
    }

    /// Whether the coordinator listens: not while it has asked this worker to wait before its
    /// next HELLO. Only then does the driver ask its fetcher for the FETCHes due.
    var coordinatorListens: Bool { helloAt == nil }

    /// The clock: heartbeats, READY for free slots, resends, reconnecting on silence and
    /// exiting; `fetches` are the FETCHes due now, sent first.
    package mutating func tick(now: Double, fetches: [Fetch] = []) -> [Action] {
        if let reason = shuttingDown, held.isEmpty, !hasUnsentResults || now - lastHeard > settings.heartbeatInterval * 2 {
            // The checkpoints a stopped trial wrote go with it if the grace allows.
            let waiting = offers.count + hashingCount.values.reduce(0, +)
            if waiting == 0 || now - (stoppingSince ?? now) >= settings.uploadGrace || now - lastHeard > settings.heartbeatInterval * 2 {
                if waiting > 0 { say(.warning, "exiting with \(waiting) checkpoint(s) not taken by the coordinator within \(settings.uploadGrace) s") }
                return [.exit(.shutdown(reason))]
            }
        }
        for (lease, since) in awaitingUpload.sorted(by: { $0.key < $1.key })
        where (hashingCount[lease] == nil && offers[lease] == nil) || now - since >= settings.uploadGrace {
            awaitingUpload[lease] = nil
            if let report = outbox[lease] { send(.result(report), now: now) }
        }
        if let at = helloAt {
            if now >= at {
                // The coordinator's "wait" was its word: silence counts from this HELLO,
                // not from the refusal, or every retry would look like a dead link.
                lastHeard = now
                say(.debug, "saying HELLO again, as the coordinator asked")
                hello(now: now)
            }
        } else {
            for fetch in fetches { send(.fetch(fetch), now: now) }
            if shuttingDown == nil, now >= pausedUntil { advertise(now: now) }
            if now - lastSent >= settings.heartbeatInterval { send(.heartbeat, now: now) }
        }
        // A result whose ACK has not come within a lease timeout is sent again (the
        // coordinator takes a repeat as a repeat).
        if hasUnsentResults, now - lastResend > silenceAllowed { resendResults(now: now) }
        if helloAt == nil, now - lastHeard > silenceAllowed {
            if let maxIdle = settings.maxIdle, !held.values.contains(where: \.running), now - lastCoordinator > maxIdle {
                actions.append(.exit(.idle))
                return takeActions()
            }
            say(.warning, String(format: "no word from the coordinator for %.1f s; reconnecting", now - lastHeard)
                  + (settings.curve == nil ? "" : " (if this repeats: is this worker's public key on the coordinator's allow-list?)"))
            silenceAllowed = min(silenceAllowed * 2, max(30, settings.leaseTimeout))
            connect(now: now)
        }
        return takeActions()
    }

    /// Logs `message` as this worker's (`worker NAME: …`, the words `lpft worker` has always printed).
    func say(_ level: Logger.Level, _ message: String) {
        logger.log(level: level, "worker \(settings.name): \(message)")
    }

    // MARK: The coordinator's messages

    /// Anything from the coordinator, even a message it garbled, shows it is there.
    private mutating func heard(now: Double) {
        lastHeard = now
        lastCoordinator = now
        heardFromCoordinator = true
        silenceAllowed = settings.leaseTimeout
    }

    private mutating func handle(_ message: Message, now: Double) {
        switch message {
        case .assign(let a): assigned(a, now: now)
        case .chunk(let c): actions.append(.takeChunk(c))
        case .fetch(let f): actions.append(.serve(f))
        case .ack(let a): acknowledge(a)
        case .cancel(let c):
            say(.info, "lease \(c.lease) cancelled: \(c.reason)")
            if held[c.lease]?.running == false { held[c.lease] = nil }
            actions.append(.stop(c.lease))
        case .reconnect(let notice):
            if let delay = notice.retryAfter {
                if notice.reason != lastRefusal { say(.warning, "the coordinator says: \(notice.reason); trying again every \(delay) s") }
                lastRefusal = notice.reason
                helloAt = now + delay
            } else {
                actions.append(.resetFetches)
                hello(now: now)
            }
        case .shutdown(let notice):
            stop("coordinator says: \(notice.reason)", now: now)
        case .heartbeat:
            break
        case .hello, .ready, .metrics, .result, .offer:
            dropWarnings.warn(logger, key: "messages not a coordinator's", now: now, "worker \(settings.name): dropped \(message.command) from the coordinator: not a coordinator's message")
        }
    }

    private mutating func assigned(_ a: Assign, now: Double) {
        advertised = max(0, advertised - 1)
        guard held[a.lease] == nil, outbox[a.lease] == nil else { return }
        if let reason = shuttingDown {
            return keepAndSend(interrupted(a.trial, a.lease, "is stopping: \(reason)"), sweep: a.sweep, now: now)
        }
        held[a.lease] = Held(trial: a.trial, sweep: a.sweep)
        actions.append(.start(a))
    }

    private mutating func acknowledge(_ ack: Ack) {
        switch ack.kind {
        case .metrics:
            guard let seq = ack.seq else { return }
            unackedMetrics.acknowledge(ack.lease, upTo: seq, running: held[ack.lease] != nil)
        case .result:
            unackedMetrics.forget(ack.lease)
            guard outbox.removeValue(forKey: ack.lease) != nil else { return }
            actions.append(.discard(ack.lease))
        case .checkpoint:
            guard let offered = offers[ack.lease], offered.checkpoint.name == ack.checkpoint else { return }
            offers[ack.lease] = nil
            actions.append(.withdraw(ack.lease))
        case .foreign:
            guard let pending = outbox[ack.lease], foreign.insert(ack.lease).inserted else { return }
            say(.warning, "the coordinator at \(settings.endpoint) runs another sweep than the one that assigned lease \(ack.lease) (trial \(pending.trial), sweep \(pending.sweep ?? "?")); its result stays in \(settings.directory.path) for that sweep's coordinator")
        }
    }

    // MARK: Sending

    private mutating func connect(now: Double) {
        actions.append(.connect)
        foreign.removeAll()
        lastHeard = now
        hello(now: now)
    }

    /// Introduces the worker and resends everything unacknowledged, in order.
    private mutating func hello(now: Double) {
        let leases = Set(held.keys).union(outbox.keys).sorted()
        let references = leases.map { LeaseReference(trial: held[$0]?.trial ?? outbox[$0]!.trial, lease: $0) }
        advertised = 0
        helloAt = nil
        send(.hello(Hello(worker: settings.name, host: settings.host, slots: settings.slots, held: references, instance: instance, facts: settings.facts)), now: now)
        for batch in unackedMetrics.batches { send(.metrics(batch), now: now) }
        resendResults(now: now)
        for lease in offers.keys.sorted() { send(.offer(offers[lease]!), now: now) }
    }

    /// Whether the outbox holds results this connection's coordinator may still take.
    private var hasUnsentResults: Bool { outbox.keys.contains { !foreign.contains($0) } }

    private mutating func resendResults(now: Double) {
        lastResend = now
        for lease in outbox.keys.sorted() where !foreign.contains(lease) && awaitingUpload[lease] == nil { send(.result(outbox[lease]!), now: now) }
    }

    /// Offers the free slots the coordinator does not know of yet.
    private mutating func advertise(now: Double) {
        let free = settings.slots - held.count - advertised
        if free > 0 {
            advertised += free
            send(.ready(Ready(credit: free)), now: now)
        }
    }

    /// A trial that did not run to its end because of this worker (`why` it, after its name):
    /// not charged to the trial.
    private func interrupted(_ trial: String, _ lease: Lease, _ why: String, notStarted: Bool? = nil) -> TrialReport {
        TrialReport(trial: trial, lease: lease, status: .interrupted, reason: "worker \(settings.name) \(why)", logTail: [], result: nil, notStarted: notStarted)
    }

    /// Ends a held lease with `report`.
    private mutating func end(_ report: TrialReport, now: Double) {
        guard let ended = held.removeValue(forKey: report.lease) else { return }
        keepAndSend(report, sweep: ended.sweep, now: now)
    }

    /// Keeps `report` in the outbox until the coordinator ACKs it, then sends it, naming the
    /// sweep that assigned it.
    private mutating func keepAndSend(_ report: TrialReport, sweep: String?, now: Double) {
        var report = report
        report.sweep = sweep
        // The resend timer runs from the oldest result still unacknowledged: counted from an
        // earlier send, the result of a trial that outlasted the interval went out twice in a
        // row (and a coordinator booked the second as a late result of its attempt).
        if !hasUnsentResults { lastResend = now }
        outbox[report.lease] = report
        actions.append(.keep(report))
        if report.status == .interrupted, hashingCount[report.lease] != nil || offers[report.lease] != nil {
            awaitingUpload[report.lease] = stoppingSince ?? now  // a stopping worker's grace runs from the stop
        } else {
            send(.result(report), now: now)
        }
    }

    private mutating func send(_ message: Message, now: Double) {
        actions.append(.send(message))
        lastSent = now
    }

    private mutating func takeActions() -> [Action] {
        defer { actions = [] }
        return actions
    }
}
