import Foundation
@testable import Orchestrator
import Sweep
import TestSupport
import TrialContract
@testable import Wire
import XCTest

/// The coordinator's side of travelling checkpoints on its own: ``CheckpointUploads``
/// fetching from a worker's ``ContentServer`` played by the test.
final class CheckpointUploadsTests: XCTestCase {
    let worker: Dispatcher.Peer = Array("w".utf8)

    /// A checkpoint `epoch-1` of `size` bytes of tensors in a trial directory under `dir`,
    /// the server that serves it, and its offer.
    func checkpoint(_ dir: URL, size: Int = 600_000, lease: Lease = 7) throws -> (ContentServer, Offer) {
        let folder = dir.appendingPathComponent("trial/checkpoints/epoch-1")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{\"epoch\":1}".utf8).write(to: folder.appendingPathComponent("state.json"))
        try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }).write(to: folder.appendingPathComponent("tensors.safetensors"))
        let (manifest, files) = try CheckpointHasher.manifest("epoch-1", in: TrialDirectory(dir.appendingPathComponent("trial")))
        let server = ContentServer(files: Dictionary(uniqueKeysWithValues: zip(manifest.files.map(\.sha256), files)), owner: "worker w")
        return (server, Offer(trial: "t", lease: lease, checkpoint: manifest))
    }

    /// Runs the exchange until an upload ends; `damage` may alter each piece on its way.
    func exchange(_ uploads: CheckpointUploads, _ server: ContentServer, now: Double = 0,
                  damage: (inout Chunk) -> Void = { _ in }) -> [CheckpointUploads.Event] {
        for _ in 0..<1000 {
            for (peer, fetch) in uploads.requests(now: now) {
                XCTAssertEqual(peer, worker, "pieces are asked of the worker that offered them")
                var chunk = server.piece(fetch)
                damage(&chunk)
                let events = uploads.receive(chunk, from: peer, now: now)
                if !events.isEmpty { return events }
            }
        }
        XCTFail("the upload never ended")
        return []
    }

    func testAnOfferIsFetchedVerifiedAndStoredThroughADamagedPiece() throws {
        let dir = try temporaryDirectory(self)
        let (server, offer) = try checkpoint(dir)
        XCTAssertEqual(offer.checkpoint.files.map(\.name), ["checkpoints/epoch-1/state.json", "checkpoints/epoch-1/tensors.safetensors"])
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        XCTAssertEqual(uploads.take(offer, from: worker, now: 0), [])
        var damaged = false
        let events = exchange(uploads, server) { chunk in
            if !damaged, chunk.offset > 0 {
                chunk.data[0] ^= 1
                damaged = true
            }
        }
        XCTAssertTrue(damaged)
        XCTAssertEqual(events, [.stored(offer, from: worker)], "the damaged piece was asked for again")
        for file in offer.checkpoint.files {
            XCTAssertEqual(try ContentDigest.sha256(of: uploads.store.url(of: file.sha256)), file.sha256)
        }
        XCTAssertEqual(uploads.take(offer, from: worker, now: 1), [.stored(offer, from: worker)], "already whole: nothing to fetch")
        XCTAssertEqual(uploads.collect(keeping: [offer.checkpoint]), 0, "kept while its trial needs it")
        XCTAssertEqual(uploads.collect(keeping: []), offer.checkpoint.bytes, "removed once it does not")
        XCTAssertFalse(offer.checkpoint.files.contains { uploads.store.contains($0.sha256) })
    }

    func testContentOtherThanOfferedIsNeverStored() throws {
        let dir = try temporaryDirectory(self)
        var (server, offer) = try checkpoint(dir)
        // The worker names one hash and serves other bytes under it.
        let liar = offer.checkpoint.files[1].sha256
        let other = String(repeating: "e", count: 64)
        offer.checkpoint.files[1].sha256 = other
        server.add(PinnedFile(name: "x", path: dir.appendingPathComponent("trial/checkpoints/epoch-1/tensors.safetensors").path,
                              size: offer.checkpoint.files[1].size!, mtime: try FileStamp(ofFileAt: dir.appendingPathComponent("trial/checkpoints/epoch-1/tensors.safetensors").path).mtime),
                   as: other)
        XCTAssertNotEqual(liar, other)
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        _ = uploads.take(offer, from: worker, now: 0)
        var events: [CheckpointUploads.Event] = []
        while uploads.isBusy, events.allSatisfy({ if case .failed = $0 { false } else { true } }) { events += exchange(uploads, server) }
        guard case .failed(_, _, let reason)? = events.last else { return XCTFail("\(events)") }
        XCTAssertTrue(reason.contains("other content"), reason)
        XCTAssertFalse(uploads.store.contains(other))
        XCTAssertFalse(uploads.isBusy, "the offer's other transfers are cancelled")
    }

    func testAnOfferNamingFilesOutsideItsCheckpointOrTooBigIsRefusedUnfetched() throws {
        let dir = try temporaryDirectory(self)
        let (_, offer) = try checkpoint(dir)
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        for name in ["../../etc/passwd", "checkpoints/epoch-1/../../x", "checkpoints/epoch-2/state.json", "checkpoints/epoch-1/.hidden", "/etc/passwd"] {
            var hostile = offer
            hostile.checkpoint.files[0].name = name
            guard case .failed(_, _, let reason)? = uploads.take(hostile, from: worker, now: 0).first else { return XCTFail(name) }
            XCTAssertTrue(reason.contains("is not a file of checkpoint epoch-1"), reason)
        }
        var huge = offer
        huge.checkpoint.files[1].size = CheckpointUploads.maxBytes
        guard case .failed(_, _, let reason)? = uploads.take(huge, from: worker, now: 0).first else { return XCTFail("taken") }
        XCTAssertTrue(reason.contains("more than the"), reason)
        XCTAssertTrue(uploads.requests(now: 0).isEmpty, "nothing asked for")
    }

    func testANewerOfferReplacesTheUploadUnderWay() throws {
        let dir = try temporaryDirectory(self)
        let (server, offer) = try checkpoint(dir)
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        _ = uploads.take(offer, from: worker, now: 0)
        XCTAssertFalse(uploads.requests(now: 0).isEmpty)
        var newer = offer
        newer.checkpoint.name = "epoch-2"
        newer.checkpoint.files = [PinnedInput(name: "checkpoints/epoch-2/state.json", sha256: offer.checkpoint.files[0].sha256, size: offer.checkpoint.files[0].size)]
        XCTAssertEqual(uploads.take(newer, from: worker, now: 1), [])
        let events = exchange(uploads, server, now: 1)
        XCTAssertEqual(events, [.stored(newer, from: worker)])
        XCTAssertFalse(uploads.isBusy, "the older one's transfer was dropped")
        XCTAssertFalse(uploads.store.contains(offer.checkpoint.files[1].sha256))
    }

    func testAnEarlierAttemptsOfferNeverReplacesALaterOnesAndAGoneWorkersUploadIsDropped() throws {
        let dir = try temporaryDirectory(self)
        let (_, later) = try checkpoint(dir, lease: 9)
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        _ = uploads.take(later, from: worker, now: 0)
        var earlier = later
        earlier.lease = 7
        guard case .failed(_, _, let reason)? = uploads.take(earlier, from: Array("old".utf8), now: 1).first else { return XCTFail("replaced") }
        XCTAssertTrue(reason.contains("later attempt"), reason)
        XCTAssertTrue(uploads.isBusy)
        uploads.dropUploads { $0 != worker }
        XCTAssertFalse(uploads.isBusy, "its worker is gone: the pieces will not come")
        XCTAssertTrue(uploads.requests(now: 2).isEmpty)
    }

    func testStalePartialFilesAreCollectedAndSizesThatOverflowAreRefused() throws {
        let dir = try temporaryDirectory(self)
        let (_, offer) = try checkpoint(dir)
        let uploads = CheckpointUploads(directory: dir.appendingPathComponent("sweep"))
        let stale = uploads.store.url(of: String(repeating: "b", count: 64)).appendingPathExtension("partial-coordinator")
        try FileManager.default.createDirectory(at: stale.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(count: 1000).write(to: stale)
        XCTAssertEqual(uploads.collect(keeping: []), 1000, "left by an upload that failed or was abandoned")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))

        var huge = offer
        huge.checkpoint.files[0].size = Int64.max / 2 + 1
        huge.checkpoint.files[1].size = Int64.max / 2 + 1
        XCTAssertEqual(huge.checkpoint.bytes, .max, "saturates rather than trapping")
        guard case .failed(_, _, let reason)? = uploads.take(huge, from: worker, now: 0).first else { return XCTFail("taken") }
        XCTAssertTrue(reason.contains("more than the"), reason)
    }
}
