import Foundation
import Sweep

/// The coordinator–worker protocol. Every message is three frames after the ROUTER's
/// routing id: the protocol name and version, the command, and a JSON body.
///
/// Worker → coordinator: `HELLO` (who it is and the leases it still holds), `READY` (more
/// credit), `METRIC` (a trial's metric events, numbered), `RESULT` (resent until ACKed),
/// `FETCH` (a piece of an input it lacks), `HEARTBEAT`. Coordinator → worker: `ASSIGN`, `ACK`
/// (sent only after the journal commit), `CANCEL` (drop a fenced lease), `RECONNECT` (say HELLO
/// again: the coordinator does not know you, e.g. after its restart), `CHUNK` (the piece, as a
/// fourth frame), `SHUTDOWN`, `HEARTBEAT`. Any message counts as a heartbeat.
///
/// Checkpoints travel the other way on the same messages: the worker says `OFFER` (a trial's
/// checkpoint is whole), the coordinator FETCHes its pieces from the worker, which answers with
/// CHUNKs, and an `ACK` of kind `checkpoint` says it is stored.
public enum WireProtocol {
    public static let version = "LPFT/1"
    /// libzmq drops larger messages before they are read (ZMQ_MAXMSGSIZE).
    public static let maxMessageSize: Int64 = 16 << 20
    /// The most a FETCH may ask for: a CHUNK never holds up the messages behind it for long.
    public static let maxChunk = 1 << 20
}

/// A worker asks for `length` bytes of the content `sha256`, from `offset`.
public struct Fetch: Codable, Equatable, Sendable {
    public var sha256: String
    public var offset: Int64
    public var length: Int

    public init(sha256: String, offset: Int64, length: Int) {
        self.sha256 = sha256
        self.offset = offset
        self.length = length
    }
}

/// A piece of a pinned input: its bytes travel as the message's fourth frame, outside the JSON.
public struct Chunk: Codable, Equatable, Sendable {
    public var sha256: String
    public var offset: Int64
    /// The whole file's size.
    public var total: Int64
    /// SHA-256 of `data`: a piece damaged on its way (or read wrongly) is asked for again.
    public var digest: String
    /// Why the coordinator cannot serve it (not an input of this sweep, its copy changed); no data then.
    public var error: String?
    public var data: [UInt8] = []

    enum CodingKeys: String, CodingKey { case sha256, offset, total, digest, error }

    public init(sha256: String, offset: Int64, total: Int64, digest: String, error: String? = nil, data: [UInt8] = []) {
        (self.sha256, self.offset, self.total, self.digest, self.error, self.data) = (sha256, offset, total, digest, error, data)
    }
}

/// A trial's lease: the attempt's journal row id, unique and increasing over the sweep, so a
/// stale lease can always be told from the current one.
public typealias Lease = Int64

public struct LeaseReference: Codable, Equatable, Sendable {
    public var trial: String
    public var lease: Lease
    public init(trial: String, lease: Lease) {
        self.trial = trial
        self.lease = lease
    }
}

public struct Hello: Codable, Equatable, Sendable {
    /// The worker's name; a reconnecting or restarted worker keeps it.
    public var worker: String
    public var host: String
    public var slots: Int
    /// Leases still running here or finished without an ACK: adopt, don't rerun.
    public var held: [LeaseReference]
    /// Random per worker process: tells a second process under the same name (a cloned host)
    /// from the same worker reconnecting or restarted. Absent from workers that predate it.
    public var instance: String?
    /// Its build and machine. Absent from workers that predate it (refused unless mixed builds are allowed).
    public var facts: WorkerFacts?

    public init(worker: String, host: String, slots: Int, held: [LeaseReference], instance: String? = nil, facts: WorkerFacts? = nil) {
        self.worker = worker
        self.host = host
        self.slots = slots
        self.held = held
        self.instance = instance
        self.facts = facts
    }
}

public struct Ready: Codable, Equatable, Sendable {
    public var credit: Int

    public init(credit: Int) {
        self.credit = credit
    }
}

public struct Assign: Codable, Equatable, Sendable {
    public var trial: String
    public var lease: Lease
    /// 1 for the first attempt of the trial.
    public var attempt: Int
    /// The canonical trial config (JSON).
    public var config: String
    /// The sweep's id (``Journal/sweepID()``), which the worker puts in the trial's RESULT.
    /// Absent from coordinators that predate it.
    public var sweep: String?
    /// The files the trial reads, pinned by content: a worker that lacks one (or holds other
    /// content under its name) fetches it. Absent from coordinators that predate it, and for
    /// trials that read no files.
    public var inputs: [PinnedInput]?
    /// The newest checkpoint an earlier attempt uploaded: a worker whose trial directory lacks
    /// it fetches its files and resumes from it. Absent when there is none.
    public var checkpoint: CheckpointManifest?

