@preconcurrency import COpenSSL
import Foundation

/// Why a Fernet key or token was refused. `code` is stable; `message` never contains key material.
public struct FernetError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The key is not urlsafe base64 of exactly 32 bytes.
    public static let invalidKey = FernetError(code: "invalid_key", message: "a Fernet key must be urlsafe base64 of 32 bytes")
    /// Not a token, a token for another key, or tampered with (base64, version, length, HMAC, padding).
    public static let invalidToken = FernetError(code: "invalid_token", message: "the Fernet token is malformed or was not made with this key")
    /// Authentic, but older than the ttl the caller allowed.
    public static let expiredToken = FernetError(code: "expired_token", message: "the Fernet token is older than its time-to-live")
    /// Authentic, but its timestamp is more than 60 s ahead of now (only checked with a ttl, as the spec and Python do).
    public static let tokenFromFuture = FernetError(code: "token_from_future", message: "the Fernet token's timestamp is too far in the future")

    public var description: String { "FernetError(\(code)): \(message)" }
}

/// Fernet symmetric encryption (https://github.com/fernet/spec): AES-128-CBC + PKCS7 and
/// HMAC-SHA256 over version | timestamp | IV | ciphertext, on OpenSSL. Interoperates with
/// Python's `cryptography.fernet.Fernet`. The key itself never appears in `description`.
public struct Fernet: Sendable, CustomStringConvertible {
    static let version: UInt8 = 0x80
    /// Spec: a token stamped more than this far ahead of the verifier's clock is refused.
    public static let maxClockSkew: Int64 = 60

    private let signingKey: [UInt8]
    private let encryptionKey: [UInt8]

    /// `key`: urlsafe base64 (padded, as Python writes it, or unpadded) of 32 bytes —
    /// the first 16 sign, the last 16 encrypt.
    public init(key: String) throws(FernetError) {
        guard let raw = Base64.urlSafeDecode(key.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw .invalidKey
        }
        signingKey = Array(raw[0..<16])
        encryptionKey = Array(raw[16..<32])
    }

    /// A fresh random key in the format `init(key:)` and Python's `Fernet` accept.
    public static func generateKey() -> String {
        Base64.urlSafeEncode(Crypto.randomBytes(32))
    }

    public var description: String { "Fernet(key: <redacted>)" }

    /// Encrypts and signs. `now` and `iv` exist for the spec's test vectors; leave them at their
    /// defaults (current time, 16 fresh random bytes) everywhere else.
    public func encrypt(_ plaintext: [UInt8], now: Date = Date(), iv: [UInt8]? = nil) -> String {
        let iv = iv ?? Crypto.randomBytes(16)
        precondition(iv.count == 16, "a Fernet IV is 16 bytes")
        let timestamp = UInt64(max(0, Int64(now.timeIntervalSince1970.rounded(.down))))
        let ciphertext: [UInt8]
        do {
            ciphertext = try AESCBC.run(encrypt: true, key: encryptionKey, iv: iv, input: plaintext)
        } catch {
            // Only reachable if OpenSSL cannot allocate a context; encryption itself cannot fail.
            preconditionFailure("AES-128-CBC encryption failed: \(error)")
        }
        var token = [Fernet.version]
        token.reserveCapacity(1 + 8 + 16 + ciphertext.count + 32)
        for shift in stride(from: 56, through: 0, by: -8) { token.append(UInt8(truncatingIfNeeded: timestamp >> UInt64(shift))) }
        token += iv
        token += ciphertext
        token += Crypto.hmacSHA256(key: signingKey, data: token)
        return Base64.urlSafeEncode(token)
    }

    public func encrypt(_ plaintext: String, now: Date = Date(), iv: [UInt8]? = nil) -> String {
        encrypt(Array(plaintext.utf8), now: now, iv: iv)
    }

