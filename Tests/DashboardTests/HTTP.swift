import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP GET (or another method) for tests: status, headers, body.
struct Fetched {
    let status: Int
    let headers: [String: String]
    let body: String
}

func fetch(_ url: URL, method: String = "GET", headers: [String: String] = [:]) async throws -> Fetched {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.httpShouldHandleCookies = false
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    return try await withCheckedThrowingContinuation { resume in
        URLSession.shared.dataTask(with: request) { data, response, error in
            guard let response = response as? HTTPURLResponse else { return resume.resume(throwing: error ?? URLError(.badServerResponse)) }
            let headers = Dictionary(response.allHeaderFields.map { ("\($0.key)".lowercased(), "\($0.value)") }) { a, _ in a }
            resume.resume(returning: Fetched(status: response.statusCode, headers: headers, body: String(decoding: data ?? Data(), as: UTF8.self)))
        }.resume()
    }
}

/// The same, synchronously, for tests that watch a process.
func fetchNow(_ url: URL) throws -> Fetched {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<Fetched, any Error>!
    Task {
        do { result = .success(try await fetch(url)) } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result.get()
}

/// Sends `request` byte for byte to 127.0.0.1:`port` and returns the raw response, read until
/// the server closes the connection (so `request` should say `Connection: close`): for what
/// URLSession never sends, such as two Host headers, and to see the response's exact bytes.
func exchange(_ request: String, port: UInt16) async throws -> String {
    try await withCheckedThrowingContinuation { resume in
        DispatchQueue.global().async {
            resume.resume(with: Result { try exchangeBlocking(request, port: port) })
        }
    }
}

private func exchangeBlocking(_ request: String, port: UInt16) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        sent += n
    }
    var response = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if n == 0 { return String(decoding: response, as: UTF8.self) }
        response += buffer[..<n]
    }
}
