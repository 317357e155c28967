/// How many body bytes a request may send, by path: the longest matching prefix wins, else the
/// default. The app gives the bundle upload route 5 MiB and everything else 1 MiB, the same limits
/// nginx applies per location (nginx/medsync.conf, nginx/dev.conf.in).
public struct BodyLimits: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public let pathPrefix: String
        public let bytes: Int
    }

    public let defaultBytes: Int
    public private(set) var rules: [Rule] = []

    public init(defaultBytes: Int) { self.defaultBytes = max(0, defaultBytes) }

    /// Requests whose path starts with `pathPrefix` may send `bytes`.
    public mutating func allow(_ bytes: Int, under pathPrefix: String) {
        rules.removeAll { $0.pathPrefix == pathPrefix }
        rules.append(Rule(pathPrefix: pathPrefix, bytes: max(0, bytes)))
        rules.sort { $0.pathPrefix.utf8.count > $1.pathPrefix.utf8.count }
    }

    /// The limit for a request path (REQUEST_URI without its query, not decoded).
    public func bytes(forPath path: String) -> Int {
        rules.first { path.hasPrefix($0.pathPrefix) }?.bytes ?? defaultBytes
    }
}
