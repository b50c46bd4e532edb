/// The heartbeat defaults both ends of the wire start from: a coordinator and its workers
/// must agree on them, so the dispatcher, the worker and the command line all read these.
public enum Liveness {
    /// Seconds between heartbeats when nothing else is sent.
    public static let heartbeatInterval = 1.0
    /// Heartbeats the other side may miss before it is taken for gone.
    public static let missedHeartbeats = 5
}
