/// The GPT-2 pre-tokenisation of `tokenizers`' ByteLevel pre-tokeniser, written out as a scanner
/// instead of run through a regex engine. The pattern is
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// Every scalar is a letter (\p{L}), a number (\p{N}), whitespace (\s) or other, so at each
/// position exactly one alternative applies: a contraction; an optional U+0020 and a run of one
/// kind; or a whitespace run that leaves its last character to the word after it.
enum ByteLevelPreTokenizer {
    enum Kind: UInt8 { case letter, number, whitespace, other }

    /// The kinds of the ASCII scalars, by value.
    static let asciiKinds: [Kind] = (0..<128).map { v -> Kind in
        switch v {
        case 9...13, 32: return .whitespace
        case 48...57: return .number
        case 65...90, 97...122: return .letter
        default: return .other
        }
    }

    /// From `tokenizers`' own tables (ByteLevelCharacterKinds), not Swift's newer Unicode data.
    static func kind(_ s: Unicode.Scalar) -> Kind {
        let v = s.value
        if v < 128 { return asciiKinds[Int(v)] }
        if ByteLevelCharacterKinds.letter.includes(v) { return .letter }
        if ByteLevelCharacterKinds.number.includes(v) { return .number }
        if ByteLevelCharacterKinds.whitespace.includes(v) { return .whitespace }
        return .other
    }

    /// Calls `body` with each word's range in `text`, in order; together they cover it.
    static func forEachWord(in text: ArraySlice<Unicode.Scalar>, _ body: (Range<Int>) -> Void) {
        let end = text.endIndex
        var kinds = [Kind]()
        kinds.reserveCapacity(text.count)
        for s in text { kinds.append(kind(s)) }
        let base = text.startIndex
        func kindAt(_ i: Int) -> Kind { kinds[i - base] }
        /// The end of the run of `kind` that starts at `i`.
        func run(from i: Int, of kind: Kind) -> Int {
            var j = i
            while j < end && kindAt(j) == kind { j += 1 }
            return j
        }
        var i = base
        while i < end {
            let next: Int
            if let length = contractionLength(text, at: i) {
                next = i + length
            } else if text[i] == " ", i + 1 < end, kindAt(i + 1) != .whitespace {
                next = run(from: i + 1, of: kindAt(i + 1))
            } else if kindAt(i) != .whitespace {
                next = run(from: i, of: kindAt(i))
            } else {
                // `\s+(?!\S)`: the run but its last character when a word follows; `\s+` for a lone one.
                let stop = run(from: i, of: .whitespace)
                next = stop == end || stop - i == 1 ? stop : stop - 1
            }
            body(i..<next)
            i = next
        }
    }

    /// 2 or 3 for `'s 't 'm 'd` or `'re 've 'll` at `i` (case-sensitive, ASCII apostrophe only).
    static func contractionLength(_ text: ArraySlice<Unicode.Scalar>, at i: Int) -> Int? {
        guard text[i] == "'", i + 1 < text.endIndex else { return nil }
        switch text[i + 1] {
        case "s", "t", "m", "d": return 2
        case "r", "v", "l":
            guard i + 2 < text.endIndex else { return nil }
            let (a, b) = (text[i + 1], text[i + 2])
            return (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") ? 3 : nil
        default: return nil
        }
    }

    /// GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the others
    /// (controls, space, soft hyphen…) for U+0100 onwards in byte order, so every byte is one
    /// visible character of a vocabulary entry (a leading space is `Ġ`, U+0120).
    static let byteCharacters: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var scalars = printable
        var extra = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            scalars.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, s) in zip(printable, scalars) { table[b] = Character(Unicode.Scalar(UInt32(s))!) }
        return table
    }()
}
