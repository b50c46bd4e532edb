/// One labelled input as read from a dataset file: text (and optionally a second text), or
/// pre-tokenised ids, and the label's name.
public struct Example: Sendable, Equatable {
    public var text: String?
    public var textPair: String?
    /// Pre-tokenised input, with special tokens, used instead of text when present.
    public var inputIDs: [Int32]?
    public var tokenTypeIDs: [Int32]?
    /// The label's name as written in the file ("positive", "entailment", "1", "true"); empty
    /// when read without labels.
    public var label: String
    /// Where the example came from, e.g. "train.csv:17", for error messages and exports.
    public var source: String

    public init(text: String? = nil, textPair: String? = nil, inputIDs: [Int32]? = nil, tokenTypeIDs: [Int32]? = nil,
                label: String, source: String = "") {
        self.text = text
        self.textPair = textPair
        self.inputIDs = inputIDs
        self.tokenTypeIDs = tokenTypeIDs
        self.label = label
        self.source = source
    }
}

/// Label names and their indices, in a stable, recorded order.
public struct LabelSet: Sendable, Equatable, Codable {
    public let names: [String]

    public init(_ names: [String]) { self.names = names }

    /// The sorted distinct labels of `examples`: the same set always maps to the same indices.
    public init(of examples: [Example]) { names = Set(examples.map(\.label)).sorted() }

    public func index(of name: String) -> Int? { names.firstIndex(of: name) }

    /// Checks that every example's label is one of these, naming the first that is not by its
    /// file and line: a typo in a label is found where it is, and a model trained on one task
    /// is evaluated on another (`whose`: "the trained task") only when that makes sense.
    public func requireKnown(_ examples: [Example], whose: String = "the task") throws {
        let known = Set(names)
        if let stranger = examples.first(where: { !known.contains($0.label) }) {
            throw TextDataError.invalidDataset("\(stranger.source): label \"\(stranger.label)\" is not one of \(whose)'s labels [\(names.joined(separator: ", "))]")
        }
    }
}