    /// Verifies and decrypts. With `ttl` (seconds), a token older than that is `expiredToken`, and one
    /// stamped more than 60 s in the future is `tokenFromFuture`. Every other failure is `invalidToken`.
    /// The HMAC is checked (in constant time) before any time check or decryption.
    public func decrypt(_ token: String, ttl: Int? = nil, now: Date = Date()) throws(FernetError) -> [UInt8] {
        guard let data = Base64.urlSafeDecode(token) else { throw .invalidToken }
        // version(1) + timestamp(8) + iv(16) + at least one block(16) + hmac(32); ciphertext whole blocks.
        guard data.count >= 73, (data.count - 57) % 16 == 0, data[0] == Fernet.version else { throw .invalidToken }
        let signed = Array(data[0..<(data.count - 32)])
        let mac = Array(data[(data.count - 32)...])
        guard Crypto.constantTimeEqual(Crypto.hmacSHA256(key: signingKey, data: signed), mac) else {
            throw .invalidToken
        }
        var timestamp: UInt64 = 0
        for b in data[1..<9] { timestamp = timestamp << 8 | UInt64(b) }
        if let ttl {
            let current = Int64(now.timeIntervalSince1970.rounded(.down))
            // Compare in Int64 with the token's time clamped: a hostile 2^64-1 stamp must not overflow.
            let stamped = Int64(clamping: timestamp)
            if stamped.addingReportingOverflow(Int64(ttl)).partialValue < current { throw .expiredToken }
            if current + Fernet.maxClockSkew < stamped { throw .tokenFromFuture }
        }
        let iv = Array(data[9..<25])
        let ciphertext = Array(data[25..<(data.count - 32)])
        do {
            return try AESCBC.run(encrypt: false, key: encryptionKey, iv: iv, input: ciphertext)
        } catch {
            throw .invalidToken  // bad padding (wrong IV or key)
        }
    }

    /// Decrypts to UTF-8 text; a token whose plaintext is not valid UTF-8 is `invalidToken`.
    public func decryptString(_ token: String, ttl: Int? = nil, now: Date = Date()) throws(FernetError) -> String {
        let bytes = try decrypt(token, ttl: ttl, now: now)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw .invalidToken }
        return s
    }
}

/// Owns an `EVP_CIPHER_CTX` for one AES-128-CBC operation; freed in deinit.
private final class CipherContext {
    let ctx: OpaquePointer

    init() throws(AESCBC.Failure) {
        guard let c = EVP_CIPHER_CTX_new() else { throw AESCBC.Failure(call: "EVP_CIPHER_CTX_new") }
        ctx = c
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }
}

/// AES-128-CBC with PKCS7 padding on OpenSSL EVP.
enum AESCBC {
    struct Failure: Error { let call: String }

    static func run(encrypt: Bool, key: [UInt8], iv: [UInt8], input: [UInt8]) throws(Failure) -> [UInt8] {
        precondition(key.count == 16 && iv.count == 16)
        let context = try CipherContext()
        let ctx = context.ctx
        var out = [UInt8](repeating: 0, count: input.count + 16)
        var written: Int32 = 0
        var final: Int32 = 0
        let ok: Failure? = key.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in
                input.withUnsafeBufferPointer { i in
                    out.withUnsafeMutableBufferPointer { o in
                        if encrypt {
                            guard EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, v.baseAddress) == 1 else {
                                return Failure(call: "EVP_EncryptInit_ex")
                            }
                            guard EVP_EncryptUpdate(ctx, o.baseAddress, &written, i.baseAddress, Int32(i.count)) == 1 else {
                                return Failure(call: "EVP_EncryptUpdate")
                            }
                            guard EVP_EncryptFinal_ex(ctx, o.baseAddress! + Int(written), &final) == 1 else {
                                return Failure(call: "EVP_EncryptFinal_ex")
                            }
                        } else {
                            guard EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, v.baseAddress) == 1 else {
                                return Failure(call: "EVP_DecryptInit_ex")
                            }
                            guard EVP_DecryptUpdate(ctx, o.baseAddress, &written, i.baseAddress, Int32(i.count)) == 1 else {
                                return Failure(call: "EVP_DecryptUpdate")
                            }
                            guard EVP_DecryptFinal_ex(ctx, o.baseAddress! + Int(written), &final) == 1 else {
                                return Failure(call: "EVP_DecryptFinal_ex")
                            }
                        }
                        return nil
                    }
                }
            }
        }
        // A failed padding check leaves OpenSSL's error queue non-empty; clear it so it cannot
        // surface later in an unrelated OpenSSL call on this thread.
        if let ok {
            ERR_clear_error()
            throw ok
        }
        return Array(out.prefix(Int(written + final)))
    }
}
