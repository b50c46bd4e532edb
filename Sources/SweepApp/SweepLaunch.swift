import Foundation
import Sweep
import TrialContract
import Wire

/// What `lpft sweep run` does before its coordinator starts.
public enum SweepLaunch {
    /// What seeding the journal did.
    public struct Seeded {
        public var added = 0, revived = 0, dropped = 0
        /// The plan under the ids the trials now have (see ``JournalWriter/pinInputs(_:inputs:)``).
        public var planned: [PlannedTrial]
        /// Input files whose content changed since the sweep first planned them, one line each.
        public var changedInputs: [String] = []
        /// Trials from before the journal pinned inputs, pinned now.
        public var pinnedLate = 0
    }

    /// Records the spec, pins each trial to the content of its `inputs` (when given), and adds
    /// the planned trials the journal does not have yet (a rerun resumes); optionally gives
    /// failed trials new attempts and drops unstarted trials that left the spec.
    public static func seed(_ journal: Journal, spec: URL, planned: [PlannedTrial], retryFailed: Bool, dropRemoved: Bool,
                            inputs: ((PlannedTrial) throws -> [InputFile])? = nil, now: Double = Date().timeIntervalSince1970) throws -> Seeded {
        try journal.write { w in
            var seeded = Seeded(planned: planned)
            if let inputs {
                let check = try w.pinInputs(planned, inputs: inputs)
                (seeded.planned, seeded.changedInputs, seeded.pinnedLate) = (check.planned, check.changes, check.pinnedLate)
            }
            try w.setValue(spec.path, forKey: "spec_path")
            try w.setValue(String(decoding: FileManager.default.contents(atPath: spec.path) ?? Data(), as: UTF8.self), forKey: "spec")
            for (position, t) in seeded.planned.enumerated() {
                let axes = try JSONSerialization.data(withJSONObject: t.axes.mapValues(\.any), options: [.sortedKeys])
                if try w.addTrial(id: t.id, position: position, axes: String(decoding: axes, as: UTF8.self), config: t.canonicalConfig, at: now) { seeded.added += 1 }
            }
            seeded.revived = retryFailed ? try w.retryFailedTrials(at: now) : 0
            seeded.dropped = dropRemoved ? try w.dropUnstartedTrials(notIn: Set(seeded.planned.map(\.id))) : 0
            // The planning event first: a run's events end where the next planning begins.
            try w.event(CoordinatorEvent.planned, at: now, detail: "\(planned.count) planned, \(seeded.added) new, \(seeded.revived) failed trial(s) given new attempts")
            for change in seeded.changedInputs { try w.event("input changed", at: now, detail: change) }
            return seeded
        }
    }

    /// Local workers of a CURVE sweep get a keypair of their own (kept in `<sweep>/workers`,
    /// the same on every run), trusted for this run: adds its public key to `allowed` and
    /// returns the worker arguments that use it.
    public static func localWorkerKeys(sweep: URL, server: CurveKeyPair, allowed: inout Set<String>?) throws -> [String] {
        let dir = sweep.appendingPathComponent("workers")
        let local = dir.appendingPathComponent("local.key")
        if !FileManager.default.fileExists(atPath: local.path) { try CurveKeyPair.generate().write(to: dir, name: "local") }
        allowed?.insert(try CurveKeyPair.read(secretFile: local).publicKey)
        let serverKey = dir.appendingPathComponent("coordinator.pub")
        try (server.publicKey + "\n").write(to: serverKey, atomically: true, encoding: .utf8)
        return ["--curve-key", local.path, "--server-key", serverKey.path]
    }
}
