import Foundation
import Yams

/// A configuration error that names the file, the key path and the reason.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let path: String
    public let reason: String

    public init(file: String, path: String, reason: String) {
        self.file = file
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(file): \(path.isEmpty ? "" : "\(path): ")\(reason)" }
}

/// Typed, path-aware access to a parsed YAML/JSON mapping (trial configs, sweep specs). Every key read is remembered, so
/// that `finish()` can reject keys nobody asked for (typos like `lp.epoch`).
public final class ConfigReader {
    public let file: String
    public let path: String
    private let values: [String: Any]
    private var read: Set<String> = []

    public init(_ values: [String: Any], file: String, path: String = "") {
        self.values = values
        self.file = file
        self.path = path
    }

    /// A config file's text; the error says which of the usual causes it is (no such file, no
    /// permission, not UTF-8), since each needs a different fix.
    public static func text(contentsOf url: URL) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ConfigError(file: url.path, path: "", reason: "no such file (check the path)")
        }
        guard !isDirectory.boolValue else { throw ConfigError(file: url.path, path: "", reason: "is a directory, not a config file") }
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw ConfigError(file: url.path, path: "", reason: "cannot read the file (check its permissions)")
        }
        defer { try? handle.close() }
        // One byte past the cap tells an oversized file without reading (or parsing) the rest.
        let data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        guard data.count <= maximumFileSize else {
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int).map { "\($0) bytes" } ?? "larger"
            throw ConfigError(file: url.path, path: "", reason: """
                \(size), more than the \(maximumFileSize >> 20) MiB a config or sweep spec may have: \
                vary trials with grid axes rather than listing them
                """)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: url.path, path: "", reason: "cannot read the file as UTF-8 text")
        }
        return text
    }

    /// The largest config file or sweep spec read: a spec is tens of lines, and a file of
    /// 50 MB took a minute and 2.7 GB to parse before its first key was checked.
    public static let maximumFileSize = 1 << 20

    /// The most values (scalars, lists and mappings) a document may hold with its YAML aliases
    /// expanded. Yams composes an alias as a copy of its anchor's node, which shares storage,
    /// but making Swift values of the nodes copies the anchor's values at every alias: 40
    /// lines of aliases of aliases (an "alias bomb") expand to 2^40 values. A file without
    /// aliases under `maximumFileSize` holds at most half a million (`1,` is the shortest value).
    public static let maximumExpandedValues = 1_000_000

    /// Parses YAML (JSON is YAML) text whose top level must be a mapping.
    public static func parse(_ text: String, file: String) throws -> ConfigReader {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError(file: file, path: "", reason: "not valid YAML or JSON: \(error)")
        }
        if let node, node.expandedCount(upTo: maximumExpandedValues) > maximumExpandedValues {
            throw ConfigError(file: file, path: "", reason: """
                its YAML aliases (*name) expand it to more than \(maximumExpandedValues) values: \
                write the values out, or alias less
                """)
        }
        guard let mapping = node?.any as? [String: Any] else {
            throw ConfigError(file: file, path: "", reason: "the top level must be a mapping of keys to values")
        }
        return ConfigReader(mapping, file: file)
    }

    public func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    public func fail(_ name: String, _ reason: String) -> ConfigError { ConfigError(file: file, path: key(name), reason: reason) }

    /// The keys of this mapping, sorted.
    public var keys: [String] { values.keys.sorted() }

    /// The whole mapping, every key counted as read (for sections validated elsewhere).
    public var rawMapping: [String: Any] {
        read.formUnion(values.keys)
        return values
    }

    public func has(_ name: String) -> Bool { values[name] != nil && !(values[name] is NSNull) }

    /// Whether the key is written with an explicit null (`key: null` or `key: ~`).
    public func isNull(_ name: String) -> Bool { values[name] is NSNull }

    public func raw(_ name: String) -> Any? {
        read.insert(name)
        guard let v = values[name], !(v is NSNull) else { return nil }
        return v
    }

    public func string(_ name: String) throws -> String? {
        guard let v = raw(name) else { return nil }
        guard let s = v as? String else { throw fail(name, "expected a string, got \(Self.describe(v))") }
        return s
    }

    public func int(_ name: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = raw(name) else { return nil }
        // An integral float (`epochs: 10.0`) is the integer it spells, as a JSON reader reads it.
        let integral = (v as? Double).flatMap { Int(exactly: $0) }
        guard let i = v as? Int ?? integral else { throw fail(name, "expected an integer, got \(Self.describe(v))") }
        if let range, !range.contains(i) { throw fail(name, "\(i) is outside \(range.lowerBound)…\(range.upperBound)") }
        return i
    }

    public func double(_ name: String, range: ClosedRange<Double>? = nil) throws -> Double? {
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

    public func bool(_ name: String) throws -> Bool? {
        guard let v = raw(name) else { return nil }
        guard let b = v as? Bool else { throw fail(name, "expected true or false, got \(Self.describe(v))") }
        return b
    }

    public func choice<T: RawRepresentable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String, T: CaseIterable {
        guard let s = try string(name) else { return nil }
        guard let value = T(rawValue: s) else {
            throw fail(name, "\"\(s)\" is not one of \(T.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        return value
    }

    public func strings(_ name: String) throws -> [String]? {
        guard let v = raw(name) else { return nil }
        if let s = v as? String { return [s] }
        guard let a = v as? [Any], let s = a as? [String] else { throw fail(name, "expected a list of strings, got \(Self.describe(v))") }
        return s
    }

    public func section(_ name: String) throws -> ConfigReader? {
        guard let v = raw(name) else { return nil }
        guard let m = v as? [String: Any] else { throw fail(name, "expected a mapping, got \(Self.describe(v))") }
        return ConfigReader(m, file: file, path: key(name))
    }

    /// Rejects keys that were never read.
    public func finish() throws {
        try rejectKeys(otherThan: read)
    }

    /// Rejects keys not in `known` before any is read, for a mapping whose keys are few and
    /// fixed: a misspelt required key (`bse:` for `base:`) is then named as unknown, rather
    /// than reported as the required key missing.
    public func rejectKeys(otherThan known: Set<String>) throws {
        if let unknown = values.keys.filter({ !known.contains($0) }).sorted().first {
            throw ConfigError(file: file, path: key(unknown), reason: "unknown key (known here: \(known.sorted().joined(separator: ", ")))")
        }
    }

    public static func describe(_ v: Any) -> String {
        switch v {
        case let s as String: return "\"\(s)\""
        case is [Any]: return "a list"
        case is [String: Any]: return "a mapping"
        default: return "\(v)"
        }
    }
}

extension Node {
    /// The values in this tree with every alias expanded, counted until there are more than
    /// `limit` (so counting an alias bomb costs no more than `limit` steps).
    func expandedCount(upTo limit: Int) -> Int {
        var count = 0
        var unvisited = [self]
        while count <= limit, let node = unvisited.popLast() {
            count += 1
            switch node {
            case .sequence(let sequence): unvisited += sequence
            case .mapping(let mapping): for (key, value) in mapping { unvisited += [key, value] }
            case .scalar, .alias: break
            }
        }
        return count
    }
}

extension String {
    /// "a, b,c" → ["a", "b", "c"]: a comma-separated list on the command line.
    public var commaSeparated: [String] { split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    /// A comma-separated list of positive integers; `option` names it in the error.
    public func commaSeparatedPositiveIntegers(option: String) throws -> [Int] {
        try commaSeparated.map {
            guard let v = Int($0), v > 0 else { throw ConfigError(file: "command line", path: option, reason: "\"\($0)\" is not a positive integer") }
            return v
        }
    }
}
