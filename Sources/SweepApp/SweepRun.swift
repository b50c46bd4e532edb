import Foundation
import Logging
import Orchestrator
import Sweep
import TrialContract
import Wire

/// `lpft sweep run` once its arguments are read: takes the sweep directory's lock, seeds the
/// journal, starts the coordinator and any local workers, shows progress, and on the end (all
/// trials settled, a stop signal, or a drain asked for by SIGUSR1 once the running attempts
/// end) stops the workers and says what happened and what to do next.
public struct SweepRun {
    /// The spec file as the user named it.
    public var spec: String
    public var directory: URL
    public var bind: String
    public var keys: CurveKeyPair?
    /// The workers' public keys a CURVE coordinator admits.
    public var allowed: Set<String>?
    public var planned: [PlannedTrial]
    public var retryFailed: Bool
    public var dropRemoved: Bool
    public var settings: DispatchSettings
    /// What a journal commit survives before it is acknowledged.
    public var durability = JournalDurability.normal
    public var localWorkers: Int
    /// Threads per trial of a local worker.
    public var threads: Int?
    /// Extra arguments for local workers (e.g. `--insecure`).
    public var workerArguments: [String]
    public var logger: Logger
    /// The files each trial reads, to pin by content (nil: not checked here, `--skip-file-check`).
    public var inputs: ((PlannedTrial) throws -> [InputFile])?
    /// `--http`: where the dashboard listens while the sweep runs, and whether beyond
    /// loopback without a token (`--insecure`); nil: no dashboard.
    public var http: (address: String, insecure: Bool)?
    /// The command as the user ran it: the commands the log suggests are this one, so that,
    /// copied as printed, a rerun has the same workers and settings.
    public var commandLine = CommandLine.arguments
    /// Seconds without any worker after which the coordinator warns, with the command to start one.
    public var workerlessWarning = 30.0

    public init(spec: String, directory: URL, bind: String, keys: CurveKeyPair?, allowed: Set<String>?, planned: [PlannedTrial],
                retryFailed: Bool, dropRemoved: Bool, settings: DispatchSettings, localWorkers: Int, threads: Int?,
                workerArguments: [String], logger: Logger = Logger(label: "lpft.sweep")) {
        (self.spec, self.directory, self.bind, self.keys, self.allowed, self.planned) = (spec, directory, bind, keys, allowed, planned)
        (self.retryFailed, self.dropRemoved, self.settings, self.localWorkers) = (retryFailed, dropRemoved, settings, localWorkers)
        (self.threads, self.workerArguments, self.logger) = (threads, workerArguments, logger)
    }

    public enum Outcome: Equatable {
        /// Stopped by a signal: running attempts were recorded as interrupted.
        case stopped
        /// Drained (`lpft sweep drain`, SIGUSR1): the running attempts ended, no new ones started.
        case drained
        /// Every trial completed or failed.
        case finished(failed: Int)
    }

    public func run() throws -> Outcome {
        // First: a signal while the plan is pinned and seeded (seconds, for a big sweep) stops
        // the run once the coordinator is up, instead of being lost or killing it mid-commit.
        let signals = SignalPipe()
        let drains = SignalPipe([SIGUSR1], exitsOnSecond: false)
        var allowed = self.allowed
        let lock = try DirectoryLock(directory, name: DirectoryLock.coordinatorFileName, holder: "coordinator")
        let journal = try Journal(directory: directory, durability: durability)
        let seeded = try SweepLaunch.seed(journal, spec: URL(fileURLWithPath: spec), planned: planned, retryFailed: retryFailed, dropRemoved: dropRemoved, inputs: inputs)
        let (added, revived, dropped) = (seeded.added, seeded.revived, seeded.dropped)
        for change in seeded.changedInputs { logger.warning("\(change)") }
        if seeded.pinnedLate > 0 { logger.info("pinned the inputs of \(seeded.pinnedLate) trial(s) planned before this journal kept their files' hashes") }
        if dropped > 0 { logger.info("dropped \(dropped) trial(s) that left the spec and never started") }
        let context = ZeroMQContext()
        let localCurve = try keys.flatMap { localWorkers > 0 ? try SweepLaunch.localWorkerKeys(sweep: directory, server: $0, allowed: &allowed) : nil } ?? []
        let coordinator = try Coordinator(journal: journal, settings: settings, bind: bind, context: context,
                                          curve: keys.map { ($0, allowed ?? []) })
        coordinator.dispatcher.logger = logger
        let all = try journal.trials()
        let done = all.filter { $0.state == .completed }.count
        let inPlan = Set(seeded.planned.map(\.id))
        let removed = all.filter { !inPlan.contains($0.id) && ($0.state == .pending || $0.state == .running) }.count
        if removed > 0 {
            logger.warning("\(removed) unfinished trial(s) from an earlier version of the spec are not in it any more and will still run; --drop-removed deletes those that never started")
        }
        logger.info("sweep \(directory.path): \(all.count) trial(s), \(added) new, \(done) already completed\(revived > 0 ? ", \(revived) failed retried" : "")")
        if let rule = settings.prune { logger.info("pruning (successive halving): \(rule.description)") }
        let connect = (try? Endpoint(coordinator.endpoint))?.connectable(hostName: ProcessInfo.processInfo.hostName) ?? coordinator.endpoint
        logger.info("coordinator on \(coordinator.endpoint) (workers: lpft worker --connect \(connect))")
        let workers = try LocalWorkers(count: localWorkers, endpoint: coordinator.endpoint, sweep: directory, threads: threads,
                                       heartbeat: settings.heartbeatInterval, liveness: settings.liveness, extraArguments: localCurve + workerArguments)
        let dashboard = try http.map { try DashboardProcess(sweep: directory, address: $0.address, insecure: $0.insecure) }
        defer { dashboard?.stop() }
        let progress = SweepProgressLine(total: all.count, alreadyDone: done + all.count { $0.state == .pruned }, journal: journal, logger: logger)
        let program = commandLine.first ?? "lpft"
        let workerless = WorkerlessWarning(after: workerlessWarning, message: "start one with \(program) worker --connect \(connect)"
            + (localWorkers > 0 ? " (the local workers log to \(directory.path)/workers/N/worker.log)" : ", or stop it (Ctrl-C) and run it again with --local-workers N"),
            logger: logger)
        coordinator.onProgress = { progress.show($0); workerless.update($0) }
        let outcome = try coordinator.run(stopSignal: signals.readEnd, drainSignal: drains.readEnd)
        progress.end()
        workers.stop()
        dashboard?.stop()  // first: a reader in the middle of a read holds commits in the WAL
        checkpoint(journal)
        // The IPC socket's file outlives the socket: leave no stale endpoint in the directory.
        if let path = coordinator.endpoint.dropPrefix("ipc://") { try? FileManager.default.removeItem(atPath: String(path)) }
        // The signal pipes too: a second Ctrl-C while the workers stop still exits at once.
        withExtendedLifetime((lock, signals, drains)) {}
        switch outcome {
        case .stopped:
            logger.info("stopped; running attempts recorded as interrupted. Resume with: \(rerun(retryingFailed: false))")
            return .stopped
        case .drained:
            let pending = try journal.trials().count { $0.state == .pending }
            logger.info("drained: the running attempts ended and no new ones started; \(pending) trial(s) pending. Resume with: \(rerun(retryingFailed: false))")
            return .drained
        case .finished:
            let final = try journal.trials()
            let failed = final.filter { $0.state == .failed }
            let pruned = final.count { $0.state == .pruned }
            logger.info("done: \(final.count - failed.count - pruned) completed, \(failed.count) failed\(pruned > 0 ? ", \(pruned) pruned" : ""); journal \(journal.path)")
            if !failed.isEmpty {
                logger.info("see why: lpft sweep status \(directory.path); rerun them: \(rerun(retryingFailed: true))")
            }
            return .finished(failed: failed.count)
        }
    }

