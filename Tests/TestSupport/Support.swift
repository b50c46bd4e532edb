import Foundation
import TextData
import XCTest

/// The fetched all-MiniLM-L6-v2 and the built `lpft`. The model must be present: a missing
/// one fails the test, it never skips.
public enum Support {
    public static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The fetched model; scripts/test.sh runs `lpft model fetch` first.
    public static func miniLM() throws -> URL {
        do { return try ModelStore().resolve(ModelStore.defaultModel) } catch {
            XCTFail("\(error) (scripts/test.sh fetches it before the tests)")
            throw error
        }
    }

    /// Runs `lpft` (or a copy of it at `executable`) with `arguments` (and extra environment, in
    /// `directory` if given); returns its exit status and standard output.
    @discardableResult
    public static func lpft(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil, executable: URL = lpftExecutable,
                            whileRunning: ((Process) -> Void)? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        whileRunning?(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
