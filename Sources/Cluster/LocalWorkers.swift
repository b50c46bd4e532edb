import Foundation

/// This process's executable, to start more of it (workers, trials).
public func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Worker processes started by `lpft sweep run --local-workers N`, logging to <sweep>/workers/N/worker.log.
public final class LocalWorkers {
    private var processes: [Process] = []

    public init(count: Int, endpoint: String, sweep: URL, threads: Int?, heartbeat: Double, liveness: Int, extraArguments: [String] = []) throws {
        for i in 0..<count {
            let directory = sweep.appendingPathComponent("workers/\(i)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let logURL = directory.appendingPathComponent("worker.log")
            guard FileManager.default.fileExists(atPath: logURL.path) || FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
                throw WorkerError("cannot create \(logURL.path): check that the sweep directory is writable")
            }
            let logFile = try FileHandle(forWritingTo: logURL)
            try logFile.seekToEnd()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: currentExecutable())
            p.arguments = ["worker", "--connect", endpoint, "--dir", directory.path, "--runs", sweep.appendingPathComponent("runs").path,
                           "--heartbeat", "\(heartbeat)", "--liveness", "\(liveness)", "--max-idle", "\(max(60, heartbeat * Double(liveness) * 4))"]
                + (threads.map { ["--threads", "\($0)"] } ?? []) + extraArguments
            p.standardOutput = logFile
            p.standardError = logFile
            try p.run()
            processes.append(p)
        }
    }

    /// They were told SHUTDOWN; give them a moment to stop their trials, then make sure.
    public func stop() {
        let deadline = Date().addingTimeInterval(10)
        for p in processes {
            while p.isRunning, Date() < deadline { usleep(20_000) }
            if p.isRunning { p.terminate() }
        }
    }
}
