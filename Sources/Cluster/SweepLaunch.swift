import Foundation
import Sweep

/// What `lpft sweep run` does before its coordinator starts.
public enum SweepLaunch {
    /// Records the spec and adds the planned trials the journal does not have yet (a rerun
    /// resumes); optionally gives failed trials new attempts and drops unstarted trials that
    /// left the spec. Returns how many trials were added, revived and dropped.
    public static func seed(_ journal: Journal, spec: URL, planned: [PlannedTrial], retryFailed: Bool, dropRemoved: Bool,
                            now: Double = Date().timeIntervalSince1970) throws -> (added: Int, revived: Int, dropped: Int) {
        try journal.write { w in
            try w.setValue(spec.path, forKey: "spec_path")
            try w.setValue(String(decoding: FileManager.default.contents(atPath: spec.path) ?? Data(), as: UTF8.self), forKey: "spec")
            var added = 0
            for (position, t) in planned.enumerated() {
                let axes = try JSONSerialization.data(withJSONObject: t.axes.mapValues(\.any), options: [.sortedKeys])
                if try w.addTrial(id: t.id, position: position, axes: String(decoding: axes, as: UTF8.self), config: t.canonicalConfig, at: now) { added += 1 }
            }
            let revived = retryFailed ? try w.retryFailedTrials(at: now) : 0
            let dropped = dropRemoved ? try w.dropUnstartedTrials(notIn: Set(planned.map(\.id))) : 0
            try w.event("sweep run", at: now, detail: "\(planned.count) planned, \(added) new, \(revived) failed trial(s) given new attempts")
            return (added, revived, dropped)
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
