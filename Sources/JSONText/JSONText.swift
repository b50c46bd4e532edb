/// Strict JSON (RFC 8259), read and written by hand in one pass over the bytes, with no value
/// tree between the text and the caller's own types.
///
/// Foundation's `JSONDecoder` and `JSONEncoder` were over half of the coordinator's turn at a
/// thousand workers (BENCHMARKS.md, "Scale, simulated"): a `Codable` round trip builds a value
/// tree, boxes every field behind protocol witnesses and matches keys as strings; and
/// `JSONSerialization` builds Foundation objects that are bridged back by dynamic casts, most
/// of a report on a 100,000-trial journal. The wire's per-trial messages (`Wire`) are read and
/// written here, the journal's axes, configs and results read (`Sweep`'s `ConfigValue`), and a
/// trial's event lines and results read on their way to the journal (`TrialContract`'s
/// `TrialJSON`, for its numbers: `JSONSerialization` on Linux reads some a few ulps off).

/// A pull reader over one JSON text: strict JSON (RFC 8259), no value tree.
package struct JSONReader {
    /// Why the text is not the expected value, and where: `path` is the keys and indices from
    /// the top (`rows.2.value`), filled in as the error leaves each object and array.
    package struct Failure: Error, CustomStringConvertible {
        package var path: [String] = []
        package var reason: String

        package init(_ reason: String) { self.reason = reason }

        package var description: String { path.isEmpty ? reason : path.joined(separator: ".") + ": " + reason }
    }

    private let bytes: [UInt8]
    private var at = 0
    private var depth = 0
    /// Deeper nesting is refused rather than risking the stack on a hostile frame.
    private static let maxDepth = 64

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Reads one whole text: `value` reads the top value, then only whitespace may follow.
    package static func read<T>(_ bytes: [UInt8], _ value: (inout JSONReader) throws(Failure) -> T) throws(Failure) -> T {
        var reader = JSONReader(bytes)
        let result = try value(&reader)
        reader.skipWhitespace()
        guard reader.at == bytes.count else { throw reader.unexpected("after the value") }
        return result
    }

    /// Reads an object, handing each key to `field`, which reads (or ``skip()``s) its value.
    /// A repeated key is handed over again: the last one wins, as with `JSONDecoder`.
    package mutating func object(_ field: (inout JSONReader, String) throws(Failure) -> Void) throws(Failure) {
        try expect(UInt8(ascii: "{"), "an object")
        try descend()
        defer { depth -= 1 }
        if try consume(UInt8(ascii: "}")) { return }
        repeat {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw unexpected("where a key was expected") }
            let key = try string()
            try expect(UInt8(ascii: ":"), "':'")
            do { try field(&self, key) } catch { throw error.inside(key) }
        } while try consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"), "',' or '}'")
    }

    /// Reads an array, calling `element` once per element.
    package mutating func array(_ element: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        try expect(UInt8(ascii: "["), "an array")
        try descend()
        defer { depth -= 1 }
        if try consume(UInt8(ascii: "]")) { return }
        var index = 0
        repeat {
            do { try element(&self) } catch { throw error.inside(String(index)) }
            index += 1
        } while try consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"), "',' or ']'")
    }

    /// An array of values each read by `element`.
    package mutating func array<T>(of element: (inout JSONReader) throws(Failure) -> T) throws(Failure) -> [T] {
        var values: [T] = []
        try array { (r: inout JSONReader) throws(Failure) in values.append(try element(&r)) }
        return values
    }

    /// Consumes a `null` if one is next: a field given as null reads as absent, as with `JSONDecoder`.
    package mutating func null() -> Bool {
        skipWhitespace()
        guard bytes.count - at >= 4, bytes[at] == UInt8(ascii: "n"), bytes[at + 1] == UInt8(ascii: "u"),
              bytes[at + 2] == UInt8(ascii: "l"), bytes[at + 3] == UInt8(ascii: "l") else { return false }
        at += 4
        return true
    }

    /// `value` unless the field is null.
    package mutating func optional<T>(_ value: (inout JSONReader) throws(Failure) -> T) throws(Failure) -> T? {
        null() ? nil : try value(&self)
    }

    package mutating func bool() throws(Failure) -> Bool {
        if try literal("true") { return true }
        if try literal("false") { return false }
        throw unexpected("where true or false was expected")
    }

    package mutating func string() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = at
        while at < bytes.count {
            switch bytes[at] {
            case UInt8(ascii: "\""):
                defer { at += 1 }
                return try utf8(bytes[start..<at])
            case UInt8(ascii: "\\"):
                return try escapedString(from: start)
            case 0..<0x20:
                throw Failure("an unescaped control character in a string at byte \(at)")
            default:
                at += 1
            }
        }
        throw Failure("a string not closed before the end")
    }

    /// An integer. A number written with a fraction or exponent is taken when it is exactly
    /// an integer in range (`1.0`, `1e3`), as `JSONDecoder` takes it.
    package mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws(Failure) -> T {
        let (text, isInteger) = try number(expecting: "an integer")
        if isInteger {
            guard let value: T = Self.integer(text) else { throw Failure("\(String(decoding: text, as: UTF8.self)) does not fit in \(T.self)") }
            return value
        }
        guard let d = Double(String(decoding: text, as: UTF8.self)), let value = T(exactly: d) else {
            throw Failure("\(String(decoding: text, as: UTF8.self)) is not an integer that fits in \(T.self)")
        }
        return value
    }

    /// A JSON number as written: an integer when it is written as one that fits `Int`,
    /// otherwise the `Double` nearest its digits.
    package enum Number: Equatable {
        case integer(Int)
        case double(Double)
    }

    package mutating func number() throws(Failure) -> Number {
        let (text, isInteger) = try number(expecting: "a number")
        if isInteger, let value: Int = Self.integer(text) { return .integer(value) }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw Failure("\(String(decoding: text, as: UTF8.self)) is out of range for a Double")
        }
        return .double(value)
    }

    /// The value of an integer's digits (and sign), nil when it does not fit in `T`.
    private static func integer<T: FixedWidthInteger>(_ text: ArraySlice<UInt8>) -> T? {
        var value: T = 0
        let negative = text.first == UInt8(ascii: "-")
        for digit in text.dropFirst(negative ? 1 : 0) {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(T(digit &- 48)) : times10.addingReportingOverflow(T(digit &- 48))
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    /// A number, or one of the strings "nan", "inf" and "-inf" the protocol writes for the
    /// values JSON has no number for.
    package mutating func double() throws(Failure) -> Double {
        skipWhitespace()
        if peek == UInt8(ascii: "\"") {
            switch try string() {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            case let other: throw Failure("expected a number, found the string \(String(reflecting: String(other.prefix(32))))")
            }
        }
        switch try number() {
        case let .integer(i): return Double(i)
        case let .double(d): return d
        }
    }

    /// What the next value is, by its first byte: a value of any kind is read by asking.
    package enum Kind {
        case object, array, string, bool, null, number
    }

    /// The kind of the next value; `.number` for anything else, which ``number()`` refuses.
    package mutating func nextKind() -> Kind {
        skipWhitespace()
        switch peek {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        default: return .number
        }
    }

    /// Reads past one value of any kind: a key this side does not know.
    package mutating func skip() throws(Failure) {
        switch nextKind() {
        case .object: try object { (r: inout JSONReader, _) throws(Failure) in try r.skip() }
        case .array: try array { (r: inout JSONReader) throws(Failure) in try r.skip() }
        case .string: _ = try string()
        case .bool: _ = try bool()
        case .null: guard null() else { throw unexpected("where a value was expected") }
        case .number: _ = try number(expecting: "a value")
        }
    }

    // MARK: Pieces

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipWhitespace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
    }

    private mutating func consume(_ byte: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        guard peek == byte else { return false }
        at += 1
        return true
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
        guard try consume(byte) else { throw unexpected("where \(what) was expected") }
    }

    private mutating func descend() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw Failure("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) -> Bool {
        skipWhitespace()
        let n = word.utf8CodeUnitCount
        guard bytes.count - at >= n else { return false }
        for k in 0..<n where bytes[at + k] != word.utf8Start[k] { return false }
        at += n
        return true
    }

    private func unexpected(_ context: String) -> Failure {
        guard let byte = peek else { return Failure("the text ends \(context)") }
        let shown = (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x" + String(byte, radix: 16, uppercase: true)
        return Failure("\(shown) at byte \(at) \(context)")
    }

    /// The bytes of a JSON number and whether it is written as an integer.
    private mutating func number(expecting what: String) throws(Failure) -> (ArraySlice<UInt8>, isInteger: Bool) {
        skipWhitespace()
        let start = at
        func digits() -> Int {
            let from = at
            while at < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) { at += 1 }
            return at - from
        }
        if peek == UInt8(ascii: "-") { at += 1 }
        let leading = at
        let whole = digits()
        guard whole > 0, whole == 1 || bytes[leading] != UInt8(ascii: "0") else {
            at = start
            throw unexpected("where \(what) was expected")
        }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            at += 1
            isInteger = false
            guard digits() > 0 else { throw unexpected("where a digit was expected") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            isInteger = false
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            guard digits() > 0 else { throw unexpected("where a digit was expected") }
        }
        return (bytes[start..<at], isInteger)
    }

    private func utf8(_ text: ArraySlice<UInt8>) throws(Failure) -> String {
        guard let s = String(validating: text, as: UTF8.self) else { throw Failure("a string that is not UTF-8") }
        return s
    }

    /// The rest of a string that has escapes, `start` being just after its opening quote.
    private mutating func escapedString(from start: Int) throws(Failure) -> String {
        var out = Array(bytes[start..<at])
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try utf8(out[...])
            case UInt8(ascii: "\\"):
                guard let escape = peek else { break }
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: String(try unicodeEscape()).utf8)
                default: throw Failure("an unknown escape '\\\(Character(Unicode.Scalar(escape)))' at byte \(at - 2)")
                }
            case 0..<0x20:
                throw Failure("an unescaped control character in a string at byte \(at - 1)")
            default:
                out.append(byte)
            }
        }
        throw Failure("a string not closed before the end")
    }

    /// The character of a `\uXXXX` escape (a UTF-16 surrogate pair takes two), just after its `u`.
    private mutating func unicodeEscape() throws(Failure) -> Character {
        let high = try hex4()
        guard (0xD800...0xDBFF).contains(high) else {
            guard let scalar = Unicode.Scalar(high) else { throw Failure("a lone low surrogate \\u\(String(high, radix: 16)) at byte \(at - 6)") }
            return Character(scalar)
        }
        // Directly after the first escape: inside a string, whitespace is text, not a separator.
        guard bytes.count - at >= 2, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
            throw Failure("a high surrogate without its low half at byte \(at - 6)")
        }
        at += 2
        let low = try hex4()
        guard (0xDC00...0xDFFF).contains(low), let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
            throw Failure("an invalid surrogate pair at byte \(at - 12)")
        }
        return Character(scalar)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - at >= 4 else { throw Failure("a \\u escape cut short at byte \(at)") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Character(Unicode.Scalar(bytes[at])).hexDigitValue else {
                throw Failure("a \\u escape with a non-hex digit at byte \(at)")
            }
            value = value << 4 | UInt32(digit)
            at += 1
        }
        return value
    }
}

