import Foundation
import Synchronization

/// RoBERTa's tokenizer, identical in output to Hugging Face `RobertaTokenizerFast`: added and
/// special tokens are split off the raw text first (with their `lstrip`/`rstrip`/`single_word`
/// flags); each piece between them is cut into words by the GPT-2 pattern, each word's UTF-8
/// bytes become byte-level symbols, and the merges are applied lowest rank first. A text is
/// `<s> … </s>`, a pair `<s> A </s></s> B </s>`, every token type 0.
///
/// Loads `tokenizer.json`, or `vocab.json` + `merges.txt` as `RobertaTokenizerFast` converts them
/// (see `ByteLevelBPETokenizer(modelDirectory:)`).
public struct ByteLevelBPETokenizer: Tokenizer {
    /// A merge of two adjacent symbols: its rank (lower merges first) and the merged symbol's id.
    struct Merge: Sendable {
        let rank: Int32
        let id: Int32
    }

    /// Token strings by id, for display ("" where the vocabulary has no entry for an id).
    public let tokenStrings: [String]
    public let vocabularySize: Int
    /// `<s>` and `</s>`: around a text, and twice between the two texts of a pair.
    public let classifierID: Int32, separatorID: Int32
    /// Put a space before each piece of text that does not start with one (GPT-2 style models
    /// set it; roberta-base does not).
    public let addsPrefixSpace: Bool
    /// The file the tokenizer was read from (tokenizer.json or vocab.json), for messages.
    public let sourceFile: String
    let merges: [UInt64: Merge]
    /// The vocabulary id of each byte's symbol.
    let byteIDs: [Int32]
    let addedTokens: AddedTokenSplitter
    let cache = WordCache()

    /// - Parameters:
    ///   - vocabulary: symbol → id, byte-level strings (`Ġthe`), every byte's symbol included.
    ///   - merges: pairs of symbols in rank order; each pair's concatenation must be in `vocabulary`.
    ///   - source: the file the tables came from, named in errors.
    public init(vocabulary: [String: Int32], merges: [(String, String)], addedTokens: [AddedToken], classifier: String, separator: String,
                addsPrefixSpace: Bool, source: String) throws {
        func fail(_ reason: String) -> TextDataError { .tokenizer(file: source, reason: reason) }
        var byteIDs: [Int32] = []
        for (byte, character) in ByteLevelPreTokenizer.byteCharacters.enumerated() {
            guard let id = vocabulary[String(character)] else {
                throw fail("the vocabulary has no symbol for byte 0x\(String(byte, radix: 16)) (\"\(character)\"); a byte-level BPE has all 256")
            }
            byteIDs.append(id)
        }
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = vocabulary[a], let right = vocabulary[b], let merged = vocabulary[a + b] else {
                throw fail("merge \(rank + 1) \"\(a) \(b)\" joins symbols that are not all in the vocabulary")
            }
            let key = Self.pairKey(left, right)
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), id: merged) }
        }
        let ids = Dictionary(vocabulary.map { ($0.value, $0.key) } + addedTokens.map { ($0.id, $0.content) }) { first, _ in first }
        guard let largest = ids.keys.max(), ids.keys.min()! >= 0 else { throw fail("the vocabulary is empty or has a negative id") }
        func id(of token: String) throws -> Int32 {
            guard let id = addedTokens.first(where: { $0.content == token })?.id ?? vocabulary[token] else {
                throw fail("no \(token) token, which RoBERTa puts around every text")
            }
            return id
        }
        classifierID = try id(of: classifier)
        separatorID = try id(of: separator)
        vocabularySize = Int(largest) + 1
        tokenStrings = (0...largest).map { ids[$0] ?? "" }
        self.byteIDs = byteIDs
        self.merges = table
        self.addedTokens = AddedTokenSplitter(addedTokens)
        self.addsPrefixSpace = addsPrefixSpace
        sourceFile = source
    }

    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    // MARK: Encoding

    public func encode(_ text: String, pair: String?, maxLength: Int) -> (ids: [Int32], tokenTypeIDs: [Int32]) {
        var first = tokenIDs(text)
        var ids: [Int32]
        if let pair {
            var second = tokenIDs(pair)
            let keep = longestFirstTruncation(first.count, second.count, room: max(0, maxLength - 4))
            first.removeLast(first.count - keep.first)
            second.removeLast(second.count - keep.second)
            ids = [classifierID] + first + [separatorID, separatorID] + second + [separatorID]
        } else {
            first.removeLast(max(0, first.count - max(0, maxLength - 2)))
            ids = [classifierID] + first + [separatorID]
        }
        return (ids, [Int32](repeating: 0, count: ids.count))
    }

    public func tokens(_ text: String) -> [String] {
        tokenIDs(text).map { tokenStrings[Int($0)] }
    }

    /// The ids of `text` without `<s>`/`</s>` around it (added tokens written in it are kept).
    public func tokenIDs(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        for piece in addedTokens.split(scalars) {
            switch piece {
            case let .token(id): ids.append(id)
            case let .text(range): appendText(scalars[range], to: &ids)
            }
        }
        return ids
    }

    private func appendText(_ piece: ArraySlice<Unicode.Scalar>, to ids: inout [Int32]) {
        // A space put before a piece joins its first word, as a leading space of the text would.
        let text = addsPrefixSpace && piece.first != " " ? ([" "] + piece)[...] : piece
        var bytes: [UInt8] = []
        ByteLevelPreTokenizer.forEachWord(in: text) { word in
            bytes.removeAll(keepingCapacity: true)
            for s in text[word] { UTF8.encode(s) { bytes.append($0) } }
            appendWord(bytes, to: &ids)
        }
    }

    /// A word's symbols after every merge, from the cache when the word was seen before.
    private func appendWord(_ bytes: [UInt8], to ids: inout [Int32]) {
        if let cached = cache[bytes] { return ids += cached }
        var symbols = bytes.map { byteIDs[Int($0)] }
        while symbols.count > 1 {
            var best: (rank: Int32, left: Int32, right: Int32, id: Int32)?
            for i in 0..<(symbols.count - 1) {
                if let merge = merges[Self.pairKey(symbols[i], symbols[i + 1])], merge.rank < best?.rank ?? .max {
                    best = (merge.rank, symbols[i], symbols[i + 1], merge.id)
                }
            }
            guard let best else { break }
            // Every occurrence, left to right: in a trained BPE no merge made here can outrank
            // this one, so this is the order `tokenizers`' priority queue takes too.
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count - 1)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == best.left && symbols[i + 1] == best.right {
                    merged.append(best.id)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        cache[bytes] = symbols
        ids += symbols
    }
}

/// Words already merged, by their bytes: most words of a corpus repeat, and merging is the
/// costly step. Bounded as `tokenizers` bounds its cache (new words stop being kept once full);
/// a lock makes one tokenizer safe to share between threads.
final class WordCache: Sendable {
    static let capacity = 10_000
    private let words = Mutex<[[UInt8]: [Int32]]>([:])

    subscript(bytes: [UInt8]) -> [Int32]? {
        get { words.withLock { $0[bytes] } }
        set {
            words.withLock { words in
                if words.count < Self.capacity { words[bytes] = newValue }
            }
        }
    }
}
