import ArgumentParser
import Benchmarks
import Logs
import TrialContract

@main
struct LPFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lpft",
        abstract: "Linear probing then fine-tuning of BERT-family classifiers on the CPU, with NTK analysis.",
        discussion: """
        Reproduces "Understanding Linear Probing then Fine-tuning Language Models from NTK \
        Perspective" (Tomihari & Sato, NeurIPS 2024) at sweep scale.
        """,
        version: LPFTVersion.description,
        subcommands: [Demo.self, Train.self, SweepCommand.self, WorkerCommand.self, KeysCommand.self, NTKCommand.self, Model.self, DataCommand.self, Tokenize.self, Embed.self, Bench.self])

    /// Logs go to stderr as `lpft: …` lines (or JSON) from the start, whatever the command.
    static func main() {
        LogSetup.bootstrap()
        main(nil)
    }
}

/// A failure at run time: what failed and what to do, printed as one line without the usage
/// text (ArgumentParser adds usage only to `ValidationError`, which is for mistyped commands).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
