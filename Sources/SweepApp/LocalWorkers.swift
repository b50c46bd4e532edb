import Foundation
import Orchestrator
import TrialContract

/// This process's executable, to start more of it (workers, trials).
public func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Worker processes started by `lpft sweep run --local-workers N`, logging to <sweep>/workers/N/worker.log.
public final class LocalWorkers {
    private var processes: [Process] = []
    /// One ``ParentLifeline`` per worker, held open for as long as this process lives.
    private var lifelines: [Pipe] = []

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
                + (threads.map { ["--threads", "\($0)"] } ?? []) + [ParentLifeline.option] + extraArguments
            let lifeline = ParentLifeline.pipe()
            p.standardInput = lifeline
            p.standardOutput = logFile
            p.standardError = logFile
            try p.run()
            processes.append(p)
            lifelines.append(lifeline)
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

/// Replaces this process with the program `name` installed next to it (`lpft sweep serve` →
/// `lpft-dashboard`), passing `arguments`; returns only by throwing.
public func replaceProcess(with name: String, arguments: [String]) throws -> Never {
    let program = URL(fileURLWithPath: currentExecutable()).deletingLastPathComponent().appendingPathComponent(name).path
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    execv(program, argv)
    throw SiblingProgramError(description: "cannot run \(program) (\(String(cString: strerror(errno)))): build it beside lpft with `swift build -c release --product \(name)`")
}

/// A program `lpft` hands over to is missing or cannot run.
public struct SiblingProgramError: Error, CustomStringConvertible {
    public let description: String
}