    /// Moves the WAL into the journal file, so that the file alone holds the sweep; says so
    /// when it could not, rather than fail a sweep that has ended.
    private func checkpoint(_ journal: Journal) {
        let wal = "\(journal.path)-wal"
        do {
            let pages = try journal.checkpoint()
            if pages > 0 {
                logger.warning("a read of the journal outlasted the checkpoint's wait: \(pages) page(s) of commits are still only in \(wal), which a copy of the journal needs too")
            }
        } catch {
            logger.warning("could not checkpoint the journal (\(error)): a copy of it needs \(wal) too")
        }
    }

    /// Where a coordinator listens unless told: `ipc://DIR/coordinator.ipc`, the same on every
    /// run, so local workers of an earlier run reconnect to the next. IPC paths are limited to
    /// ~107 bytes; a deeper sweep directory falls back to a free loopback TCP port.
    public static func defaultEndpoint(_ directory: URL) -> String {
        let ipc = "ipc://\(directory.standardizedFileURL.path)/coordinator.ipc"
        return ipc.utf8.count <= 100 ? ipc : "tcp://127.0.0.1:*"
    }

    /// The command as the user ran it, with `--retry-failed` or without, quoted for a shell.
    func rerun(retryingFailed: Bool) -> String {
        let arguments = commandLine.filter { $0 != "--retry-failed" } + (retryingFailed ? ["--retry-failed"] : [])
        return arguments.map(Self.shellQuoted).joined(separator: " ")
    }

    /// `argument` as a POSIX shell reads it back: as it is when it is plain, else in single quotes.
    static func shellQuoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "@%+=:,./_-".unicodeScalars.contains($0) }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

/// `lpft sweep drain`: asks the coordinator running on a sweep directory to start no new
/// attempts and to stop once those running end, so that nothing is interrupted (SIGUSR1 to
/// the pid in its lock file, which is why it works on the coordinator's machine only).
public enum SweepDrain {
    /// Signals the coordinator; returns its pid. SIGUSR1 ends a process that does not handle
    /// it, so the pid must be this machine's and its process an `lpft … sweep run`.
    public static func request(_ directory: URL) throws -> pid_t {
        guard let holder = DirectoryLock.holder(directory, name: DirectoryLock.coordinatorFileName) else {
            throw ConfigErrorText("no coordinator is running on \(directory.path) on this machine (its lock is free): nothing to drain")
        }
        let pid = holder.pid
        guard holder.host == DirectoryLock.hostName else {
            throw ConfigErrorText("the coordinator of \(directory.path) runs on \(holder.host.isEmpty ? "another machine" : holder.host), not here: run lpft sweep drain there")
        }
        let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } } ?? []
        guard pid > 1, zip(commandLine, commandLine.dropFirst()).contains(where: { $0 == ("sweep", "run") }) else {
            throw ConfigErrorText("the lock of \(directory.path) names pid \(pid), which is not an lpft sweep run (a coordinator just starting?): try again in a moment")
        }
        guard kill(pid, SIGUSR1) == 0 else {
            throw ConfigErrorText("could not signal the coordinator of \(directory.path) (pid \(pid)): \(String(cString: strerror(errno)))")
        }
        return pid
    }
}
