import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
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
