@preconcurrency import COpenSSL

/// Hashes, MACs, randomness and comparison on OpenSSL's libcrypto.
/// Every function is a pure function of its input; nothing here keeps C state between calls.
public enum Crypto {
    public enum Digest: Sendable {
        case sha1, sha256

        var evp: OpaquePointer? {
            switch self {
            case .sha1: return EVP_sha1()
            case .sha256: return EVP_sha256()
            }
        }
        public var length: Int { self == .sha1 ? 20 : 32 }
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in
                _ = SHA256(d.baseAddress, d.count, o.baseAddress)
            }
        }
        return out
    }

    public static func sha256(_ string: String) -> [UInt8] { sha256(Array(string.utf8)) }

    public static func hmac(_ digest: Digest, key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    // HMAC() with a NULL key pointer and length 0 is valid; the buffers may be empty.
                    _ = HMAC(digest.evp, k.baseAddress, Int32(k.count), d.baseAddress, d.count, o.baseAddress, &length)
                }
            }
        }
        return Array(out.prefix(Int(length)))
    }

    public static func hmacSHA1(key: [UInt8], data: [UInt8]) -> [UInt8] { hmac(.sha1, key: key, data: data) }
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] { hmac(.sha256, key: key, data: data) }

    /// Compares in time that depends only on the lengths, never on where the bytes differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) == 0 }
        }
    }

    /// Cryptographically secure random bytes (OpenSSL's CSPRNG). Traps if the CSPRNG fails,
    /// which only happens when the system has no entropy source at all.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0f)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
