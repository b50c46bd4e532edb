/// What the trial runner, the embedder and the NTK need from a model family's tokenizer: ids
/// with the family's special tokens, truncated as Hugging Face truncates. WordPiece (BERT) and
/// byte-level BPE (RoBERTa) conform; callers hold `any Tokenizer` and never ask which.
public protocol Tokenizer: Sendable {
    /// Ids with the family's special tokens around `text` (and `pair`), and token type ids,
    /// truncated to `maxLength` in all, pairs longest-first.
    func encode(_ text: String, pair: String?, maxLength: Int) -> (ids: [Int32], tokenTypeIDs: [Int32])

    /// The token strings of `text` without added special tokens, for display.
    func tokens(_ text: String) -> [String]

    /// One more than the largest id the tokenizer can produce: what the model's `vocab_size` must equal.
    var vocabularySize: Int { get }
}

extension Tokenizer {
    /// A single text, at most `maxLength` tokens with the special tokens.
    public func encode(_ text: String, maxLength: Int = 128) -> (ids: [Int32], tokenTypeIDs: [Int32]) {
        encode(text, pair: nil, maxLength: maxLength)
    }
}

/// How `tokenizers` shares `room` tokens between the two texts of a pair (longest first): the
/// shorter side is kept whole if it fits in half the room, the longer gets the rest; otherwise
/// each gets half, the odd token going to the longer side (the second on ties).
/// Returns how many tokens of each side to keep.
func longestFirstTruncation(_ first: Int, _ second: Int, room: Int) -> (first: Int, second: Int) {
    guard first + second > room else { return (first, second) }
    let swapped = first > second
    var (shorter, longer) = swapped ? (second, first) : (first, second)
    longer = shorter > room ? shorter : max(shorter, room - shorter)
    if shorter + longer > room { (shorter, longer) = (room / 2, room / 2 + room % 2) }
    return swapped ? (longer, shorter) : (shorter, longer)
}
