import Foundation
import Sweep
import TestSupport
@testable import Wire
import XCTest

/// The clock leases and liveness run on.
final class SteadyClockTests: XCTestCase {
    /// Starts at the wall clock, then moves only with the monotonic clock.
    func testItStartsAtTheWallClockAndMovesWithTheMonotonicOne() {
        let real = SteadyClock()
        XCTAssertEqual(real.now(), Date().timeIntervalSince1970, accuracy: 0.05)
        // Unchecked: the test's one thread both moves the clock and reads it.
        final class Source: @unchecked Sendable { var seconds = 500.0 }
        let source = Source()
        let clock = SteadyClock(wall: 1_700_000_000, monotonic: { source.seconds })
        source.seconds += 2.5
        XCTAssertEqual(clock.now(), 1_700_000_002.5, "an NTP step of the wall clock in between changes nothing")
        var last = real.now()
        for _ in 0..<1000 {
            let t = real.now()
            XCTAssertGreaterThanOrEqual(t, last)
            last = t
        }
    }
}
