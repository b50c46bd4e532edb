import ArgumentParser
import Foundation
import TextData
import Training

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print encoder features of texts, one JSON line each: {\"ids\", \"cls_hidden\", \"mean_pooled\"}.",
        discussion: """
        cls_hidden is the final hidden state of the first token ([CLS]; RoBERTa's <s>), φ(x) of a trial with pooling: cls (the \
        default; no pooler); mean_pooled averages the final hidden states over the input's tokens, φ(x) of pooling: mean. Inputs are \
        batched and packed (no padding).
        """)

    @OptionGroup var model: ModelOption
    @Option(help: "Truncate to this many tokens, special tokens included.") var maxLength = 128
    @Option(help: "Inputs per forward pass.") var batchSize = 32
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Read inputs from this file instead of the arguments, as `lpft train` and `lpft ntk` read data, labels ignored: .jsonl rows with text (or pre-tokenised input_ids, optional token_type_ids), .csv/.tsv with a header; any other file is plain text, one input per line.")
    var data: String?
    @Option(help: "--data's text field or column.") var text = "text"
    @Option(help: "--data's second-text field or column, for text pairs.") var textPair: String?
    @Option(help: "Read --data as this GLUE task's TSV (\(DatasetFormat.glueTasks.joined(separator: ", "))).") var glue: String?
    @Option(help: "Read --data as this SuperGLUE task's JSONL (\(DatasetFormat.superGLUETasks.joined(separator: ", "))).") var superglue: String?
    @Argument(help: "Texts to embed.") var texts: [String] = []

    func validate() throws {
        guard (data == nil) != texts.isEmpty else { throw ValidationError("give texts as arguments or --data FILE, not both or neither") }
        guard glue == nil || superglue == nil else { throw ValidationError("choose one of --glue and --superglue") }
    }

    func run() throws {
        let embedder = try TextEmbedder(modelDirectory: try model.directory(), maxLength: maxLength, batchSize: batchSize, threads: threads)
        let format: DatasetFormat = glue.map { .glue(task: $0) } ?? superglue.map { .superGLUE(task: $0) } ?? .generic(text: text, textPair: textPair)
        let inputs = try data.map { try embedder.inputs(from: URL(fileURLWithPath: $0), format: format) }
            ?? texts.map { embedder.tokenizer.encode($0, maxLength: embedder.maxLength) }
        for e in try embedder.embed(tokenized: inputs) {
            print(try JSONLine.encode(["ids": e.ids.map(Int.init), "cls_hidden": e.clsHidden.map(Double.init), "mean_pooled": e.meanPooled.map(Double.init)]))
        }
    }
}
