import Config
import Crypto
import Foundation

/// A sweep: a base trial config and the axes that vary it, read from YAML.
///
/// ```yaml
/// base: {task: rt-polarity, train_examples: 2000, max_length: 64}
/// grid:
///   method: [ft, lp-ft, lora, lp-lora]
///   seed: [1001, 2002, 3003]
///   lora.rank: {values: [4, 8], when: {method: [lora, lp-lora]}}   # applies to LoRA methods only
/// overrides:
///   - {when: {method: [lora, lp-lora]}, set: {ft.lr: 0.001}}
/// trials:
///   - {method: lp, seed: 1001}
/// ```
///
/// Axes are dotted paths into the trial config, expanded in alphabetical order of their paths
/// (YAML mappings have no order). Unconditional axes form a cartesian product;
/// a conditional axis multiplies only the combinations its `when` matches, so an axis that does
/// not apply never multiplies trials. A condition may name another conditional axis
/// (`lp.epochs` when `lp.solver` is `sgd`); that axis is expanded first. Overrides set values where their `when` matches. `trials`
/// adds explicit trials on top of the grid. `prune:` (a ``PruneRule``) stops trials early by
/// successive halving; without it every trial runs to its end.
public struct SweepSpec: Sendable {
    public struct Axis: Sendable {
        public let path: String
        /// Values as parsed from YAML (numbers, strings, booleans, lists, mappings).
        public let values: [ConfigValue]
        /// Dotted path → accepted values; empty for an unconditional axis.
        public let when: [String: [ConfigValue]]
    }

    public struct Override: Sendable {
        public let when: [String: [ConfigValue]]
        public let set: [String: ConfigValue]
    }

    public let file: String
    public let base: ConfigValue
    public let axes: [Axis]
    public let overrides: [Override]
    public let extraTrials: [[String: ConfigValue]]
    /// Seeds the draws of sampled axes (`{log_uniform: [lo, hi], samples: n}`); 0 by default.
    public let seed: UInt64
    /// Successive halving across trials (`prune:`); nil: every trial runs to its last epoch.
    public let prune: PruneRule?

    public init(yaml text: String, file: String) throws {
        let r = try ConfigReader.parse(text, file: file)
        try r.rejectKeys(otherThan: ["base", "grid", "overrides", "prune", "seed", "trials"])
        self.file = file
        guard let baseSection = try r.section("base") else { throw r.fail("base", "required: the trial config every trial starts from") }
        base = ConfigValue(baseSection.rawMapping)  // validated per trial, by the trial config reader
        seed = UInt64(try r.int("seed", range: 0...Int.max) ?? 0)
        var axes: [Axis] = []
        if let grid = try r.section("grid") {
            for path in grid.keys {
                let raw = grid.raw(path)!
                if let list = raw as? [Any] {
                    guard !list.isEmpty else { throw grid.fail(path, "an axis needs at least one value") }
                    axes.append(Axis(path: path, values: list.map(ConfigValue.init), when: [:]))
                } else if let mapping = raw as? [String: Any] {
                    let axis = ConfigReader(mapping, file: file, path: grid.key(path))
                    let values: [ConfigValue]
                    if let drawn = try SampledAxis.values(axis, path: path, sweepSeed: seed) {
                        values = drawn
                    } else {
                        guard let listed = axis.raw("values") as? [Any], !listed.isEmpty else {
                            throw axis.fail("values", "required: a non-empty list (or one of \(SampledAxis.kinds.joined(separator: ", ")) with samples)")
                        }
                        values = listed.map(ConfigValue.init)
                    }
                    let when = try Self.condition(axis)
                    try axis.finish()
                    axes.append(Axis(path: path, values: values, when: when))
                } else {
                    throw grid.fail(path, "expected a list of values, {values: [...], when: {...}} or {log_uniform: [lo, hi], samples: n}, got \(ConfigReader.describe(raw))")
                }
            }
        }
        self.axes = axes
        var overrides: [Override] = []
        if let list = r.raw("overrides") {
            guard let items = list as? [Any] else { throw r.fail("overrides", "expected a list of {when, set}") }
            for (i, item) in items.enumerated() {
                guard let mapping = item as? [String: Any] else { throw r.fail("overrides", "item \(i) is not a mapping") }
                let o = ConfigReader(mapping, file: file, path: r.key("overrides[\(i)]"))
                guard let set = o.raw("set") as? [String: Any], !set.isEmpty else { throw o.fail("set", "required: dotted paths and values") }
                let when = try Self.condition(o)
                try o.finish()
                overrides.append(Override(when: when, set: set.mapValues(ConfigValue.init)))
            }
        }
        self.overrides = overrides
        if let list = r.raw("trials") {
            guard let items = list as? [Any], let mappings = items as? [[String: Any]] else {
                throw r.fail("trials", "expected a list of mappings of dotted paths to values")
            }
            extraTrials = mappings.map { $0.mapValues(ConfigValue.init) }
        } else {
            extraTrials = []
        }
        prune = try r.section("prune").map(PruneRule.init)
        try r.finish()
    }

