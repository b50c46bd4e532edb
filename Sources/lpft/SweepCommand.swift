import ArgumentParser
import Config
import Foundation
import Logging
import Logs
import Orchestrator
import Reports
import Sweep
import SweepApp
import Training
import TrialContract
import Wire

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Plan, run and inspect sweeps of trials.",
        subcommands: [Plan.self, Run.self, Status.self, Drain.self, Report.self, Compare.self, Serve.self, Salvage.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expand a sweep spec into its trials and print them with their ids.",
            discussion: """
            Each trial's id is the first 16 hex digits of SHA-256 of its canonical, fully resolved config \
            (paths made absolute), so the same trial has the same id in any spec, planned anywhere. Every \
            trial is validated as `lpft train` would; an invalid one is reported with the spec file, the \
            axis values that made it, the key and the reason.
            """)

        @Argument(help: "The sweep spec (YAML; relative paths in it are relative to its directory).") var spec: String
        @Flag(help: "Print one JSON object per trial (id, axes, config) instead of a table.") var json = false
        @OptionGroup var limit: PlanLimit

        func run() throws {
            let trials = try planTrials(spec, maximumTrials: limit.maxTrials)
            if json { return try trials.forEach { print(try $0.jsonLine()) } }
            let columns = Array(Set(trials.flatMap(\.axes.keys))).sorted()
            print(TextTable.render(["id"] + columns, trials.map { t in [t.id] + columns.map { t.axes[$0]?.description ?? "—" } }), terminator: "")
            print("\(trials.count) trial(s)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a sweep: a coordinator that leases trials to workers and journals every result.",
            discussion: """
            The sweep directory (--dir) holds the journal (journal.sqlite, SQLite in WAL mode; the spec's path and text \
            are in its table `sweep`) and, for local workers, their logs (workers/N) and trial directories (runs/<trial \
            id>). Running again on the same directory resumes: completed trials are kept, trials whose workers vanished \
            are requeued, and trials new to the spec are added. Every result is acknowledged to its worker only after it \
            is committed, so `kill -9` of the coordinator loses nothing a worker was told is safe.

            Workers connect to --bind: start them here with --local-workers N, or elsewhere with `lpft worker --connect \
            ENDPOINT` (they may start before the coordinator); with none for --warn-without-workers seconds, the \
            coordinator says how to start one. A worker that goes silent for --liveness heartbeats loses its leases; its \
            trials rerun elsewhere, up to --max-attempts, with doubling backoff from --retry-delay. A trial a worker \
            could not start (missing program, full disk) is not charged; one that comes back so 10 times fails with the \
            reason. A spec's `prune:` rule (successive halving, docs/sweeps.md) stops trials that are behind their \
            group at a rung epoch: they end `pruned`, settled and never retried. Ctrl-C/SIGTERM stops dispatching, \
            tells workers to stop, records running attempts as interrupted and exits (130); a second signal exits at once. `lpft sweep drain DIR` (SIGUSR1) instead starts no new trials \
            and stops once the running ones end (130; 0 when those were the last).
            """)

        @Argument(help: "The sweep spec (YAML; relative paths in it are relative to its directory).") var spec: String
        @Option(help: "The sweep directory (default: runs/<spec name>).") var dir: String?
        @Option(help: "The coordinator's ZeroMQ endpoint, e.g. tcp://0.0.0.0:5750 for workers elsewhere (a `*` port picks a free one). Default: ipc://DIR/coordinator.ipc, the same on every run, so local workers of an earlier run reconnect to the next.") var bind: String?
        @Option(help: "Worker processes to start on this machine.") var localWorkers = 0
        @Option(help: "Threads per trial of a local worker (for configs with threads: 0).") var threads: Int?
        @Option(help: "Seconds between heartbeats.") var heartbeat = Liveness.heartbeatInterval
        @Option(help: "Heartbeats a worker may miss before its leases expire.") var liveness = Liveness.missedHeartbeats
        @Option(help: "Seconds without any worker before the coordinator warns, with the command to start one.") var warnWithoutWorkers = 30.0
        @Option(help: "Attempts (failed or lost) before a trial is marked failed.") var maxAttempts = 3
        @Option(help: "Seconds before the first retry of a trial; doubles each time.") var retryDelay = 1.0
        @Flag(help: "Give failed trials a fresh set of attempts (pruned trials stay pruned).") var retryFailed = false
        @Flag(help: "Delete trials that left the spec and never started (otherwise they still run).") var dropRemoved = false
        @Flag(help: "Do not check here the trials' data files (that they exist, each row reads and each label is the task's), nor pin them: for workers that see other files.") var skipFileCheck = false
        @Flag(help: "Admit workers of another lpft build than this one (refused by default); the report warns.") var allowMixedBuilds = false
        @OptionGroup var curve: CurveOptions
        @Option(help: "CURVE: the workers' public keys, a directory of *.pub files or a file with one key per line.") var allow: String?
        @Option(help: "Serve the sweep's dashboard (lpft sweep serve) at PORT or HOST:PORT while it runs; beyond loopback only with --insecure.") var http: String?
        @Option(help: "What a commit survives before a result is acknowledged: normal (a coordinator crash or kill -9) or full (also a power cut; a sync per commit).") var durability = JournalDurability.normal
        @OptionGroup var limit: PlanLimit
        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard heartbeat > 0, warnWithoutWorkers > 0, liveness >= 1, maxAttempts >= 1, retryDelay >= 0, localWorkers >= 0 else {
                throw ValidationError("--heartbeat and --warn-without-workers must be > 0, --liveness and --max-attempts ≥ 1, --retry-delay and --local-workers ≥ 0")
            }
        }

        func run() throws {
            logging.apply()
            let directory = URL(fileURLWithPath: dir ?? "runs/\(URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent)")
            let bind = self.bind ?? SweepRun.defaultEndpoint(directory)
            let keys = try curve.keys(for: try Endpoint(bind), role: "coordinator")
            if keys != nil, allow == nil { throw ValidationError("--curve-key needs --allow: the directory of the workers' public keys") }
            let allowed = try allow.map { try CurveKeyPair.allowList(URL(fileURLWithPath: $0)) }
            let planned = try planTrials(spec, maximumTrials: limit.maxTrials)
            if !skipFileCheck { try TrialConfig.checkData(planned.map(\.canonicalConfig)) }
            var settings = DispatchSettings()
            (settings.heartbeatInterval, settings.liveness, settings.maxAttempts, settings.retryDelay) = (heartbeat, liveness, maxAttempts, retryDelay)
            (settings.build, settings.allowMixedBuilds) = (LPFTVersion.build, allowMixedBuilds)
            settings.prune = try SweepSpec(contentsOf: URL(fileURLWithPath: spec)).prune
            var run = SweepRun(spec: spec, directory: directory, bind: bind, keys: keys, allowed: allowed, planned: planned,
                               retryFailed: retryFailed, dropRemoved: dropRemoved, settings: settings, localWorkers: localWorkers,
                               threads: threads, workerArguments: (curve.insecure ? ["--insecure"] : []) + logging.arguments)
            (run.http, run.workerlessWarning) = (http.map { ($0, curve.insecure) }, warnWithoutWorkers)
            (run.durability, run.inputs) = (durability, skipFileCheck ? nil : { try TrialConfig.inputFiles(ofCanonical: $0.canonicalConfig) })
            switch try run.run() {
            case .stopped, .drained: throw ExitCode(TrialExitCode.interrupted)
            case .finished(let failed): if failed > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a sweep's trials by state, its attempts, its coordinator runs (finished, drained, stopped, killed, running) and its failures (while it runs, too).")

        @Argument(help: "The sweep directory.") var dir: String
        @Option(help: "Failures to list with their reasons and last log lines.") var failures = 10
        @Flag(help: "Print {\"counts\": {state: n}, \"trials\": [{id, state, attempts, config, metrics}]} as JSON.") var json = false
        @Flag(help: "Until every trial is completed or failed, redraw every 2 s a progress bar and the best trials so far (into a file or pipe: a line when progress changes, the best trials at the end).") var watch = false
        @Option(help: "The metric that ranks trials in --watch (default: validation accuracy: select on validation, never on test).") var rank = TrialMetric.validationAccuracy

        func run() throws {
            let directory = URL(fileURLWithPath: dir)
            let status = SweepStatus(name: dir, failures: failures, rank: rank)
            if json { return try print(status.json(Journal(readingDirectory: directory))) }
            guard watch else { return try print(status.summary(Journal(readingDirectory: directory))) }
            try status.watch(directory, terminal: isatty(STDOUT_FILENO) != 0)
        }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a running sweep's coordinator to start no new trials and to stop once the running ones end.",
            discussion: """
                Nothing is interrupted: the coordinator stops when its last running attempt ends (minutes, or \
                hours for long trials), and the same `lpft sweep run` resumes the pending trials later. Ctrl-C or \
                SIGTERM to the coordinator still stops it at once. Run it on the coordinator's machine (it sends \
                SIGUSR1 to the pid in DIR/coordinator.lock).
                """)

        @Argument(help: "The sweep directory.") var dir: String

        func run() throws {
            let pid = try SweepDrain.request(URL(fileURLWithPath: dir))
            print("asked the coordinator (pid \(pid)) to drain: no new trials start, and it stops when the running ones end (lpft sweep status \(dir) shows them)")
        }
    }

    /// Runs `lpft-dashboard`, a program of its own so that building `lpft` (the demo) does
    /// not build an HTTP server; it parses the options (`lpft sweep serve --help`).
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A live, read-only web dashboard of a sweep (the program lpft-dashboard; --help for its options).", helpNames: [])
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws {
            do { try replaceProcess(with: "lpft-dashboard", arguments: arguments) } catch let missing as SiblingProgramError where arguments.contains(where: ["-h", "--help", "help"].contains) {
                // `lpft --help` promises every command's help, also on the demo's build.
                print("OVERVIEW: \(Self.configuration.abstract)\n\nlpft-dashboard is not built beside this lpft, so its options cannot be listed: \(missing)")
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Aggregate a sweep's results: the paper's tables and plots, or tidy exports.",
            discussion: """
            Groups completed trials by every swept axis except `seed` (or --group-by) and \
            reports mean ± standard deviation and n over the seeds, marking groups with \
            failed or missing trials (⚠). Formats: md (tables, to stdout), html (tables and \
            SVG plots in one self-contained file, default DIR/report.html), csv and jsonl \
            (one row per trial, one column per swept axis and metric; \
            `pandas.read_csv(path)` / `pandas.read_json(path, lines=True)`), predictions (one CSV row \
            per trial, split and example: label, predicted class, probabilities), epochs (the learning \
            curves, one CSV row per trial, metric and epoch). Works on a running \
            sweep; its report says it is partial.
            """)

        @Argument(help: "The sweep directories; several read as one, with a `sweep` axis (the directory's name).") var dirs: [String]
        @Option(help: "md, csv, jsonl, html, predictions (one row per trial, split and example) or epochs (one row per trial, metric and epoch).") var format: SweepReport.Format = .md
        @Option(help: "Comma-separated axes to group by (default: every swept axis but seed).") var groupBy: String?
        @Option(name: .customLong("where"), help: "Only trials with these axis values: AXIS=VALUE[,AXIS!=VALUE…].") var filter: String?
        @Option(help: "Comma-separated metrics to report (`*` matches within a path step, e.g. ood/*/accuracy).") var metric: String?
        @Option(help: "Write here instead of stdout (html: default DIR/report.html).") var out: String?
        @Flag(inversion: .prefixedNo, help: "Show the paper's numbers and claims beside ours (default: for the tasks lpft ships, not for your own data files).") var paper: Bool?
        @Flag(help: "Print only the best configuration per method, selected on validation accuracy, with its test and OOD figures.") var best = false
        @Option(help: "With --best: select on this metric's mean over the seeds instead of validation accuracy (e.g. validation/loss).") var selectBy: String?
        @Option(help: "With --best: max or min (default: as the metric's name says, min for a loss, NLL or calibration error, max for an accuracy).") var goal: PruneRule.Goal?
        @Option(help: "With --best: comma-separated axes to select within, one best configuration per combination of their values (default: method).") var within: String?

        func validate() throws {
            if !best, selectBy != nil || goal != nil || within != nil { throw ValidationError("--select-by, --goal and --within choose what --best selects: add --best") }
        }

        func run() throws {
            let selection = best ? BestSelection(metric: selectBy, goal: goal, within: within?.commaSeparated) : nil
            let report = try SweepReport.make(directories: dirs, format: format, grouping: groupBy?.commaSeparated, filter: try filter.map { try TrialFilter($0) },
                                              metrics: metric?.commaSeparated, out: out, paper: paper, best: selection)
            print(report.path.map { "report: \($0)" } ?? report.text, terminator: report.path == nil ? "" : "\n")
        }
    }
}

