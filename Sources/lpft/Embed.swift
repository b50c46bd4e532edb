import ArgumentParser
import Foundation
import Training

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print encoder features of texts, one JSON line each: {\"ids\", \"cls_hidden\", \"mean_pooled\"}.",
        discussion: """
        cls_hidden is the final hidden state of [CLS] (φ(x), what the classifier head reads; no \
        pooler); mean_pooled averages the final hidden states over non-padding tokens. Inputs are \
        batched and packed (no padding).
        """)

    @OptionGroup var model: ModelOption
    @Option(help: "Truncate to this many tokens, special tokens included.") var maxLength = 128
    @Option(help: "Inputs per forward pass.") var batchSize = 32
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Read inputs from this file instead of the arguments: JSONL rows with \"text\" (and optional \"text_pair\"), or plain text, one per line.")
    var data: String?
    @Argument(help: "Texts to embed.") var texts: [String] = []

    func validate() throws {
        guard (data == nil) != texts.isEmpty else { throw ValidationError("give texts as arguments or --data FILE, not both or neither") }
    }

    func run() throws {
        var inputs: [(text: String, pair: String?)] = texts.map { ($0, nil) }
        if let data {
            guard let content = FileManager.default.contents(atPath: data), let text = String(data: content, encoding: .utf8) else {
                throw CommandFailure("cannot read \(data) as UTF-8 text: check the path")
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
            if data.hasSuffix(".jsonl") {
                inputs = try lines.enumerated().map { number, line in
                    guard let row = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                          let text = row["text"] as? String else {
                        throw CommandFailure("\(data):\(number + 1): expected a JSON object with a string \"text\"")
                    }
                    return (text, row["text_pair"] as? String)
                }
            } else {
                inputs = lines.map { (String($0), nil) }
            }
        }
        let embedder = try TextEmbedder(modelDirectory: try model.directory(), maxLength: maxLength, batchSize: batchSize, threads: threads)
        let encoded = inputs.map { embedder.tokenizer.encode($0.text, pair: $0.pair, maxLength: embedder.maxLength) }
        for e in try embedder.embed(tokenized: encoded) {
            print(try JSONLine.encode(["ids": e.ids.map(Int.init), "cls_hidden": e.clsHidden.map(Double.init), "mean_pooled": e.meanPooled.map(Double.init)]))
        }
    }
}
