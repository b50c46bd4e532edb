import Foundation
import GRDB
import Sweep
import TestSupport
import XCTest

/// A journal damaged on disk (issue 36): every command that reads or resumes it refuses it in
/// one line that names it and says what to do, and leaves it as it was; `lpft sweep salvage`
/// copies what is readable into a new directory, where the sweep resumes.
final class JournalDamageTests: XCTestCase {
    /// A finished sweep of 200 noop trials (5 metric rows each), run by the real `lpft sweep run`.
    func finishedSweep() throws -> (spec: URL, sweep: URL) {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("noop.yaml")
        try "base: {method: noop, duration_ms: 0}\ngrid:\n  seed: [\((1...200).map(String.init).joined(separator: ", "))]\n"
            .write(to: spec, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep")
        let run = try runLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.errors)
        return (spec, sweep)
    }

    func journalPath(_ sweep: URL) -> String { sweep.appendingPathComponent(Journal.fileName).path }

    /// One value about the journal's pages, read with every commit in the main file (so that
    /// what is overwritten there is what SQLite reads).
    func pageFact(_ sql: String, of sweep: URL) throws -> Int {
        try DatabaseQueue(path: journalPath(sweep)).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return try XCTUnwrap(try Int.fetchOne(db, sql: sql))
        }
    }

    /// Overwrites page `page` (numbered from 1) with 4 KB of seeded random bytes, as a bad
    /// disk or a stray write would.
    func damage(page: Int, of sweep: URL) throws {
        let pageSize = try pageFact("PRAGMA page_size", of: sweep)
        var state: UInt64 = 36
        let noise = (0..<pageSize).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: journalPath(sweep)))
        try handle.seek(toOffset: UInt64((page - 1) * pageSize))
        try handle.write(contentsOf: noise)
        try handle.close()
    }

    func testADamagedJournalIsRefusedByEveryCommandAndLeftAsItWas() throws {
        let (spec, sweep) = try finishedSweep()
        try damage(page: try pageFact("SELECT rootpage FROM sqlite_master WHERE name = 'metrics'", of: sweep), of: sweep)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: journalPath(sweep)))
        let refusal = "journal \(journalPath(sweep)): damaged ("
        let readers = [["sweep", "status", sweep.path], ["sweep", "status", "--json", sweep.path]]
            + ["md", "csv", "jsonl", "html"].map { ["sweep", "report", sweep.path, "--format", $0] }
        for arguments in readers {
            let run = try runLPFT(arguments)
            assertRuntimeFailure(run, contains: refusal)
            XCTAssertTrue(run.errors.contains("restore it from git or a copy") && run.errors.contains("`lpft sweep salvage \(sweep.path) NEW`"), run.errors)
        }
        assertRuntimeFailure(try runLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"]), contains: refusal)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: journalPath(sweep))), damaged, "a refused resume writes nothing into it")
    }

    /// What is not damage is still one line naming the journal, not GRDB's dump of the statement.
    func testOtherSQLiteErrorsAreOneLineNamingTheJournal() throws {
        let sweep = try temporaryDirectory(self)
        try DatabaseQueue(path: journalPath(sweep)).write { try $0.execute(sql: "CREATE TABLE unrelated (x)") }
        let run = try runLPFT(["sweep", "status", sweep.path])
        assertRuntimeFailure(run, contains: "journal \(journalPath(sweep)): no such table: trials")
        XCTAssertFalse(run.errors.contains("while executing"), run.errors)

        try Data("not a database, and long enough to be read as one: ".utf8 + Array(repeating: UInt8(ascii: "x"), count: 4096))
            .write(to: URL(fileURLWithPath: journalPath(sweep)))
        assertRuntimeFailure(try runLPFT(["sweep", "status", sweep.path]), contains: "journal \(journalPath(sweep)): damaged (file is not a database)")
    }

    /// A leaf page of `trials` lost: the salvage keeps every other trial (read from both ends
    /// of the table), and the resumed sweep runs exactly the lost ones again.
    func testSalvageKeepsWhatIsReadableAndTheSweepResumesThere() throws {
        let (spec, sweep) = try finishedSweep()
        let leaf = "(SELECT pageno, ncell FROM dbstat WHERE name = 'trials' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 5)"
        let (page, lost) = (try pageFact("SELECT pageno FROM \(leaf)", of: sweep), try pageFact("SELECT ncell FROM \(leaf)", of: sweep))
        XCTAssertGreaterThan(lost, 0)
        try damage(page: page, of: sweep)

        let salvaged = sweep.deletingLastPathComponent().appendingPathComponent("salvaged")
        let salvage = try Support.lpft(["sweep", "salvage", sweep.path, salvaged.path])
        XCTAssertEqual(salvage.status, 0)
        XCTAssertTrue(salvage.output.contains("trials        \(200 - lost)   up to damaged pages: their rows are lost"), salvage.output)
        let kept = try Journal(readingDirectory: salvaged)
        XCTAssertEqual(try kept.trials().filter { $0.state == .completed }.count, 200 - lost)
        XCTAssertEqual(try kept.attempts().count, 200 - lost, "the attempts of lost trials are dropped with them")
        assertRuntimeFailure(try runLPFT(["sweep", "salvage", sweep.path, salvaged.path]), contains: "already exists: salvage into a new sweep directory")

        let resume = try runLPFT(["sweep", "run", spec.path, "--dir", salvaged.path, "--local-workers", "1"], timeout: 120)
        XCTAssertEqual(resume.status, 0, resume.errors)
        XCTAssertTrue(resume.errors.contains("200 trial(s), \(lost) new, \(200 - lost) already completed"), resume.errors)
        let resumed = try Journal(readingDirectory: salvaged)
        XCTAssertEqual(try resumed.trials().filter { $0.state == .completed }.count, 200)
        XCTAssertEqual(try resumed.attempts().count, 200, "only the lost trials ran again")
    }
}

extension JournalDamageTests {
    /// A state this build does not know is an error naming it, not a pending or lost trial.
    func testAnUnknownStateIsAnErrorNotAGuess() throws {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.addTrial(id: "t", position: 0, axes: "{}", config: "{}", at: 0)
            try w.updateTrial("t", state: .pending, chargedAttempts: 0)
        }
        let db = try GRDB.DatabaseQueue(path: journal.path)
        try db.write { try $0.execute(sql: "UPDATE trials SET state = 'paused'") }
        XCTAssertThrowsError(try Journal(readingDirectory: dir).trials()) {
            XCTAssertTrue("\($0)".contains("unknown TrialState \"paused\""), "\($0)")
        }
        XCTAssertThrowsError(try SweepResults(journal: try Journal(readingDirectory: dir)))
    }
}
