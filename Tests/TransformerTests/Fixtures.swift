import Foundation
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

/// ‖a − b‖ / ‖b‖ in Double.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) values")
    var diff = 0.0, norm = 0.0
    for (x, y) in zip(a, b) {
        diff += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (diff / max(norm, 1e-300)).squareRoot()
}

/// Flattens nested JSON number arrays row-major.
func flatFloats(_ value: Any?) -> [Float] {
    if let n = value as? Double { return [Float(n)] }
    if let n = value as? Int { return [Float(n)] }
    if let a = value as? [Any] { return a.flatMap(flatFloats) }
    return []
}

func flatInts(_ value: Any?) -> [Int32] { flatFloats(value).map { Int32($0) } }
