import CZeroMQ
import Foundation

// A thin wrapper over libzmq's C API: the mirrored Swift packages carry no ZeroMQ binding, and
// we need only sockets, multipart send/receive, a few options and zmq_poll over sockets and
// plain file descriptors (trial pipes, the signal pipe).

/// A libzmq call failed.
public struct ZeroMQError: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: zmq_strerror(code)))" }

    init(_ operation: String) {
        self.operation = operation
        code = zmq_errno()
    }
}

/// One libzmq context per process; sockets are created from it and used on one thread each.
/// Unchecked Sendable over a raw handle: libzmq documents contexts as thread-safe (sockets are not,
/// and so `ZeroMQSocket` is not Sendable).
public final class ZeroMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() {
        handle = zmq_ctx_new()
    }

    deinit { zmq_ctx_term(handle) }
}

public final class ZeroMQSocket {
    public enum Kind {
        case router, dealer, rep
        var raw: Int32 {
            switch self {
            case .router: ZMQ_ROUTER
            case .dealer: ZMQ_DEALER
            case .rep: ZMQ_REP
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    private var closed = false
    /// zmq_ctx_term waits for every socket of the context to close: a socket keeps its
    /// context alive, so the context always ends last.
    private let context: ZeroMQContext

    public init(_ context: ZeroMQContext, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw ZeroMQError("zmq_socket") }
        handle = h
        self.context = context
        // Unsent messages must not keep a closing process alive for ever.
        try set(ZMQ_LINGER, Int32(1000))
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    public func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZeroMQError("zmq_setsockopt(\(option))") }
    }

    public func set(_ option: Int32, _ value: Int64) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else { throw ZeroMQError("zmq_setsockopt(\(option))") }
    }

    public func set(_ option: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        guard zmq_setsockopt(handle, option, bytes, bytes.count) == 0 else { throw ZeroMQError("zmq_setsockopt(\(option))") }
    }

    /// Makes this socket a CURVE client of the server with public key `serverKey`.
    public func useCurve(_ keys: CurveKeyPair, serverKey: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, serverKey)
        try set(ZMQ_CURVE_PUBLICKEY, keys.publicKey)
        try set(ZMQ_CURVE_SECRETKEY, keys.secretKey)
    }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZeroMQError("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZeroMQError("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves a `*` port).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(cBuffer: buffer)
    }

    /// Sends all frames as one message. Returns false when it would block or the peer is
    /// unroutable (ROUTER_MANDATORY); the message is then dropped, which the protocol tolerates.
    @discardableResult
    public func send(_ frames: [[UInt8]]) -> Bool {
        for (i, frame) in frames.enumerated() {
            let flags = ZMQ_DONTWAIT | (i < frames.count - 1 ? ZMQ_SNDMORE : 0)
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc < 0 { return false }
        }
        return true
    }

    /// Receives one whole multipart message, or nil when none is waiting.
    public func receive() -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            let flags: Int32 = frames.isEmpty ? ZMQ_DONTWAIT : 0
            guard zmq_msg_recv(&message, handle, flags) >= 0 else { return nil }
            let count = zmq_msg_size(&message)
            let data = zmq_msg_data(&message)!
            frames.append(Array(UnsafeRawBufferPointer(start: data, count: count)))
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }
}

/// `zmq_poll` over sockets and file descriptors.
public struct Poller {
    public enum Item {
        case socket(ZeroMQSocket)
        case descriptor(Int32)
    }

    /// Waits up to `timeout` seconds; returns, per item, whether it is readable.
    public static func wait(_ items: [Item], timeout: Double) -> [Bool] {
        var raw = items.map { item -> zmq_pollitem_t in
            switch item {
            case .socket(let s): return zmq_pollitem_t(socket: s.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            case .descriptor(let fd): return zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)
            }
        }
        let ms = Int(max(0, timeout) * 1000)
        if zmq_poll(&raw, Int32(raw.count), ms) < 0 { return Array(repeating: false, count: items.count) }
        // A closed pipe shows as POLLHUP/POLLERR: readable, so its reader sees the end.
        return raw.map { $0.revents != 0 }
    }
}

extension String {
    /// The text before the first NUL of a buffer that libzmq filled in.
    init(cBuffer: [CChar]) {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
