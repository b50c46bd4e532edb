import Foundation
import TestSupport
import TextData
import XCTest

/// Shared fixtures (../shared/fixtures) and the fetched all-MiniLM-L6-v2.
/// Both must be present: a missing one fails the test, it never skips.
enum Support {
    static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var fixtures: URL { fixturesDirectory }

    static func fixture(_ name: String) throws -> Any {
        let url = fixtures.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            XCTFail("fixture \(url.path) is missing: tests need ../shared/fixtures beside the project (or LPFT_FIXTURES)")
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONSerialization.jsonObject(with: data)
    }

    /// The fetched model; scripts/test.sh runs `lpft model fetch` first.
    static func miniLM() throws -> URL {
        do { return try ModelStore().resolve(ModelStore.defaultModel) } catch {
            XCTFail("\(error) (scripts/test.sh fetches it before the tests)")
            throw error
        }
    }

    /// Runs `lpft` with `arguments` (and extra environment); returns its exit status and standard output.
    @discardableResult
    static func lpft(_ arguments: [String], environment: [String: String] = [:], whileRunning: ((Process) -> Void)? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = TestSupport.lpftExecutable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        whileRunning?(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        try TestSupport.temporaryDirectory(test)
    }
}
