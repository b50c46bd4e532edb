import ArgumentParser
import Dashboard
import Foundation
import Logging
import Logs
import TrialContract

/// `lpft sweep serve` (which runs this program) parses here.
@main
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lpft sweep serve",
        abstract: "A live, read-only web dashboard of a sweep: overview, trials, learning curves, paper views; /metrics; /api/trials.",
        discussion: """
        Opens the journal read-only (a running sweep's too) and writes nothing. Listens on \
        loopback unless --bind says otherwise; any other address needs --token (every request \
        must carry it: open /?token=TOKEN, or send Authorization: Bearer TOKEN) or --insecure. \
        Ctrl-C stops it. Pages: / (overview), /trials (sort and filter), /trials/ID (curves, \
        config, attempts), /report (the paper's views and claims); /metrics (Prometheus); \
        /api/overview, /api/trials, /api/trials/ID, /api/trials/ID/metrics (JSON).
        """)

    @Argument(help: "The sweep directory.") var dir: String
    @Option(help: "The port (0: any free one).") var port: UInt16 = 8080
    @Option(help: "The address to listen on, e.g. 0.0.0.0 for every interface (needs --token or --insecure).") var bind = "127.0.0.1"
    @Option(help: #"A secret of 16+ printable ASCII characters, without spaces, ", ; or \, that every request must carry."#) var token: String?
    @Flag(help: "Serve a non-loopback address without a token.") var insecure = false
    @Flag(help: "Stop when standard input closes (`lpft sweep run --http` passes a pipe it holds, so the dashboard ends with the sweep however it ends).") var exitWithParent = false
    @OptionGroup var logging: LoggingOptions

    static func main() {
        LogSetup.bootstrap()
        main(nil)
    }

    func run() throws {
        logging.apply()
        let logger = Logger(label: "lpft.dashboard")
        let access = DashboardAccess(bind: bind, port: port, token: token, insecure: insecure)
        if let warning = try access.check() { logger.warning("\(warning)") }
        if exitWithParent { ParentLifeline.watch { kill(getpid(), SIGTERM) } }
        let server = try DashboardServer(directory: URL(fileURLWithPath: dir), name: dir, access: access, logger: logger)
        try server.serveUntilSignalled { [dir] in logger.info("dashboard of \(dir): \($0)") }
    }
}
