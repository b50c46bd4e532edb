import Foundation
import Sweep
import TestSupport
import XCTest

/// Waits for the dashboard's URL in its log.
func dashboardURL(_ log: URL) -> URL? {
    var found: URL?
    _ = eventually(timeout: 30) {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.contains("dashboard of") }),
              let start = line.range(of: "http://") else { return false }
        let address = line[start.lowerBound...].prefix { $0 != " " }
        found = URL(string: String(address))
        return found != nil
    }
    return found
}

/// `lpft sweep serve` as a process, over a noop sweep that `lpft sweep run` is running.
final class ServeCommandTests: XCTestCase {
    func completed(_ url: URL) throws -> Int? {
        let trials = try JSONSerialization.jsonObject(with: Data(try fetchNow(url.appendingPathComponent("api/trials")).body.utf8)) as? [[String: Any]]
        return trials?.filter { $0["state"] as? String == "completed" }.count
    }

    func testServeOnARunningNoopSweepShowsItGrowOnLoopback() throws {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("noop.yaml")
        // 400 trials of 80 ms on one worker take 32 s: still running when a loaded machine gets
        // to the first request; the test stops it when done.
        try "base: {method: noop, duration_ms: 80}\ngrid:\n  seed: [\((1...400).map(String.init).joined(separator: ", "))]\n"
            .write(to: spec, atomically: true, encoding: .utf8)
        let sweep = dir.appendingPathComponent("sweep")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", sweep.path, "--local-workers", "1"], log: dir.appendingPathComponent("run.log"), test: self)
        XCTAssertTrue(eventually(timeout: 60) {
            FileManager.default.fileExists(atPath: sweep.appendingPathComponent(Journal.fileName).path)
                && ((try? Journal(readingDirectory: sweep).trials().count) ?? 0) == 400
        }, "the sweep has planned its trials")
        let serveLog = dir.appendingPathComponent("serve.log")
        let serve = try startLPFT(["sweep", "serve", sweep.path, "--port", "0"], log: serveLog, test: self)
        let url = try XCTUnwrap(dashboardURL(serveLog), (try? String(contentsOf: serveLog, encoding: .utf8)) ?? "")
        XCTAssertEqual(url.host, "127.0.0.1", "loopback by default")

        let page = try fetchNow(url)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(page.body.hasPrefix("<!DOCTYPE html>") && page.body.contains("id=\"count-completed\""))
        let trials = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try fetchNow(url.appendingPathComponent("api/trials")).body.utf8)) as? [[String: Any]])
        XCTAssertEqual(trials.count, 400, "every trial, whatever its state")
        XCTAssertEqual(Set(trials.compactMap { $0["id"] as? String }).count, 400)

        let first = try XCTUnwrap(try completed(url))
        XCTAssertLessThan(first, 400, "the sweep was still running at the first request")
        XCTAssertTrue(try eventually(timeout: 60) { try (completed(url) ?? 0) > first }, "the completed count grows between requests")

        let metrics = try fetchNow(url.appendingPathComponent("metrics")).body
        let line = try XCTUnwrap(metrics.split(separator: "\n").first { $0.hasPrefix(#"lpft_trials{state="completed"} "#) }, metrics)
        XCTAssertNotNil(Double(line.split(separator: " ").last!), String(line))

        kill(serve.processIdentifier, SIGTERM)
        XCTAssertTrue(eventually(timeout: 10) { !serve.isRunning }, "Ctrl-C/SIGTERM stops the server")
        XCTAssertEqual(serve.terminationStatus, 0)
        kill(run.processIdentifier, SIGINT)
        XCTAssertTrue(eventually(timeout: 30) { !run.isRunning })
        XCTAssertEqual(run.terminationStatus, 130, "stopped, as Ctrl-C does")
    }

    func testANonLoopbackBindWithoutATokenIsRefusedWithWhatToDo() throws {
        let dir = try temporaryDirectory(self)
        _ = try Journal(directory: dir)
        let (status, errors) = try runLPFT(["sweep", "serve", dir.path, "--bind", "0.0.0.0", "--port", "0"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(errors.contains("--token") && errors.contains("--insecure"), errors)
        XCTAssertEqual(errors.split(separator: "\n").count, 1, "one line: \(errors)")
    }
}

/// `lpft sweep run --http`: the dashboard lives as long as the coordinator.
final class RunWithDashboardTests: XCTestCase {
    func testSweepRunServesItsDashboardWhileItRunsAndStopsItAtTheEnd() throws {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("noop.yaml")
        try "base: {method: noop, duration_ms: 30}\ngrid:\n  seed: [\((1...150).map(String.init).joined(separator: ", "))]\n"
            .write(to: spec, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", dir.appendingPathComponent("sweep").path, "--local-workers", "1", "--http", "127.0.0.1:0"],
                                log: log, test: self)
        let url = try XCTUnwrap(dashboardURL(log), (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        let metrics = try fetchNow(url.appendingPathComponent("metrics")).body
        XCTAssertTrue(metrics.contains(#"lpft_trials{state="completed"} "#), metrics)
        XCTAssertTrue(eventually(timeout: 120) { !run.isRunning })
        XCTAssertEqual(run.terminationStatus, 0)
        XCTAssertThrowsError(try fetchNow(url), "the dashboard stopped with the sweep")
    }

    func testTheDashboardOfAKilledCoordinatorStopsWithIt() throws {
        let dir = try temporaryDirectory(self)
        let spec = dir.appendingPathComponent("noop.yaml")
        try "base: {method: noop, duration_ms: 600000}\ngrid:\n  seed: [1]\n".write(to: spec, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("run.log")
        let run = try startLPFT(["sweep", "run", spec.path, "--dir", dir.appendingPathComponent("sweep").path, "--local-workers", "1", "--http", "127.0.0.1:0"],
                                log: log, test: self)
        let url = try XCTUnwrap(dashboardURL(log), (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        XCTAssertNoThrow(try fetchNow(url))
        kill(run.processIdentifier, SIGKILL)  // no handler of the coordinator's runs
        XCTAssertTrue(eventually(timeout: 30) { (try? fetchNow(url)) == nil }, "the dashboard outlived its coordinator")
    }
}
