import Foundation

/// Several Fernet keys, as Python's `cryptography.fernet.MultiFernet`: the first encrypts, every one
/// decrypts (tried in order), so a key can be rotated without a moment in which stored tokens cannot
/// be read: put the new key first and keep the old one second, re-encrypt the stored tokens
/// (`rotate`), then drop the old key. Never prints a key.
public struct MultiFernet: Sendable, CustomStringConvertible {
    public let keys: [Fernet]

    /// At least one key; the first encrypts.
    public init(_ keys: [Fernet]) throws(FernetError) {
        guard !keys.isEmpty else { throw .invalidKey }
        self.keys = keys
    }

    /// Urlsafe base64 keys (see `Fernet.init(key:)`), the first encrypting.
    public init(keys: [String]) throws(FernetError) {
        var parsed: [Fernet] = []
        for key in keys { parsed.append(try Fernet(key: key)) }
        try self.init(parsed)
    }

    public init(_ single: Fernet) {
        keys = [single]
    }

    public var description: String { "MultiFernet(\(keys.count) keys: <redacted>)" }

    public func encrypt(_ plaintext: [UInt8]) -> String { keys[0].encrypt(plaintext) }

    public func encrypt(_ plaintext: String) -> String { keys[0].encrypt(plaintext) }

    /// The plaintext from the first key that authenticates the token; `invalidToken` when none does.
    public func decrypt(_ token: String, ttl: Int? = nil, now: Date = Date()) throws(FernetError) -> [UInt8] {
        var last = FernetError.invalidToken
        for key in keys {
            do { return try key.decrypt(token, ttl: ttl, now: now) } catch { last = error }
            if last != .invalidToken { throw last }
        }
        throw last
    }

    public func decryptString(_ token: String, ttl: Int? = nil, now: Date = Date()) throws(FernetError) -> String {
        let bytes = try decrypt(token, ttl: ttl, now: now)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw .invalidToken }
        return s
    }

    /// The token encrypted with the first key, or nil when it already is (nothing to rewrite, so a
    /// second rotation changes nothing). Throws `invalidToken` when no key decrypts it.
    public func rotate(_ token: String) throws(FernetError) -> String? {
        if (try? keys[0].decrypt(token)) != nil { return nil }
        return keys[0].encrypt(try decrypt(token))
    }
}
