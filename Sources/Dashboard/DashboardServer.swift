import FlyingFox
import FlyingSocks
import Foundation
import Logging
import Sweep
import Synchronization

/// `lpft sweep serve`: the dashboard of one sweep directory over HTTP (FlyingFox).
///
/// Read-only: it opens the journal read-only, answers only GET and HEAD, and writes nothing;
/// a running coordinator keeps writing the same WAL journal meanwhile.
public final class DashboardServer: Sendable {
    public let access: DashboardAccess
    private let server: HTTPServer
    private let logger: Logger
    private let stopping = ShutdownFlag()
    private let listening: ListeningPort

    /// Opens the journal of `directory` read-only; `name` is how pages call the sweep.
    public init(directory: URL, name: String, access: DashboardAccess, logger: Logger = Logger(label: "lpft.dashboard")) throws {
        self.access = access
        self.logger = logger
        listening = ListeningPort(access.port)
        let site = DashboardSite(journal: try Journal(readingDirectory: directory), sweep: name)
        let address: any SocketAddress
        do {
            address = access.bind.contains(":") ? try sockaddr_in6.inet6(ip6: access.bind, port: access.port)
                : try sockaddr_in.inet(ip4: access.bind == "localhost" ? "127.0.0.1" : access.bind, port: access.port)
        } catch {
            throw DashboardError("--bind \(access.bind) is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0 or ::)")
        }
        server = HTTPServer(address: address, logger: FlyingFoxLog(logger: logger, stopping: stopping), handler: DashboardHandler(site: site, access: access, listening: listening, logger: logger))
    }

    /// Starts listening and returns the port (the one the system chose for port 0).
    public func start() async throws -> UInt16 {
        Task { [server, logger, stopping] in
            do { try await server.run() } catch where !stopping.isSet { logger.error("dashboard stopped: \(error)") }
        }
        do { try await server.waitUntilListening(timeout: 10) } catch {
            throw DashboardError("cannot listen on \(access.bind):\(access.port) (\(error)): is the port in use? Choose another with --port")
        }
        switch await server.listeningAddress {
        case .ip4(_, let port)?, .ip6(_, let port)?: listening.value = port
        default: break
        }
        return listening.value
    }

    public func stop() async {
        stopping.set()
        await server.stop(timeout: 1)
    }

    /// Serves until SIGINT or SIGTERM (the command line's blocking entry point); `onListening`
    /// gets the dashboard's URL.
    public func serveUntilSignalled(onListening: @escaping @Sendable (String) -> Void) throws {
        let stopped = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0) }
        let task = Task { [self] in
            do {
                let port = try await start()
                let host = access.bind.contains(":") ? "[\(access.bind)]" : access.bind
                onListening("http://\(host):\(port)/" + (access.token == nil ? "" : "?token=…"))
                await withCheckedContinuation { (resume: CheckedContinuation<Void, Never>) in
                    let once = OnceBox(resume)
                    for source in sources {
                        source.setEventHandler { once.fire() }
                        source.resume()
                    }
                }
                await stop()
            } catch {
                failure.set(error)
            }
            stopped.signal()
        }
        stopped.wait()
        withExtendedLifetime(task) {}
        if let error = failure.error { throw error }
    }
}

