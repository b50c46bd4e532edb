import Foundation
import XCTest

/// The built `lpft` next to the test bundle.
public var lpftExecutable: URL {
    var dir = Bundle.allBundles.first { $0.bundleURL.pathExtension == "xctest" }?.bundleURL ?? Bundle.main.bundleURL
    while dir.pathExtension == "xctest" || dir.lastPathComponent == "Contents" { dir.deleteLastPathComponent() }
    return dir.appendingPathComponent("lpft")
}

/// A fresh temporary directory, removed at the end of the test.
public func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Starts `lpft` in the background (in a network namespace if given) with its output in `log`;
/// the test kills it at teardown if it is still running.
@discardableResult
public func startLPFT(_ arguments: [String], log: URL, test: XCTestCase, namespace: String? = nil, in directory: URL? = nil) throws -> Process {
    guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
    let handle = try FileHandle(forWritingTo: log)
    let p = Process()
    if let namespace {
        // `ip netns exec` execs the program in place: the pid stays the one to signal.
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", namespace, lpftExecutable.path] + arguments
    } else {
        p.executableURL = lpftExecutable
        p.arguments = arguments
    }
    p.standardOutput = handle
    p.standardError = handle
    if let directory { p.currentDirectoryURL = directory }
    try p.run()
    test.addTeardownBlock {
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }
    return p
}

/// Waits until `condition` holds, polling every 20 ms; false after `timeout` seconds.
public func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Runs `lpft` to its end (killed after `timeout` seconds) and returns its exit status and
/// what it wrote on stderr, for tests of how it fails.
public func runLPFT(_ arguments: [String], timeout: Double = 60) throws -> (status: Int32, errors: String) {
    let p = Process()
    p.executableURL = lpftExecutable
    p.arguments = arguments
    let errors = Pipe()
    p.standardError = errors
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let deadline = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    deadline.cancel()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Asserts that a run failed at run time as a user should see it: non-zero, one `Error:` line
/// containing `expected`, and no usage text (that is for mistyped commands).
public func assertRuntimeFailure(_ run: (status: Int32, errors: String), contains expected: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotEqual(run.status, 0, run.errors, file: file, line: line)
    XCTAssertFalse(run.errors.contains("Usage:"), run.errors, file: file, line: line)
    let errorLines = run.errors.split(separator: "\n").filter { $0.hasPrefix("Error:") }
    XCTAssertEqual(errorLines.count, 1, run.errors, file: file, line: line)
    XCTAssertTrue(errorLines.first?.contains(expected) ?? false, run.errors, file: file, line: line)
}
