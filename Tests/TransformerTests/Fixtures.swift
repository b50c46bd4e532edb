import Foundation
import TestSupport
import XCTest

/// The PyTorch/Hugging Face reference outputs in `../shared/fixtures` (see its README).
/// A missing fixture is a failure, never a skip: these tests are the proof the core is right.
enum Fixtures {
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["LPFT_FIXTURES"] {
            return URL(fileURLWithPath: override)
        }
        // Tests/TransformerTests/Fixtures.swift → project root → ../shared/fixtures
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    static func url(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("fixture \(url.path) is missing: tests need ../shared/fixtures beside the project (or LPFT_FIXTURES)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try url(name))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
