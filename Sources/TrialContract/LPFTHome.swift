import Foundation

/// Where fetched models and datasets live, and the inputs a worker was shipped: `$LPFT_HOME`,
/// else `~/.cache/lpft`. Names relative to it are the same on every machine of a sweep.
public struct LPFTHome: Sendable {
    public let root: URL

    public init(root: URL? = nil) {
        if let root {
            self.root = root
        } else if let env = ProcessInfo.processInfo.environment["LPFT_HOME"], !env.isEmpty {
            self.root = URL(fileURLWithPath: env)
        } else {
            self.root = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/lpft")
        }
    }

    public var models: URL { root.appendingPathComponent("models") }
    public var data: URL { root.appendingPathComponent("data") }
    /// Inputs shipped from coordinators, by content (shared by every worker and sweep of the box).
    public var content: URL { root.appendingPathComponent("content") }
}
