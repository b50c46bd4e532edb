import Foundation

/// Seconds since 1970 that never jump: the wall clock once, at creation, advanced by the
/// monotonic clock from then on.
///
/// Heartbeats, lease expiry and retry backoff run on it, so an NTP step or a hand-set clock
/// cannot expire every lease at once (and charge the trials) or freeze them; the times it
/// gives the journal stay within such steps of the wall clock.
public struct SteadyClock: Sendable {
    private let wallAtStart: Double
    private let monotonicAtStart: Double
    private let monotonic: @Sendable () -> Double

    public init() {
        self.init(wall: Date().timeIntervalSince1970, monotonic: {
            var t = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
        })
    }

    /// A clock on the given sources (tests).
    init(wall: Double, monotonic: @escaping @Sendable () -> Double) {
        wallAtStart = wall
        self.monotonic = monotonic
        monotonicAtStart = monotonic()
    }

    public func now() -> Double { wallAtStart + (monotonic() - monotonicAtStart) }
}
