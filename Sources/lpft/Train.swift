import ArgumentParser
import Foundation
import Training
import TrialContract

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one trial (LP, FT, LP-FT, LoRA, LP-LoRA or noop) from a YAML/JSON config.",
        discussion: """
        Writes \(TrialDirectory.Name.config) (resolved), \(TrialDirectory.Name.metrics) (one line per metric event) and \
        \(TrialDirectory.Name.result) (final metrics, best epoch, timings, versions) into --out. Exits 0 only when the trial \
        completes. Ctrl-C or SIGTERM stops it at the next step; \(TrialDirectory.Name.result) then says \
        "interrupted" and the exit code is \(TrialExitCode.interrupted).

        After each FT epoch, and at the step where Ctrl-C or SIGTERM stops FT, a checkpoint (trainable \
        parameters, AdamW state, best epoch) goes to --out/\(TrialDirectory.Name.checkpoints); the config's \
        `checkpoints: last | best | every | none` says which are kept (default last). `lpft train --resume DIR` \
        continues from the newest whole checkpoint (a torn one is skipped) and ends with the same \
        numbers as an uninterrupted run with the same seed and threads; with no whole checkpoint it \
        starts from the beginning, and \(TrialDirectory.Name.metrics) afresh.
        """)

    @Option(help: "The trial config (YAML or JSON).") var config: String?
    @Option(help: "Output directory (default: runs/<config name>).") var out: String?
    @Option(help: "Resume the trial in this directory (its \(TrialDirectory.Name.config) and checkpoints).") var resume: String?
    @Flag(help: "Start afresh over a trial already in --out, deleting its files and checkpoints (a trial that failed before its first checkpoint needs no --force).") var force = false
    @Option(help: "Threads when the config leaves `threads` at 0 (all cores).") var threads: Int?
    @Flag(help: ArgumentHelp(
        "For `lpft worker`: print one JSON event per line on stdout (metrics, then the result), human output on stderr; exit when stdin closes.",
        visibility: .hidden)) var events = false

    func validate() throws {
        guard (config == nil) != (resume == nil) else { throw ValidationError("give --config FILE for a new trial or --resume DIR, not both") }
        if resume != nil, out != nil || force { throw ValidationError("--resume continues the trial in its directory; drop --out and --force") }
    }

    func run() throws {
        var trial: TrialConfig
        let directory: TrialDirectory
        if let resume {
            directory = TrialDirectory(URL(fileURLWithPath: resume))
            trial = try TrialConfig(contentsOf: directory.config)
        } else {
            let url = URL(fileURLWithPath: config!)
            trial = try TrialConfig(contentsOf: url)
            directory = TrialDirectory(URL(fileURLWithPath: out ?? "runs/\(url.deletingPathExtension().lastPathComponent)"))
            try directory.prepareForNewTrial(replacing: force)
        }
        if let threads, trial.threads == 0 { trial.threads = threads }
        let code = try TrialProcess(trial: trial, directory: directory, resuming: resume != nil, events: events).run()
        if code != TrialExitCode.completed { throw ExitCode(code) }
    }
}
