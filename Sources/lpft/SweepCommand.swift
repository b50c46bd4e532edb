import ArgumentParser
import Config
import Foundation
import Sweep
import Training

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Plan sweeps of trials (running them across machines is coming: see the open issues).",
        subcommands: [Plan.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expand a sweep spec into its trials and print them with their ids.",
            discussion: """
            Each trial's id is the first 16 hex digits of SHA-256 of its canonical, fully \
            resolved config, so the same trial has the same id in any spec. Every trial is \
            validated as `lpft train` would; an invalid one is reported with the spec file, the \
            axis values that made it, the key and the reason.
            """)

        @Argument(help: "The sweep spec (YAML).") var spec: String
        @Flag(help: "Print one JSON object per trial (id, axes, config) instead of a table.") var json = false

        func run() throws {
            let sweep = try SweepSpec(contentsOf: URL(fileURLWithPath: spec))
            let trials = try sweep.plan { mapping, label in
                let text = String(decoding: try JSONSerialization.data(withJSONObject: mapping), as: UTF8.self)
                return try TrialConfig(yaml: text, file: label).canonicalJSON()
            }
            if json {
                for t in trials {
                    let config = try JSONSerialization.jsonObject(with: Data(t.canonicalConfig.utf8))
                    let object: [String: Any] = ["id": t.id, "axes": t.axes.mapValues(\.any), "config": config]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                }
                return
            }
            let columns = Array(Set(trials.flatMap(\.axes.keys))).sorted()
            let rows = trials.map { t in [t.id] + columns.map { t.axes[$0]?.description ?? "—" } }
            let header = ["id"] + columns
            let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
            func line(_ cells: [String]) -> String {
                zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            }
            print(line(header))
            rows.forEach { print(line($0)) }
            print("\(trials.count) trial(s)")
        }
    }
}