    public init(contentsOf url: URL) throws {
        try self.init(yaml: try ConfigReader.text(contentsOf: url), file: url.path)
    }

    static func condition(_ r: ConfigReader) throws -> [String: [ConfigValue]] {
        guard let raw = r.raw("when") else { return [:] }
        guard let mapping = raw as? [String: Any], !mapping.isEmpty else { throw r.fail("when", "expected a mapping of dotted paths to accepted values") }
        return mapping.mapValues { ($0 as? [Any] ?? [$0]).map(ConfigValue.init) }
    }
}

/// One planned trial: where it came from and its canonical, resolved config.
public struct PlannedTrial: Sendable, Equatable {
    /// The first 16 hex digits of SHA-256 of `canonicalConfig`.
    public let id: String
    /// The axis values that made this trial (path → value), for tables and grouping.
    public let axes: [String: ConfigValue]
    public let canonicalConfig: String

    /// A trial id: the first 16 hex digits of the SHA-256 of `text`.
    static func id(hashing text: String) -> String {
        String(SHA256.hash(data: Data(text.utf8)).hexDigits.prefix(16))
    }

    /// `{"axes", "config", "id"}` on one line, keys sorted (`lpft sweep plan --json`).
    public func jsonLine() throws -> String {
        let object: [String: Any] = ["id": id, "axes": axes.mapValues(\.any), "config": try JSONSerialization.jsonObject(with: Data(canonicalConfig.utf8))]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

extension PlannedTrial {
    /// A trial of `canonicalConfig`, under the id it hashes to (benchmarks and tools that plan
    /// without a spec).
    public init(axes: [String: ConfigValue] = [:], canonicalConfig: String) {
        self.init(id: Self.id(hashing: canonicalConfig), axes: axes, canonicalConfig: canonicalConfig)
    }
}

extension SweepSpec {
    /// The most trials a spec may make unless told otherwise (`--max-trials`): planning
    /// validates each trial, about 0.5 ms apiece, and a grid of 10^7 points once planned for
    /// minutes in GBs before saying anything.
    public static let defaultMaximumTrials = 100_000

    /// The trials of the sweep, in grid order then explicit trials, without duplicates.
    ///
    /// - Parameters:
    ///   - maximumTrials: a spec that makes more trials (grid points and explicit trials,
    ///     duplicates included) is refused before any is built.
    ///   - progress: told (trials validated, trials in all) before each trial and at the end.
    ///   - resolve: turns a trial's merged config into its canonical JSON, throwing a
    ///     `ConfigError` for an invalid one; the sweep knows nothing of what a trial contains.
    public func plan(maximumTrials: Int = defaultMaximumTrials, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in },
                     resolve: ([String: Any], _ label: String) throws -> String) throws -> [PlannedTrial] {
        let count = trialCount(upTo: maximumTrials)
        guard let count, count <= maximumTrials else {
            throw ConfigError(file: file, path: "grid", reason: count.map {
                "makes \($0) trials, more than --max-trials (\(maximumTrials)): pass --max-trials \($0) to plan them all"
            } ?? "makes more than \(maximumTrials) trials (--max-trials): make it smaller, or raise --max-trials")
        }
        var assignments: [[String: ConfigValue]] = [[:]]
        for axis in expansionOrder {
            assignments = assignments.flatMap { p in
                axis.when.isEmpty || Self.matches(axis.when, base.setting(p)) ? axis.values.map { p.merging([axis.path: $0]) { _, new in new } } : [p]
            }
        }
        assignments += extraTrials
        var seen = Set<String>()
        var trials: [PlannedTrial] = []
        for (done, assignment) in assignments.enumerated() {
            progress(done, assignments.count)
            var config = base.setting(assignment)
            for o in overrides where Self.matches(o.when, config) {
                config = config.setting(o.set)
            }
            let label = "\(file) (trial " + assignment.keys.sorted().map { "\($0)=\(assignment[$0]!)" }.joined(separator: ", ") + ")"
            guard case let .mapping(m) = config else { continue }
            let canonical = try resolve(m.mapValues(\.any), label)
            let id = PlannedTrial.id(hashing: canonical)
            if seen.insert(id).inserted {
                trials.append(PlannedTrial(id: id, axes: assignment, canonicalConfig: canonical))
            }
        }
        progress(assignments.count, assignments.count)
        // A group setting no trial has would put every trial in the one group "—", silently.
        for path in prune?.within ?? [] where !trials.contains(where: { $0.axes[path] != nil || TrialSettings.flatten($0.canonicalConfig)[path] != nil }) {
            throw ConfigError(file: file, path: "prune.within", reason: "no trial has a setting \(path) (an axis or a key of the trial config), so it cannot tell groups apart")
        }
        return trials
    }

    /// How many trials the spec makes (grid points and explicit trials, duplicates included),
    /// counted without building them, so that a grid too big to plan is refused at once. Points
    /// are counted in groups that agree on every axis a condition reads, each with its size:
    /// the other axes only multiply sizes. Nil when that is more than `limit` groups, or more
    /// trials than an `Int` holds (too many either way).
    public func trialCount(upTo limit: Int) -> Int? {
        let read = Set(axes.flatMap(\.when.keys))
        var groups: [(assignment: [String: ConfigValue], size: Int)] = [([:], 1)]
        for axis in expansionOrder {
            // An axis at, above or below a path a condition reads can change what it reads.
            let isRead = read.contains { $0 == axis.path || $0.hasPrefix(axis.path + ".") || axis.path.hasPrefix($0 + ".") }
            var next: [(assignment: [String: ConfigValue], size: Int)] = []
            for group in groups {
                if !axis.when.isEmpty && !Self.matches(axis.when, base.setting(group.assignment)) {
                    next.append(group)
                } else if isRead {
                    next += axis.values.map { (group.assignment.merging([axis.path: $0]) { _, new in new }, group.size) }
                } else {
                    let (size, overflow) = group.size.multipliedReportingOverflow(by: axis.values.count)
                    if overflow { return nil }
                    next.append((group.assignment, size))
                }
                if next.count > limit { return nil }
            }
            groups = next
        }
        var count = extraTrials.count
        for group in groups {
            let (sum, overflow) = count.addingReportingOverflow(group.size)
            if overflow { return nil }
            count = sum
        }
        return count
    }

    /// The axes in the order they expand: unconditional ones, then conditional ones. A
    /// conditional axis may depend on another (lp.epochs only when lp.solver is sgd): those it
    /// depends on come first, and each condition reads the values set so far.
    private var expansionOrder: [Axis] {
        let conditional = axes.filter { !$0.when.isEmpty }
        let paths = Set(conditional.map(\.path))
        return axes.filter { $0.when.isEmpty } + conditional.filter { $0.when.keys.allSatisfy { !paths.contains($0) } }
            + conditional.filter { $0.when.keys.contains(where: paths.contains) }
    }

    static func matches(_ when: [String: [ConfigValue]], _ config: ConfigValue) -> Bool {
        when.allSatisfy { path, accepted in config.value(at: path).map { accepted.contains($0) } ?? false }
    }
}

extension Sequence<UInt8> {
    /// Lower-case hex, two digits a byte (a digest as files and ids show it).
    public var hexDigits: String { map { String(format: "%02x", $0) }.joined() }
}
