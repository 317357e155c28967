@preconcurrency import COpenSSL

/// PBKDF2-HMAC-SHA256 password hashes on OpenSSL's `PKCS5_PBKDF2_HMAC`, stored as
/// `pbkdf2_sha256$<iterations>$<salt base64>$<hash base64>` (standard base64, padded; 16-byte salt,
/// 32-byte hash). The iteration count travels with the hash, so raising the default later keeps
/// old hashes verifiable.
public enum PasswordHash {
    /// OWASP's recommendation for PBKDF2-HMAC-SHA256 (600,000; 210,000 is its figure for SHA-512).
    /// Hashes stored with fewer are replaced at the user's next successful sign-in (`needsRehash`).
    public static let defaultIterations = 600_000
    static let algorithm = "pbkdf2_sha256"
    static let saltLength = 16
    static let hashLength = 32
    /// Upper bound accepted when verifying, so a forged stored value cannot make one check run for minutes.
    static let maxIterations = 10_000_000

    /// Hashes `password` with a fresh random salt. `iterations` may be lowered in tests only.
    public static func hash(_ password: String, iterations: Int = defaultIterations) -> String {
        precondition(iterations >= 1 && iterations <= maxIterations, "PBKDF2 iterations out of range")
        let salt = Crypto.randomBytes(saltLength)
        let derived = pbkdf2(Array(password.utf8), salt: salt, iterations: iterations, length: hashLength)
        return "\(algorithm)$\(iterations)$\(Base64.encode(salt))$\(Base64.encode(derived))"
    }

    /// True when `password` matches `encoded` (a value `hash` produced). A malformed `encoded` is false.
    /// The derived hash is compared in constant time.
    public static func verify(_ password: String, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == algorithm,
            let iterations = Int(parts[1]), iterations >= 1, iterations <= maxIterations,
            let salt = Base64.decode(String(parts[2])), !salt.isEmpty,
            let expected = Base64.decode(String(parts[3])), expected.count >= 16, expected.count <= 64
        else { return false }
        let derived = pbkdf2(Array(password.utf8), salt: salt, iterations: iterations, length: expected.count)
        return Crypto.constantTimeEqual(derived, expected)
    }

    /// The iteration count recorded in `encoded`, e.g. to rehash on login once the default went up.
    public static func iterations(of encoded: String) -> Int? {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == algorithm else { return nil }
        return Int(parts[1])
    }

    /// True when `encoded` is not a hash of today's parameters (fewer iterations than the default, or
    /// not one this type writes): the caller rehashes the password it just verified.
    public static func needsRehash(_ encoded: String) -> Bool {
        guard let n = iterations(of: encoded) else { return true }
        return n < defaultIterations
    }

    static func pbkdf2(_ password: [UInt8], salt: [UInt8], iterations: Int, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        // Never hand OpenSSL a NULL buffer: an empty password is one zero byte with length 0.
        let buffer = password.isEmpty ? [0] : password
        let ok = buffer.withUnsafeBytes { p in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    PKCS5_PBKDF2_HMAC(
                        p.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(password.count),
                        s.baseAddress, Int32(s.count), Int32(iterations), EVP_sha256(), Int32(length), o.baseAddress)
                }
            }
        }
        // Fails only on allocation failure or invalid arguments, which the callers rule out.
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }
}
