import Domain
import Foundation
import Postgres
import Testing
import TestSupport

/// The schema keeps a workspace's last owner (migration 0007), even against two removals at once.
@Suite(.needsStack) struct LastOwnerSchemaTests {
    @Test func twoOwnersRemovedAtOnceLeaveOneAndDeletingTheWorkspaceStillWorks() throws {
        let url = try TestDatabase.create()
        let conn = try PGConnection(url)
        let ws = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        let one = try Users.create(conn, email: "one@a.example", workspaceID: ws, role: .owner).id
        let two = try Users.create(conn, email: "two@a.example", workspaceID: ws, role: .owner).id
        try conn.execute("BEGIN")
        try conn.execute("DELETE FROM memberships WHERE user_id = \(one) AND workspace_id = \(ws)")
        // The second session demotes the other owner meanwhile: it waits for the first one's lock on the
        // workspace row, then finds no owner left, whichever order the two reach the database in.
        let result = LockedBox<[Result<Int, any Error>]>([])
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = Result { try PGConnection(url).execute("UPDATE memberships SET role = 'staff' WHERE user_id = \(two) AND workspace_id = \(ws)") }
            result.withLock { $0.append(r) }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.2)
        try conn.execute("COMMIT")
        done.wait()
        var constraint: String? = nil
        if case .failure(let e)? = result.withLock({ $0.first }) { constraint = (e as? PGError)?.constraint }
        #expect(constraint == "memberships_last_owner")
        #expect(try conn.query("SELECT count(*) AS n FROM memberships WHERE workspace_id = \(ws) AND role = 'owner'").first?.int("n") == 1)
        let refused = try #require(throws: PGError.self) {
            try conn.execute("DELETE FROM memberships WHERE user_id = \(two) AND workspace_id = \(ws)")
        }
        #expect(refused.constraint == "memberships_last_owner")
        // Deleting the workspace takes its last owner with it.
        #expect(try conn.execute("DELETE FROM workspaces WHERE id = \(ws)") == 1)
    }
}
