import JSONText
import Sweep

/// A message body read and written by hand, in one pass (`JSONText`): the messages a
/// coordinator handles for every trial (READY, ASSIGN, METRIC, RESULT, ACK).
///
/// Foundation's `JSONDecoder` and `JSONEncoder` were over half of the coordinator's turn at a
/// thousand workers (BENCHMARKS.md, "Scale, simulated"). The text is plain JSON, the same as
/// the `Codable` form of the same structs (which the outbox file and the rarer messages still
/// use), so peers of either kind understand each other; `WireJSONTests` holds the two forms
/// together.
protocol WireBody {
    init(reading reader: inout JSONReader) throws(JSONReader.Failure)
    func write(to writer: inout JSONWriter)
}

extension WireBody {
    init(json bytes: [UInt8]) throws(JSONReader.Failure) {
        self = try JSONReader.read(bytes) { (r: inout JSONReader) throws(JSONReader.Failure) in try Self(reading: &r) }
    }

    var json: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

extension JSONReader {
    /// A string naming one case of `T`.
    mutating func raw<T: RawRepresentable>(_: T.Type) throws(Failure) -> T where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            throw Failure("\(String(reflecting: String(text.prefix(32)))) is not a valid \(T.self)")
        }
        return value
    }
}

extension Ready: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var credit: Int?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "credit": credit = try r.integer()
            default: try r.skip()
            }
        }
        self.init(credit: try required(credit, "credit"))
    }

    func write(to w: inout JSONWriter) {
        w.object { $0.field("credit", credit) }
    }
}

extension PinnedInput: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var name: String?, sha256: String?, size: Int64?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "name": name = try r.string()
            case "sha256": sha256 = try r.string()
            case "size": size = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.integer() }
            default: try r.skip()
            }
        }
        self.init(name: try required(name, "name"), sha256: try required(sha256, "sha256"), size: size)
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("name", name)
            $0.field("sha256", sha256)
            $0.field("size", size)
        }
    }
}

extension Assign: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var trial: String?, lease: Lease?, attempt: Int?, config: String?, sweep: String?, inputs: [PinnedInput]?, checkpoint: CheckpointManifest?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "trial": trial = try r.string()
            case "lease": lease = try r.integer()
            case "attempt": attempt = try r.integer()
            case "config": config = try r.string()
            case "sweep": sweep = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() }
            case "inputs":
                inputs = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in
                    try r.array(of: { (r: inout JSONReader) throws(JSONReader.Failure) in try PinnedInput(reading: &r) })
                }
            case "checkpoint":
                checkpoint = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try CheckpointManifest(reading: &r) }
            default: try r.skip()
            }
        }
        self.init(trial: try required(trial, "trial"), lease: try required(lease, "lease"), attempt: try required(attempt, "attempt"),
                  config: try required(config, "config"), sweep: sweep, inputs: inputs, checkpoint: checkpoint)
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("trial", trial)
            $0.field("lease", lease)
            $0.field("attempt", attempt)
            $0.field("config", config)
            $0.field("sweep", sweep)
            if let inputs { $0.field("inputs") { $0.array(inputs) { $1.write(to: &$0) } } }
            if let checkpoint { $0.field("checkpoint") { checkpoint.write(to: &$0) } }
        }
    }
}

extension CheckpointManifest: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var name: String?, files: [PinnedInput]?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "name": name = try r.string()
            case "files": files = try r.array(of: { (r: inout JSONReader) throws(JSONReader.Failure) in try PinnedInput(reading: &r) })
            default: try r.skip()
            }
        }
        self.init(name: try required(name, "name"), files: try required(files, "files"))
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("name", name)
            $0.field("files") { $0.array(files) { $1.write(to: &$0) } }
        }
    }
}

extension MetricRow: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var seq: Int?, name: String?, value: Double?, epoch: Int?, step: Int?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "seq": seq = try r.integer()
            case "name": name = try r.string()
            case "value": value = try r.double()
            case "epoch": epoch = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.integer() }
            case "step": step = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.integer() }
            default: try r.skip()
            }
        }
        self.init(seq: try required(seq, "seq"), name: try required(name, "name"), value: try required(value, "value"), epoch: epoch, step: step)
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("seq", seq)
            $0.field("name", name)
            $0.field("value", value)
            $0.field("epoch", epoch)
            $0.field("step", step)
        }
    }
}

extension MetricBatch: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var trial: String?, lease: Lease?, rows: [MetricRow]?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "trial": trial = try r.string()
            case "lease": lease = try r.integer()
            case "rows": rows = try r.array(of: { (r: inout JSONReader) throws(JSONReader.Failure) in try MetricRow(reading: &r) })
            default: try r.skip()
            }
        }
        self.init(trial: try required(trial, "trial"), lease: try required(lease, "lease"), rows: try required(rows, "rows"))
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("trial", trial)
            $0.field("lease", lease)
            $0.field("rows") { $0.array(rows) { $1.write(to: &$0) } }
        }
    }
}

extension TrialReport: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var trial: String?, lease: Lease?, status: Status?, reason: String?, logTail: [String]?
        var result: String?, notStarted: Bool?, sweep: String?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "trial": trial = try r.string()
            case "lease": lease = try r.integer()
            case "status": status = try r.raw(Status.self)
            case "reason": reason = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() }
            case "logTail": logTail = try r.array(of: { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() })
            case "result": result = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() }
            case "notStarted": notStarted = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.bool() }
            case "sweep": sweep = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() }
            default: try r.skip()
            }
        }
        self.init(trial: try required(trial, "trial"), lease: try required(lease, "lease"), status: try required(status, "status"),
                  reason: reason, logTail: try required(logTail, "logTail"), result: result, notStarted: notStarted, sweep: sweep)
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("trial", trial)
            $0.field("lease", lease)
            $0.field("status", status.rawValue)
            $0.field("reason", reason)
            $0.field("logTail") { $0.array(logTail) { $0.string($1) } }
            $0.field("result", result)
            $0.field("notStarted", notStarted)
            $0.field("sweep", sweep)
        }
    }
}

extension Ack: WireBody {
    init(reading r: inout JSONReader) throws(JSONReader.Failure) {
        var lease: Lease?, kind: Kind?, seq: Int?, checkpoint: String?
        try r.object { (r: inout JSONReader, key) throws(JSONReader.Failure) in
            switch key {
            case "lease": lease = try r.integer()
            case "kind": kind = try r.raw(Kind.self)
            case "seq": seq = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.integer() }
            case "checkpoint": checkpoint = try r.optional { (r: inout JSONReader) throws(JSONReader.Failure) in try r.string() }
            default: try r.skip()
            }
        }
        self.init(lease: try required(lease, "lease"), kind: try required(kind, "kind"), seq: seq, checkpoint: checkpoint)
    }

    func write(to w: inout JSONWriter) {
        w.object {
            $0.field("lease", lease)
            $0.field("kind", kind.rawValue)
            $0.field("seq", seq)
            if let checkpoint { $0.field("checkpoint", checkpoint) }
        }
    }
}
