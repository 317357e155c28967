import Foundation
import Postgres

/// A child's PostgreSQL sessions, shared by its worker threads one request at a time: a request takes
/// one at its first statement and gives it back once answered; the session given back last is handed
/// out first. So the sessions in use are about as many as the requests doing local work at once
/// (`WorkGate`: MEDSYNC_ACTIVE_WORKERS) plus those waiting on Twilio or Gemini, and under load the same
/// few stay warm (their caches, prepared statements and memory). A session per thread instead put 32
/// backends to work on 2 cores and cost PostgreSQL about 40 % more CPU per webhook (bench/README.md).
final class ConnectionPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [PGConnection] = []
    private let limit: Int
    private let open: () -> PGConnection

    /// `limit`: most idle sessions kept (the child's threads: never more are in use).
    init(limit: Int, open: @escaping () -> PGConnection) {
        self.limit = limit
        self.open = open
    }

    func take() -> PGConnection {
        lock.lock()
        let session = idle.popLast()
        lock.unlock()
        let taken = session ?? open()
        // No request inherits the previous one's workspace (row-level security, sql/0021): a
        // request sets its own (AuthMiddleware.staff, the webhooks). Costs nothing until a statement
        // runs, and then only when the session had one (the setting goes with that statement).
        taken.resetWorkspace()
        return taken
    }

    /// A session still inside a transaction (a handler that failed half-way) is closed, not shared.
    func give(back session: PGConnection) {
        guard session.isIdle else { return }
        session.resetWorkspace()
        lock.lock()
        if idle.count < limit { idle.append(session) }
        lock.unlock()
    }
}
