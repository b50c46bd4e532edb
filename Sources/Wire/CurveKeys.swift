import CZeroMQ
import Foundation

/// A CURVE keypair (Curve25519, as libzmq uses it) in Z85 text: 40 characters per key.
///
/// On disk: `NAME.key` holds both keys and must be readable by its owner only (mode 0600);
/// `NAME.pub` holds the public key alone, to be copied to the other side: a worker's into the
/// coordinator's allow-list directory, the coordinator's to every worker.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public static func generate() throws -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw KeyError("libzmq was built without CURVE support (zmq_curve_keypair failed)") }
        return CurveKeyPair(publicKey: String(cBuffer: pub), secretKey: String(cBuffer: sec))
    }

    /// Writes `NAME.key` (0600) and `NAME.pub` into `directory`; refuses to overwrite a key.
    public func write(to directory: URL, name: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let secret = directory.appendingPathComponent("\(name).key"), pub = directory.appendingPathComponent("\(name).pub")
        for file in [secret, pub] where FileManager.default.fileExists(atPath: file.path) {
            throw KeyError("\(file.path) exists; remove it first or choose another name")
        }
        let fd = open(secret.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyError("cannot create \(secret.path): \(String(cString: strerror(errno)))") }
        let text = "# lpft CURVE keypair: keep this file secret (mode 0600)\npublic-key = \(publicKey)\nsecret-key = \(secretKey)\n"
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        guard written == text.utf8.count else { throw KeyError("cannot write \(secret.path)") }
        try (publicKey + "\n").write(to: pub, atomically: true, encoding: .utf8)
    }

    /// Reads a `.key` file, checking its permissions and both keys.
    public static func read(secretFile url: URL) throws -> CurveKeyPair {
        var info = stat()
        guard stat(url.path, &info) == 0 else { throw KeyError("\(url.path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o077 == 0 else {
            throw KeyError(String(format: "%@ is readable by others (mode %o): chmod 600 %@", url.path, info.st_mode & 0o777, url.path))
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let pub = fields["public-key"], let sec = fields["secret-key"] else {
            throw KeyError("\(url.path): expected `public-key = …` and `secret-key = …` lines (made by `lpft keys generate`)")
        }
        try validate(pub, in: url.path)
        try validate(sec, in: url.path)
        var derived = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&derived, sec) == 0, String(cBuffer: derived) == pub else {
            throw KeyError("\(url.path): the public key does not belong to the secret key")
        }
        return CurveKeyPair(publicKey: pub, secretKey: sec)
    }

    /// Reads a public key: a `.pub` file (or the public key of a `.key` file).
    public static func readPublic(_ url: URL) throws -> String {
        if url.pathExtension == "key" { return try read(secretFile: url).publicKey }
        let key = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init) ?? ""
        try validate(key.trimmingCharacters(in: .whitespaces), in: url.path)
        return key.trimmingCharacters(in: .whitespaces)
    }

    /// The allowed public keys: every `*.pub` in a directory, or one key per line of a file.
    public static func allowList(_ url: URL) throws -> Set<String> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { throw KeyError("\(url.path): no such file or directory") }
        if isDirectory.boolValue {
            let files = try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil).filter { $0.pathExtension == "pub" }
            guard !files.isEmpty else { throw KeyError("\(url.path) holds no *.pub files: copy each worker's NAME.pub there") }
            return Set(try files.map(readPublic))
        }
        var keys = Set<String>()
        for (n, line) in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").enumerated() {
            let key = line.trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, !key.hasPrefix("#") else { continue }
            try validate(key, in: "\(url.path):\(n + 1)")
            keys.insert(key)
        }
        return keys
    }

    static func validate(_ key: String, in place: String) throws {
        guard key.utf8.count == 40 else { throw KeyError("\(place): a CURVE key is 40 Z85 characters, this one has \(key.utf8.count)") }
        var raw = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&raw, key) != nil else { throw KeyError("\(place): not a Z85-encoded key") }
    }

    /// The Z85 text of a 32-byte key (as ZAP hands it over).
    package static func z85(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        return zmq_z85_encode(&out, bytes, 32) == nil ? nil : String(cBuffer: out)
    }
}

public struct KeyError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
