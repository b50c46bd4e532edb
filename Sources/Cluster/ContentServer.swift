import Foundation
import Sweep

/// The coordinator's side of shipping: serves the sweep's pinned inputs to workers that lack
/// them, one piece per FETCH, over the coordinator's own socket (CURVE covers it; no second
/// port is opened).
///
/// A worker asks by content hash, never by path, so it can read only what some trial of this
/// sweep is pinned to. Before a file's first piece this run, its size and modification time
/// are compared with those it was hashed at; if they differ it is hashed again, and content
/// that changed is refused (the worker hands its trial back). At most `budget` bytes are read
/// per turn, oldest request first, so a transfer never holds up dispatch. Workers keep only a
/// few pieces in flight, so the queue and the memory behind it stay small whatever the files' size.
final class ContentServer {
    typealias Peer = Dispatcher.Peer

    /// Bytes read and sent per coordinator turn at most.
    let budget: Int
    private let files: [String: PinnedFile]
    /// Open descriptors of files checked this run, by hash.
    private var descriptors: [String: Int32] = [:]
    /// Why a file cannot be served, once found.
    private var refusals: [String: String] = [:]
    private var queue: [(Peer, Fetch)] = []
    private var head = 0
    private(set) var bytesServed: Int64 = 0

    init(files: [String: PinnedFile], budget: Int = 8 << 20) {
        self.files = files
        self.budget = budget
    }

    deinit { descriptors.values.forEach { close($0) } }

    /// Whether requests wait: the coordinator's next turn should not sleep.
    var isBusy: Bool { head < queue.count }

    func enqueue(_ fetches: [(Peer, Fetch)]) {
        queue += fetches
    }

    /// Serves queued requests, oldest first, until `budget` bytes are sent this turn; `send`
    /// hands frames to the transport.
    func serve(send: (Peer, [[UInt8]]) -> Void) {
        var sent = 0
        while head < queue.count, sent < budget {
            let (peer, fetch) = queue[head]
            head += 1
            let chunk = piece(fetch)
            sent += chunk.data.count
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
        guard let file = files[fetch.sha256] else { return refusal("no trial of this sweep reads content \(fetch.sha256.prefix(64))") }
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
                return refusal("the coordinator cannot read \(file.name) at \(fetch.offset + Int64(done)): \(n < 0 ? String(cString: strerror(errno)) : "it is shorter than when it was pinned")", total: file.size)
            }
            done += n
        }
        return Chunk(sha256: fetch.sha256, offset: fetch.offset, total: file.size, digest: ContentDigest.sha256(of: data), data: data)
    }

    private struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// The open file behind `sha256`, checked to still hold that content the first time.
    private func descriptor(_ sha256: String, _ file: PinnedFile) -> Result<Int32, Refusal> {
        if let fd = descriptors[sha256] { return .success(fd) }
        if let reason = refusals[sha256] { return .failure(Refusal(description: reason)) }
        let url = URL(fileURLWithPath: file.path)
        var reason: String?
        if (try? FileStamp(ofFileAt: file.path)) != FileStamp(size: file.size, mtime: file.mtime) {
            // Touched or copied is fine; other content is not what the trials were pinned to.
            switch Result(catching: { try ContentDigest.sha256(of: url) }) {
            case .success(let digest) where digest == sha256: break
            case .success:
                reason = "the coordinator's copy of \(file.name) (\(file.path)) has changed since the sweep was planned; run `lpft sweep run` again to plan with it"
            case .failure(let error):
                reason = "the coordinator cannot read \(file.name) (\(file.path)): \(error.localizedDescription)"
            }
        }
        let fd = reason == nil ? open(file.path, O_RDONLY | O_CLOEXEC) : -1
        if reason == nil, fd < 0 { reason = "the coordinator cannot open \(file.name) (\(file.path)): \(String(cString: strerror(errno)))" }
        if let reason {
            refusals[sha256] = reason
            return .failure(Refusal(description: reason))
        }
        descriptors[sha256] = fd
        return .success(fd)
    }
}
