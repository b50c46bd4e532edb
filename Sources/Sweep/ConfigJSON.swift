import JSONText

extension ConfigValue {
    /// The value of a JSON text, read by `JSONText`'s strict reader, which refuses nesting
    /// deeper than 64 levels (a result is a worker's text). Numbers read as `JSONSerialization`
    /// and ``init(_:)`` did, an integral value that fits `Int` as `.integer` (`1.0` and `1e2`
    /// too), any other as `.number`, but each exactly the `Double` nearest its digits, where
    /// `JSONSerialization` on Linux is up to a few units in the last place away (5 on
    /// `paper-rt`'s results). Several times faster than `JSONSerialization`, and a report reads
    /// every trial's axes, config and result (`lpft bench decode`, BENCHMARKS.md).
    package static func parse(json: String) throws(JSONReader.Failure) -> ConfigValue {
        try JSONReader.read(Array(json.utf8)) { (r: inout JSONReader) throws(JSONReader.Failure) in try r.configValue() }
    }
}

extension JSONReader {
    /// The next value, whatever its kind.
    mutating func configValue() throws(Failure) -> ConfigValue {
        switch nextKind() {
        case .object:
            var fields: [String: ConfigValue] = [:]
            try object { (r: inout JSONReader, key) throws(Failure) in fields[key] = try r.configValue() }
            return .mapping(fields)
        case .array:
            return .list(try array { (r: inout JSONReader) throws(Failure) in try r.configValue() })
        case .string: return .string(try string())
        case .bool: return .bool(try bool())
        case .null:
            try skip() // refuses what only starts like null
            return .null
        case .number:
            switch try number() {
            case let .integer(i): return .integer(i)
            // As JSONSerialization's NSNumber cast to Int did: an exact integral value is an integer.
            // (Strictly above −2⁶³: an integer written below Int.min rounds to it.)
            case let .double(d): return d == d.rounded() && d > -0x1p63 && d < 0x1p63 ? .integer(Int(d)) : .number(d)
            }
        }
    }
}
