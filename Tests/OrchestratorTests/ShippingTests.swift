import Foundation
@testable import Orchestrator
import Sweep
import TestSupport
import TrialContract
@testable import Wire
import XCTest

/// Shipping inputs to workers that lack them: the coordinator's ``ContentServer``, the worker's
/// ``InputFetcher`` and ``TrialInputView`` on their own, then a real `Worker` fetching from a
/// coordinator played by the test (damaged pieces, a cut link).
final class ShippingTests: XCTestCase {
    let piece = 64 << 10

    /// A file of `size` bytes that are not all alike, with its pin.
    func pinnedFile(_ dir: URL, name: String = "big.bin", size: Int) throws -> (URL, PinnedFile, PinnedInput) {
        let url = dir.appendingPathComponent(name)
        try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }).write(to: url)
        let file = PinnedFile(name: url.path, path: url.path, size: Int64(size), mtime: try FileStamp(ofFileAt: url.path).mtime)
        return (url, file, PinnedInput(name: url.path, sha256: try ContentDigest.sha256(of: url), size: Int64(size)))
    }

    // MARK: The coordinator's side

    func testTheServerServesPinnedContentByHashOnlyAndRefusesWhatChanged() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, input) = try pinnedFile(dir, size: 3 * piece + 5)
        let server = ContentServer(files: [input.sha256: file])
        let last = server.piece(Fetch(sha256: input.sha256, offset: Int64(3 * piece), length: piece))
        XCTAssertNil(last.error)
        XCTAssertEqual(last.total, Int64(3 * piece + 5))
        XCTAssertEqual(last.data, Array(try Data(contentsOf: url).suffix(5)), "the last piece is what is left")
        XCTAssertEqual(last.digest, ContentDigest.sha256(of: last.data))
        let big = server.piece(Fetch(sha256: input.sha256, offset: 0, length: 64 << 20))
        XCTAssertEqual(big.data.count, min(WireProtocol.maxChunk, 3 * piece + 5), "a piece is at most maxChunk")
        XCTAssertEqual(server.piece(Fetch(sha256: String(repeating: "0", count: 64), offset: 0, length: 1)).error,
                       "no trial of this sweep, as last planned, reads content \(String(repeating: "0", count: 64))")
        XCTAssertTrue(server.piece(Fetch(sha256: input.sha256, offset: -1, length: 1)).error?.contains("is not in its") == true)

        // Touched but the same: served (it is hashed again). Other content: refused, saying what to do.
        let touched = dir.appendingPathComponent("touched.bin"), edited = dir.appendingPathComponent("edited.bin")
        try FileManager.default.copyItem(at: url, to: touched)
        try FileManager.default.copyItem(at: url, to: edited)
        var bytes = try Data(contentsOf: edited)
        bytes[7] ^= 1
        try bytes.write(to: edited)
        var moved = file, changed = file
        (moved.path, changed.path) = (touched.path, edited.path)
        XCTAssertNil(ContentServer(files: [input.sha256: moved]).piece(Fetch(sha256: input.sha256, offset: 0, length: 1)).error)
        let refusal = ContentServer(files: [input.sha256: changed]).piece(Fetch(sha256: input.sha256, offset: 0, length: 1)).error
        XCTAssertTrue(refusal?.contains("has changed since the sweep was planned; run `lpft sweep run` again") == true, refusal ?? "served")
    }

    func testAFileEditedInPlaceMidTransferIsRefusedNotServedMixedAndServedAgainOnceRestored() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, input) = try pinnedFile(dir, size: 3 * piece)
        let server = ContentServer(files: [input.sha256: file])
        let original = try Data(contentsOf: url)
        XCTAssertNil(server.piece(Fetch(sha256: input.sha256, offset: 0, length: piece)).error)

        // Edited in place, its descriptor still open: same size, a later mtime (set, as the
        // kernel's coarse clock may not move between two quick writes).
        func write(_ data: Data, mtime: Date) throws {
            let handle = try FileHandle(forWritingTo: url)
            try handle.write(contentsOf: data)
            try handle.close()
            try FileManager.default.setAttributes([.modificationDate: mtime], ofItemAtPath: url.path)
        }
        var edited = original
        edited[piece + 3] ^= 1
        try write(edited, mtime: Date(timeIntervalSinceNow: 10))
        let refused = server.piece(Fetch(sha256: input.sha256, offset: Int64(piece), length: piece))
        XCTAssertTrue(refused.error?.contains("has changed since the sweep was planned") == true, refused.error ?? "served the edited piece")

        // Put back: the next request looks again instead of repeating the refusal.
        try write(original, mtime: Date(timeIntervalSinceNow: 20))
        let served = server.piece(Fetch(sha256: input.sha256, offset: Int64(piece), length: piece))
        XCTAssertNil(served.error)
        XCTAssertEqual(served.data, Array(original[piece..<2 * piece]))
    }

    func testAPeerWithMoreRequestsWaitingThanItsShareHasTheRestDropped() throws {
        let dir = try temporaryDirectory(self)
        let (_, file, input) = try pinnedFile(dir, size: 4 * piece)
        let server = ContentServer(files: [input.sha256: file], queuedPerPeer: 16)
        let fetch = Fetch(sha256: input.sha256, offset: 0, length: piece)
        server.enqueue(Array(repeating: ([1], fetch), count: 1000) + Array(repeating: ([2], fetch), count: 3))
        XCTAssertEqual(server.dropped, 1000 - 16)
        var servedTo: [UInt8: Int] = [:]
        while server.isBusy { server.serve { peer, _ in servedTo[peer[0], default: 0] += 1 } }
        XCTAssertEqual(servedTo, [1: 16, 2: 3])
        // Once served, the peer may ask again.
        server.enqueue([([1], fetch)])
        XCTAssertEqual(server.dropped, 1000 - 16)
        XCTAssertTrue(server.isBusy)
    }

    func testTheServerSendsAtMostItsBudgetPerTurn() throws {
        let dir = try temporaryDirectory(self)
        let (_, file, input) = try pinnedFile(dir, size: 10 * piece)
        let server = ContentServer(files: [input.sha256: file], budget: 3 * piece)
        server.enqueue((0..<10).map { ([1], Fetch(sha256: input.sha256, offset: Int64($0 * piece), length: piece)) })
        var turns: [Int] = []
        while server.isBusy {
            var sent = 0
            server.serve { _, _ in sent += 1 }
            turns.append(sent)
        }
        XCTAssertEqual(turns, [3, 3, 3, 1], "three pieces a turn, the rest wait")
        XCTAssertEqual(server.bytesServed, Int64(10 * piece))
    }

    // MARK: The worker's side

    /// Runs `fetcher` against `server` until it reports, passing each piece through `damage`.
    func drive(_ fetcher: InputFetcher, _ server: ContentServer, stopAfter: Int = .max,
               damage: (inout Chunk) -> Void = { _ in }, asked: ((Fetch) -> Void)? = nil) -> InputFetcher.Event? {
        var served = 0
        while served < stopAfter {
            let requests = fetcher.requests(now: 0)
            guard !requests.isEmpty else { return nil }
            for f in requests {
                asked?(f)
                var chunk = server.piece(f)
                damage(&chunk)
                served += 1
                if let event = fetcher.receive(chunk, now: 0) { return event }
                if served >= stopAfter { return nil }
            }
        }
        return nil
    }

    func testAFetchIsVerifiedAndADamagedPieceIsAskedForAgain() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, input) = try pinnedFile(dir, size: 5 * piece + 1)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece, window: 3)
        var logged: [String] = []
        fetcher.log = { logged.append($0) }
        XCTAssertNil(try fetcher.fetch(input, now: 0))
        var asked: [Int64] = [], damaged = false
        let event = drive(fetcher, ContentServer(files: [input.sha256: file]), damage: { chunk in
            if chunk.offset == Int64(2 * piece), !damaged {
                damaged = true
                chunk.data[100] ^= 0x40
            }
        }, asked: { asked.append($0.offset / Int64(self.piece)) })
        XCTAssertEqual(event, .fetched(sha256: input.sha256))
        XCTAssertEqual(asked.filter { $0 == 2 }.count, 2, "the damaged piece was asked for twice: \(asked)")
        XCTAssertEqual(try Data(contentsOf: cache.url(of: input.sha256)), try Data(contentsOf: url))
        XCTAssertTrue(logged.contains { $0.contains("at \(2 * piece) arrived damaged") }, "\(logged)")
        XCTAssertTrue(fetcher.isIdle)
    }

    func testAFetchCutOffResumesWhereItStoodOnANewConnectionAndInANewProcess() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, input) = try pinnedFile(dir, size: 9 * piece + 3)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let server = ContentServer(files: [input.sha256: file])
        var fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece, window: 4)
        XCTAssertNil(try fetcher.fetch(input, now: 0))
        XCTAssertNil(drive(fetcher, server, stopAfter: 3))
        fetcher.connectionReset()  // the rest of the window is lost with the connection
        XCTAssertEqual(fetcher.requests(now: 0).first?.offset, Int64(3 * piece), "asked again from the first missing piece")

        // A new worker process on the same box takes up the partial file.
        fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece, window: 4)
        var logged: [String] = []
        fetcher.log = { logged.append($0) }
        XCTAssertNil(try fetcher.fetch(input, now: 0))
        var first: Int64?
        XCTAssertEqual(drive(fetcher, server, asked: { first = first ?? $0.offset }), .fetched(sha256: input.sha256))
        XCTAssertEqual(first, Int64(3 * piece))
        XCTAssertTrue(logged.first?.hasPrefix("resuming \(url.path) at 0.2 MB") == true, "\(logged)")
        XCTAssertEqual(try Data(contentsOf: cache.url(of: input.sha256)), try Data(contentsOf: url))
    }

    func testAPartialFileLeftWholeByACrashIsCommittedWithoutAFetch() throws {
        // A crash after the last write and before the rename, of a file whose size is a whole
        // number of pieces: nothing is left to ask for, so the fetch must end at once.
        let dir = try temporaryDirectory(self)
        let (url, _, input) = try pinnedFile(dir, size: 4 * piece)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let partial = cache.partialURL(of: input.sha256, worker: "w")
        try FileManager.default.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: url, to: partial)
        let fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece)
        XCTAssertEqual(try fetcher.fetch(input, now: 0), .fetched(sha256: input.sha256))
        XCTAssertTrue(fetcher.isIdle)
        XCTAssertTrue(fetcher.requests(now: 0).isEmpty)
        XCTAssertEqual(try Data(contentsOf: cache.url(of: input.sha256)), try Data(contentsOf: url))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: cache.url(of: input.sha256).path)[.posixPermissions] as? Int, 0o444)

        // Whole in size but other content: discarded at once, and the next fetch starts afresh.
        var other = input
        other.sha256 = String(repeating: "a", count: 64)
        let otherPartial = cache.partialURL(of: other.sha256, worker: "w")
        try FileManager.default.createDirectory(at: otherPartial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: url, to: otherPartial)
        guard case .failed(_, let reason)? = try fetcher.fetch(other, now: 0) else { return XCTFail("a whole partial of other content was taken") }
        XCTAssertTrue(reason.contains("has other content than the sweep pinned"), reason)
        XCTAssertFalse(cache.contains(other.sha256))
    }

    func testAPartialFileLongerThanTheContentIsFetchedAgainFromTheStart() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, input) = try pinnedFile(dir, size: 2 * piece + 5)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let partial = cache.partialURL(of: input.sha256, worker: "w")
        try FileManager.default.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(repeating: 7, count: 3 * piece).write(to: partial)
        let fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece)
        XCTAssertNil(try fetcher.fetch(input, now: 0))
        var first: Int64?
        XCTAssertEqual(drive(fetcher, ContentServer(files: [input.sha256: file]), asked: { first = first ?? $0.offset }), .fetched(sha256: input.sha256))
        XCTAssertEqual(first, 0)
        XCTAssertEqual(try Data(contentsOf: cache.url(of: input.sha256)), try Data(contentsOf: url))
    }

    func testAHashThatIsNotHexIsRefusedBeforeAnyFileIsMade() throws {
        let dir = try temporaryDirectory(self)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let fetcher = InputFetcher(cache: cache, worker: "w")
        XCTAssertThrowsError(try fetcher.fetch(PinnedInput(name: "x", sha256: "../../../../etc/" + String(repeating: "a", count: 48), size: 1), now: 0))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.root.path))
    }

    func testContentOtherThanThePinnedIsDiscardedAndNeverCached() throws {
        let dir = try temporaryDirectory(self)
        let (_, file, input) = try pinnedFile(dir, size: 2 * piece)
        // A coordinator whose copy changed behind a kept size and mtime (nothing it can see):
        // every piece is whole, the file is not the pinned one.
        var forged = input
        forged.sha256 = String(repeating: "e", count: 64)
        let cache = ContentCache(root: dir.appendingPathComponent("content"))
        let fetcher = InputFetcher(cache: cache, worker: "w", pieceSize: piece)
        XCTAssertNil(try fetcher.fetch(forged, now: 0))
        guard case .failed(_, let reason)? = drive(fetcher, ContentServer(files: [forged.sha256: file])) else { return XCTFail("not failed") }
        XCTAssertTrue(reason.contains("has other content than the sweep pinned"), reason)
        XCTAssertFalse(cache.contains(forged.sha256))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.partialURL(of: forged.sha256, worker: "w").path), "no partial left to resume from")
    }

    func testAViewPlacesHomeAndAbsoluteNamesAndMovesTheConfigsPathsIntoIt() throws {
        let dir = try temporaryDirectory(self)
        let copy = dir.appendingPathComponent("copy")
        try "x".write(to: copy, atomically: true, encoding: .utf8)
        let trial = TrialDirectory(dir.appendingPathComponent("trial"))
        let view = try TrialInputView.build(in: trial, files: [
            ("models/m/config.json", copy), ("/data/m/model.safetensors", copy), ("/srv/train.jsonl", copy),
        ])
        XCTAssertEqual(try String(contentsOf: view.home.appendingPathComponent("models/m/config.json"), encoding: .utf8), "x")
        XCTAssertEqual(try String(contentsOfFile: view.url.path + "/root/srv/train.jsonl", encoding: .utf8), "x")
        // A sampled rate has all its digits, and the view must keep every one: a config moved
        // by a digit trains at another rate, and its checkpoint's config would not match.
        let config = #"{"ft":{"lr":0.38471398952192276},"model":"/data/m","task":{"train":"/srv/train.jsonl","test":"/srv/other.jsonl"},"ood":["tweets"]}"#
        let rewritten = try view.rewrite(config: config, names: ["models/m/config.json", "/data/m/model.safetensors", "/srv/train.jsonl"])
        let object = try XCTUnwrap(TrialJSON.value(rewritten) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap((object["ft"] as? [String: Any])?["lr"] as? Double).bitPattern, 0.38471398952192276.bitPattern)
        XCTAssertEqual(object["model"] as? String, view.url.path + "/root/data/m")
        XCTAssertEqual((object["task"] as? [String: Any])?["train"] as? String, view.url.path + "/root/srv/train.jsonl")
        XCTAssertEqual((object["task"] as? [String: Any])?["test"] as? String, "/srv/other.jsonl", "not an input: left alone")
        XCTAssertEqual(object["ood"] as? [String], ["tweets"])
        // A checkpoint's config is the one any box has: the view's place taken off again.
        XCTAssertEqual(TrialJSON.value(trial.portable(configJSON: rewritten)) as? NSDictionary, TrialJSON.value(config) as? NSDictionary)
        XCTAssertThrowsError(try TrialInputView.build(in: TrialDirectory(dir.appendingPathComponent("t2")), files: [("../../etc/passwd", copy)])) {
            XCTAssertTrue("\($0)".contains("leaves the trial's input view"), "\($0)")
        }
    }

    // MARK: A real worker

    /// A real `Worker` (home `dir`/home, directory `dir`/w, trials run as /bin/false) on a
    /// thread, connected to the returned ROUTER, which the test plays the coordinator on.
    func startWorker(in dir: URL, liveness: Int) throws -> (router: ZeroMQSocket, worker: Worker, exit: Locked<Worker.Exit?>) {
        let workerDirectory = dir.appendingPathComponent("w")
        let context = ZeroMQContext()
        let endpoint = "ipc://\(dir.path)/c.ipc"
        let router = try ZeroMQSocket(context, .router)
        try router.bind(endpoint)
        var settings = WorkerSettings(endpoint: endpoint, name: "w", host: "h", directory: workerDirectory,
                                      runs: workerDirectory.appendingPathComponent("runs"), executable: "/bin/false")
        (settings.heartbeatInterval, settings.liveness, settings.home) = (0.05, liveness, LPFTHome(root: dir.appendingPathComponent("home")))
        let worker = try Worker(settings: settings, context: context)
        let exit = Locked<Worker.Exit?>(nil)
        nonisolated(unsafe) let running = worker
        Thread.detachNewThread { exit.set(try? running.run()) }
        return (router, worker, exit)
    }

    /// What the played coordinator says to any exchange: a RESULT is kept and ACKed, a
    /// heartbeat answered.
    func answer(_ message: Message?, from peer: [UInt8], on router: ZeroMQSocket, results: inout [TrialReport]) {
        switch message {
        case .result(let r)?:
            results.append(r)
            router.send([peer] + Message.ack(Ack(lease: r.lease, kind: .result, seq: nil)).frames())
        case .heartbeat?:
            router.send([peer] + Message.heartbeat.frames())
        default:
            break
        }
    }

    /// A coordinator played on `router` that assigns one trial at the first HELLO and holds each
    /// FETCH for the test to answer (or not); RESULTs are acknowledged and kept.
    final class HoldingCoordinator {
        let router: ZeroMQSocket
        let assign: Assign
        var peer: [UInt8] = [], hellos = 0, results: [TrialReport] = [], held: [Fetch] = []

        init(_ router: ZeroMQSocket, assigning assign: Assign) {
            self.router = router
            self.assign = assign
        }

        func serve(_ test: ShippingTests, until done: () -> Bool) {
            let deadline = Date().addingTimeInterval(30)
            while !done(), Date() < deadline {
                guard Poller.wait([.socket(router)], timeout: 0.05)[0], let frames = router.receive() else { continue }
                peer = frames[0]
                let message = try? Message(frames: frames.dropFirst())
                switch message {
                case .hello?:
                    hellos += 1
                    if hellos == 1 { send(.assign(assign)) }
                case .fetch(let f)?:
                    held.append(f)
                default:
                    test.answer(message, from: peer, on: router, results: &results)
                }
            }
        }

        func send(_ message: Message) { router.send([peer] + message.frames()) }
    }

    /// A worker that lacks a trial's input fetches it from the coordinator (played here on a
    /// ROUTER): a damaged piece is asked for again, and after the link is cut (the coordinator
    /// goes silent, then comes back on a new socket) the fetch goes on from where it stood.
    /// Then the trial starts on a view of the fetched file.
    func testAWorkerFetchesAMissingInputThroughADamagedPieceAndACutLink() throws {
        let dir = try temporaryDirectory(self)
        let (url, file, pinned) = try pinnedFile(dir, size: 40 * piece + 11)
        var input = pinned
        input.name = "/nowhere/on/this/box/big.bin"
        let server = ContentServer(files: [input.sha256: file])
        let (router, worker, exit) = try startWorker(in: dir, liveness: 10)
        let home = dir.appendingPathComponent("home"), workerDirectory = dir.appendingPathComponent("w")

        var peer: [UInt8] = [], fetches: [Fetch] = [], hellos: [Hello] = [], results: [TrialReport] = []
        var damaged = false
        let pieceSize = 256 << 10  // the worker's
        /// Plays the coordinator until `done`; a silent one (a cut link) reads and drops all but HELLO.
        func serve(silent: Bool = false, until done: () -> Bool) {
            let deadline = Date().addingTimeInterval(30)
            while !done(), Date() < deadline {
                guard Poller.wait([.socket(router)], timeout: 0.05)[0], let frames = router.receive() else { continue }
                peer = frames[0]
                let message = try? Message(frames: frames.dropFirst())
                if silent, case .hello? = message {} else if silent { continue }
                switch message {
                case .hello(let h)?:
                    hellos.append(h)
                    if hellos.count == 1 {
                        router.send([peer] + Message.assign(Assign(trial: "t1", lease: 1, attempt: 1, config: "{\"method\":\"ft\"}", sweep: "s", inputs: [input])).frames())
                    }
                case .fetch(let f)?:
                    fetches.append(f)
                    var chunk = server.piece(f)
                    if f.offset == Int64(5 * pieceSize), !damaged {
                        damaged = true
                        chunk.data[0] ^= 1
                    }
                    router.send([peer] + Message.chunk(chunk).frames())
                default:
                    answer(message, from: peer, on: router, results: &results)
                }
            }
        }
        serve { fetches.count >= 12 }
        XCTAssertEqual(fetches.filter { $0.offset == Int64(5 * pieceSize) }.count, 2, "the damaged piece was asked for again: \(fetches.map(\.offset))")
        // Cut: nothing from the coordinator gets through, until the worker gives up on the
        // connection and says HELLO on a new one; what was in flight is lost.
        let asked = fetches.count
        serve(silent: true) { hellos.count >= 2 }
        serve { fetches.count > asked }
        XCTAssertEqual(hellos.last?.held, [LeaseReference(trial: "t1", lease: 1)], "the waiting trial's lease is kept across the reconnect")
        let resumedAt = try XCTUnwrap(fetches.dropFirst(asked).first?.offset)
        XCTAssertGreaterThan(resumedAt, 0, "not from the start")
        XCTAssertEqual(resumedAt % Int64(pieceSize), 0)
        serve { !results.isEmpty }
        // The trial ran (as /bin/false, which fails) once its input had come, on a view of it.
        XCTAssertEqual(results.map(\.status), [.failed])
        XCTAssertEqual(results.first?.reason, "exit code 1")
        let cached = ContentCache(root: home.appendingPathComponent("content")).url(of: input.sha256)
        XCTAssertEqual(try Data(contentsOf: cached), try Data(contentsOf: url))
        let placed = workerDirectory.appendingPathComponent("runs/t1/inputs/root/nowhere/on/this/box/big.bin")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: placed.path), cached.path)
        XCTAssertLessThan(Set(fetches.map(\.offset)).count, fetches.count, "some pieces were asked for twice")
        XCTAssertEqual(Set(fetches.map(\.offset)), Set(stride(from: 0, to: Int64(40 * piece + 11), by: pieceSize)))
        router.send([peer] + Message.shutdown(Notice(reason: "the sweep is finished")).frames())
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil })
        withExtendedLifetime(worker) {}
    }

    /// A checkpoint one of whose files cannot be had is gone without as a whole: the trial
    /// starts over, and the transfer of its other file stops and leaves no partial file.
    func testACheckpointATrialGoesWithoutStopsComingAndLeavesNoPartialFile() throws {
        let dir = try temporaryDirectory(self)
        let (_, _, state) = try pinnedFile(dir, name: "state.json", size: piece / 2)
        let (_, _, tensors) = try pinnedFile(dir, name: "tensors.safetensors", size: 3 * piece)
        let name = "ft-epoch-1"
        let checkpoint = CheckpointManifest(name: name, files: [
            PinnedInput(name: "checkpoints/\(name)/state.json", sha256: state.sha256, size: state.size),
            PinnedInput(name: "checkpoints/\(name)/tensors.safetensors", sha256: tensors.sha256, size: tensors.size),
        ])
        // The coordinator's store lost the first file: asked for it, it refuses.
        let server = ContentServer(files: [:])
        let (router, worker, exit) = try startWorker(in: dir, liveness: 100)
        let cache = ContentCache(root: dir.appendingPathComponent("home/content"))
        let partial = cache.partialURL(of: tensors.sha256, worker: "w")

        let coordinator = HoldingCoordinator(router, assigning: Assign(trial: "t1", lease: 1, attempt: 2, config: "{}", sweep: "s", checkpoint: checkpoint))
        coordinator.serve(self) { Set(coordinator.held.map(\.sha256)) == [state.sha256, tensors.sha256] }
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial.path), "the second file's transfer had begun")
        for f in coordinator.held where f.sha256 == state.sha256 { coordinator.send(.chunk(server.piece(f))) }
        coordinator.serve(self) { !coordinator.results.isEmpty }
        // It ran (as /bin/false) without the checkpoint: nothing was placed in its directory.
        XCTAssertEqual(coordinator.results.map(\.status), [.failed])
        let runs = dir.appendingPathComponent("w/runs/t1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runs.appendingPathComponent("checkpoints/\(name)").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path), "the other file's transfer stopped and left no partial file")
        XCTAssertFalse(cache.contains(tensors.sha256))
        coordinator.send(.shutdown(Notice(reason: "the sweep is finished")))
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil })
        withExtendedLifetime(worker) {}
    }

    /// A trial handed back because an input cannot be had takes its checkpoint's transfers with
    /// it: they would hold the fetch window for a trial that is no longer here.
    func testATrialHandedBackForAnInputStopsItsCheckpointsTransfers() throws {
        let dir = try temporaryDirectory(self)
        let (_, _, pinned) = try pinnedFile(dir, name: "data.bin", size: piece / 2)
        var input = pinned
        input.name = "/nowhere/on/this/box/data.bin"
        let (_, _, tensors) = try pinnedFile(dir, name: "tensors.safetensors", size: 3 * piece)
        let name = "ft-epoch-1"
        let checkpoint = CheckpointManifest(name: name, files: [PinnedInput(name: "checkpoints/\(name)/tensors.safetensors", sha256: tensors.sha256, size: tensors.size)])
        // The coordinator's store has neither: asked for the input, it refuses.
        let server = ContentServer(files: [:])
        let (router, worker, exit) = try startWorker(in: dir, liveness: 100)
        let partial = ContentCache(root: dir.appendingPathComponent("home/content")).partialURL(of: tensors.sha256, worker: "w")

        let coordinator = HoldingCoordinator(router, assigning: Assign(trial: "t1", lease: 1, attempt: 2, config: "{}", sweep: "s", inputs: [input], checkpoint: checkpoint))
        coordinator.serve(self) { Set(coordinator.held.map(\.sha256)) == [input.sha256, tensors.sha256] }
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial.path), "the checkpoint's transfer had begun")
        for f in coordinator.held where f.sha256 == input.sha256 { coordinator.send(.chunk(server.piece(f))) }
        coordinator.serve(self) { !coordinator.results.isEmpty }
        XCTAssertEqual(coordinator.results.map(\.status), [.interrupted], "handed back, uncharged")
        XCTAssertEqual(coordinator.results.first?.notStarted, true)
        XCTAssertTrue(eventually(timeout: 10) { !FileManager.default.fileExists(atPath: partial.path) }, "the checkpoint's transfer stopped and left no partial file")
        coordinator.send(.shutdown(Notice(reason: "the sweep is finished")))
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil })
        withExtendedLifetime(worker) {}
    }

    func testAStagedTrialIsDroppedWhenCancelledAndHandedBackWhenTheWorkerStops() throws {
        let dir = try temporaryDirectory(self)
        let (_, _, pinned) = try pinnedFile(dir, size: 2 * piece)
        var input = pinned
        input.name = "/nowhere/on/this/box/big.bin"
        let (router, worker, exit) = try startWorker(in: dir, liveness: 100)

        // A coordinator that never serves a piece: both trials stay staged.
        var peer: [UInt8] = [], hellos: [Hello] = [], fetches = 0, results: [TrialReport] = []
        func serve(until done: () -> Bool) {
            let deadline = Date().addingTimeInterval(30)
            while !done(), Date() < deadline {
                guard Poller.wait([.socket(router)], timeout: 0.05)[0], let frames = router.receive() else { continue }
                peer = frames[0]
                switch try? Message(frames: frames.dropFirst()) {
                case .hello(let h)?:
                    hellos.append(h)
                    guard hellos.count == 1 else { break }
                    for lease in [Int64(1), 2] {
                        router.send([peer] + Message.assign(Assign(trial: "t\(lease)", lease: lease, attempt: 1, config: "{}", sweep: "s", inputs: [input])).frames())
                    }
                case .fetch?: fetches += 1
                case .result(let r)?: results.append(r)
                default: break
                }
            }
        }
        serve { fetches > 0 && hellos.count == 1 }
        router.send([peer] + Message.cancel(Cancel(lease: 1, reason: "runs elsewhere")).frames())
        // Asked to say HELLO again, the worker holds only the trial still waiting.
        router.send([peer] + Message.reconnect(Notice(reason: "the coordinator restarted")).frames())
        serve { hellos.count >= 2 }
        XCTAssertEqual(hellos.last?.held, [LeaseReference(trial: "t2", lease: 2)], "the cancelled staged trial is dropped")
        // It asks again for the pieces lost with the old session, not only after a stall.
        let before = fetches
        serve { fetches > before }
        XCTAssertGreaterThan(fetches, before)

        router.send([peer] + Message.shutdown(Notice(reason: "the sweep is finished")).frames())
        serve { !results.isEmpty && exit.value != nil }
        XCTAssertEqual(results.map(\.lease), [2], "only the waiting trial is reported, and never the cancelled one")
        XCTAssertEqual(results.first?.status, .interrupted, "handed back uncharged")
        XCTAssertTrue(eventually(timeout: 10) { exit.value != nil })
        withExtendedLifetime(worker) {}
    }
}
