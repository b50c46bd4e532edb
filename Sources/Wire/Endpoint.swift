/// A ZeroMQ endpoint as lpft takes it on the command line: `tcp://HOST:PORT` (a `*` port to
/// bind a free one), `ipc://PATH` or `inproc://NAME`. Checked up front, so a typo is named
/// as one instead of surfacing later as a refused key or a silent wait.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    /// Whether traffic stays on this machine (IPC, in-process, or TCP on loopback); anything
    /// else needs CURVE or an explicit `--insecure`.
    public let isLocal: Bool
    /// The host of a `tcp://` endpoint, without brackets; nil for IPC and in-process ones.
    private let host: Substring?

    public init(_ text: String) throws {
        description = text
        if let name = text.dropPrefix("ipc://") ?? text.dropPrefix("inproc://") {
            guard !name.isEmpty else { throw EndpointError(text) }
            isLocal = true
            host = nil
            return
        }
        guard let address = text.dropPrefix("tcp://") else { throw EndpointError(text) }
        let host: Substring, port: Substring
        if address.hasPrefix("[") {  // [IPv6]:PORT
            guard let close = address.firstIndex(of: "]"), address[close...].dropFirst().hasPrefix(":") else { throw EndpointError(text) }
            host = address[address.index(after: address.startIndex)..<close]
            port = address[close...].dropFirst(2)
        } else {
            guard let colon = address.lastIndex(of: ":") else { throw EndpointError(text) }
            host = address[..<colon]
            port = address[address.index(after: colon)...]
        }
        guard !host.isEmpty, port == "*" || (UInt16(port).map { $0 > 0 } ?? false) else { throw EndpointError(text) }
        isLocal = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        self.host = host
    }

    /// What a worker passes to `--connect` to reach a coordinator bound here: an endpoint
    /// bound on every interface (`*`, `0.0.0.0`, `::`) is named by `hostName`, since a worker
    /// elsewhere cannot connect to a wildcard.
    public func connectable(hostName: String) -> String {
        guard let host, ["*", "0.0.0.0", "::"].contains(host), let port = description.split(separator: ":").last else { return description }
        return "tcp://\(hostName):\(port)"
    }
}

extension Endpoint {
    /// The rule for plain text: traffic that leaves this machine needs CURVE unless the user
    /// vouches for the network (`--insecure`). Returns the warning to show when it goes out
    /// unencrypted anyway; throws when it may not.
    public func checkPlainText(insecure: Bool, role: String) throws -> String? {
        if isLocal { return nil }
        guard insecure else {
            throw EndpointError(leaving: description, role: role)
        }
        return "\(description) without CURVE: anyone who reaches it can \(role == "coordinator" ? "take trials and send results" : "pose as the coordinator")"
    }
}

/// An endpoint that is not one (says what one looks like), or that may not be used as given.
public struct EndpointError: Error, CustomStringConvertible {
    public let description: String
    init(_ text: String) {
        description = "\(text) is not a ZeroMQ endpoint: give tcp://HOST:PORT (e.g. tcp://10.0.0.5:5750), ipc://PATH or inproc://NAME"
    }

    init(leaving text: String, role: String) {
        description = "\(text) leaves this machine: give the \(role) --curve-key (see `lpft keys generate`), or pass --insecure on a network you trust"
    }
}

extension String {
    /// The rest of the string after `prefix`, or nil when it does not start with it.
    package func dropPrefix(_ prefix: String) -> Substring? { hasPrefix(prefix) ? dropFirst(prefix.count) : nil }
}
