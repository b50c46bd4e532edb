@testable import Dashboard
import Foundation
import Sweep
import TestSupport
import XCTest

/// The dashboard in process, over a journal the test writes: escaping, read-only, tokens.
final class DashboardTests: XCTestCase {
    static let hostile = "<script>alert('x')</script>"

    /// A finished sweep of three trials: one completed, one failed for a hostile reason with a
    /// hostile log tail, one pending with a hostile axis value. The journal is closed after.
    func sweep() throws -> URL {
        let dir = try temporaryDirectory(self)
        let journal = try Journal(directory: dir)
        try journal.write { w in
            try w.event(CoordinatorEvent.started, at: 0)
            try w.addTrial(id: "ok", position: 0, axes: #"{"seed":1}"#, config: #"{"method":"noop","seed":1}"#, at: 0)
            try w.addTrial(id: "bad", position: 1, axes: #"{"seed":2}"#, config: #"{"method":"noop","seed":2}"#, at: 0)
            try w.addTrial(id: "odd", position: 2, axes: #"{"seed":"\#(Self.hostile)"}"#, config: #"{"method":"noop"}"#, at: 0)
            let ok = try w.startAttempt(trial: "ok", number: 1, worker: "w<1>", host: "h",
                                        machine: #"{"blas":"OpenBLAS 0.3.21 core=Zen","build":"0.1.0+0123456789ab","cpu":"AMD EPYC","cpuFlags":[]}"#, at: 1)
            try w.insertMetric(lease: ok, trial: "ok", seq: 0, name: "ft/loss", value: 0.7, epoch: 1, step: nil)
            try w.insertMetric(lease: ok, trial: "ok", seq: 1, name: "ft/loss", value: 0.4, epoch: 2, step: nil)
            try w.endAttempt(lease: ok, state: .completed, at: 3, result: #"{"metrics":{"test/accuracy":0.8}}"#)
            try w.updateTrial("ok", state: .completed, chargedAttempts: 0, result: #"{"metrics":{"test/accuracy":0.8}}"#, finishedAt: 3)
            let hostileMachine = String(data: try JSONSerialization.data(withJSONObject: ["build": "b", "blas": "x", "cpu": Self.hostile]), encoding: .utf8)!
            let bad = try w.startAttempt(trial: "bad", number: 1, worker: "w<1>", host: "h", machine: hostileMachine, at: 3)
            try w.endAttempt(lease: bad, state: .failed, at: 4, reason: Self.hostile, logTail: "<img src=x onerror=alert(1)>")
            try w.updateTrial("bad", state: .failed, chargedAttempts: 1, reason: Self.hostile, finishedAt: 4)
            try w.event(CoordinatorEvent.stopped, at: 5)
        }
        return dir
    }

    func site(_ dir: URL) throws -> DashboardSite {
        DashboardSite(journal: try Journal(readingDirectory: dir), sweep: dir.lastPathComponent)
    }

    func testAHostileFailureReasonLogTailAndAxisAreEscapedOnEveryPage() throws {
        let site = try site(sweep())
        for path in ["/", "/trials", "/trials/bad", "/trials/odd", "/report"] {
            for query in [[:], ["fragment": "1"]] {
                let page = try site.respond(path: path, query: query).body
                XCTAssertFalse(page.contains("<script>alert") || page.contains("<img src=x"), "\(path) \(query) has raw markup:\n\(page)")
            }
        }
        let overview = try site.respond(path: "/", query: [:]).body
        XCTAssertTrue(overview.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "the reason is shown, escaped")
        XCTAssertTrue(overview.contains("&lt;img src=x onerror=alert(1)&gt;"), "the log tail is shown, escaped")
        XCTAssertTrue(try site.respond(path: "/trials", query: [:]).body.contains("&lt;script&gt;"), "the axis value is shown, escaped")
        XCTAssertEqual(overview.components(separatedBy: "<script").count - 1, 1, "the page's only script is its own file")
        XCTAssertTrue(try site.respond(path: "/report", query: [:]).body.contains("<h3>Runs of this sweep: 1 (1 stopped)</h3>"), "the report has its resume history")
    }

    func testTheTrialsTableFiltersAndSortsByAnyColumn() throws {
        let site = try site(sweep())
        let all = try site.respond(path: "/trials", query: ["sort": "state", "desc": "1"]).body
        let order = ["pending", "failed", "completed"].map { all.range(of: "<td>\($0)</td>")!.lowerBound }
        XCTAssertEqual(order, order.sorted(), "states descending")
        let one = try site.respond(path: "/trials", query: ["where": "seed=2"]).body
        XCTAssertTrue(one.contains("1 of 1 matching") && one.contains("/trials/bad"), one)
        XCTAssertEqual(try site.respond(path: "/trials", query: ["sort": "nope"]).status, 400)
        XCTAssertEqual(try site.respond(path: "/trials", query: ["where": "seed"]).status, 400)
    }

    func testTheTrialPageDrawsItsCurveAndTheAPIListsEveryTrial() throws {
        let site = try site(sweep())
        let page = try site.respond(path: "/trials/ok", query: [:]).body
        XCTAssertTrue(page.contains("<td>0.1.0+0123456789ab · core=Zen · AMD EPYC</td>"), "the attempt's build, BLAS kernel and CPU")
        XCTAssertTrue(page.contains("<svg") && page.contains("ft/loss"), "a learning curve")
        let trials = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try site.respond(path: "/api/trials", query: [:]).body.utf8)) as? [[String: Any]])
        XCTAssertEqual(trials.map { $0["id"] as? String }, ["ok", "bad", "odd"])
        XCTAssertEqual((trials[0]["metrics"] as? [String: Double])?["test/accuracy"], 0.8)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try site.respond(path: "/api/trials/ok/metrics", query: [:]).body.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["value"] as? Double }, [0.7, 0.4])
        XCTAssertEqual(try site.respond(path: "/api/trials/nope/metrics", query: [:]).status, 404)
    }

    func testMetricsArePrometheusText() throws {
        let text = try site(sweep()).respond(path: "/metrics", query: [:]).body
        for line in [#"lpft_trials{state="completed"} 1"#, #"lpft_trials{state="failed"} 1"#, #"lpft_trials{state="pending"} 1"#,
                     #"lpft_attempts_total{outcome="failed"} 1"#, "lpft_metric_rows_ingested_total 2", "# TYPE lpft_dispatch_latency_seconds histogram"] {
            XCTAssertTrue(text.split(separator: "\n").contains { $0.hasPrefix(line) }, "no \(line) in\n\(text)")
        }
    }

    /// Every page and API call over HTTP, and a POST; the journal's files are byte for byte
    /// what they were, and no file was added beside them but SQLite's shared-memory index.
    func testServingLeavesTheJournalUnchanged() async throws {
        let dir = try sweep()
        let journalFile = dir.appendingPathComponent(Journal.fileName)
        let before = try Data(contentsOf: journalFile)
        let server = try DashboardServer(directory: dir, name: "s", access: DashboardAccess(port: 0))
        let port = try await server.start()
        for path in ["/", "/?fragment=1", "/trials", "/trials/ok", "/trials/bad", "/report", "/metrics", "/api/overview", "/api/trials", "/api/trials/ok", "/api/trials/ok/metrics"] {
            let r = try await fetch(URL(string: "http://127.0.0.1:\(port)\(path)")!)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertTrue(r.headers["content-security-policy"]?.contains("default-src 'self'") ?? false, path)
        }
        let post = try await fetch(URL(string: "http://127.0.0.1:\(port)/api/trials")!, method: "POST")
        XCTAssertEqual(post.status, 405)
        await server.stop()
        XCTAssertEqual(try Data(contentsOf: journalFile), before)
        let wal = dir.appendingPathComponent(Journal.fileName + "-wal")
        let walSize = FileManager.default.fileExists(atPath: wal.path) ? try Data(contentsOf: wal).count : 0
        XCTAssertEqual(walSize, 0, "nothing written to a WAL")
    }

    func testANonLoopbackBindNeedsATokenOrInsecure() throws {
        XCTAssertNil(try DashboardAccess().check(), "loopback by default")
        XCTAssertEqual(DashboardAccess().bind, "127.0.0.1")
        XCTAssertThrowsError(try DashboardAccess(bind: "0.0.0.0").check()) { XCTAssertTrue("\($0)".contains("--token"), "\($0)") }
        XCTAssertThrowsError(try DashboardAccess(bind: "0.0.0.0", token: "short").check())
        for token in ["0123456789abcdef\r\nX-Injected: 1", "0123456789abcdef;a", "0123456789 abcdef", "0123456789abcdéf"] {
            XCTAssertThrowsError(try DashboardAccess(bind: "0.0.0.0", token: token).check(), "a token a cookie cannot carry: \(token)")
        }
        XCTAssertNil(try DashboardAccess(bind: "0.0.0.0", token: String(repeating: "k", count: 16)).check())
        XCTAssertNotNil(try DashboardAccess(bind: "0.0.0.0", insecure: true).check(), "a warning")
    }

    /// DNS rebinding: a page elsewhere points its own name at 127.0.0.1, and the browser sends
    /// that name as the Host. Only this machine's names pass, exactly, with the server's port.
    func testOnLoopbackTheHostMustNameThisMachineAndPortExactly() {
        let access = DashboardAccess(port: 0)
        for host in ["127.0.0.1:8080", "127.1.2.3:8080", "127.255.255.255:8080", "127.0.0.1", "localhost:8080", "LOCALHOST:8080", "localhost", "[::1]:8080", "[::1]"] {
            XCTAssertTrue(access.acceptsHost(host, port: 8080), host)
        }
        for host in ["127.0.0.1.evil.example", "127.0.0.1.evil.example:8080", "localhost.evil.example:8080", "evil.example:8080",
                     "127.0.0.1:8081", "[::1]:8081", "localhost:80800", "localhost:+8080", "localhost:", "127.0.0.1:8080:8080",
                     "", ":8080", "0x7f.1", "0x7f.0.0.1", "127.1", "2130706433", "0177.0.0.1", "127.0.0.01", "127.0.0.256", "127.0.0.1.",
                     "::1", "[::1", "[::1]x", "[0:0:0:0:0:0:0:2]", "127.0.0.1:8080,evil.example", "127.0.0.1:8080, evil.example", "127.0.0.1 evil.example"] {
            XCTAssertFalse(access.acceptsHost(host, port: 8080), host)
        }
        XCTAssertFalse(access.acceptsHost(nil, port: 8080), "no Host")
        XCTAssertTrue(DashboardAccess(token: String(repeating: "k", count: 16)).acceptsHost("evil.example", port: 8080), "the token decides")
        XCTAssertTrue(DashboardAccess(bind: "0.0.0.0", insecure: true).acceptsHost("dashboard.lab:8080", port: 8080), "off loopback, the bind rule decides")
    }

    /// Over HTTP: a rebinding name, another port, a second Host naming another machine are refused.
    func testTheServerRefusesAHostThatIsNotThisMachine() async throws {
        let server = try DashboardServer(directory: try sweep(), name: "s", access: DashboardAccess(port: 0))
        let port = try await server.start()
        func status(hosts: [String]) async throws -> String {
            let response = try await exchange("GET /api/trials HTTP/1.1\r\n" + hosts.map { "Host: \($0)\r\n" }.joined() + "Connection: close\r\n\r\n", port: port)
            return response.components(separatedBy: "\r\n")[0]
        }
        let this = try await status(hosts: ["127.0.0.1:\(port)"])
        let rebound = try await status(hosts: ["127.0.0.1.evil.example:\(port)"])
        let otherPort = try await status(hosts: ["127.0.0.1:\(port == 1 ? 2 : port - 1)"])
        let thisThenEvil = try await status(hosts: ["127.0.0.1:\(port)", "evil.example:\(port)"])
        await server.stop()
        XCTAssertEqual(this, "HTTP/1.1 200 OK")
        XCTAssertEqual(rebound, "HTTP/1.1 403 Forbidden")
        XCTAssertEqual(otherPort, "HTTP/1.1 403 Forbidden")
        XCTAssertNotEqual(thisThenEvil, "HTTP/1.1 200 OK", "two Host headers, the last naming another machine")
    }

    /// A request let in by its cookie, with CR LF in a `?token=` that does not match: the
    /// response has no header or body of the request's making, and sets no cookie.
    func testAQueryTokenCannotSplitTheResponse() async throws {
        let token = "0123456789abcdef0123"
        let server = try DashboardServer(directory: try sweep(), name: "s", access: DashboardAccess(port: 0, token: token))
        let port = try await server.start()
        func get(_ target: String) async throws -> String {
            try await exchange("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nCookie: lpft_dashboard=\(token)\r\nConnection: close\r\n\r\n", port: port)
        }
        let header = try await get("/api/overview?token=x%0d%0aX-Injected:%201")
        let body = try await get("/api/overview?token=x%0d%0a%0d%0aINJECTED-BODY")
        await server.stop()
        for response in [header, body] {
            let head = response.components(separatedBy: "\r\n\r\n")[0]
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK\r\n"), response)
            XCTAssertFalse(head.lowercased().contains("set-cookie"), "only a token that matched sets the cookie:\n\(head)")
            XCTAssertFalse(response.lowercased().contains("injected"), response)
        }
    }

    /// The last line of defence: a response header with a line break is not sent. A token
    /// that holds one (as the server is given it here) would put it in the cookie.
    func testAResponseHeaderWithALineBreakIsNeverSent() async throws {
        let server = try DashboardServer(directory: try sweep(), name: "s", access: DashboardAccess(port: 0, token: "0123456789abcdef\r\nX-Injected: 1"))
        let port = try await server.start()
        let response = try await exchange("GET /api/overview?token=0123456789abcdef%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n", port: port)
        await server.stop()
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 500 "), response)
        XCTAssertFalse(response.lowercased().contains("injected"), response)
    }

    func testWithATokenRequestsWithoutItAreRefused() async throws {
        let token = "0123456789abcdef0123"
        let server = try DashboardServer(directory: try sweep(), name: "s", access: DashboardAccess(port: 0, token: token))
        let port = try await server.start()
        let base = "http://127.0.0.1:\(port)"
        let refused = try await fetch(URL(string: "\(base)/api/trials")!)
        let wrong = try await fetch(URL(string: "\(base)/metrics")!, headers: ["Authorization": "Bearer \(token.dropLast())x"])
        let bearer = try await fetch(URL(string: "\(base)/metrics")!, headers: ["Authorization": "Bearer \(token)"])
        let link = try await fetch(URL(string: "\(base)/?token=\(token)")!)
        let cookie = try await fetch(URL(string: "\(base)/trials")!, headers: ["Cookie": "lpft_dashboard=\(token)"])
        await server.stop()
        XCTAssertEqual(refused.status, 401)
        XCTAssertFalse(refused.body.contains("\"id\""), "no data without the token")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual(bearer.status, 200)
        XCTAssertEqual(link.status, 200)
        XCTAssertTrue(link.headers["set-cookie"]?.hasPrefix("lpft_dashboard=\(token); HttpOnly") ?? false, "\(link.headers)")
        XCTAssertEqual(cookie.status, 200)
    }
}
