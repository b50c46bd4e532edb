/// How a worker starts a trial process and what its exit code means.
public enum TrialCommandLine {
    /// `train --config FILE --out DIR --events`: a new trial.
    public static func start(config: String, directory: TrialDirectory) -> [String] {
        ["train", "--config", config, "--out", directory.url.path, "--events"]
    }

    /// `train --resume DIR --events`: continue an earlier attempt from its checkpoints.
    public static func resume(_ directory: TrialDirectory) -> [String] {
        ["train", "--resume", directory.url.path, "--events"]
    }
}

/// A trial process's exit codes. Anything else non-zero is a failure (the result says why).
public enum TrialExitCode {
    public static let completed: Int32 = 0
    public static let failed: Int32 = 1
    /// Stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it).
    public static let interrupted: Int32 = 130
    /// The worker went away (stdin closed): 128 + SIGKILL, as if killed with it.
    public static let workerGone: Int32 = 137
}

/// Runs a trial inside the worker: given the config JSON, a function that emits one event
/// line, and whether to stop. Used for `noop` trials, which measure the orchestrator rather
/// than process start-up.
public typealias InProcessTrial = @Sendable (_ config: String, _ emit: @escaping (String) -> Void, _ shouldStop: @escaping () -> Bool) -> Void
