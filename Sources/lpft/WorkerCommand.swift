import ArgumentParser
import Compute
import Foundation
import Logs
import Orchestrator
import Sweep
import SweepApp
import TextData
import Training
import TrialContract
import Wire

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run trials for a sweep coordinator (`lpft sweep run`).",
        discussion: """
        Connects to the coordinator (it may start later: the worker waits and reconnects, for \
        ever unless --max-idle), asks for as many trials as it has --slots, and runs each in a \
        child `lpft train` process, so a crashing or out-of-memory trial never takes the worker \
        down. Metrics stream to the coordinator as they happen; results wait in the worker's \
        outbox (--dir) until the coordinator has committed them, and are resent after a \
        reconnect or a restart of this worker on the same --dir. `noop` trials run on a thread \
        of the worker itself: they measure the orchestrator, not process start-up.

        A trial runs in --runs/<trial id>; a retried trial that finds its checkpoints there \
        resumes from them. Each whole checkpoint a trial writes is offered to the coordinator, \
        which keeps the newest per unfinished trial, so a retry on another machine resumes from \
        it too (its files are fetched with the trial). Stopped (SIGTERM, as SLURM and \
        Kubernetes do before SIGKILL), the worker stops its trials, which checkpoint mid-epoch, \
        and waits up to --upload-grace seconds for the coordinator to take those checkpoints. \
        A trial the worker cannot start (the program is missing, the disk is \
        full) goes back to the coordinator uncharged, and the worker takes no new trials for 1 s, \
        then 2 s, 4 s … up to 60 s while that goes on.
        """)

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.5:5750.") var connect: String
    @Option(help: "Trials to run at once.") var slots = 1
    @Option(help: "Threads per trial (for configs with threads: 0).") var threads: Int?
    @Option(help: "This worker's directory: lock and outbox (default: the first free $LPFT_HOME/workers/N).") var dir: String?
    @Option(help: "Where trial directories go (default: <dir>/runs).") var runs: String?
    @Option(help: "The worker's name in the journal (default: <host>-<dir name>).") var name: String?
    @Option(help: "Seconds between heartbeats.") var heartbeat = Liveness.heartbeatInterval
    @Option(help: "Heartbeats the coordinator may miss before the worker reconnects.") var liveness = Liveness.missedHeartbeats
    @Option(help: "Exit after this many seconds without a coordinator.") var maxIdle: Double?
    @Option(help: "Seconds a stopping worker waits for the coordinator to take its trials' last checkpoints (SLURM and Kubernetes send SIGKILL 30 s after SIGTERM).") var uploadGrace = 25.0
    @Option(help: "The program that runs trials as `train --events` (default: this lpft).") var executable: String?
    @OptionGroup var curve: CurveOptions
    @Option(help: "CURVE: the coordinator's public key (its .pub file).") var serverKey: String?
    @Flag(help: "Stop when standard input closes: `lpft sweep run` passes its local workers a pipe it holds, so they end with it however it ends.") var exitWithParent = false

    func validate() throws {
        guard slots >= 1, slots <= 1024 else { throw ValidationError("--slots must be 1…1024") }
        guard heartbeat > 0, liveness >= 1 else { throw ValidationError("--heartbeat must be > 0 and --liveness ≥ 1") }
        guard uploadGrace >= 0 else { throw ValidationError("--upload-grace must be ≥ 0 seconds") }
    }

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        logging.apply()
        let keys = try curve.keys(for: try Endpoint(connect), role: "worker")
        if keys != nil, serverKey == nil { throw ValidationError("--curve-key needs --server-key: the coordinator's .pub file") }
        let serverPublic = try serverKey.map { try CurveKeyPair.readPublic(URL(fileURLWithPath: $0)) }
        let host = ProcessInfo.processInfo.hostName
        let context = ZeroMQContext()
        let candidates = dir.map { [URL(fileURLWithPath: $0)] } ?? (0..<256).map { LPFTHome().root.appendingPathComponent("workers/\($0)") }
        let worker = try Worker.inFirstFreeDirectory(candidates, context: context) { directory in
            var settings = WorkerSettings(
                endpoint: connect, name: name ?? "\(host)-\(directory.lastPathComponent)", host: host, directory: directory,
                runs: runs.map { URL(fileURLWithPath: $0) } ?? directory.appendingPathComponent("runs"), executable: executable ?? currentExecutable())
            (settings.slots, settings.heartbeatInterval, settings.liveness, settings.maxIdle) = (slots, heartbeat, liveness, maxIdle)
            settings.uploadGrace = uploadGrace
            settings.trainArguments = threads.map { ["--threads", "\($0)"] } ?? []
            settings.facts = WorkerFacts.thisMachine(build: LPFTVersion.build, blas: BLAS.configuration, threads: threads)
            if let keys, let serverPublic { settings.curve = (keys, serverPublic) }
            return settings
        }
        worker.inProcess = NoopTrial.inProcess
        logger.info("worker \(worker.settings.name) (\(slots) slot(s), dir \(worker.settings.directory.path)) → \(connect)")
        if let facts = worker.settings.facts, let advice = BLASKernelAdvice.advice(blas: facts.blas, cpuFlags: facts.cpuFlags) { logger.warning("\(advice)") }
        let signals = SignalPipe()  // SIGTERM (systemd stop, SLURM preemption) or Ctrl-C
        switch try worker.run(stopSignal: signals.readEnd, lifeline: exitWithParent ? STDIN_FILENO : nil) {
        case .shutdown(let reason): logger.info("worker \(worker.settings.name) exits: \(reason)")
        case .idle where !worker.heardFromCoordinator:
            throw CommandFailure("worker \(worker.settings.name): no coordinator answered at \(connect) within \(maxIdle ?? 0) s; start `lpft sweep run` there, or check the endpoint and that this machine can reach it")
        case .idle: logger.info("worker \(worker.settings.name) exits: no coordinator for \(maxIdle ?? 0) s")
        }
    }
}

