import Crypto
import Foundation
import Sweep
import Wire

/// The worker's side of shipping: fetches the pinned inputs its trials lack from the
/// coordinator, over the connection it already has, into the box's ``ContentCache``.
///
/// Pieces are asked for in order with at most `window` FETCHes in flight across all transfers,
/// so the coordinator's other messages (ASSIGN, ACK, heartbeats) never queue behind more than
/// that many pieces, and memory stays bounded whatever the file's size. A piece is taken only
/// if it is the next one and its digest matches: a damaged one is asked for again (three in
/// a row fail the transfer). The file's hash is kept up as pieces arrive and checked at the
/// end; only then does the file enter the cache. A reconnect, or pieces that stop coming, asks
/// again from where the file stands; a worker restarted on the same box resumes its partial
/// file from the last whole piece (anything wrong in it is caught by the final hash).
package final class InputFetcher {
    package enum Event: Equatable {
        /// The content is in the cache, verified.
        case fetched(sha256: String)
        /// It cannot be had: why.
        case failed(sha256: String, reason: String)
    }

    let cache: ContentCache
    let worker: String
    let pieceSize: Int
    let window: Int
    /// Pieces in flight that do not come for this long are asked for again.
    let stallTimeout: Double
    /// Said as transfers start, resume and end (`worker NAME: …` is added by the worker).
    var log: (String) -> Void = { _ in }
    /// Who serves the pieces, for those messages: the coordinator, or (for a checkpoint the
    /// coordinator fetches) a worker.
    var source = "the coordinator"

    private final class Transfer {
        let input: PinnedInput
        let partial: URL
        let handle: FileHandle
        var total: Int64?
        /// The verified prefix already written.
        var received: Int64
        /// Offsets asked for and not yet taken, oldest first.
        var inFlight: [Int64] = []
        var hasher = SHA256()
        var damagedInARow = 0
        var lastProgress: Double
        let startedAt: Double
        let resumedAt: Int64

        init(input: PinnedInput, partial: URL, handle: FileHandle, received: Int64, now: Double) {
            (self.input, self.partial, self.handle, self.received, total) = (input, partial, handle, received, input.size)
            (lastProgress, startedAt, resumedAt) = (now, now, received)
        }
    }

    private var transfers: [String: Transfer] = [:]
    /// Hashes in the order their transfers began: pieces are asked for the oldest first.
    private var order: [String] = []
    package private(set) var bytesReceived: Int64 = 0

    package init(cache: ContentCache, worker: String, pieceSize: Int = 256 << 10, window: Int = 8, stallTimeout: Double = 30) {
        (self.cache, self.worker, self.pieceSize, self.window, self.stallTimeout) = (cache, worker, min(pieceSize, WireProtocol.maxChunk), window, stallTimeout)
    }

    deinit { transfers.values.forEach { try? $0.handle.close() } }

    package var isIdle: Bool { transfers.isEmpty }

    /// Starts fetching `input` unless it is under way; a partial file this worker left earlier
    /// is taken up from its last whole piece. Returns how the transfer ended if it needs no
    /// piece at all: a partial file already whole (left by a crash before its rename).
    package func fetch(_ input: PinnedInput, now: Double) throws -> Event? {
        guard transfers[input.sha256] == nil else { return nil }
        guard ContentCache.isDigest(input.sha256) else { throw WorkerError("\(input.name): \(String(reflecting: input.sha256)) is not a SHA-256 in hex") }
        let partial = cache.partialURL(of: input.sha256, worker: worker)
        let fm = FileManager.default
        try fm.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !fm.fileExists(atPath: partial.path) {
            guard fm.createFile(atPath: partial.path, contents: nil) else { throw WorkerError("cannot create \(partial.path)") }
        }
        let handle = try FileHandle(forUpdating: partial)
        let length = Int64(try handle.seekToEnd())
        let kept: Int64
        if let size = input.size, length >= size {
            kept = length == size ? size : 0  // whole; or longer than the content, so not a prefix of it
        } else {
            kept = length - length % Int64(pieceSize)
        }
        try handle.truncate(atOffset: UInt64(kept))
        let transfer = Transfer(input: input, partial: partial, handle: handle, received: kept, now: now)
        if kept > 0 {
            try handle.seek(toOffset: 0)
            while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty { transfer.hasher.update(data: piece) }
            log("resuming \(input.name) at \(Self.megabytes(kept)) of \(input.size.map(Self.megabytes) ?? "?") from an earlier fetch")
        } else {
            log("fetching \(input.name) (\(input.size.map(Self.megabytes) ?? "size unknown")) from \(source)")
        }
        transfers[input.sha256] = transfer
        order.append(input.sha256)
        return kept > 0 && kept == input.size ? complete(transfer, now: now) : nil
    }

    /// The FETCHes to send now: the oldest transfers' next pieces, up to the window.
    package func requests(now: Double) -> [Fetch] {
        var inFlight = transfers.values.reduce(0) { $0 + $1.inFlight.count }
        var fetches: [Fetch] = []
        for sha256 in order where inFlight < window {
            let t = transfers[sha256]!
            // Stalls count from when pieces were first asked for after none were (a reset).
            if t.inFlight.isEmpty { t.lastProgress = now }
            while inFlight < window, let offset = nextOffset(t) {
                t.inFlight.append(offset)
                inFlight += 1
                fetches.append(Fetch(sha256: sha256, offset: offset, length: pieceSize))
            }
        }
        return fetches
    }

    private func nextOffset(_ t: Transfer) -> Int64? {
        let next = t.inFlight.last.map { $0 + Int64(pieceSize) } ?? t.received
        guard let total = t.total else { return t.inFlight.isEmpty ? next : nil }  // its size comes with the first piece
        return next < total || (next == 0 && t.inFlight.isEmpty) ? next : nil
    }

    /// Takes a piece; says when a transfer has ended either way.
    package func receive(_ chunk: Chunk, now: Double) -> Event? {
        guard let t = transfers[chunk.sha256] else { return nil }  // a transfer that has ended
        if let error = chunk.error { return end(t, failure: "\(source) says: \(error)") }
        // Only the next piece is taken; others were asked for before a re-ask and come again.
        guard chunk.offset == t.received, t.inFlight.first == chunk.offset else { return nil }
        let expected = Int(min(Int64(pieceSize), chunk.total - chunk.offset))
        guard chunk.total >= 0, t.total == nil || t.total == chunk.total, chunk.data.count == expected,
              ContentDigest.sha256(of: chunk.data) == chunk.digest else {
            t.damagedInARow += 1
            if t.damagedInARow >= 3 { return end(t, failure: "3 pieces in a row at \(chunk.offset) arrived damaged") }
            log("a piece of \(t.input.name) at \(chunk.offset) arrived damaged (digest or size wrong); asking for it again")
            t.inFlight.removeAll()
            return nil
        }
        do { try t.handle.write(contentsOf: chunk.data) } catch {
            return end(t, failure: "cannot write \(t.partial.path): \(error.localizedDescription)")
        }
        t.hasher.update(data: chunk.data)
        (t.total, t.damagedInARow, t.lastProgress) = (chunk.total, 0, now)
        t.received += Int64(chunk.data.count)
        t.inFlight.removeFirst()
        bytesReceived += Int64(chunk.data.count)
        return t.received == chunk.total ? complete(t, now: now) : nil
    }

    /// Gives up fetching `sha256` (no longer wanted), leaving no partial file: a transfer
    /// under way stops, and the partial file an ended one kept (for a later fetch to take up)
    /// goes too.
    func cancel(_ sha256: String) {
        if let t = transfers[sha256] { _ = end(t, event: .failed(sha256: sha256, reason: "cancelled")) }
        guard ContentCache.isDigest(sha256) else { return }
        try? FileManager.default.removeItem(at: cache.partialURL(of: sha256, worker: worker))
    }

    /// The connection was replaced: what was in flight on it will not come.
    func connectionReset() {
        transfers.values.forEach { $0.inFlight.removeAll() }
    }

    /// Asks again for pieces that have stopped coming (a coordinator that dropped requests).
    func checkStalls(now: Double) {
        for t in transfers.values where !t.inFlight.isEmpty && now - t.lastProgress > stallTimeout {
            log("no piece of \(t.input.name) for \(Int(now - t.lastProgress)) s; asking again from \(Self.megabytes(t.received))")
            t.inFlight.removeAll()
            t.lastProgress = now
        }
    }

    private func complete(_ t: Transfer, now: Double) -> Event {
        let digest = t.hasher.finalize().hexDigits
        guard digest == t.input.sha256 else {
            try? FileManager.default.removeItem(at: t.partial)
            return end(t, failure: "the fetched \(t.input.name) has other content than the sweep pinned (sha256 \(digest.prefix(12)), not \(t.input.sha256.prefix(12))); discarded")
        }
        do {
            try t.handle.synchronize()
            try cache.commit(t.partial, as: t.input.sha256)
        } catch { return end(t, failure: "\(error)") }
        let seconds = max(now - t.startedAt, 1e-3), bytes = t.received - t.resumedAt
        log(String(format: "fetched %@ (%@) in %.1f s, %.1f MB/s", t.input.name, Self.megabytes(t.received), seconds, Double(bytes) / seconds / 1e6))
        return end(t, event: .fetched(sha256: t.input.sha256))
    }

    private func end(_ t: Transfer, failure reason: String) -> Event {
        log("cannot fetch \(t.input.name): \(reason)")
        return end(t, event: .failed(sha256: t.input.sha256, reason: "cannot fetch \(t.input.name): \(reason)"))
    }

    private func end(_ t: Transfer, event: Event) -> Event {
        try? t.handle.close()
        transfers[t.input.sha256] = nil
        order.removeAll { $0 == t.input.sha256 }
        return event
    }

    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