extension SweepCommand {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One arm of trials against another, paired like with like, with honest verdicts.",
            discussion: """
            Pairs trials by seed and by every setting that varies within both arms; a setting \
            that varies within one arm splits it into rows, so a swept rate is never pooled. Per \
            row: differences per seed, mean and 95% interval, a verdict (higher, lower, \
            inconclusive, too few seeds) and, with predictions, McNemar per seed and a bootstrap \
            over examples and seeds. The arms may come from different sweeps (select with \
            sweep=NAME, the directory's name). Example: \
            lpft sweep compare results/paper-rt results/paper-rt-lpft --arm 'method=lp-ft,sweep=paper-rt-lpft' --against 'method=ft,sweep=paper-rt'
            """)

        @Argument(help: "The sweep directories; several read as one, with a `sweep` setting (the directory's name).") var dirs: [String]
        @Option(help: "The trials of the arm: SETTING=VALUE[,SETTING!=VALUE…] over swept axes and config keys (e.g. method=lp-ft,ft.lr=3e-6).") var arm: String
        @Option(help: "The trials it is compared against, in the same form.") var against: String
        @Option(help: "Comma-separated metrics (`*` matches within a path step); default test/accuracy,ood/*/accuracy.") var metric: String?
        @Option(help: "A non-inferiority margin, in the metric's units (0.005: half a point of accuracy), fixed before the run: each row says whether the arm is shown to be no worse than −margin.")
        var margin: Double?

        func run() throws {
            print(try ComparisonReport.make(directories: dirs, arm: arm, against: against, metrics: metric?.commaSeparated, margin: margin), terminator: "")
        }
    }
}

