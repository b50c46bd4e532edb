import Foundation

/// A file a trial reads: the name every machine knows it by (relative to `$LPFT_HOME` for
/// fetched models and tasks, else its absolute path) and where it is on this machine.
public struct InputFile: Sendable, Hashable {
    public let name: String
    public let url: URL

    public init(name: String, url: URL) {
        self.name = name
        self.url = url
    }
}
