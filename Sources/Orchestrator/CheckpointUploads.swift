import Foundation
import Sweep
import TrialContract
import Wire

/// The coordinator's side of travelling checkpoints: it fetches what workers OFFER into a
/// store beside the journal, by content, so that a retry of the trial on any worker can
/// resume from it.
///
/// This is input shipping turned round: the coordinator runs an ``InputFetcher`` (pieces asked
/// for in order, at most `window` in flight across all uploads, each piece's digest and the
/// whole file's hash checked, a partial file never used), and the worker a ``ContentServer``.
/// So an upload takes at most `window` pieces of the connection at a time and dispatch,
/// metrics and results pass between them.
///
/// The store is `<sweep>/checkpoints/sha256/<2>/<hash>` (``ContentCache``'s layout). It holds
/// at most one checkpoint per unfinished trial, the newest whole one (the journal's
/// `checkpoints` table names it), plus the one being uploaded: an older one goes once a newer
/// one is stored, and a trial's once the trial has finished (``collect(keeping:)``).
final class CheckpointUploads {
    typealias Peer = Dispatcher.Peer

    enum Event: Equatable {
        /// Every file of the offer is in the store, verified.
        case stored(Offer, from: Peer)
        /// It cannot be had: why (the offer is dropped; the worker's next checkpoint is offered anew).
        case failed(Offer, from: Peer, reason: String)
    }

    /// A checkpoint larger than this is refused (an offer is a worker's word, and the store
    /// is the coordinator's disk): 16 GiB, above any model `lpft` trains (BENCHMARKS.md).
    static let maxBytes: Int64 = 16 << 30

    let store: ContentCache
    private let fetcher: InputFetcher
    /// The upload under way for each trial, and the hashes it still waits for.
    private var uploads: [String: (peer: Peer, offer: Offer, waiting: Set<String>)] = [:]
    /// Which peer a hash is fetched from.
    private var source: [String: Peer] = [:]
    /// Said as uploads start and end.
    var log: (String) -> Void = { _ in } {
        didSet { fetcher.log = log }
    }

    init(directory: URL, window: Int = 8) {
        store = ContentCache(root: directory.appendingPathComponent("checkpoints"))
        fetcher = InputFetcher(cache: store, worker: "coordinator", window: window)
        fetcher.source = "its worker"
    }

    /// Whether pieces are being fetched.
    var isBusy: Bool { !fetcher.isIdle }

    /// Starts fetching `offer`'s files the store lacks; a newer offer for the same trial
    /// replaces one under way. The same offer again (its worker reconnected) goes on from
    /// where it stands, on the new connection.
    func take(_ offer: Offer, from peer: Peer, now: Double) -> [Event] {
        if let reason = Self.problem(with: offer) { return [.failed(offer, from: peer, reason: reason)] }
        if let current = uploads[offer.trial] {
            // A fenced attempt's late offer never replaces its retry's.
            if current.offer.lease > offer.lease { return [.failed(offer, from: peer, reason: "a later attempt's checkpoint is being uploaded")] }
            if current.offer == offer {
                uploads[offer.trial]!.peer = peer
                current.waiting.forEach { source[$0] = peer }
                fetcher.connectionReset()
                return []
            }
            drop(offer.trial)
        }
        let waiting = Set(offer.checkpoint.files.map(\.sha256).filter { !store.contains($0) })
        guard !waiting.isEmpty else { return [.stored(offer, from: peer)] }
        uploads[offer.trial] = (peer, offer, waiting)
        var events: [Event] = []
        for file in offer.checkpoint.files where waiting.contains(file.sha256) && uploads[offer.trial] != nil {
            source[file.sha256] = peer
            do {
                if let ended = try fetcher.fetch(file, now: now) { events += settle(ended) }
            } catch {
                drop(offer.trial)
                return events + [.failed(offer, from: peer, reason: "\(error)")]
            }
        }
        return events
    }

