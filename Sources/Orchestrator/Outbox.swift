import Foundation
import Wire

/// Metric rows sent and not yet ACKed, by lease: sent again after a reconnect, in order
/// (``WorkerSession``'s bookkeeping).
struct UnackedMetrics {
    private var pending: [Lease: (trial: String, rows: [MetricRow])] = [:]

    mutating func add(_ rows: [MetricRow], lease: Lease, trial: String) {
        pending[lease, default: (trial, [])].rows += rows
    }

    /// Rows up to `seq` are committed; a lease no longer `running` is forgotten once none is left.
    mutating func acknowledge(_ lease: Lease, upTo seq: Int, running: Bool) {
        guard var entry = pending[lease] else { return }
        entry.rows.removeAll { $0.seq <= seq }
        pending[lease] = entry.rows.isEmpty && !running ? nil : entry
    }

    /// The lease's result is committed, and with it every row.
    mutating func forget(_ lease: Lease) {
        pending[lease] = nil
    }

    /// What to send again, in lease order.
    var batches: [MetricBatch] {
        pending.sorted { $0.key < $1.key }.filter { !$0.value.rows.isEmpty }.map { MetricBatch(trial: $0.value.trial, lease: $0.key, rows: $0.value.rows) }
    }
}

/// Results a worker has sent but the coordinator has not yet ACKed, kept on disk so a worker
/// restarted on the same directory resends them.
///
/// One append-only file of JSON lines — `{"result": …}` when a trial ends, `{"ack": lease}`
/// when it is acknowledged — truncated whenever nothing is pending. (A file per result made
/// ext4 spend most of a zero-length trial allocating and freeing inodes.) A torn last line
/// from a crash is skipped when the file is read back.
final class Outbox {
    private let handle: FileHandle
    private let url: URL
    private(set) var pending: [Lease: TrialReport] = [:]

    private struct Line: Codable {
        var result: TrialReport?
        var ack: Lease?
    }

    init(url: URL, onUnreadable: (String) -> Void) throws {
        self.url = url
        if let data = FileManager.default.contents(atPath: url.path) {
            for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
                guard let entry = try? JSONDecoder().decode(Line.self, from: Data(line)) else {
                    onUnreadable("\(url.path):\(n + 1): skipping an unreadable line (torn by a crash?)")
                    continue
                }
                if let r = entry.result { pending[r.lease] = r }
                if let lease = entry.ack { pending[lease] = nil }
            }
        } else {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw WorkerError("cannot create \(url.path): \(String(cString: strerror(errno)))")
            }
        }
        handle = try FileHandle(forUpdating: url)
        try rewrite()
    }

    deinit { try? handle.close() }

    func add(_ report: TrialReport) throws {
        pending[report.lease] = report
        try append(Line(result: report))
    }

    func acknowledge(_ lease: Lease) throws {
        guard pending.removeValue(forKey: lease) != nil else { return }
        if pending.isEmpty {
            try handle.truncate(atOffset: 0)
        } else {
            try append(Line(ack: lease))
        }
    }

    private func append(_ line: Line) throws {
        try handle.seekToEnd()
        try handle.write(contentsOf: JSONEncoder().encode(line) + Data("\n".utf8))
    }

    /// Starts the file afresh with just what is pending.
    private func rewrite() throws {
        try handle.truncate(atOffset: 0)
        for lease in pending.keys.sorted() { try append(Line(result: pending[lease]!)) }
    }
}
