import Foundation
import XCTest

/// The PyTorch/Hugging Face reference outputs: `Tests/Fixtures/reference` in the repository
/// (see its README; `bench/reference_fixtures.py` regenerates them), or `$LPFT_FIXTURES` to
/// try another set. A missing fixture is a failure, never a skip: these tests are the proof
/// the core is right.
public enum Fixtures {
    /// The tiny random models of each family and their reference files: logits, loss, every
    /// gradient and the kernels P and F, with the head on the first token's state or, where the
    /// file says `"pooling": "mean"`, on the mean of the final states.
    public static let tinyModels = [("tiny-bert", "tiny-bert-ntk.json"), ("tiny-roberta", "tiny-roberta-ntk.json"),
                                    ("tiny-bert", "tiny-bert-mean-ntk.json")]

    /// How a reference file's head reads the final states: `cls` unless it says otherwise.
    public static func pooling(_ json: [String: Any]) -> String { json["pooling"] as? String ?? "cls" }

    public static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["LPFT_FIXTURES"] { return URL(fileURLWithPath: override) }
        // Tests/TestSupport/Fixtures.swift → Tests/Fixtures/reference
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/reference")
    }

    /// A fixture's URL; a missing one fails the test.
    public static func url(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("fixture \(url.path) is missing: tests need Tests/Fixtures/reference (or the LPFT_FIXTURES override)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// A JSON fixture as parsed by `JSONSerialization` (a list or a mapping).
    public static func value(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: try url(name, file: file, line: line)))
    }

    /// A JSON fixture whose top level is a mapping.
    public static func json(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try XCTUnwrap(try value(name, file: file, line: line) as? [String: Any], "\(name) is not a JSON mapping", file: file, line: line)
    }
}
