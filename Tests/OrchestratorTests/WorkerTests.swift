import Foundation
@testable import Orchestrator
import TestSupport
@testable import Wire
import XCTest

/// One real `Worker` against a coordinator played by the test on a ROUTER socket.
final class WorkerTests: XCTestCase {
    /// A coordinator of sweep B hears the outbox result a worker kept from sweep A: it says
    /// "foreign", and the worker neither deletes it nor sends it there again, nor waits for it
    /// to be taken before it stops.
    func testAResultOfAnotherSweepStaysInTheOutboxAndIsNotResentToThisCoordinator() throws {
        let dir = try temporaryDirectory(self)
        let workerDirectory = dir.appendingPathComponent("w")
        try FileManager.default.createDirectory(at: workerDirectory, withIntermediateDirectories: true)
        let outboxURL = workerDirectory.appendingPathComponent("outbox.jsonl")
        let kept = TrialReport(trial: "t0", lease: 42, status: .completed, reason: nil, logTail: [], result: "{}", sweep: "aaaaaaaaaaaaaaaa")
        try Outbox(url: outboxURL) { XCTFail($0) }.add(kept)

        let context = ZeroMQContext()
        let router = try ZeroMQSocket(context, .router)
        let endpoint = "ipc://\(dir.path)/c.ipc"
        try router.bind(endpoint)
        var settings = WorkerSettings(endpoint: endpoint, name: "w", host: "h", directory: workerDirectory,
                                      runs: workerDirectory.appendingPathComponent("runs"), executable: "/bin/false")
        (settings.heartbeatInterval, settings.liveness) = (0.05, 20)  // it resends unacknowledged results after 1 s
        let worker = try Worker(settings: settings, context: context)
        let exit = Locked<Worker.Exit?>(nil)
        nonisolated(unsafe) let running = worker
        Thread.detachNewThread { exit.set(try? running.run()) }

        // Messages from the worker, answered as a coordinator of another sweep would.
        var peer: [UInt8] = []
        var results: [TrialReport] = [], heartbeats = 0
        func serve(until done: () -> Bool) {
            let deadline = Date().addingTimeInterval(30)
            while !done(), Date() < deadline {
                guard Poller.wait([.socket(router)], timeout: 0.1)[0], let frames = router.receive() else { continue }
                peer = frames[0]
                switch try? Message(frames: frames.dropFirst()) {
                case .result(let r)?:
                    results.append(r)
                    router.send([peer] + Message.ack(Ack(lease: r.lease, kind: .foreign, seq: nil)).frames())
                case .heartbeat?:
                    heartbeats += 1
                    router.send([peer] + Message.heartbeat.frames())
                default:
                    break
                }
            }
        }
        serve { !results.isEmpty }
        XCTAssertEqual(results, [kept], "sent on HELLO, naming its sweep")
        // 60 heartbeats are 3 s of the worker's time: three resend intervals.
        serve { heartbeats >= 60 }
        XCTAssertEqual(results.count, 1, "a foreign result is not resent to the coordinator that refused it")
        router.send([peer] + Message.shutdown(Notice(reason: "the sweep is finished")).frames())
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil }, "it stops without waiting for the foreign result to be taken")
        XCTAssertEqual(exit.value, .shutdown("coordinator says: the sweep is finished"))
        withExtendedLifetime(worker) {}
        XCTAssertEqual(try Outbox(url: outboxURL) { XCTFail($0) }.pending, [42: kept], "kept for sweep A's coordinator")
    }

    /// A trial that outlasts the resend interval and ends without a result (killed, say): its
    /// failure goes out once, not twice in a row, which a coordinator booked as a late result
    /// of an attempt that had sent none (issue 34).
    func testAResultOfATrialThatOutlastsTheResendIntervalIsSentOnce() throws {
        let dir = try temporaryDirectory(self)
        let context = ZeroMQContext()
        let router = try ZeroMQSocket(context, .router)
        let endpoint = "ipc://\(dir.path)/c.ipc"
        try router.bind(endpoint)
        let workerDirectory = dir.appendingPathComponent("w")
        var settings = WorkerSettings(endpoint: endpoint, name: "w", host: "h", directory: workerDirectory,
                                      runs: workerDirectory.appendingPathComponent("runs"), executable: "/bin/false")
        (settings.heartbeatInterval, settings.liveness) = (0.05, 20)  // it resends unacknowledged results after 1 s
        let worker = try Worker(settings: settings, context: context)
        worker.inProcess = { _ in { _, _, _ in Thread.sleep(forTimeInterval: 1.5) } }  // no result line
        let exit = Locked<Worker.Exit?>(nil)
        nonisolated(unsafe) let running = worker
        Thread.detachNewThread { exit.set(try? running.run()) }

        var peer: [UInt8] = [], assigned = false
        var results: [(TrialReport, Date)] = []
        let deadline = Date().addingTimeInterval(30)
        // Until half a resend interval after the first result: a second one by then is a double send.
        while Date() < deadline, results.first.map({ Date().timeIntervalSince($0.1) < 0.5 }) ?? true {
            guard Poller.wait([.socket(router)], timeout: 0.05)[0], let frames = router.receive() else { continue }
            peer = frames[0]
            switch try? Message(frames: frames.dropFirst()) {
            case .ready?:
                guard !assigned else { break }
                assigned = true
                router.send([peer] + Message.assign(Assign(trial: "t0", lease: 7, attempt: 1, config: "{}", sweep: "s")).frames())
            case .result(let r)?:
                results.append((r, Date()))
            case .heartbeat?:
                router.send([peer] + Message.heartbeat.frames())
            default:
                break
            }
        }
        XCTAssertEqual(results.map(\.0.status), [.failed], "one RESULT for the attempt")
        router.send([peer] + Message.shutdown(Notice(reason: "the sweep is finished")).frames())
        router.send([peer] + Message.ack(Ack(lease: 7, kind: .result, seq: nil)).frames())
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil })
        withExtendedLifetime(worker) {}
    }
}

final class WorkerFactsTests: XCTestCase {
    func testTheCPUModelAndItsVectorFlagsAreReadFromCpuinfo() {
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 ssse3 sse4_2 avx avx2 fma f16c bmi2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n"
        let (model, flags) = WorkerFacts.cpuDescription(x86)
        XCTAssertEqual(model, "AMD EPYC 7B13", "the first processor's")
        XCTAssertEqual(flags, ["sse", "sse2", "ssse3", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f"])
        let arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve\nCPU part\t: 0xd0c\n"
        XCTAssertEqual(WorkerFacts.cpuDescription(arm).model, "CPU part 0xd0c")
        XCTAssertEqual(WorkerFacts.cpuDescription(arm).flags, ["asimd", "sve"])
    }
}