extension SweepCommand {
    struct Salvage: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy what SQLite can still read of a damaged journal into a new sweep directory, to resume there.",
            discussion: """
            For a journal every command refuses as damaged, when no good copy of it is left. Each \
            table is read from both ends up to its damaged pages; the rows on those pages are \
            lost. `lpft sweep run SPEC --dir NEW` then keeps the completed trials found and runs \
            the rest again.
            """)

        @Argument(help: "The sweep directory whose journal is damaged (left as it is).") var dir: String
        @Argument(help: "A new sweep directory for the salvaged journal.") var newDir: String

        func run() throws {
            let tables = try Journal.salvage(URL(fileURLWithPath: dir), into: URL(fileURLWithPath: newDir))
            print(TextTable.render(["table", "rows", "read"], tables.map { [$0.name, String($0.rows), $0.damaged ? "up to damaged pages: their rows are lost" : "whole"] }), terminator: "")
            print("salvaged into \(newDir)/\(Journal.fileName); resume with: lpft sweep run SPEC --dir \(newDir)")
        }
    }
}

/// `--max-trials`, on the commands that plan a spec.
struct PlanLimit: ParsableArguments {
    @Option(help: "Refuse a spec that makes more trials than this (planning validates each: about 0.5 ms apiece).")
    var maxTrials = SweepSpec.defaultMaximumTrials

