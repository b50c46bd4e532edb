import Foundation

/// BERT's tokenizer, identical in output to Hugging Face `BertTokenizerFast`:
/// BertNormalizer (clean text, space out CJK ideographs, strip accents and lowercase for
/// uncased vocabularies), BertPreTokenizer (split on whitespace and punctuation), then
/// greedy longest-match WordPiece with `##` continuations.
///
/// Works on Unicode scalars, as the Rust implementation works on `char`s, not on Swift
/// `Character`s (grapheme clusters would glue a base letter to its accents).
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: Vocabulary
    /// Lowercase and strip accents (uncased vocabularies), or keep both.
    public let lowercase: Bool
    /// Words longer than this become a single `[UNK]`.
    public let maxCharactersPerWord = 100

    public init(vocabulary: Vocabulary, lowercase: Bool = true) {
        self.vocabulary = vocabulary
        self.lowercase = lowercase
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
    /// `maxLength` in all (longest-first for pairs: tokens come off the longer side, the second
    /// on ties, as Hugging Face does).
    public func encode(_ text: String, pair: String? = nil, maxLength: Int = 128) -> (ids: [Int32], tokenTypeIDs: [Int32]) {
        var first = wordPieceIDs(text)
        guard let pair else {
            first = Array(first.prefix(max(0, maxLength - 2)))
            return ([vocabulary.classifierID] + first + [vocabulary.separatorID], [Int32](repeating: 0, count: first.count + 2))
        }
        var second = wordPieceIDs(pair)
        var excess = first.count + second.count + 3 - maxLength
        var (keepFirst, keepSecond) = (first.count, second.count)
        while excess > 0, keepFirst + keepSecond > 0 {
            if keepFirst > keepSecond { keepFirst -= 1 } else { keepSecond -= 1 }
            excess -= 1
        }
        first = Array(first.prefix(keepFirst))
        second = Array(second.prefix(keepSecond))
        let ids = [vocabulary.classifierID] + first + [vocabulary.separatorID] + second + [vocabulary.separatorID]
        return (ids, [Int32](repeating: 0, count: first.count + 2) + [Int32](repeating: 1, count: second.count + 1))
    }

    /// WordPiece ids of `text`, without special tokens.
    public func wordPieceIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for word in preTokenize(normalize(text)) {
            appendWordPieces(of: word, to: &ids)
        }
        return ids
    }

    /// The WordPiece strings of `text` (for display and debugging).
    public func tokens(_ text: String) -> [String] {
        wordPieceIDs(text).map { vocabulary.tokens[Int($0)] }
    }

    // MARK: Normalisation

    /// BertNormalizer: drop NUL, U+FFFD and other-category characters, map whitespace to ' ',
    /// surround CJK ideographs with spaces, then (uncased) NFD, drop nonspacing marks, lowercase.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count + 8)
        var needsDecomposition = false
        for s in text.unicodeScalars {
            let v = s.value
            if v == 0 || v == 0xFFFD || isControl(s) { continue }
            if isWhitespace(s) {
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
            out = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
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
            let space = s == " " || (s.value >= 0x80 && s.properties.isWhitespace) || (s.value >= 9 && s.value <= 13)
            if space || isPunctuation(s) {
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

    // MARK: Character classes (as in the Rust `tokenizers` crate)

    func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 9, 10, 13, 32: return true
        case 0..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// Other-category characters (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return.
    func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 9, 10, 13: return false
        case 32..<127: return false
        default:
            switch s.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned: return true
            default: return false
            }
        }
    }

    func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `^`) or Unicode P*.
    func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
