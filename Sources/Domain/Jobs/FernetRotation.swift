import Foundation
import MedsyncCrypto

/// `medsync-jobs fernet rotate`: re-encrypts every stored Fernet token with the first key of
/// MEDSYNC_FERNET_KEYS, so that the keys after it can then be removed. In batches (one short
/// transaction each), idempotent (a token the first key already decrypts is left alone, so a second
/// run rewrites nothing) and safe beside the running app (each row is rewritten only if it still
/// holds the token that was read).
public enum FernetRotation {
    public struct Outcome: Sendable, Equatable, CustomStringConvertible {
        public var rewritten = 0
        public var current = 0
        /// Tokens no configured key decrypts (named by table and id; never the token).
        public var undecryptable: [String] = []
        public var description: String {
            "rewritten \(rewritten), already current \(current), undecryptable \(undecryptable.count)"
                + (undecryptable.isEmpty ? "" : " (" + undecryptable.prefix(20).joined(separator: ", ") + ")")
        }
    }

    public static func rotate(_ store: some SenderStore, fernet: MultiFernet, batchSize: Int = 200) throws -> Outcome {
        var outcome = Outcome()
        for column in FernetColumn.allCases {
            var after: Int64 = 0
            while true {
                let rows = try store.fernetTokens(column, after: after, limit: batchSize)
                guard !rows.isEmpty else { break }
                var rewrites: [FernetRewrite] = []
                for (id, token) in rows {
                    after = max(after, id)
                    do {
                        guard let fresh = try fernet.rotate(token) else { outcome.current += 1; continue }
                        rewrites.append(FernetRewrite(id: id, old: token, new: fresh))
                    } catch is FernetError {
                        outcome.undecryptable.append("\(column.table) \(id)")
                    }
                }
                // One short transaction per batch.
                try store.rewriteFernetTokens(column, rewrites)
                outcome.rewritten += rewrites.count
            }
        }
        return outcome
    }
}
