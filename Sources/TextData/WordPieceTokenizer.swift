import Foundation

/// BERT's tokenizer, identical in output to Hugging Face `BertTokenizerFast`: special tokens
/// written in the text are matched first, on the raw text (as `tokenizers` matches added tokens
/// that are not normalised); the text between them goes through BertNormalizer (clean text, space out CJK ideographs, strip accents and lowercase for
/// uncased vocabularies), BertPreTokenizer (split on whitespace and punctuation), then
/// greedy longest-match WordPiece with `##` continuations.
///
/// Works on Unicode scalars, as the Rust implementation works on `char`s, not on Swift
/// `Character`s (grapheme clusters would glue a base letter to its accents).
public struct WordPieceTokenizer: Tokenizer {
    public let vocabulary: Vocabulary
    /// Lowercase and strip accents (uncased vocabularies), or keep both.
    public let lowercase: Bool
    /// Words longer than this become a single `[UNK]`.
    public let maxCharactersPerWord = 100

    /// The special tokens BertTokenizerFast adds to its vocabulary, as scalars and ids.
    let specials: [(scalars: [Unicode.Scalar], id: Int32)]

    public init(vocabulary: Vocabulary, lowercase: Bool = true) {
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in vocabulary.id(token).map { (Array(token.unicodeScalars), $0) } }
    }

    /// Loads `vocab.txt` from a model directory; `do_lower_case` comes from
    /// `tokenizer_config.json` when present (default true, as for uncased BERT).
    public init(modelDirectory: URL) throws {
        let vocabulary = try Vocabulary(contentsOf: modelDirectory.appendingPathComponent("vocab.txt"))
        var lowercase = true
        for name in ["tokenizer_config.json", "config.json"] {
            let url = modelDirectory.appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: url.path),
               let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               let flag = json["do_lower_case"] as? Bool {
                lowercase = flag
                break
            }
        }
        self.init(vocabulary: vocabulary, lowercase: lowercase)
    }

    // MARK: Encoding

    /// Ids with `[CLS]` … `[SEP]` (… `[SEP]` for a pair) and token type ids, truncated to
    /// `maxLength` in all, pairs longest-first as `tokenizers` truncates them.
    public func encode(_ text: String, pair: String?, maxLength: Int) -> (ids: [Int32], tokenTypeIDs: [Int32]) {
        var first = wordPieceIDs(text)
        guard let pair else {
            first = Array(first.prefix(max(0, maxLength - 2)))
            return ([vocabulary.classifierID] + first + [vocabulary.separatorID], [Int32](repeating: 0, count: first.count + 2))
        }
        var second = wordPieceIDs(pair)
        let keep = longestFirstTruncation(first.count, second.count, room: max(0, maxLength - 3))
        first = Array(first.prefix(keep.first))
        second = Array(second.prefix(keep.second))
        let ids = [vocabulary.classifierID] + first + [vocabulary.separatorID] + second + [vocabulary.separatorID]
        return (ids, [Int32](repeating: 0, count: first.count + 2) + [Int32](repeating: 1, count: second.count + 1))
    }

    public var vocabularySize: Int { vocabulary.count }

    /// WordPiece ids of `text`, without added [CLS]/[SEP] (special tokens in the text are kept).
    public func wordPieceIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        let scalars = text.unicodeScalars
        var segment = scalars.startIndex, i = segment
        while i < scalars.endIndex {
            if scalars[i] == "[", let (id, end) = special(at: i, in: scalars) {
                appendSegment(scalars[segment..<i], to: &ids)
                ids.append(id)
                (segment, i) = (end, end)
            } else {
                i = scalars.index(after: i)
            }
        }
        appendSegment(scalars[segment...], to: &ids)
        return ids
    }

    /// The special token written at `i`, if any, and the index after it. Case-sensitive and
    /// on the raw text: `[cls]` and `[ CLS ]` are ordinary text. No special is a prefix of another.
    func special(at i: String.UnicodeScalarView.Index, in scalars: String.UnicodeScalarView) -> (Int32, String.UnicodeScalarView.Index)? {
        candidates: for (token, id) in specials {
            var j = i
            for s in token {
                guard j < scalars.endIndex, scalars[j] == s else { continue candidates }
                j = scalars.index(after: j)
            }
            return (id, j)
        }
        return nil
    }

    /// Normalises, pre-tokenises and WordPiece-encodes text that holds no special token.
    func appendSegment(_ text: Substring.UnicodeScalarView, to ids: inout [Int32]) {
        for word in preTokenize(normalize(text)) {
            appendWordPieces(of: word, to: &ids)
        }
    }

    /// The WordPiece strings of `text` (for display and debugging).
    public func tokens(_ text: String) -> [String] {
        wordPieceIDs(text).map { vocabulary.tokens[Int($0)] }
    }

    // MARK: Normalisation

    /// BertNormalizer: drop NUL, U+FFFD and other-category characters, map whitespace to ' ',
    /// surround CJK ideographs with spaces, then (uncased) NFD, drop nonspacing marks, lowercase.
    func normalize(_ text: Substring.UnicodeScalarView) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 8)
        var needsDecomposition = false
        for s in text {
            let v = s.value
            if isDropped(v) { continue }
            if isWhitespace(v) {
                out.append(" ")
            } else if isCJK(v) {
                out.append(" ")
                out.append(s)
                out.append(" ")
            } else {
                out.append(s)
                if v >= 0x80 { needsDecomposition = true }
            }
        }
        guard lowercase else { return out }
        if needsDecomposition {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: out)
            let decomposed = String(scalars).decomposedStringWithCanonicalMapping
            out = decomposed.unicodeScalars.filter { $0.value < 0x80 || !BertCharacterClasses.strippedMarks.includes($0.value) }
        }
        var lowered: [Unicode.Scalar] = []
        lowered.reserveCapacity(out.count)
        for s in out {
            if s.value < 0x80 {
                lowered.append(s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return lowered
    }

    /// BertPreTokenizer: split on whitespace (dropped) and around each punctuation character (kept).
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start: Int?
        for (i, s) in scalars.enumerated() {
            // Normalisation has mapped every whitespace character to a space.
            let space = s == " "
            if space || isPunctuation(s.value) {
                if let b = start { words.append(scalars[b..<i]) }
                start = nil
                if !space { words.append(scalars[i...i]) }
            } else if start == nil {
                start = i
            }
        }
        if let b = start { words.append(scalars[b...]) }
        return words
    }

    /// Greedy longest-match-first; a word with any unmatched remainder becomes one `[UNK]`.
    func appendWordPieces(of word: ArraySlice<Unicode.Scalar>, to ids: inout [Int32]) {
        guard word.count <= maxCharactersPerWord else {
            ids.append(vocabulary.unknownID)
            return
        }
        let chars = Array(word)
        var pieces: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int32?
            while end > start {
                var candidate = start > 0 ? "##" : ""
                candidate.unicodeScalars.append(contentsOf: chars[start..<end])
                if let id = vocabulary.id(candidate) {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                ids.append(vocabulary.unknownID)
                return
            }
            pieces.append(id)
            start = end
        }
        ids += pieces
    }

    // MARK: Character classes (those of the Rust `tokenizers` crate; see BertCharacterClasses)

    func isWhitespace(_ v: UInt32) -> Bool {
        switch v {
        case 9, 10, 13, 32: return true
        case 0..<0x80: return false
        default: return BertCharacterClasses.whitespace.includes(v)
        }
    }

    /// NUL, U+FFFD and other-category characters except tab, newline and carriage return.
    func isDropped(_ v: UInt32) -> Bool {
        switch v {
        case 9, 10, 13, 32..<127: return false
        case 0..<0x80: return true
        default: return BertCharacterClasses.dropped.includes(v)
        }
    }

    func isCJK(_ v: UInt32) -> Bool {
        v >= 0x3400 && BertCharacterClasses.chinese.includes(v)
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `^`) or Unicode P*.
    func isPunctuation(_ v: UInt32) -> Bool {
        if v < 0x80 {
            return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        }
        return BertCharacterClasses.punctuation.includes(v)
    }
}
