import Foundation
import JSONText

/// Reads the JSON a trial writes (event lines, results, predictions) into Foundation objects,
/// as `JSONSerialization.jsonObject` does, but with each number the `Double` nearest its
/// digits. Corelibs' `JSONSerialization` keeps a number's digits for writing it back, but its
/// `doubleValue` is for some numbers a few units in the last place away, so a metric event the
/// worker read through it reached the journal not quite as the trial wrote it (results/README.md,
/// "Two caveats on the comparisons"; a result, written back whole, kept its digits). Numbers
/// come back as `NSNumber` (an integer when written as one that fits `Int`, as
/// ``JSONReader/Number`` reads it), so casts (`as? Int`, `as? Double`, `as? Bool`) answer as
/// they did; nesting deeper than 64 levels is refused.
public enum TrialJSON {
    /// The value of a JSON text; nil for text that is not JSON.
    public static func value(_ text: String) -> Any? { value(bytes: Array(text.utf8)) }

    /// The value of JSON bytes; nil for bytes that are not JSON.
    public static func value(_ data: Data) -> Any? { value(bytes: [UInt8](data)) }

    private static func value(bytes: [UInt8]) -> Any? {
        let value: Any? = try? JSONReader.read(bytes) { (r: inout JSONReader) throws(JSONReader.Failure) -> Any in try r.foundationValue() }
        return value
    }
}

extension JSONReader {
    /// The next value as the Foundation object `JSONSerialization` would make of it.
    mutating func foundationValue() throws(Failure) -> Any {
        switch nextKind() {
        case .object:
            var fields: [String: Any] = [:]
            try object { (r: inout JSONReader, key) throws(Failure) in fields[key] = try r.foundationValue() }
            return fields
        case .array:
            return try array(of: { (r: inout JSONReader) throws(Failure) in try r.foundationValue() })
        case .string: return try string()
        case .bool: return NSNumber(value: try bool())
        case .null:
            try skip() // refuses what only starts like null
            return NSNull()
        case .number:
            switch try number() {
            case let .integer(i): return NSNumber(value: i)
            case let .double(d): return NSNumber(value: d)
            }
        }
    }
}
