import Foundation

/// A WordPiece vocabulary: one token per line of `vocab.txt`, the line number is the id.
public struct Vocabulary: Sendable {
    public let tokens: [String]
    let ids: [String: Int32]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let paddingID: Int32

    public var count: Int { tokens.count }

    public init(tokens: [String]) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where ids[token] == nil {
            ids[token] = Int32(i)
        }
        func special(_ name: String) throws -> Int32 {
            guard let id = ids[name] else { throw TextDataError.vocabulary("the vocabulary has no \(name) token") }
            return id
        }
        self.tokens = tokens
        self.ids = ids
        unknownID = try special("[UNK]")
        classifierID = try special("[CLS]")
        separatorID = try special("[SEP]")
        paddingID = try special("[PAD]")
    }

    /// Reads `vocab.txt` (UTF-8, one token per line).
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TextDataError.vocabulary("cannot read \(url.path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TextDataError.vocabulary("\(url.path) is not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines)
    }

    public func id(_ token: some StringProtocol) -> Int32? { ids[String(token)] }
}