extension JSONReader.Failure {
    /// The same failure, one level further in (under `key` or an array index).
    package func inside(_ key: String) -> Self {
        var f = self
        f.path.insert(key, at: 0)
        return f
    }

    package static func missing(_ key: String) -> Self { Self("missing \(key)") }
}

/// Required fields: a missing one is named in the error.
package func required<T>(_ value: T?, _ key: String) throws(JSONReader.Failure) -> T {
    guard let value else { throw .missing(key) }
    return value
}

/// Writes one JSON text: objects with fields in the order given, nil fields left out (as
/// `JSONEncoder` leaves them out), strings escaped as RFC 8259 requires.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []
    private var needsComma = false

    package init() { bytes.reserveCapacity(128) }

    /// The text of the object that `fields` writes.
    package static func object(_ fields: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.object(fields)
        return writer.bytes
    }

    package mutating func object(_ fields: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        fields(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    package mutating func array<S: Sequence>(_ elements: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        for e in elements {
            separate()
            element(&self, e)
            needsComma = true
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A field whose value `value` writes.
    package mutating func field(_ key: StaticString, _ value: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        value(&self)
        needsComma = true
    }

    package mutating func field(_ key: StaticString, _ value: String?) {
        if let value { field(key) { $0.string(value) } }
    }

    package mutating func field<T: FixedWidthInteger>(_ key: StaticString, _ value: T?) {
        if let value { field(key) { $0.bytes.append(contentsOf: String(value).utf8) } }
    }

    package mutating func field(_ key: StaticString, _ value: Bool?) {
        if let value { field(key) { $0.bytes.append(contentsOf: (value ? "true" : "false").utf8) } }
    }

    /// A number; NaN and the infinities as the strings "nan", "inf" and "-inf".
    package mutating func field(_ key: StaticString, _ value: Double?) {
        if let value { field(key) { $0.double(value) } }
    }

    package mutating func double(_ value: Double) {
        if value.isFinite {
            // Swift's shortest round-tripping form, valid JSON for every finite value ("1e-05", "2.0").
            bytes.append(contentsOf: value.description.utf8)
        } else {
            string(value.isNaN ? "nan" : value > 0 ? "inf" : "-inf")
        }
    }

    package mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}
