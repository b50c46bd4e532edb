import Foundation
import TestSupport
import XCTest

/// The PyTorch/Hugging Face reference outputs in `../shared/fixtures` (see its README).
/// A missing fixture is a failure, never a skip: these tests are the proof the core is right.
enum Fixtures {
    static var directory: URL { fixturesDirectory }

    static func url(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        try fixtureURL(name, file: file, line: line)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try url(name))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
