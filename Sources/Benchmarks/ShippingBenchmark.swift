import Foundation
import Orchestrator
import Sweep
import SweepApp
import Synchronization
import TrialContract
import Wire

/// `lpft bench ship`: how fast the coordinator ships a pinned input to a worker that lacks it,
/// and what a transfer costs the dispatch of other trials.
///
/// A worker thread of this process plays the fetching worker with the real ``InputFetcher``
/// (pieces verified, hashed, written and committed to a content cache in a temporary
/// directory) against an in-process coordinator over IPC, so the figures include both ends'
/// hashing and disk, and CURVE's cost when it is on. Dispatch is measured with real
/// `lpft worker` processes running zero-duration trials, with and without a transfer running
/// for the whole time, in the same run.
public struct ShippingBenchmark {
    /// The shipped file's size.
    public let megabytes: Int
    /// Worker processes running zero-duration trials in the dispatch part.
    public let workers: Int
    public let trials: Int

    public init(megabytes: Int, workers: Int, trials: Int) {
        (self.megabytes, self.workers, self.trials) = (megabytes, workers, trials)
    }

    /// Runs each part `repeats` times, plain and with CURVE, telling `say` each round's
    /// figures, then their medians.
    public func run(repeats: Int, say: (String) -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-bench-ship-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try writeFile(in: dir)
        var speed: [Bool: [Double]] = [:], ratio: [Bool: [Double]] = [:], during: [Bool: [Double]] = [:]
        for r in 1...repeats {
            for curve in [false, true] {
                let label = curve ? "CURVE" : "plain"
                let alone = try round(file, curve: curve, mode: .once)
                speed[curve, default: []].append(alone.megabytesPerSecond)
                say(String(format: "[%d] %@: %d MB shipped in %.2f s, %.0f MB/s", r, label, megabytes, alone.fetchSeconds, alone.megabytesPerSecond))
                guard workers > 0, trials > 0 else { continue }
                let idle = try round(file, curve: curve, mode: .idle)
                let busy = try round(file, curve: curve, mode: .repeatedly)
                ratio[curve, default: []].append(busy.trialsPerSecond / idle.trialsPerSecond)
                during[curve, default: []].append(busy.megabytesPerSecond)
                say(String(format: "[%d] %@: %d zero-duration trials on %d workers: %.0f trials/s alone, %.0f trials/s while shipping at %.0f MB/s (ratio %.2f)",
                           r, label, trials, workers, idle.trialsPerSecond, busy.trialsPerSecond, busy.megabytesPerSecond, ratio[curve]!.last!))
            }
        }
        for curve in [false, true] {
            say(String(format: "median %@: %.0f MB/s alone; dispatch while shipping %.2f × its rate alone (shipping at %.0f MB/s meanwhile)",
                       curve ? "CURVE" : "plain", median(speed[curve]!), ratio[curve].map(median) ?? .nan, during[curve].map(median) ?? .nan))
        }
        say(String(format: "peak resident memory of the coordinator and fetcher together: %.0f MB for a %d MB file",
                   Double(peakResidentBytes()) / 1e6, megabytes))
    }

    /// A file of `megabytes` whose bytes are not all alike, written a mebibyte at a time.
    private func writeFile(in dir: URL) throws -> InputFile {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("shipped.bin")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw DispatchBenchmarkError("cannot create \(url.path)") }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for i in 0..<(megabytes * 1_000_000 + block.count - 1) / block.count {
            for j in block.indices { block[j] = UInt8(truncatingIfNeeded: (i &* 31) ^ j ^ (j >> 8)) }
            try handle.write(contentsOf: block.prefix(min(block.count, megabytes * 1_000_000 - i * block.count)))
        }
        return InputFile(name: url.path, url: url)
    }

    private struct Round {
        var fetchSeconds = 0.0, megabytesPerSecond = 0.0, trialsPerSecond = 0.0
    }

    /// One sweep: the fetching worker takes the first trial, which reads `file`; in the
    /// dispatch modes `workers` processes then run `trials` zero-duration trials meanwhile.
    private func round(_ file: InputFile, curve: Bool, mode: FetchingWorker.Mode) throws -> Round {
        let others = mode == .once ? 0 : trials
        let configs = (0...others).map { "{\"duration_ms\":0,\"method\":\"noop\",\"seed\":\($0)}" }
        let setup = try BenchSweep(curve: curve, durability: .normal, configs: configs, firstReads: [file])
        defer { setup.remove() }
        let coordinator = try setup.coordinator()
        let fetcher = FetchingWorker(mode: mode, cache: ContentCache(root: setup.directory.appendingPathComponent("content")))
        let thread = Thread { [endpoint = setup.endpoint, context = setup.context, curve = setup.security.worker] in
            fetcher.run(context: context, endpoint: endpoint, curve: curve)
        }
        thread.start()
        // The fetcher must hold the file's trial before the other workers can ask for it.
        while !fetcher.state.withLock({ $0.assigned }) { _ = try coordinator.turn() }
        var pool: LocalWorkers?
        if others > 0 {
            pool = try LocalWorkers(count: workers, endpoint: setup.endpoint, sweep: setup.directory, threads: nil, heartbeat: Liveness.heartbeatInterval,
                                    liveness: Liveness.missedHeartbeats, extraArguments: setup.security.workerArguments)
            while coordinator.dispatcher.workerCount < workers + 1 { _ = try coordinator.turn() }
        }
        defer { pool?.stop() }
        let t0 = Date()
        fetcher.state.withLock { $0.go = true }
        while coordinator.dispatcher.completed < others { _ = try coordinator.turn() }
        let dispatchSeconds = Date().timeIntervalSince(t0)
        fetcher.state.withLock { $0.stop = true }
        guard case .finished(let completed, _) = try coordinator.run(), completed == others + 1 else {
            throw DispatchBenchmarkError("the benchmark sweep did not complete")
        }
        let outcome = fetcher.state.withLock { $0 }
        if let failure = outcome.failure { throw DispatchBenchmarkError("the fetch failed: \(failure)") }
        var result = Round()
        result.fetchSeconds = outcome.fetchSeconds
        result.megabytesPerSecond = Double(outcome.bytes) / 1e6 / (mode == .once ? outcome.fetchSeconds : dispatchSeconds)
        result.trialsPerSecond = Double(others) / dispatchSeconds
        return result
    }
}

