import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The bundle run's claims in PostgreSQL: what the in-memory twin cannot show — the sender's lock is
/// held by one session at a time, concurrent runs claim different recipients (SKIP LOCKED), and the
/// batch's counts follow what is recorded.
@Suite(.needsStack) struct BundleClaimStoreTests {
    func batch(_ w: JobsWorld, phones: [String]) throws -> (ws: Int64, sender: Int64, batch: Int64) {
        let ws = try w.workspace()
        let sender = try w.sender(ws).id
        let batch = try w.conn.query("""
            INSERT INTO bundle_batches (workspace_id, sender_id, body, total_count) VALUES (\(ws), \(sender), 'Hi {name}', \(phones.count)) RETURNING id
            """).one().decode(Int64.self, "id")
        for phone in phones {
            try w.conn.execute("INSERT INTO bundle_recipients (batch_id, workspace_id, name, phone) VALUES (\(batch), \(ws), 'Ana', \(phone))")
        }
        return (ws, sender, batch)
    }

    @Test func oneSessionAtATimeHoldsASendersLock() throws {
        let w = try JobsWorld()
        let a = PostgresStores(w.conn).bundleClaims
        let other = try PGConnection(w.databaseURL)
        let b = PostgresStores(other).bundleClaims
        #expect(try a.lockSender(41))
        #expect(try b.lockSender(41) == false)
        #expect(try b.lockSender(42))
        a.unlockSender(41)
        #expect(try b.lockSender(41))
        b.unlockSender(41)
        b.unlockSender(42)
    }

    @Test func concurrentRunsClaimDifferentRecipientsAndCountsFollowTheRecords() throws {
        let w = try JobsWorld()
        let (ws, _, batch) = try batch(w, phones: [JobsWorld.randomPhone(), JobsWorld.randomPhone(), JobsWorld.randomPhone()])
        let a = PostgresStores(w.conn).bundleClaims
        let other = try PGConnection(w.databaseURL)
        let b = PostgresStores(other).bundleClaims
        #expect(try a.startBatch(batch))
        // While one session's claim is uncommitted, another skips that row and claims the next.
        let (first, second) = try w.conn.transaction {
            let first = try #require(try a.claimNext(batchID: batch))
            let second = try #require(try b.claimNext(batchID: batch))
            return (first, second)
        }
        #expect(first.id != second.id && first.attempts == 1 && second.attempts == 1)

        try a.record(recipientID: try #require(first.id), batchID: batch, .skipped("opted_out"))
        try b.record(recipientID: try #require(second.id), batchID: batch,
                     .retry(code: 503, message: "Service Unavailable", delaySeconds: 3600, ambiguous: true))
        #expect(try a.claimNext(batchID: batch) != nil)   // the third
        #expect(try a.claimNext(batchID: batch) == nil)   // the second waits for its retry
        #expect(try #require(try a.secondsUntilNextRetry(batchID: batch)) > 3500)
        #expect(try a.completeIfDone(batchID: batch) == nil)

        // A run that died mid-call left the third `sending`: unknown, counted.
        #expect(try a.markInterrupted(batchID: batch) == 1)
        let counts = try w.conn.query("SELECT skipped_count, unknown_count FROM bundle_batches WHERE id = \(batch)").one()
        #expect(try counts.decode(Int.self, "skipped_count") == 1 && counts.decode(Int.self, "unknown_count") == 1)
        let retried = try w.conn.query("SELECT status, ambiguous_since IS NOT NULL AS ambiguous FROM bundle_recipients WHERE id = \(try #require(second.id))").one()
        #expect(try retried.decode(String.self, "status") == "queued" && retried.decode(Bool.self, "ambiguous"))
        #expect(try a.openBatches(workspaceID: ws).map(\.id) == [batch])
    }
}
