import Foundation
import Postgres

// Transitional, as `Audit.record(conn, …)`: the one `PGConnection` signature of the messaging
// use cases still called, by `Senders.releaseOnTwilio` (the accounts store's branch builds the
// sender's account from its own store instead). When that caller is gone, this file goes.

extension SenderAccount {
    /// A sender of the workspace by id (active or not).
    public static func find(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> SenderAccount? {
        try PGMessageStore(conn).sender(workspaceID: workspaceID, id: id)
    }
}