/// Routes a request to the site after checking who asks and how; runs the journal's blocking
/// reads on a Dispatch queue, so the server's cooperative threads stay free to accept.
struct DashboardHandler: HTTPHandler {
    let site: DashboardSite
    let access: DashboardAccess
    let listening: ListeningPort
    let logger: Logger
    private static let readers = DispatchQueue(label: "lpft.dashboard.journal", attributes: .concurrent)

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        let response = await respond(to: request)
        // A line break in a header value would end that header early, and what follows would be
        // headers or a body of someone else's making (response splitting): refuse to send it.
        guard Self.headersAreWellFormed(response) else {
            logger.error("dashboard: \(request.path): a response header held CR, LF or NUL; answered 500 instead")
            return Self.response(.text(500, "the dashboard refused to send a malformed response header"))
        }
        return response
    }

    /// Whether no header value holds CR, LF or NUL, which RFC 9110 (5.5) forbids in one.
    private static func headersAreWellFormed(_ response: HTTPResponse) -> Bool {
        response.headers.allSatisfy { !$0.value.utf8.contains { $0 == 0 || $0 == 10 || $0 == 13 } }
    }

    private func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            return Self.response(.text(405, "the dashboard is read-only: only GET and HEAD"))
        }
        let port = listening.value
        guard access.acceptsHost(request.headers[.host], port: port) else {
            return Self.response(.text(403, "Host \(request.headers[.host] ?? "(none)") is not this machine and port: open the dashboard as http://127.0.0.1:\(port)/"))
        }
        let queryToken = request.query["token"]
        guard access.admits(authorization: request.headers[.authorization], query: queryToken, cookie: request.headers[.cookie]) else {
            return Self.response(.text(401, "this dashboard needs its token: open it as /?token=TOKEN or send Authorization: Bearer TOKEN"))
        }
        let query = Dictionary(request.query.filter { $0.name != "token" }.map { ($0.name, $0.value) }) { first, _ in first }
        let path = request.path
        let result: DashboardResponse = await withCheckedContinuation { resume in
            Self.readers.async {
                do {
                    resume.resume(returning: try site.respond(path: path, query: query))
                } catch {
                    logger.warning("dashboard: \(path): \(error)")
                    resume.resume(returning: .text(500, "cannot read the journal: \(error)"))
                }
            }
        }
        var response = Self.response(result)
        response.headers[.setCookie] = access.cookie(forQueryToken: queryToken)
        return response
    }

    static func response(_ r: DashboardResponse) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers[.contentType] = r.contentType
        headers[.cacheControl] = "no-store"
        // Scripts only from this server (the page's own file), no framing, no sniffing.
        headers[HTTPHeader("Content-Security-Policy")] = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
        headers[HTTPHeader("X-Content-Type-Options")] = "nosniff"
        headers[HTTPHeader("Referrer-Policy")] = "no-referrer"
        return HTTPResponse(statusCode: HTTPStatusCode(r.status, phrase: phrase(r.status)), headers: headers, body: Data(r.body.utf8))
    }

    static func phrase(_ status: Int) -> String {
        [200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"][status] ?? "Internal Server Error"
    }
}

/// FlyingFox's log lines through swift-log: its per-connection chatter at debug, and the
/// errors of connections cancelled by `stop()` too (they are how stopping works).
struct FlyingFoxLog: FlyingSocks.Logging {
    let logger: Logger
    let stopping: ShutdownFlag
    func logDebug(_ debug: @autoclosure () -> String) { logger.trace("\(debug())") }
    func logInfo(_ info: @autoclosure () -> String) { logger.debug("\(info())") }
    func logWarning(_ warning: @autoclosure () -> String) { logger.log(level: stopping.isSet ? .debug : .warning, "\(warning())") }
    func logError(_ error: @autoclosure () -> String) { logger.log(level: stopping.isSet ? .debug : .error, "\(error())") }
    func logCritical(_ critical: @autoclosure () -> String) { logger.log(level: stopping.isSet ? .debug : .critical, "\(critical())") }
}

/// The port the server listens on: `--port`, or for `--port 0` the one the system chose, once
/// `start()` has learned it. A lock, because requests read it on any thread.
final class ListeningPort: Sendable {
    private let port: Mutex<UInt16>
    init(_ port: UInt16) { self.port = Mutex(port) }
    var value: UInt16 {
        get { port.withLock { $0 } }
        set { port.withLock { $0 = newValue } }
    }
}

/// Set once `stop()` is called. A lock, because the server's tasks read it on any thread.
final class ShutdownFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// The first error of the serving task, read after it ended. A lock, because the task and
/// the waiting thread are different threads.
private final class FailureBox: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    func set(_ error: any Error) { stored.withLock { $0 = error } }
    var error: (any Error)? { stored.withLock { $0 } }
}

/// Resumes a continuation once, though two signal sources may fire. A lock, because the
/// sources' handlers run on Dispatch threads.
private final class OnceBox: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>
    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }
    func fire() { continuation.withLock { $0.take() }?.resume() }
}
