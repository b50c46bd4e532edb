import Foundation
import Sweep
import TestSupport
import XCTest

/// Several hosts on one machine: a coordinator and workers each in a network namespace of
/// their own, joined by a bridge, addresses in 198.18.0.0/24 (the range reserved for network
/// tests), CURVE on. Links are cut with `ip link set … down`. Needs root and iproute2; in CI
/// (CI set) a missing one fails the test, elsewhere it is skipped with the reason.
final class MultiHostTests: XCTestCase {
    /// Namespaces `<prefix>c` (198.18.0.1), `<prefix>w1`… (198.18.0.11…), bridged in `<prefix>br`.
    final class TestNetwork {
        let prefix: String
        let hosts: [String]
        private var created: [String] = []

        init(workers: Int) throws {
            prefix = "lpft\(getpid() % 100_000)"
            hosts = ["c"] + (1...workers).map { "w\($0)" }
            do {
                try add("\(prefix)br")
                try ip("\(prefix)br", "link", "add", "br0", "type", "bridge")
                try ip("\(prefix)br", "link", "set", "br0", "up")
                for (i, host) in hosts.enumerated() {
                    let ns = namespace(host), inside = "v\(prefix.suffix(5))\(host)", outside = "b\(prefix.suffix(5))\(host)"
                    try add(ns)
                    try run(["link", "add", inside, "type", "veth", "peer", "name", outside])
                    try run(["link", "set", inside, "netns", ns])
                    try run(["link", "set", outside, "netns", "\(prefix)br"])
                    try ip("\(prefix)br", "link", "set", outside, "master", "br0")
                    try ip("\(prefix)br", "link", "set", outside, "up")
                    try ip(ns, "addr", "add", "\(address(i))/24", "dev", inside)
                    try ip(ns, "link", "set", inside, "up")
                    try ip(ns, "link", "set", "lo", "up")
                }
            } catch {
                remove()
                throw error
            }
        }

        func namespace(_ host: String) -> String { "\(prefix)\(host)" }
        func address(_ index: Int) -> String { index == 0 ? "198.18.0.1" : "198.18.0.\(10 + index)" }

        /// Takes a host's only link down or up.
        func link(_ host: String, up: Bool) throws {
            try ip(namespace(host), "link", "set", "v\(prefix.suffix(5))\(host)", up ? "up" : "down")
        }

        func remove() {
            for ns in created.reversed() { _ = try? run(["netns", "del", ns]) }
            created = []
        }

        private func add(_ ns: String) throws {
            try run(["netns", "add", ns])
            created.append(ns)
        }

        private func ip(_ ns: String, _ arguments: String...) throws {
            try run(["netns", "exec", ns, "/usr/sbin/ip"] + arguments)
        }

        @discardableResult
        func run(_ arguments: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            p.arguments = arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw NetworkError(description: "ip \(arguments.joined(separator: " ")): \(text)") }
            return text
        }

