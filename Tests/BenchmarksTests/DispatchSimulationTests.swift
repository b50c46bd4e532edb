@testable import Benchmarks
import Foundation
import Sweep
import TestSupport
import XCTest

/// The sweep simulation at a size a debug build runs in seconds, with every fault far more
/// frequent than in the benchmark, so that each strikes several times.
final class DispatchSimulationTests: XCTestCase {
    static func stormy(seed: UInt64) -> SimulationSettings {
        var s = SimulationSettings(workers: 20, trials: 400, seed: seed)
        s.medianTrialSeconds = 5
        s.deathsPerWorkerHour = 30
        s.stallsPerWorkerHour = 30
        s.partitionsPerHour = 300
        s.partitionShare = 0.1
        s.ackLossRate = 0.05
        s.failureRate = 0.05
        return s
    }

    func testInvariantsHoldThroughEveryKindOfFault() throws {
        let report = try DispatchSimulation(settings: Self.stormy(seed: 7), directory: try temporaryDirectory(self)).run()
        print(report.text)
        XCTAssertEqual(report.violations, [])
        for kind in ["worker deaths", "worker restarts", "workers gone for good", "worker stalls", "partitions", "messages lost in partitions",
                     "result ACKs lost", "reconnects", "worker deaths with a result unsent",
                     "journal: late result", "journal: lease adopted", "journal: worker refused", "journal: worker lost"] {
            XCTAssertGreaterThan(report.events[kind] ?? 0, 0, "no \(kind) in \(report.events)")
        }
        // Faults cost attempts, and the failed ones were retried.
        XCTAssertGreaterThan(report.attempts, 400)
    }

    /// The checker finds each kind of broken invariant written into a sound journal.
    func testTheInvariantCheckerCatchesEachBrokenInvariant() throws {
        var settings = SimulationSettings(workers: 4, trials: 12, seed: 3)
        settings.medianTrialSeconds = 2
        let simulation = try DispatchSimulation(settings: settings, directory: try temporaryDirectory(self))
        XCTAssertEqual(try simulation.run().violations, [])
        let journal = simulation.journal
        func violations() throws -> [String] { try DispatchSimulation.violations(in: journal, trials: 12) }
        let won = try journal.attempts().first { $0.state == .completed }!
        let trial = try journal.trials().first { $0.id == won.trial }!

        let lease = try journal.write { try $0.startAttempt(trial: trial.id, number: 99, worker: "w", host: "h", at: 0) }
        XCTAssertEqual(try violations(), ["trial \(trial.id) is running", "attempt \(lease) of trial \(trial.id) is still running"])
        try journal.write { try $0.endAttempt(lease: lease, state: .completed, at: 1, result: trial.result) }
        try journal.write { try $0.updateTrial(trial.id, state: .completed, chargedAttempts: 0, result: trial.result) }
        XCTAssertEqual(try violations(), ["trial \(trial.id) has 2 completed attempts"])
        try journal.write { try $0.endAttempt(lease: lease, state: .lost, at: 1) }
        XCTAssertEqual(try violations(), [])

        try journal.write { try $0.updateTrial(trial.id, state: .completed, chargedAttempts: 0, result: "{\"lease\":\(lease)}") }
        XCTAssertEqual(try violations(), ["trial \(trial.id)'s result is not its completed attempt's (lease \(won.lease))"])
        try journal.write { try $0.updateTrial(trial.id, state: .completed, chargedAttempts: 0, result: trial.result) }

        try journal.write { try $0.recordLateResult(lease: won.lease, result: nil, reason: nil, logTail: nil) }
        XCTAssertEqual(try violations(), ["late result of lease \(won.lease) counted as trial \(trial.id)'s completion"])
        XCTAssertEqual(try DispatchSimulation.violations(in: journal, trials: 13).first, "12 trials in the journal, expected 13")
    }
}