    public init(trial: String, lease: Lease, attempt: Int, config: String, sweep: String? = nil, inputs: [PinnedInput]? = nil, checkpoint: CheckpointManifest? = nil) {
        self.trial = trial
        self.lease = lease
        self.attempt = attempt
        self.config = config
        self.sweep = sweep
        self.inputs = inputs
        self.checkpoint = checkpoint
    }
}

/// One metric event of a trial; `seq` numbers them per lease from 0.
public struct MetricRow: Codable, Equatable, Sendable {
    public var seq: Int
    public var name: String
    public var value: Double
    public var epoch: Int?
    public var step: Int?

    public init(seq: Int, name: String, value: Double, epoch: Int? = nil, step: Int? = nil) {
        self.seq = seq
        self.name = name
        self.value = value
        self.epoch = epoch
        self.step = step
    }
}

public struct MetricBatch: Codable, Equatable, Sendable {
    public var trial: String
    public var lease: Lease
    public var rows: [MetricRow]

    public init(trial: String, lease: Lease, rows: [MetricRow]) {
        self.trial = trial
        self.lease = lease
        self.rows = rows
    }
}

public struct TrialReport: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        case completed, failed, interrupted
    }

    public var trial: String
    public var lease: Lease
    public var status: Status
    /// Why it failed or stopped; nil when it completed.
    public var reason: String?
    /// The last lines the trial wrote to stderr.
    public var logTail: [String]
    /// The trial's result object (JSON text: metrics, best epoch, timings), when it wrote one.
    public var result: String?
    /// With `interrupted`: the worker could not start the trial (its fault, not the trial's).
    public var notStarted: Bool?
    /// The sweep its ASSIGN named: a coordinator of another sweep never takes it as its own.
    public var sweep: String?

    public init(trial: String, lease: Lease, status: Status, reason: String?, logTail: [String], result: String?, notStarted: Bool? = nil, sweep: String? = nil) {
        self.trial = trial
        self.lease = lease
        self.status = status
        self.reason = reason
        self.logTail = logTail
        self.result = result
        self.notStarted = notStarted
        self.sweep = sweep
    }
}

public struct Ack: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case metrics, result
        /// The RESULT names another sweep: not taken, and not to be sent here again on this
        /// connection; the worker keeps it for the coordinator of its own sweep.
        case foreign
        /// The checkpoint named `checkpoint` that this lease offered is stored (or not
        /// wanted): the worker need serve it no longer.
        case checkpoint
    }
    public var lease: Lease
    public var kind: Kind
    /// For metrics: every row up to and including this seq is committed.
    public var seq: Int?
    /// For a checkpoint: its name.
    public var checkpoint: String?

    public init(lease: Lease, kind: Kind, seq: Int?, checkpoint: String? = nil) {
        self.lease = lease
        self.kind = kind
        self.seq = seq
        self.checkpoint = checkpoint
    }
}

public struct Cancel: Codable, Equatable, Sendable {
    public var lease: Lease
    public var reason: String

    public init(lease: Lease, reason: String) {
        self.lease = lease
        self.reason = reason
    }
}

public struct Notice: Codable, Equatable, Sendable {
    public var reason: String
    /// With RECONNECT: say HELLO again after this many seconds, not at once.
    public var retryAfter: Double?

    public init(reason: String, retryAfter: Double? = nil) {
        self.reason = reason
        self.retryAfter = retryAfter
    }
}

/// A worker's word that its trial of `lease` has written a whole checkpoint: the coordinator
/// may fetch its files (FETCH to the worker, CHUNKs back) and keep it for a retry elsewhere.
public struct Offer: Codable, Equatable, Sendable {
    public var trial: String
    public var lease: Lease
    public var checkpoint: CheckpointManifest

    public init(trial: String, lease: Lease, checkpoint: CheckpointManifest) {
        self.trial = trial
        self.lease = lease
        self.checkpoint = checkpoint
    }
}

/// A decoded message.
public enum Message: Equatable, Sendable {
    case hello(Hello)
    case ready(Ready)
    case assign(Assign)
    case metrics(MetricBatch)
    case result(TrialReport)
    case ack(Ack)
    case cancel(Cancel)
    case reconnect(Notice)
    case shutdown(Notice)
    case fetch(Fetch)
    case chunk(Chunk)
    case offer(Offer)
    case heartbeat

