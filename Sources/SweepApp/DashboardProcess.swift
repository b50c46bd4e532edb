import Foundation
import TrialContract

/// `lpft sweep run --http ADDR`: the sweep's dashboard (`lpft-dashboard`, the program next to
/// `lpft`) as a child process over the same journal, for as long as the coordinator runs. A
/// process, not a thread: the dashboard reads the journal read-only like any other reader,
/// and `lpft` itself is built without an HTTP server.
public final class DashboardProcess {
    private let process = Process()
    /// Held open while the coordinator lives (``ParentLifeline``).
    private let lifeline = ParentLifeline.pipe()

    /// - Parameters:
    ///   - address: `PORT` or `HOST:PORT` (IPv6 in brackets); the host defaults to loopback.
    ///   - insecure: serve a non-loopback host without a token (as `--insecure` allows plain TCP).
    public init(sweep: URL, address: String, insecure: Bool) throws {
        let (host, port) = try Self.split(address)
        process.executableURL = URL(fileURLWithPath: currentExecutable()).deletingLastPathComponent().appendingPathComponent("lpft-dashboard")
        process.arguments = [sweep.path, "--bind", host, "--port", port] + (insecure ? ["--insecure"] : []) + [ParentLifeline.option]
        process.standardInput = lifeline
        do { try process.run() } catch {
            throw SiblingProgramError(description: "cannot run \(process.executableURL!.path) for --http (\(error)): build it beside lpft with `swift build -c release --product lpft-dashboard`")
        }
    }

    static func split(_ address: String) throws -> (host: String, port: String) {
        let bad = SiblingProgramError(description: "--http \(address): give PORT or HOST:PORT, e.g. 8080 or 127.0.0.1:8080 or [::1]:8080")
        guard let colon = address.lastIndex(of: ":") else {
            guard UInt16(address) != nil else { throw bad }
            return ("127.0.0.1", address)
        }
        let host = address[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port = String(address[address.index(after: colon)...])
        guard UInt16(port) != nil, !host.isEmpty else { throw bad }
        return (host, port)
    }

    /// Ends the dashboard (SIGTERM, which it stops on) and waits for it.
    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
