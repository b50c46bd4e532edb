import ArgumentParser
import Wire
import Foundation

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "CURVE keys for coordinators and workers talking across machines.",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a keypair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (public, Z85).",
            discussion: """
            Give the coordinator its NAME.key (--curve-key) and a directory holding the .pub of \
            every worker it should trust (--allow). Give each worker its own NAME.key \
            (--curve-key) and the coordinator's .pub (--server-key).
            """)

        @Argument(help: "Where to write the keys.") var dir: String
        @Option(help: "The files' base name.") var name = ProcessInfo.processInfo.hostName

        func run() throws {
            let keys = try CurveKeyPair.generate()
            let directory = URL(fileURLWithPath: dir)
            try keys.write(to: directory, name: name)
            print("secret: \(directory.appendingPathComponent("\(name).key").path) (mode 0600)")
            print("public: \(directory.appendingPathComponent("\(name).pub").path)  \(keys.publicKey)")
        }
    }
}

/// The CURVE options shared by `sweep run` and `worker`.
struct CurveOptions: ParsableArguments {
    @Option(help: "This side's CURVE keypair (a .key file from `lpft keys generate`).") var curveKey: String?
    @Flag(help: "Allow plain TCP beyond loopback: no encryption, no authentication.") var insecure = false

    func keys(for endpoint: Endpoint, role: String) throws -> CurveKeyPair? {
        if let curveKey { return try CurveKeyPair.read(secretFile: URL(fileURLWithPath: curveKey)) }
        if let warning = try endpoint.checkPlainText(insecure: insecure, role: role) { logger.warning("\(warning)") }
        return nil
    }
}
