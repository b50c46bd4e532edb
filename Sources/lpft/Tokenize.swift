import ArgumentParser
import TextData

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of texts, one JSON line each: {\"text\": ..., \"ids\": [...]}.",
        discussion: """
        Ids include the model family's special tokens: [CLS] … [SEP] for BERT (identical to Hugging \
        Face BertTokenizerFast), <s> … </s> for RoBERTa (identical to RobertaTokenizerFast). With \
        --pair each text is the first of a pair (BERT: … [SEP] B [SEP], RoBERTa: … </s></s> B </s>), \
        truncated longest-first, and the line also holds text_pair and token_type_ids.
        """)

    @OptionGroup var model: ModelOption
    @Option(help: "Truncate to this many tokens, special tokens included.") var maxLength = 128
    @Option(help: "A second text, paired with each text.") var pair: String?
    @Argument(help: "Texts to tokenise.") var texts: [String]

    func run() throws {
        let tokenizer = try model.pretrained().tokenizer
        for text in texts {
            let encoded = tokenizer.encode(text, pair: pair, maxLength: maxLength)
            var line: [String: Any] = ["text": text, "ids": encoded.ids.map(Int.init)]
            if let pair {
                line["text_pair"] = pair
                line["token_type_ids"] = encoded.tokenTypeIDs.map(Int.init)
            }
            print(try JSONLine.encode(line))
        }
    }
}