    /// Why `offer` is not taken, or nil: its names must be a checkpoint's files (a name from
    /// the wire becomes a path on the worker that fetches it) and its size within `maxBytes`.
    static func problem(with offer: Offer) -> String? {
        let c = offer.checkpoint
        guard !c.files.isEmpty else { return "checkpoint \(c.name) has no files" }
        for file in c.files {
            guard TrialDirectory.isCheckpointFile(file.name, of: c.name) else { return "\(String(reflecting: file.name)) is not a file of checkpoint \(c.name)" }
            guard ContentCache.isDigest(file.sha256), let size = file.size, size >= 0 else { return "\(file.name): no SHA-256 and size" }
            guard size <= maxBytes else { return "\(file.name) is \(size) bytes, more than the \(maxBytes) a coordinator keeps" }
        }
        return c.bytes > maxBytes ? "checkpoint \(c.name) is \(c.bytes) bytes, more than the \(maxBytes) a coordinator keeps" : nil
    }

    /// The FETCHes due now, each for the peer that offered its content.
    func requests(now: Double) -> [(Peer, Fetch)] {
        fetcher.checkStalls(now: now)
        return fetcher.requests(now: now).compactMap { f in source[f.sha256].map { ($0, f) } }
    }

    /// Takes a piece from `peer`; only the peer an upload fetches from is heard.
    func receive(_ chunk: Chunk, from peer: Peer, now: Double) -> [Event] {
        guard source[chunk.sha256] == peer, let ended = fetcher.receive(chunk, now: now) else { return [] }
        return settle(ended)
    }

    /// What an ended transfer means for the uploads that waited for it: stored once nothing
    /// else is awaited, or failed (their other transfers cancelled).
    private func settle(_ ended: InputFetcher.Event) -> [Event] {
        var events: [Event] = []
        switch ended {
        case .fetched(let sha256):
            source[sha256] = nil
            for (trial, upload) in uploads where upload.waiting.contains(sha256) {
                uploads[trial]!.waiting.remove(sha256)
                if uploads[trial]!.waiting.isEmpty {
                    uploads[trial] = nil
                    events.append(.stored(upload.offer, from: upload.peer))
                }
            }
        case .failed(let sha256, let reason):
            source[sha256] = nil
            for (trial, upload) in uploads where upload.waiting.contains(sha256) {
                drop(trial, except: sha256)
                events.append(.failed(upload.offer, from: upload.peer, reason: reason))
            }
        }
        return events
    }

    /// Gives up the uploads from peers `isConnected` no longer knows (a worker lost, or gone
    /// after its grace): their pieces will not come, and they would hold the window.
    func dropUploads(unless isConnected: (Peer) -> Bool) {
        for (trial, upload) in uploads where !isConnected(upload.peer) {
            log("giving up checkpoint \(upload.offer.checkpoint.name) of trial \(trial): its worker is gone")
            drop(trial)
        }
    }

    /// Gives up the trial's upload under way.
    func drop(_ trial: String, except ended: String? = nil) {
        guard let upload = uploads.removeValue(forKey: trial) else { return }
        for sha256 in upload.waiting where sha256 != ended {
            fetcher.cancel(sha256)
            source[sha256] = nil
        }
    }

    /// Removes from the store every file that none of `keeping` (the checkpoints in use) names
    /// and no upload under way fetches, and partial files no upload under way writes (a failed
    /// or abandoned one); returns the bytes freed.
    @discardableResult
    func collect(keeping: some Sequence<CheckpointManifest>) -> Int64 {
        var kept = Set(keeping.flatMap { $0.files.map(\.sha256) })
        for upload in uploads.values { kept.formUnion(upload.offer.checkpoint.files.map(\.sha256)) }
        let fm = FileManager.default
        let root = store.root.appendingPathComponent("sha256")
        var freed: Int64 = 0
        for prefix in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] {
            let directory = root.appendingPathComponent(prefix)
            for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where !kept.contains(String(name.prefix(64))) {
                let file = directory.appendingPathComponent(name)
                freed += ((try? fm.attributesOfItem(atPath: file.path)[.size]) as? NSNumber)?.int64Value ?? 0
                try? fm.removeItem(at: file)
            }
        }
        return freed
    }
}
