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

/// Starts `lpft` in the background with its output in `log`; the test kills it at teardown if
/// it is still running.
public func startLPFT(_ arguments: [String], log: URL, test: XCTestCase) throws -> Process {
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    let p = Process()
    p.executableURL = lpftExecutable
    p.arguments = arguments
    p.standardOutput = handle
    p.standardError = handle
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
