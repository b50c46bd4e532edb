import Foundation

/// Where the dashboard listens and whom it answers.
///
/// Safe by default: it binds loopback. Any other address needs a token, which every request
/// must then carry, or `insecure`, which serves anyone who can reach the port (with a warning).
public struct DashboardAccess: Sendable {
    public var bind: String
    public var port: UInt16
    public var token: String?
    public var insecure: Bool

    public init(bind: String = "127.0.0.1", port: UInt16 = 8080, token: String? = nil, insecure: Bool = false) {
        (self.bind, self.port, self.token, self.insecure) = (bind, port, token, insecure)
    }

    /// Loopback addresses: only this machine's processes can connect.
    public var isLoopback: Bool { bind == "::1" || bind == "localhost" || bind.hasPrefix("127.") }

    /// Checks the binding rule; returns the warning to log for an unprotected public bind.
    public func check() throws -> String? {
        if let token, token.count < 16 {
            throw DashboardError("--token must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        }
        // The token travels as a cookie's value (RFC 6265's cookie-octet).
        if let token, !token.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) && !#"",;"#.unicodeScalars.contains($0) }) {
            throw DashboardError(#"--token must be printable ASCII without spaces, ", ; or \ (e.g. `openssl rand -hex 16`)"#)
        }
        guard !isLoopback, token == nil else { return nil }
        guard insecure else {
            throw DashboardError("--bind \(bind) is not loopback: give --token SECRET (requests must carry it) or --insecure to serve anyone who can reach port \(port)")
        }
        return "dashboard on \(bind):\(port) without a token: anyone who reaches it can read the sweep's configs, results and logs"
    }

    /// Whether a request with these credentials may see the dashboard. The token may come as
    /// `Authorization: Bearer …`, as `?token=…` (a link to open in a browser) or as the cookie
    /// that a `?token=` request sets; it is compared in constant time.
    func admits(authorization: String?, query: String?, cookie: String?) -> Bool {
        guard let token else { return true }
        let offered = [authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }, query, cookie.flatMap(Self.tokenCookie)]
        return offered.contains { $0.map { Self.constantTimeEqual($0, token) } ?? false }
    }

    static let cookieName = "lpft_dashboard"

    /// The `Set-Cookie` value for a request whose `?token=` matched, so that the page's own
    /// requests carry the token; nil for any other. It holds the server's token, never the
    /// request's text, which could hold CR LF and so write headers or a body of its own.
    func cookie(forQueryToken query: String?) -> String? {
        guard let token, let query, Self.constantTimeEqual(query, token) else { return nil }
        return "\(Self.cookieName)=\(token); HttpOnly; SameSite=Strict; Path=/"
    }

    static func tokenCookie(_ header: String) -> String? {
        header.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(cookieName + "=") }.map { String($0.dropFirst(cookieName.count + 1)) }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// On loopback, the Host header must name this machine: a web page elsewhere that rebinds
    /// its own host name to 127.0.0.1 (DNS rebinding) then cannot read the dashboard, for its
    /// browser sends that name. So the Host is parsed, not prefix-matched: `localhost` (host
    /// names ignore case), a dotted-quad address in 127.0.0.0/8 or `[::1]`, then optionally `:`
    /// and `port`, the one the server listens on. Off loopback, or with a token, the token or
    /// `--insecure` decides instead (`check()`).
    ///
    /// Of two Host headers only the last reaches us: FlyingFox 0.27.1 (the only version this
    /// project may use) keeps one value per header name while decoding, so a duplicate cannot
    /// be refused (RFC 9112 3.2 asks for 400). It is not a way around this check: a browser,
    /// the rebinding page's only tool, never sends Host twice (Fetch forbids scripts to set it),
    /// and a program on this machine that can send two could as well send the right one; the
    /// token is the defence against local programs. A foreign last Host is refused (tested).
    func acceptsHost(_ host: String?, port: UInt16) -> Bool {
        guard isLoopback, token == nil else { return true }
        guard let host else { return false }
        // The name ends after the `]` of an IPv6 literal, or else at the first `:`.
        let nameEnd = host.hasPrefix("[") ? host.firstIndex(of: "]").map(host.index(after:)) : host.firstIndex(of: ":") ?? host.endIndex
        guard let nameEnd else { return false }
        let (name, portPart) = (host[..<nameEnd].lowercased(), host[nameEnd...])
        guard portPart.isEmpty || portPart.first == ":" && Self.decimal(portPart.dropFirst()) == Int(port) else { return false }
        return name == "localhost" || name == "[::1]" || Self.isLoopbackIPv4(name)
    }

    /// Whether `name` is an address in 127.0.0.0/8 as four decimal numbers without leading
    /// zeros (RFC 3986's IPv4address). Resolvers read `127.1`, `0x7f.1` or `0177.0.0.1` as
    /// addresses too, but a browser sends only this form, and nobody can own a name in it.
    static func isLoopbackIPv4(_ name: String) -> Bool {
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { $0.count <= 3 && ($0 == "0" || !$0.hasPrefix("0")) && (decimal($0) ?? 256) <= 255 }
    }

    /// The value of 1 to 5 ASCII digits; nil for anything else (`Int` alone would take a sign).
    static func decimal(_ digits: Substring) -> Int? {
        (1...5).contains(digits.count) && digits.allSatisfy { $0.isASCII && $0.isNumber } ? Int(digits) : nil
    }
}

/// Why the dashboard cannot start or answer, in one line that says what to do.
public struct DashboardError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
