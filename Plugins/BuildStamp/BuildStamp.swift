import Foundation
import PackagePlugin

/// Writes `BuildStamp.swift` (`let buildCommit = "<git commit>"`, `let buildDate = "<UTC day>"`)
/// into the target before every build, so a binary can say which commit it was built from
/// (workers name it in HELLO, results carry it) and when (`lpft --version`). Uncommitted
/// changes to the code (not to, say, a running sweep's journal) make the commit `-dirty`; no
/// git, `unknown`. The file is rewritten only when the stamp changes, so it costs no
/// recompilation otherwise: the date is the day, not the second, for that reason.
@main
struct BuildStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "stamp")
        let script = #"""
            set -u
            repo=$1 out=$2/BuildStamp.swift
            mkdir -p "$2"
            commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null) || commit=unknown
            if [ "$commit" != unknown ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no -- Package.swift Sources Plugins 2>/dev/null)" ]; then
                commit="$commit-dirty"
            fi
            printf '// Written by the BuildStamp plugin at build time.\nlet buildCommit = "%s"\nlet buildDate = "%s"\n' "$commit" "$(date -u +%F)" > "$out.new"
            if cmp -s "$out.new" "$out"; then rm "$out.new"; else mv "$out.new" "$out"; fi
            """#
        return [.prebuildCommand(
            displayName: "Stamping the build with its git commit and date",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "stamp", context.package.directoryURL.path, output.path],
            outputFilesDirectory: output)]
    }
}
