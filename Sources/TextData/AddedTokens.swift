/// A token matched in the text before pre-tokenisation (`<s>`, `<mask>`, tokens a user added),
/// with the flags `tokenizers` gives it in `tokenizer.json`.
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int32
    /// Match only where the token is not glued to a word character on either side.
    public var singleWord = false
    /// Take the whitespace on the left (right) into the token: roberta-base's `<mask>` strips
    /// the space before it, so "a <mask>" is `a`, `<mask>` rather than `a`, `Ġ`, `<mask>`.
    public var leftStrip = false, rightStrip = false
    /// Matched after normalisation rather than on the raw text (a second pass over what the
    /// first left; byte-level BPE has no normaliser, so only the order differs).
    public var normalized = false

    public init(content: String, id: Int32, singleWord: Bool = false, leftStrip: Bool = false, rightStrip: Bool = false, normalized: Bool = false) {
        self.content = content
        self.id = id
        self.singleWord = singleWord
        self.leftStrip = leftStrip
        self.rightStrip = rightStrip
        self.normalized = normalized
    }
}

/// Splits text on added tokens as `tokenizers`' AddedVocabulary does: leftmost-longest matches,
/// the raw-text tokens over the whole text first, then the normalised ones over each gap.
struct AddedTokenSplitter: Sendable {
    enum Piece: Equatable {
        case token(Int32)
        /// Scalars to pre-tokenise and encode.
        case text(Range<Int>)
    }

    private struct Entry: Sendable {
        let token: AddedToken
        let scalars: [Unicode.Scalar]
    }

    private let raw: [Entry], normalized: [Entry]
    /// Scalars some token starts with: elsewhere no match is tried.
    private let firstScalars: Set<Unicode.Scalar>

    init(_ tokens: [AddedToken]) {
        let entries = tokens.filter { !$0.content.isEmpty }.map { Entry(token: $0, scalars: Array($0.content.unicodeScalars)) }
        raw = entries.filter { !$0.token.normalized }
        normalized = entries.filter(\.token.normalized)
        firstScalars = Set(entries.map { $0.scalars[0] })
    }

    func split(_ text: [Unicode.Scalar]) -> [Piece] {
        guard !text.isEmpty else { return [] }
        let first = pieces(text, 0..<text.count, raw)
        guard !normalized.isEmpty else { return first }
        return first.flatMap { piece -> [Piece] in
            guard case let .text(range) = piece else { return [piece] }
            return pieces(text, range, normalized)
        }
    }

    /// The matches of `entries` in `text[range]`, which is a sentence of its own: its ends are
    /// word boundaries and whitespace is stripped up to them only.
    private func pieces(_ text: [Unicode.Scalar], _ range: Range<Int>, _ entries: [Entry]) -> [Piece] {
        var pieces: [Piece] = []
        var covered = range.lowerBound, i = range.lowerBound
        while i < range.upperBound {
            guard firstScalars.contains(text[i]), let (token, end) = longestMatch(text, at: i, before: range.upperBound, entries) else {
                i += 1
                continue
            }
            var (start, stop) = (i, end)
            // The search resumes after the match, whether or not it is kept.
            i = end
            if token.singleWord {
                let alone = (start == range.lowerBound || !Self.isWordCharacter(text[start - 1]))
                    && (stop == range.upperBound || !Self.isWordCharacter(text[stop]))
                if !alone { continue }
            }
            if token.leftStrip {
                while start > covered && text[start - 1].properties.isWhitespace { start -= 1 }
            }
            if token.rightStrip {
                while stop < range.upperBound && text[stop].properties.isWhitespace { stop += 1 }
            }
            if covered < start { pieces.append(.text(covered..<start)) }
            pieces.append(.token(token.id))
            covered = stop
        }
        if covered < range.upperBound { pieces.append(.text(covered..<range.upperBound)) }
        return pieces
    }

    private func longestMatch(_ text: [Unicode.Scalar], at i: Int, before end: Int, _ entries: [Entry]) -> (AddedToken, Int)? {
        var best: (AddedToken, Int)?
        for entry in entries where entry.scalars.count <= end - i && entry.scalars.count > (best.map { $0.1 - i } ?? 0) {
            if text[i..<(i + entry.scalars.count)].elementsEqual(entry.scalars) { best = (entry.token, i + entry.scalars.count) }
        }
        return best
    }

    /// Rust regex's Unicode `\w`: alphabetic, marks, decimal digits, connector punctuation, joiners.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
