import Foundation
import Sweep

/// The sweep's `SweepResults`, read again only when the journal's files have changed.
///
/// Reading the results decodes every trial's result (about half a second for 10,000 trials
/// on a loaded machine here), and the trials page and `/api/trials` need them on each
/// request and refresh. Every
/// commit appends to the WAL or rewrites it, and a checkpoint rewrites the database file, so
/// their sizes and modification times say whether anything was committed since; a commit in
/// the same clock tick as the last read is seen with the next one. A lock, because requests
/// are served on several threads.
final class ResultsCache: @unchecked Sendable {
    private let files: [String]
    private let lock = NSLock()
    private var entry: (fingerprint: [Double], results: SweepResults)?
    /// When the journal has changed, only the trials it changed are decoded again.
    private let decoded = DecodedTrials()

    init(journalPath: String) {
        files = [journalPath, journalPath + "-wal"]
    }

    func results(_ journal: Journal) throws -> SweepResults {
        let fingerprint = files.flatMap { path -> [Double] in
            guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return [-1, -1] }
            return [(a[.size] as? NSNumber)?.doubleValue ?? -1, (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1]
        }
        if let entry = lock.withLock({ entry }), entry.fingerprint == fingerprint { return entry.results }
        let results = try SweepResults(journal: journal, memo: decoded)
        lock.withLock { entry = (fingerprint, results) }
        return results
    }
}
