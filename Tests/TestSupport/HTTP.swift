import Domain
import Foundation
import HTTPClient

/// One request with a fresh client (tests are not the hot path).
public func http(_ request: HTTPRequest) throws -> HTTPResponse {
    let client = try HTTPClient(connectTimeoutMS: 5000, timeoutMS: 30000)
    return try client.send(request)
}

public func httpGet(_ url: String, headers: [(String, String)] = []) throws -> HTTPResponse {
    try http(HTTPRequest(method: "GET", url: url, headers: headers))
}

/// The `error.code` of a JSON error body, or nil.
public func errorCode(_ response: HTTPResponse) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
          let error = object["error"] as? [String: Any] else { return nil }
    return error["code"] as? String
}

/// Runs `count` blocks at the same moment on their own threads and returns their results in order.
public func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let box = ResultBox<T>(count)
    let group = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            start.wait()
            let r = body(i)
            box.lock.lock(); box.results[i] = r; box.lock.unlock()
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    group.wait()
    return box.results.map { $0! }
}

private final class ResultBox<T>: @unchecked Sendable {
    var results: [T?]
    let lock = NSLock()
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// A small lock for collecting results from threads (Synchronization.Mutex needs macOS 15).
public final class LockedBox<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
