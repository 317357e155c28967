@preconcurrency import CFCGI
import Foundation

/// A start-up failure of the FastCGI server (listen socket).
public struct FastCGIError: Error, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String
    public var description: String { "FastCGIError(\(code)): \(message)" }
}

public final class FastCGIServer {
    public let listen: String
    public let workers: Int
    public let maxBodyBytes: Int

    public init(listen: String, workers: Int, maxBodyBytes: Int) {
        self.listen = listen
        self.workers = max(1, workers)
        self.maxBodyBytes = maxBodyBytes
    }

    public func run(_ makeHandler: @escaping @Sendable () -> (Request) -> Response) throws(FastCGIError) {
        fatalError("not yet")
    }
}
