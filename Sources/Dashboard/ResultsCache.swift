import Foundation
import Sweep
import Synchronization

/// The sweep's `SweepResults`, read again only when the journal's files have changed.
///
/// The trials page and `/api/trials` need every trial's results on each request and refresh.
/// Every commit appends to the WAL or rewrites it, and a checkpoint rewrites the database
/// file, so their sizes and modification times say whether anything was committed since; a
/// commit in the same clock tick as the last read is seen with the next one. A lock, because
/// requests are served on several threads.
final class ResultsCache: Sendable {
    private let files: [String]
    private let entry = Mutex<(fingerprint: [Double], results: SweepResults)?>(nil)
    /// When the journal has changed, only what its commits can change is read again, and only
    /// changed results are decoded.
    private let decoded = DecodedTrials()

    init(journalPath: String) {
        files = [journalPath, journalPath + "-wal"]
    }

    func results(_ journal: Journal) throws -> SweepResults {
        let fingerprint = files.flatMap { path -> [Double] in
            guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return [-1, -1] }
            return [(a[.size] as? NSNumber)?.doubleValue ?? -1, (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1]
        }
        if let entry = entry.withLock({ $0 }), entry.fingerprint == fingerprint { return entry.results }
        let results = try SweepResults(journal: journal, memo: decoded)
        entry.withLock { $0 = (fingerprint, results) }
        return results
    }
}
