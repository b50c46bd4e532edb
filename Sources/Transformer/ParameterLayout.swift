/// Where one named tensor lives in a flat parameter buffer.
public struct ParameterView: Equatable, Sendable {
    /// The Hugging Face name, e.g. `bert.encoder.layer.0.attention.self.query.weight`.
    public let name: String
    public let offset: Int
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The named views of a flat parameter buffer, in storage order.
///
/// All parameters of a model live in one contiguous `[Float]`, llm.c-style, so that AdamW,
/// gradient norms, freezing and NTK parameter groups are slices rather than dictionaries.
public struct ParameterLayout: Sendable {
    public private(set) var views: [ParameterView] = []
    private var indexByName: [String: Int] = [:]
    public private(set) var count = 0

    public init() {}

    /// Appends a tensor; storage order is the order of the calls.
    @discardableResult
    public mutating func append(_ name: String, _ shape: [Int]) -> ParameterView {
        precondition(indexByName[name] == nil, "parameter \(name) added twice")
        let view = ParameterView(name: name, offset: count, shape: shape)
        indexByName[name] = views.count
        views.append(view)
        count += view.count
        return view
    }

    public subscript(name: String) -> ParameterView? {
        indexByName[name].map { views[$0] }
    }
}