    package var command: String {
        switch self {
        case .hello: "HELLO"
        case .ready: "READY"
        case .assign: "ASSIGN"
        case .metrics: "METRIC"
        case .result: "RESULT"
        case .ack: "ACK"
        case .cancel: "CANCEL"
        case .reconnect: "RECONNECT"
        case .shutdown: "SHUTDOWN"
        case .fetch: "FETCH"
        case .chunk: "CHUNK"
        case .offer: "OFFER"
        case .heartbeat: "HEARTBEAT"
        }
    }

    /// The frames to send (without a routing id).
    public func frames() -> [[UInt8]] {
        let body: Data
        switch self {
        case .hello(let b): body = Self.encode(b)
        // The per-trial messages are written by hand: they are most of a busy coordinator's work.
        case .ready(let b): return Self.frames(command, b.json)
        case .assign(let b): return Self.frames(command, b.json)
        case .metrics(let b): return Self.frames(command, b.json)
        case .result(let b): return Self.frames(command, b.json)
        case .ack(let b): return Self.frames(command, b.json)
        case .cancel(let b): body = Self.encode(b)
        case .reconnect(let b), .shutdown(let b): body = Self.encode(b)
        case .fetch(let b): body = Self.encode(b)
        case .offer(let b): body = Self.encode(b)
        case .chunk(let b):
            return [Array(WireProtocol.version.utf8), Array(command.utf8), Array(Self.encode(b)), b.data]
        case .heartbeat: return Self.heartbeatFrames
        }
        return Self.frames(command, Array(body))
    }

    /// Built once: a thousand workers are sent a thousand heartbeats a second.
    private static let heartbeatFrames = frames("HEARTBEAT", Array("{}".utf8))

    private static func frames(_ command: String, _ body: [UInt8]) -> [[UInt8]] {
        [Array(WireProtocol.version.utf8), Array(command.utf8), body]
    }

    /// Decodes the three protocol frames (four for CHUNK: its data), or says exactly why they
    /// are not a message.
    public init(frames: some Collection<[UInt8]>) throws(WireError) {
        guard frames.count >= 2 else { throw WireError("expected 3 frames (protocol, command, body), got \(frames.count)") }
        var i = frames.startIndex
        let version = String(decoding: frames[i], as: UTF8.self)
        guard version == WireProtocol.version else {
            throw WireError("protocol \(String(reflecting: String(version.prefix(32)))), expected \(WireProtocol.version)")
        }
        i = frames.index(after: i)
        let command = String(decoding: frames[i], as: UTF8.self)
        let expected = command == "CHUNK" ? 4 : 3
        guard frames.count == expected else {
            throw WireError("expected \(expected) frames (protocol, command, body\(expected == 4 ? ", data" : "")), got \(frames.count)")
        }
        i = frames.index(after: i)
        let body = frames[i]
        func decode<T: Decodable>(_ type: T.Type) throws(WireError) -> T {
            do { return try Self.decoder.decode(type, from: Data(body)) } catch {
                throw WireError("\(command) body is not valid: \(Self.describe(error))")
            }
        }
        func read<T: WireBody>(_ type: T.Type) throws(WireError) -> T {
            do { return try T(json: body) } catch {
                throw WireError("\(command) body is not valid: \(error.description)")
            }
        }
        switch command {
        case "HELLO": self = .hello(try decode(Hello.self))
        case "READY": self = .ready(try read(Ready.self))
        case "ASSIGN": self = .assign(try read(Assign.self))
        case "METRIC": self = .metrics(try read(MetricBatch.self))
        case "RESULT": self = .result(try read(TrialReport.self))
        case "ACK": self = .ack(try read(Ack.self))
        case "CANCEL": self = .cancel(try decode(Cancel.self))
        case "RECONNECT": self = .reconnect(try decode(Notice.self))
        case "SHUTDOWN": self = .shutdown(try decode(Notice.self))
        case "FETCH": self = .fetch(try decode(Fetch.self))
        case "CHUNK":
            var chunk = try decode(Chunk.self)
            chunk.data = frames[frames.index(after: i)]
            self = .chunk(chunk)
        case "OFFER": self = .offer(try decode(Offer.self))
        case "HEARTBEAT": self = .heartbeat
        default: throw WireError("unknown command \(String(reflecting: String(command.prefix(32))))")
        }
    }

    // JSON has no NaN or infinity; a diverged metric travels as the string "nan"/"inf"/"-inf".
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    private static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    private static func encode(_ value: some Encodable) -> Data {
        // Our own plain structs always encode.
        try! encoder.encode(value)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            (c.codingPath.isEmpty ? "" : c.codingPath.map(\.stringValue).joined(separator: ".") + ": ") + c.debugDescription
        default: "\(error)"
        }
    }
}

/// Frames that are not a valid message; the receiver logs and drops them.
public struct WireError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
