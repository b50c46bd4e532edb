import Foundation
import Sweep
import Wire

/// The coordinator's side of shipping: serves the sweep's pinned inputs to workers that lack
/// them, one piece per FETCH, over the coordinator's own socket (CURVE covers it; no second
/// port is opened).
///
/// A worker asks by content hash, never by path, so it can read only what some trial of this
/// sweep is pinned to. Before a file's first piece this run, its size and modification time
/// are compared with those it was hashed at; if they differ it is hashed again, and content
/// that changed is refused (the worker hands its trial back). Every piece checks the open file
/// is as it was then, so a file edited in place mid-transfer is checked again, not served
/// mixed. At most `budget` bytes are read per turn, oldest request first, so a transfer never
/// holds up dispatch. A worker keeps a few pieces in flight; a peer with more than
/// `queuedPerPeer` waiting has the rest dropped (its fetcher asks again when they do not come),
/// so the queue stays small whatever the files' size or a peer's manners.
///
/// A worker runs one too, the other way round: it serves its trials' checkpoints, as offered,
/// to the coordinator that fetches them (``CheckpointUploads``).
final class ContentServer {
    typealias Peer = Dispatcher.Peer

    /// Bytes read and sent per coordinator turn at most.
    let budget: Int
    /// Requests one peer may have waiting (a fetcher keeps 8 in flight).
    let queuedPerPeer: Int
    private var files: [String: PinnedFile]
    /// What a request for content not served here is told, before the hash.
    private let unknown: String
    /// Who serves, for refusals: the coordinator, or a worker serving checkpoints.
    private let owner: String
    /// What a request for a file whose content changed is told, after its name: since when, and what to do.
    private let changed: String
    /// Files checked this run, by hash: the open descriptor and the file's stamp when checked.
    private var open: [String: (fd: Int32, stamp: FileStamp)] = [:]
    /// Why a file cannot be served, and its stamp when that was found (a new stamp looks again).
    private var refusals: [String: (stamp: FileStamp?, reason: String)] = [:]
    private var queue: [(Peer, Fetch)] = []
    private var head = 0
    private var queuedBy: [Peer: Int] = [:]
    private(set) var bytesServed: Int64 = 0
    /// Requests dropped because their peer had `queuedPerPeer` waiting.
    private(set) var dropped = 0

    init(files: [String: PinnedFile], budget: Int = 8 << 20, queuedPerPeer: Int = 64,
         owner: String = "the coordinator", unknown: String = "no trial of this sweep, as last planned, reads content",
         changed: String = "since the sweep was planned; run `lpft sweep run` again to plan with it") {
        (self.files, self.budget, self.queuedPerPeer, self.owner, self.unknown, self.changed) = (files, budget, queuedPerPeer, owner, unknown, changed)
    }

    /// Serves `file` (whose content is `sha256`) from now on.
    func add(_ file: PinnedFile, as sha256: String) {
        files[sha256] = file
    }

    /// Serves `sha256` no more; its open descriptor is closed.
    func remove(_ sha256: String) {
        files[sha256] = nil
        refusals[sha256] = nil
        if let (fd, _) = open.removeValue(forKey: sha256) { close(fd) }
    }

    deinit { open.values.forEach { close($0.fd) } }

    /// Whether requests wait: the coordinator's next turn should not sleep.
    var isBusy: Bool { head < queue.count }

    func enqueue(_ fetches: [(Peer, Fetch)]) {
        for (peer, fetch) in fetches {
            let queued = queuedBy[peer, default: 0]
            guard queued < queuedPerPeer else {
                dropped += 1
                continue
            }
            queuedBy[peer] = queued + 1
            queue.append((peer, fetch))
        }
    }

    /// Serves queued requests, oldest first, until `budget` bytes are sent this turn; `send`
    /// hands frames to the transport.
    func serve(send: (Peer, [[UInt8]]) -> Void) {
        var sent = 0
        while head < queue.count, sent < budget {
            let (peer, fetch) = queue[head]
            head += 1
            queuedBy[peer] = queuedBy[peer]! > 1 ? queuedBy[peer]! - 1 : nil
            let chunk = piece(fetch)
            sent += max(chunk.data.count, 4096)  // refusals cost a turn something too
            send(peer, Message.chunk(chunk).frames())
        }
        bytesServed += Int64(sent)
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// The piece `fetch` asks for, or a chunk that says why there is none.
    func piece(_ fetch: Fetch) -> Chunk {
        func refusal(_ reason: String, total: Int64 = 0) -> Chunk {
            Chunk(sha256: fetch.sha256, offset: fetch.offset, total: total, digest: "", error: reason)
        }
        guard let file = files[fetch.sha256] else { return refusal("\(unknown) \(fetch.sha256.prefix(64))") }
        let fd: Int32
        switch descriptor(fetch.sha256, file) {
        case .success(let d): fd = d
        case .failure(let reason): return refusal(reason.description)
        }
        guard fetch.offset >= 0, fetch.offset <= file.size, fetch.length > 0 else {
            return refusal("\(file.name): a piece at \(fetch.offset) of \(fetch.length) bytes is not in its \(file.size) bytes", total: file.size)
        }
        let length = Int(min(Int64(min(fetch.length, WireProtocol.maxChunk)), file.size - fetch.offset))
        var data = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(fetch.offset) + off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                return refusal("\(owner) cannot read \(file.name) at \(fetch.offset + Int64(done)): \(n < 0 ? String(cString: strerror(errno)) : "it is shorter than when it was pinned")", total: file.size)
            }
            done += n
        }
        return Chunk(sha256: fetch.sha256, offset: fetch.offset, total: file.size, digest: ContentDigest.sha256(of: data), data: data)
    }

    private struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// The open file behind `sha256`, checked to still hold that content: the first time, and
    /// again whenever its stamp has moved since.
    private func descriptor(_ sha256: String, _ file: PinnedFile) -> Result<Int32, Refusal> {
        if let (fd, stamp) = open[sha256] {
            if (try? FileStamp(ofDescriptor: fd)) == stamp { return .success(fd) }
            close(fd)
            open[sha256] = nil
        }
        let now = try? FileStamp(ofFileAt: file.path)
        if let refusal = refusals[sha256], refusal.stamp == now { return .failure(Refusal(description: refusal.reason)) }
        refusals[sha256] = nil
        var reason: String?
        if now != FileStamp(size: file.size, mtime: file.mtime) {
            // Touched or copied is fine; other content is not what the trials were pinned to.
            switch Result(catching: { try ContentDigest.sha256(of: URL(fileURLWithPath: file.path)) }) {
            case .success(let digest) where digest == sha256: break
            case .success:
                reason = "\(owner)'s copy of \(file.name) (\(file.path)) has changed \(changed)"
            case .failure(let error):
                reason = "\(owner) cannot read \(file.name) (\(file.path)): \(error.localizedDescription)"
            }
        }
        let fd = reason == nil ? Glibc.open(file.path, O_RDONLY | O_CLOEXEC) : -1
        if reason == nil, fd < 0 { reason = "\(owner) cannot open \(file.name) (\(file.path)): \(String(cString: strerror(errno)))" }
        // The stamp of what was opened, so an edit between the check and the open is seen next piece.
        if reason == nil, let opened = try? FileStamp(ofDescriptor: fd) {
            open[sha256] = (fd, opened)
            return .success(fd)
        }
        if fd >= 0 { close(fd) }
        let refusal = reason ?? "\(owner) cannot stat \(file.name) (\(file.path))"
        refusals[sha256] = (now, refusal)
        return .failure(Refusal(description: refusal))
    }
}