    func validate() throws {
        guard maxTrials >= 1 else { throw ValidationError("--max-trials must be ≥ 1") }
    }
}

/// Plans a spec's trials, validating each as `lpft train` would, with the files they name
/// made absolute against the spec's directory (so a worker anywhere reads what the plan
/// pinned, and the ids do not depend on where the plan was made). A plan of
/// `progressThreshold` trials or more takes seconds to minutes: it says how far it has got,
/// on stderr every 2 s, rather than seem to hang.
func planTrials(_ spec: String, maximumTrials: Int) throws -> [PlannedTrial] {
    let progressThreshold = 10_000
    let url = URL(fileURLWithPath: spec)
    let sweep = try SweepSpec(contentsOf: url)
    var lastReport = Date.distantPast
    let progress = { (done: Int, total: Int) in
        guard total >= progressThreshold, done == total || Date().timeIntervalSince(lastReport) >= 2 else { return }
        lastReport = Date()
        logger.info("planning \(spec): \(done) of \(total) trials validated")
    }
    return try sweep.plan(maximumTrials: maximumTrials, progress: progress) { mapping, label in
        try TrialConfig(mapping: mapping, file: label).resolvingFilePaths(relativeTo: url.deletingLastPathComponent()).canonicalJSON()
    }
}

extension SweepReport.Format: ExpressibleByArgument {}
extension PruneRule.Goal: ExpressibleByArgument {}
extension JournalDurability: ExpressibleByArgument {}

/// The command line's log (swift-log, set up by `LPFT.main`), made when first used: after a
/// command has applied its `--log-level` and `--log-format`.
let logger = Logger(label: "lpft")

