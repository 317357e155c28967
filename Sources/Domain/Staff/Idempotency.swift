import Foundation
import MedsyncCrypto

/// The `Idempotency-Key` of staff requests that act outside (a Twilio send) or enqueue work (a
/// bundle): per workspace, the same key with the same request answers the stored answer and never
/// acts twice; the same key with another request is refused (`idempotency_key_reused`); while the
/// first is still running, a second is told so (`request_in_progress`). Rows: `idempotent_requests`
/// (0020). A request that ended with nothing done releases its key, so the same key may try again.
public enum Idempotency {
    /// A running staff send whose process died is taken over after this long (a Twilio call gives
    /// up long before).
    static let takeOverAfterSeconds = 300

    /// The header's value, trimmed; nil when absent or empty. 1 to 200 printable ASCII characters.
    public static func key(_ raw: String?) throws -> String? {
        guard let key = raw?.trimmingCharacters(in: .whitespaces).nilIfEmpty else { return nil }
        guard key.count <= 200, key.unicodeScalars.allSatisfy({ (0x20...0x7e).contains($0.value) }) else {
            throw AppError(.invalidIdempotencyKey, "The Idempotency-Key header must be 1 to 200 printable ASCII characters.")
        }
        return key
    }

    /// sha256 of the operation and its input (JSON with sorted keys), hex.
    static func fingerprint(_ operation: String, _ input: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes = Array(operation.utf8)
        bytes.append(0)
        bytes += Array(try encoder.encode(input))
        return Crypto.hex(Crypto.sha256(bytes))
    }

    enum Start<Answer> {
        /// This request owns the key (row `id`).
        case fresh(Int64)
        /// A run of the same request whose process died: this one owns the key now; whatever that run
        /// may have sent since `since` must be looked for before sending.
        case resumed(Int64, since: Date)
        /// The same request was answered already.
        case replay(Answer)
    }

    static let reused = AppError(.idempotencyKeyReused, "This Idempotency-Key was used for a different request; use a new key for a new request.")
    static let inProgress = AppError(.requestInProgress, "A request with this Idempotency-Key is still being processed; retry in a few seconds.",
                                     retryAfter: 2)

    /// Claims `key` for a request done outside a transaction (a Twilio send).
    static func begin<Answer: Decodable>(_ store: some MessageStore, workspaceID: Int64, key: String, operation: String, hash: String,
                                         as: Answer.Type) throws -> Start<Answer> {
        for _ in 0..<2 {
            if let id = try store.takeIdempotencyKey(workspaceID: workspaceID, key: key, operation: operation, hash: hash) {
                return .fresh(id)
            }
            guard let row = try store.idempotentRequest(workspaceID: workspaceID, key: key) else { continue }  // released meanwhile
            if let answer = try answered(row, operation: operation, hash: hash, as: Answer.self) { return .replay(answer) }
            // Running: still in progress, or abandoned by a process that died (taken over by one request only).
            guard let since = try store.takeOverIdempotencyKey(id: row.id, idleSeconds: takeOverAfterSeconds) else { throw inProgress }
            return .resumed(row.id, since: since)
        }
        throw inProgress
    }

    /// The answer stored for `key` when it is this same request's; nil when the key is unused or its
    /// request still running. Throws `idempotency_key_reused` for another request's key.
    static func replay<Answer: Decodable>(_ store: some MessageStore, workspaceID: Int64, key: String, operation: String, hash: String,
                                          as: Answer.Type) throws -> Answer? {
        guard let row = try store.idempotentRequest(workspaceID: workspaceID, key: key) else { return nil }
        return try answered(row, operation: operation, hash: hash, as: Answer.self)
    }

    static func answered<Answer: Decodable>(_ row: IdempotentRequest, operation: String, hash: String, as: Answer.Type) throws -> Answer? {
        guard row.operation == operation, row.requestHash == hash else { throw reused }
        guard row.status == "completed", let json = row.response else { return nil }
        return try JSONDecoder().decode(Answer.self, from: Data(json.utf8))
    }

    /// Stores the answer a replay gives.
    static func complete(_ store: some MessageStore, _ id: Int64, answer: some Encodable) throws {
        let json = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
        try store.completeIdempotentRequest(id: id, response: json)
    }

    /// Nothing was done: the same key may try again.
    static func release(_ store: some MessageStore, _ id: Int64) throws {
        try store.releaseIdempotencyKey(id: id)
    }
}