        struct NetworkError: Error, CustomStringConvertible { let description: String }
    }

    let timing = ["--heartbeat", "0.2", "--liveness", "5"]
    var network: TestNetwork!
    var dir: URL!
    var keys: URL!

    override func setUpWithError() throws {
        let ci = ProcessInfo.processInfo.environment["CI"] != nil
        var problem: String?
        if getuid() != 0 { problem = "network namespaces need root" }
        else if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") { problem = "iproute2's ip is not installed (cluster/install-deps.sh installs it)" }
        if let problem {
            if ci { XCTFail("multi-host tests cannot run: \(problem)") }
            throw XCTSkip("multi-host tests skipped here: \(problem)")
        }
        do { network = try TestNetwork(workers: 4) } catch {
            if ci { XCTFail("cannot build the test network: \(error)") }
            throw XCTSkip("cannot build the test network here: \(error)")
        }
        addTeardownBlock { [network] in network?.remove() }
        dir = try temporaryDirectory(self)
        keys = dir.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("allowed"), withIntermediateDirectories: true)
        for name in ["coordinator", "w1", "w2", "w3", "w4"] {
            let log = dir.appendingPathComponent("keys.log")
            let p = try startLPFT(["keys", "generate", keys.path, "--name", name], log: log, test: self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            if name != "coordinator", name != "w4" {  // w4 is a stranger: never allowed
                try FileManager.default.copyItem(at: keys.appendingPathComponent("\(name).pub"), to: dir.appendingPathComponent("allowed/\(name).pub"))
            }
        }
    }

    func startCoordinator(trials: Int, durationMs: Int) throws -> (Process, URL, URL) {
        let spec = dir.appendingPathComponent("spec.yaml")
        try "base: {method: noop, duration_ms: \(durationMs)}\ngrid:\n  seed: [\((1...trials).map(String.init).joined(separator: ", "))]\n"
            .write(to: spec, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep"), log = dir.appendingPathComponent("coordinator.log")
        let p = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--bind", "tcp://198.18.0.1:5750", "--retry-delay", "0",
                               "--curve-key", keys.appendingPathComponent("coordinator.key").path, "--allow", dir.appendingPathComponent("allowed").path] + timing,
                              log: log, test: self, namespace: network.namespace("c"))
        return (p, sweep, log)
    }

    @discardableResult
    func startWorker(_ host: String) throws -> Process {
        try startLPFT(["worker", "--connect", "tcp://198.18.0.1:5750", "--dir", dir.appendingPathComponent(host).path, "--name", host,
                       "--curve-key", keys.appendingPathComponent("\(host).key").path, "--server-key", keys.appendingPathComponent("coordinator.pub").path] + timing,
                      log: dir.appendingPathComponent("\(host).log"), test: self, namespace: network.namespace(host))
    }

    func journal(_ sweep: URL) -> Journal? {
        FileManager.default.fileExists(atPath: sweep.appendingPathComponent(Journal.fileName).path) ? try? Journal(readingDirectory: sweep) : nil
    }

    func finish(_ coordinator: Process, log: URL) {
        let done = eventually(timeout: 120) { !coordinator.isRunning }
        XCTAssertTrue(done, "coordinator still running; log:\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
        if done { XCTAssertEqual(coordinator.terminationStatus, 0) }
    }

    func assertEveryTrialOnce(_ j: Journal, _ count: Int) throws {
        let trials = try j.trials(), attempts = try j.attempts()
        XCTAssertEqual(trials.filter { $0.state == .completed }.count, count)
        for t in trials {
            XCTAssertEqual(attempts.filter { $0.trial == t.id && $0.state == .completed }.count, 1, "trial \(t.id)")
        }
    }

    /// (a) A worker's link is cut mid-trial: its lease expires and the trial reruns elsewhere;
    /// when the link returns its late result is fenced and it rejoins. (b) A worker whose key
    /// is not allowed gets nothing, and its handshakes are logged with its address.
    func testACutWorkerIsFencedAndRejoinsAndAStrangerGetsNothing() throws {
        let (coordinator, sweep, log) = try startCoordinator(trials: 12, durationMs: 2500)
        for host in ["w1", "w2", "w3", "w4"] { try startWorker(host) }
        XCTAssertTrue(eventually(timeout: 30) {
            (try? journal(sweep)?.attempts().contains { $0.worker == "w1" && $0.state == .running }) ?? false
        }, "w1 got a trial")
        Thread.sleep(forTimeInterval: 0.5)
        try network.link("w1", up: false)
        // Past the 1 s lease and past the end of w1's trial, which finishes while cut off.
        XCTAssertTrue(eventually(timeout: 10) { (try? journal(sweep)?.attempts().contains { $0.worker == "w1" && $0.state == .lost }) ?? false })
        Thread.sleep(forTimeInterval: 3)
        try network.link("w1", up: true)
        finish(coordinator, log: log)
        let j = try XCTUnwrap(journal(sweep))
        try assertEveryTrialOnce(j, 12)
        let attempts = try j.attempts()
        let lost = attempts.filter { $0.state == .lost }
        XCTAssertEqual(lost.map(\.worker), ["w1"])
        XCTAssertEqual(lost.first?.late, true, "w1's result arrived after its lease was fenced: kept as history, not the trial's")
        XCTAssertNotEqual(try j.trials().first { $0.id == lost.first?.trial }?.result, lost.first?.result)
        XCTAssertGreaterThanOrEqual(try j.events(kind: "worker joined").filter { $0.worker == "w1" }.count, 2, "w1 rejoined")
        XCTAssertFalse(attempts.contains { $0.worker == "w4" }, "the stranger ran nothing")
        let rejected = try j.events(kind: "handshake rejected")
        XCTAssertFalse(rejected.isEmpty)
        XCTAssertTrue(rejected.allSatisfy { ($0.detail ?? "").contains("198.18.0.14") }, "\(rejected.map(\.detail))")
    }

    /// (c) The coordinator's host loses its link for longer than the lease: every worker's
    /// leases expire; when it returns the workers reconnect and the sweep finishes, each trial once.
    func testTheCoordinatorsLinkGoingDownAndComingBackLosesNothing() throws {
        let (coordinator, sweep, log) = try startCoordinator(trials: 24, durationMs: 400)
        for host in ["w1", "w2", "w3"] { try startWorker(host) }
        XCTAssertTrue(eventually(timeout: 30) { ((try? journal(sweep)?.trials().filter { $0.state == .completed }.count) ?? 0) >= 6 })
        try network.link("c", up: false)
        Thread.sleep(forTimeInterval: 3)
        try network.link("c", up: true)
        finish(coordinator, log: log)
        let j = try XCTUnwrap(journal(sweep))
        try assertEveryTrialOnce(j, 24)
        XCTAssertFalse(try j.attempts().filter { $0.state == .lost }.isEmpty, "the outage expired leases")
        for host in ["w1", "w2", "w3"] {
            XCTAssertGreaterThanOrEqual(try j.events(kind: "worker joined").filter { $0.worker == host }.count, 2, "\(host) reconnected")
        }
    }
}