/// A worker that holds one trial and fetches its input: once, over and over until stopped, or
/// not at all (it only heartbeats). Its thread and the benchmark share `state`.
private final class FetchingWorker: Sendable {
    enum Mode { case once, repeatedly, idle }

    struct State: Sendable {
        var assigned = false, go = false, stop = false
        var bytes: Int64 = 0, fetchSeconds = 0.0
        var failure: String?
    }

    let mode: Mode
    let cache: ContentCache
    let state = Mutex(State())

    init(mode: Mode, cache: ContentCache) {
        (self.mode, self.cache) = (mode, cache)
    }

    func run(context: ZeroMQContext, endpoint: String, curve: (CurveKeyPair, String)?) {
        do { try session(context: context, endpoint: endpoint, curve: curve) } catch {
            state.withLock { $0.failure = "\(error)"; $0.stop = true }
        }
    }

    private func session(context: ZeroMQContext, endpoint: String, curve: (CurveKeyPair, String)?) throws {
        let socket = try ZeroMQSocket(context, .dealer)
        defer { socket.close() }
        if let (keys, server) = curve { try socket.useCurve(keys, serverKey: server) }
        try socket.connect(endpoint)
        let clock = SteadyClock()
        var lastSent = clock.now()
        func send(_ m: Message) {
            socket.send(m.frames())
            lastSent = clock.now()
        }
        /// The coordinator's messages of the next 10 ms.
        func receive() -> [Message] {
            if clock.now() - lastSent > Liveness.heartbeatInterval / 2 { send(.heartbeat) }
            _ = Poller.wait([.socket(socket)], timeout: 0.01)
            var messages: [Message] = []
            while let frames = socket.receive() { if let m = try? Message(frames: frames) { messages.append(m) } }
            return messages
        }
        send(.hello(Hello(worker: "fetcher", host: "local", slots: 1, held: [])))
        send(.ready(Ready(credit: 1)))
        var assignment: Assign?
        while assignment == nil {
            for case .assign(let a) in receive() { assignment = a }
        }
        let a = assignment!
        guard let input = a.inputs?.first else { throw DispatchBenchmarkError("the ASSIGN names no input") }
        state.withLock { $0.assigned = true }
        while !state.withLock({ $0.go }) { _ = receive() }

        let fetcher = InputFetcher(cache: cache, worker: "fetcher")
        func done() -> Bool {
            switch mode {
            case .once: fetcher.isIdle
            case .repeatedly, .idle: state.withLock { $0.stop }
            }
        }
        var started = clock.now()
        if mode != .idle { _ = try fetcher.fetch(input, now: started) }
        while !done() {
            for f in fetcher.requests(now: clock.now()) { send(.fetch(f)) }
            for case .chunk(let c) in receive() {
                switch fetcher.receive(c, now: clock.now()) {
                case .failed(_, let reason)?: throw DispatchBenchmarkError(reason)
                case .fetched?:
                    let seconds = clock.now() - started
                    state.withLock { $0.fetchSeconds = seconds }
                    try FileManager.default.removeItem(at: cache.url(of: input.sha256))
                    if mode == .repeatedly {
                        started = clock.now()
                        _ = try fetcher.fetch(input, now: started)
                    }
                case nil: break
                }
            }
            state.withLock { $0.bytes = fetcher.bytesReceived }
        }
        send(.result(TrialReport(trial: a.trial, lease: a.lease, status: .completed, reason: nil, logTail: [], result: "{}", sweep: a.sweep)))
        // Until the coordinator has the result (its ACK) the sweep is not over.
        while !receive().contains(where: { if case .ack = $0 { true } else { false } }) {}
    }
}
