import Foundation
import Yams

/// A configuration error that names the file, the key path and the reason.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let path: String
    public let reason: String

    public var description: String { "\(file): \(path.isEmpty ? "" : "\(path): ")\(reason)" }
}

/// Typed, path-aware access to a parsed YAML/JSON mapping. Every key read is remembered, so
/// that `finish()` can reject keys nobody asked for (typos like `lp.epoch`).
final class ConfigReader {
    let file: String
    let path: String
    private let values: [String: Any]
    private var read: Set<String> = []

    init(_ values: [String: Any], file: String, path: String = "") {
        self.values = values
        self.file = file
        self.path = path
    }

    /// Parses YAML (JSON is YAML) text whose top level must be a mapping.
    static func parse(_ text: String, file: String) throws -> ConfigReader {
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch {
            throw ConfigError(file: file, path: "", reason: "not valid YAML or JSON: \(error)")
        }
        guard let mapping = object as? [String: Any] else {
            throw ConfigError(file: file, path: "", reason: "the top level must be a mapping of keys to values")
        }
        return ConfigReader(mapping, file: file)
    }

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    func fail(_ name: String, _ reason: String) -> ConfigError { ConfigError(file: file, path: key(name), reason: reason) }

    func has(_ name: String) -> Bool { values[name] != nil && !(values[name] is NSNull) }

    /// Whether the key is written with an explicit null (`key: null` or `key: ~`).
    func isNull(_ name: String) -> Bool { values[name] is NSNull }

    func raw(_ name: String) -> Any? {
        read.insert(name)
        guard let v = values[name], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ name: String) throws -> String? {
        guard let v = raw(name) else { return nil }
        guard let s = v as? String else { throw fail(name, "expected a string, got \(Self.describe(v))") }
        return s
    }

    func int(_ name: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = raw(name) else { return nil }
        guard let i = v as? Int else { throw fail(name, "expected an integer, got \(Self.describe(v))") }
        if let range, !range.contains(i) { throw fail(name, "\(i) is outside \(range.lowerBound)…\(range.upperBound)") }
        return i
    }

    func double(_ name: String, range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let v = raw(name) else { return nil }
        let d: Double
        switch v {
        case let x as Double: d = x
        case let x as Int: d = Double(x)
        // YAML 1.1 reads `1e-5` (no dot) as a string; accept what is plainly a number.
        case let x as String where Double(x) != nil: d = Double(x)!
        default: throw fail(name, "expected a number, got \(Self.describe(v))")
        }
        guard d.isFinite else { throw fail(name, "must be finite") }
        if let range, !range.contains(d) { throw fail(name, "\(d) is outside \(range.lowerBound)…\(range.upperBound)") }
        return d
    }

    func bool(_ name: String) throws -> Bool? {
        guard let v = raw(name) else { return nil }
        guard let b = v as? Bool else { throw fail(name, "expected true or false, got \(Self.describe(v))") }
        return b
    }

    func choice<T: RawRepresentable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String, T: CaseIterable {
        guard let s = try string(name) else { return nil }
        guard let value = T(rawValue: s) else {
            throw fail(name, "\"\(s)\" is not one of \(T.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        return value
    }

    func strings(_ name: String) throws -> [String]? {
        guard let v = raw(name) else { return nil }
        if let s = v as? String { return [s] }
        guard let a = v as? [Any], let s = a as? [String] else { throw fail(name, "expected a list of strings, got \(Self.describe(v))") }
        return s
    }

    func section(_ name: String) throws -> ConfigReader? {
        guard let v = raw(name) else { return nil }
        guard let m = v as? [String: Any] else { throw fail(name, "expected a mapping, got \(Self.describe(v))") }
        return ConfigReader(m, file: file, path: key(name))
    }

    /// Rejects keys that were never read.
    func finish() throws {
        if let unknown = values.keys.filter({ !read.contains($0) }).sorted().first {
            let known = read.sorted().joined(separator: ", ")
            throw ConfigError(file: file, path: key(unknown), reason: "unknown key (known here: \(known))")
        }
    }

    static func describe(_ v: Any) -> String {
        switch v {
        case let s as String: return "\"\(s)\""
        case is [Any]: return "a list"
        case is [String: Any]: return "a mapping"
        default: return "\(v)"
        }
    }
}
