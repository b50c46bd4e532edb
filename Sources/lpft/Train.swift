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

        After each FT epoch a checkpoint (trainable parameters, AdamW state, best epoch) goes to \
        --out/\(TrialDirectory.Name.checkpoints), unless the config says `checkpoints: false`. `lpft train --resume DIR` \
        continues from the newest whole checkpoint (a torn one is skipped) and ends with the same \
        numbers as an uninterrupted run with the same seed and threads.
        """)

    @Option(help: "The trial config (YAML or JSON).") var config: String?
    @Option(help: "Output directory (default: runs/<config name>).") var out: String?
    @Option(help: "Resume the trial in this directory (its \(TrialDirectory.Name.config) and checkpoints).") var resume: String?
    @Option(help: "Threads when the config leaves `threads` at 0 (all cores).") var threads: Int?
    @Flag(help: ArgumentHelp(
        "For `lpft worker`: print one JSON event per line on stdout (metrics, then the result), human output on stderr; exit when stdin closes.",
        visibility: .hidden)) var events = false

    func validate() throws {
        guard (config == nil) != (resume == nil) else { throw ValidationError("give --config FILE for a new trial or --resume DIR, not both") }
        if resume != nil, out != nil { throw ValidationError("--resume writes into the directory it resumes; drop --out") }
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
            guard !directory.holdsTrial else {
                throw ValidationError("\(directory.url.path) already holds a trial: resume it with --resume \(directory.url.path), or choose another --out")
            }
        }
        if let threads, trial.threads == 0 { trial.threads = threads }
        let console = events ? FileHandle.standardError : FileHandle.standardOutput
        func say(_ text: String) { console.write(Data((text + "\n").utf8)) }
        func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        if events { exitWhenStdinCloses() }
        let output = try TrialOutput(directory: directory, config: trial, resuming: resume != nil)
        let runner = TrialRunner(config: trial)
        runner.checkpointDirectory = directory.checkpoints
        runner.onNotice = { FileHandle.standardError.write(Data("lpft: \($0)\n".utf8)) }
        let stop = StopFlag()
        // Some stages (feature passes, the NTK, evaluation) take minutes between steps: a
        // second signal exits at once.
        let signals = SignalPipe { _ in
            stop.set()
            FileHandle.standardError.write(Data("\nlpft: stopping at the next step (signal again to exit now)…\n".utf8))
        }
        defer { withExtendedLifetime(signals) {} }
        runner.shouldStop = { stop.isSet }
        let progress = ProgressLine(console: console)
        runner.onProgress = { progress.update($0) }
        runner.onMetric = { event in
            output.record(event)
            progress.log(event)
            if events { emit(TrialEvent(event).line) }
        }
        say("trial: \(trial.method.rawValue) on \(trial.task.name), seed \(trial.seed) → \(directory.url.path)")
        do {
            let result = try runner.run()
            progress.finish()
            let written = try output.finish(status: .completed, config: trial, result: result)
            if events { emit(TrialEvent.result(written).line) }
            for name in result.metrics.keys.sorted() { say(String(format: "  %-28@ %.6g", name, result.metrics[name]!)) }
            say("result: \(directory.result.path)")
        } catch let error as TrialError {
            progress.finish()
            let written = try output.finish(status: .interrupted, config: trial, result: nil, error: "\(error)")
            if events { emit(TrialEvent.result(written).line) }
            say("lpft: \(error); partial metrics are in \(directory.metrics.path)")
            throw ExitCode(TrialExitCode.interrupted)
        } catch {
            progress.finish()
            if let written = try? output.finish(status: .failed, config: trial, result: nil, error: "\(error)"), events {
                emit(TrialEvent.result(written).line)
            }
            throw error
        }
    }
}

/// A worker's trial ends with its worker: the worker holds the write end of our stdin, and
/// the kernel closes it however the worker dies.
private func exitWhenStdinCloses() {
    Thread.detachNewThread {
        var byte: UInt8 = 0
        while read(STDIN_FILENO, &byte, 1) > 0 {}
        FileHandle.standardError.write(Data("lpft: the worker is gone (stdin closed); exiting\n".utf8))
        Foundation.exit(TrialExitCode.workerGone)
    }
}

