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

    /// Checks that every label of an evaluation set is one this label set knows, so a model
    /// trained on one task can be evaluated on another only when that makes sense.
    public func requireSuperset(of other: LabelSet, what: String) throws {
        let unknown = other.names.filter { !names.contains($0) }
        guard unknown.isEmpty else {
            throw TextDataError.invalidDataset("\(what) has label(s) \(unknown.joined(separator: ", ")) that the model's labels [\(names.joined(separator: ", "))] do not include")
        }
    }
}
