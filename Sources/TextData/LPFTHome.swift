import Foundation

/// Where fetched models and datasets live: `$LPFT_HOME`, else `~/.cache/lpft`.
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
}
