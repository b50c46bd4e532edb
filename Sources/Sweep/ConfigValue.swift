import Foundation

/// A YAML/JSON value with equality, so axis values and conditions can be compared and
/// configs merged by dotted path.
public indirect enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case list([ConfigValue])
    case mapping([String: ConfigValue])
    case null

    public init(_ any: Any) {
        switch any {
        case let b as Bool where type(of: any) == Bool.self: self = .bool(b)
        case let n as NSNumber where String(cString: n.objCType) == "c": self = .bool(n.boolValue)
        case let i as Int: self = .integer(i)
        case let d as Double: self = .number(d)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .list(a.map(ConfigValue.init))
        case let m as [String: Any]: self = .mapping(m.mapValues(ConfigValue.init))
        default: self = .null
        }
    }

    /// Back to plain values for a config reader.
    public var any: Any {
        switch self {
        case let .string(s): return s
        case let .integer(i): return i
        case let .number(d): return d
        case let .bool(b): return b
        case let .list(a): return a.map(\.any)
        case let .mapping(m): return m.mapValues(\.any)
        case .null: return NSNull()
        }
    }

    public var description: String {
        switch self {
        case let .string(s): return s
        case let .integer(i): return String(i)
        case let .number(d): return String(d)
        case let .bool(b): return String(b)
        case let .list(a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case let .mapping(m): return "{" + m.keys.sorted().map { "\($0): \(m[$0]!)" }.joined(separator: ", ") + "}"
        case .null: return "null"
        }
    }

    /// A mapping's keys and values; nil for anything else.
    public var fields: [String: ConfigValue]? {
        if case let .mapping(m) = self { return m }
        return nil
    }

    /// A string's text; nil for anything else.
    public var text: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// A number's value as a `Double`; nil for anything else.
    public var double: Double? {
        switch self {
        case let .number(d): return d
        case let .integer(i): return Double(i)
        default: return nil
        }
    }

    /// The value at a dotted path ("lora.rank"), if every step is a mapping that has it.
    public func value(at path: String) -> ConfigValue? {
        var current = self
        for key in path.split(separator: ".") {
            guard case let .mapping(m) = current, let next = m[String(key)] else { return nil }
            current = next
        }
        return current
    }

    /// A copy with each dotted path set, creating mappings along the way.
    public func setting(_ assignments: [String: ConfigValue]) -> ConfigValue {
        var result = self
        for path in assignments.keys.sorted() {
            result = result.setting(path.split(separator: ".").map(String.init)[...], to: assignments[path]!)
        }
        return result
    }

    private func setting(_ keys: ArraySlice<String>, to value: ConfigValue) -> ConfigValue {
        guard let first = keys.first else { return value }
        var m: [String: ConfigValue] = [:]
        if case let .mapping(existing) = self { m = existing }
        m[first] = (m[first] ?? .mapping([:])).setting(keys.dropFirst(), to: value)
        return .mapping(m)
    }
}

/// JSON with `JSONEncoder`, which writes 10,000 trials for the dashboard's API several times
/// faster than `JSONSerialization` does on Linux. (Decoding tries each type in turn and pays
/// for every miss: a text on its own reads with ``parse(json:)``.)
extension ConfigValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([ConfigValue].self) { self = .list(a) }
        else { self = .mapping(try c.decode([String: ConfigValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .string(s): try c.encode(s)
        case let .integer(i): try c.encode(i)
        // JSON has no NaN or infinity: those are written as null.
        case let .number(d): if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
        case let .bool(b): try c.encode(b)
        case let .list(a): try c.encode(a)
        case let .mapping(m): try c.encode(m)
        case .null: try c.encodeNil()
        }
    }

    /// The value of a JSON text; nil for text that is not JSON (``parse(json:)`` says why).
    public init?(json: String) {
        guard let value = try? Self.parse(json: json) else { return nil }
        self = value
    }
}
