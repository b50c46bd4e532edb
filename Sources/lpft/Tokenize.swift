import ArgumentParser
import Foundation
import TextData

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of texts, one JSON line each: {\"text\": ..., \"ids\": [...]}.",
        discussion: "Ids include [CLS] and [SEP]; identical to Hugging Face BertTokenizerFast.")

    @OptionGroup var model: ModelOption
    @Option(help: "Truncate to this many tokens, special tokens included.") var maxLength = 128
    @Argument(help: "Texts to tokenise.") var texts: [String]

    func run() throws {
        let tokenizer = try WordPieceTokenizer(modelDirectory: try model.directory())
        for text in texts {
            let ids = tokenizer.encode(text, maxLength: maxLength).ids
            print(try JSONLine.encode(["text": text, "ids": ids.map(Int.init)]))
        }
    }
}

enum JSONLine {
    /// One compact JSON object with sorted keys.
    static func encode(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }
}
