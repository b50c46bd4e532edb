import Logging

/// Keeps warnings that another party can provoke at will (a peer's malformed messages) from
/// filling the disk: the first `burst` warnings of each key are logged, then only one line per
/// key per `interval` saying how many were suppressed. At most `maxKeys` keys are tracked; a
/// flood of new keys (a peer reconnecting under fresh identities) shares one overflow key.
///
/// So in any run of `T` seconds it logs at most `burst × (maxKeys + 1)` first lines plus
/// `(maxKeys + 1) × (T / interval + 1)` summaries, however many warnings arrive.
/// Time is the caller's clock (seconds), so tests can drive it.
public struct WarningThrottle: Sendable {
    public let burst: Int
    public let interval: Double
    public let maxKeys: Int
    private var logged: [String: Int] = [:]
    private var suppressed: [String: Int] = [:]
    private var windowStart: Double?
    static let overflowKey = "other peers"

    public init(burst: Int = 5, interval: Double = 10, maxKeys: Int = 64) {
        self.burst = burst
        self.interval = interval
        self.maxKeys = maxKeys
    }

    /// Logs `message` under `key` unless that key has used its burst; then counts it.
    /// Also emits the summaries of a window that has ended.
    public mutating func warn(_ logger: Logger, key: String, now: Double, _ message: @autoclosure () -> String) {
        flush(logger, now: now)
        let key = logged[key] != nil || logged.count < maxKeys ? key : Self.overflowKey
        if logged[key, default: 0] < burst {
            logged[key, default: 0] += 1
            logger.warning("\(message())")
        } else {
            suppressed[key, default: 0] += 1
        }
    }

    /// Logs one line per key with warnings suppressed in the window that ended; call it on
    /// the caller's clock tick too, so the last counts of a flood that stopped are told.
    public mutating func flush(_ logger: Logger, now: Double) {
        guard let start = windowStart else { windowStart = now; return }
        guard now - start >= interval else { return }
        windowStart = now
        for key in suppressed.keys.sorted() {
            logger.warning("suppressed \(suppressed[key]!) more warning(s) like the above about \(key) in the last \(Int(now - start)) s")
        }
        suppressed.removeAll(keepingCapacity: true)
    }

    /// Warnings counted but not yet told.
    public var pending: Int { suppressed.values.reduce(0, +) }
}
