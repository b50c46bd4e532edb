import Compute
import Foundation
import TrialContract

/// `lpft train`: one trial in this process. Writes its directory, prints its progress (and,
/// for a worker, its event lines on stdout), and stops at the next step on SIGINT/SIGTERM.
public struct TrialProcess {
    public let trial: TrialConfig
    public let directory: TrialDirectory
    /// Continue the directory's trial from its checkpoints, appending to its metrics (with no
    /// whole checkpoint, the trial starts from the beginning and its metrics file with it).
    public let resuming: Bool
    /// For `lpft worker`: event lines on stdout, human output on stderr, exit when stdin closes.
    public let events: Bool

    public init(trial: TrialConfig, directory: TrialDirectory, resuming: Bool, events: Bool) {
        self.trial = trial
        self.directory = directory
        self.resuming = resuming
        self.events = events
    }

    /// Runs the trial; returns ``TrialExitCode/completed`` or ``TrialExitCode/interrupted``,
    /// and throws the error of a trial that failed (its result says "failed" too).
    public func run() throws -> Int32 {
        let console = events ? FileHandle.standardError : FileHandle.standardOutput
        func say(_ text: String) { console.write(Data((text + "\n").utf8)) }
        func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        if events { exitWhenStdinCloses() }
        let output = try TrialOutput(directory: directory, config: trial, resuming: resuming)
        let runner = TrialRunner(config: trial)
        runner.checkpointDirectory = directory.checkpoints
        runner.checkpointIdentity = directory.portable(configJSON:)
        if events { runner.onCheckpoint = { emit(TrialEvent.checkpoint(name: $0).line) } }
        runner.onNotice = { FileHandle.standardError.write(Data("lpft: \($0)\n".utf8)) }
        if let advice = BLASKernelAdvice.advice(blas: BLAS.configuration, cpuFlags: BLASKernelAdvice.thisMachineFlags) { runner.onNotice(advice) }
        runner.onFreshStart = { try? output.discardEarlierMetrics() }
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
            return TrialExitCode.completed
        } catch let error as TrialError {
            progress.finish()
            let written = try output.finish(status: .interrupted, config: trial, result: nil, error: "\(error)")
            if events { emit(TrialEvent.result(written).line) }
            say("lpft: \(error); partial metrics are in \(directory.metrics.path)")
            return TrialExitCode.interrupted
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

