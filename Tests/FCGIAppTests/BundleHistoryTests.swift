import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite struct BundleHistoryTests {
    @Test(.needsStack) func pastBatchesWithCountsNewestFirstAndWhenAQueuedOneStarts() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        try w.sender(a, "+14155550100")
        var ids: [Int] = []
        for i in 0..<3 {
            let r = w.call("POST", "/api/whatsapp/bundle/send", token: owner.token, account: a, json: [
                "body": "Batch \(i) {name}", "consent_confirmed": true,
                "recipients": [["name": "Ana", "phone": "+1415555100\(i)"], ["name": "Bo", "phone": "+1415555200\(i)"], ["phone": "bad"]]])
            #expect(r.status == 202, "\(r.text)")
            let queuedBy = try #require(r.json["expected_start_by"] as? String)
            #expect(!queuedBy.isEmpty)
            ids.append(try #require(r.json["batch_id"] as? Int))
        }
        // The first batch went out (as medsync-jobs bundles leaves it): one sent, one failed.
        try w.conn.execute("UPDATE bundle_recipients SET status = CASE WHEN phone LIKE '%1000' THEN 'sent' ELSE 'failed' END WHERE batch_id = \(Int64(ids[0]))")
        try w.conn.execute("UPDATE bundle_batches SET status = 'completed', started_at = now(), completed_at = now() WHERE id = \(Int64(ids[0]))")

        let page = w.call("GET", "/api/whatsapp/bundles?limit=2", token: staff.token, account: a)
        #expect(page.status == 200, "\(page.text)")
        #expect(page.items.map { $0["id"] as? Int } == [ids[2], ids[1]])
        let newest = try #require(page.items.first)
        #expect(newest["status"] as? String == "queued")
        #expect(newest["total"] as? Int == 2)
        #expect((newest["counts"] as? [String: Int])?["queued"] == 2)
        let created = try #require((newest["created_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        let startBy = try #require((newest["expected_start_by"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(startBy.timeIntervalSince(created) <= 15)
        let cursor = try #require(page.json["next_cursor"] as? String)
        let older = w.call("GET", "/api/whatsapp/bundles?limit=2&cursor=\(cursor)", token: staff.token, account: a)
        #expect(older.items.map { $0["id"] as? Int } == [ids[0]])
        #expect(older.json["next_cursor"] is NSNull || older.json["next_cursor"] == nil)
        let done = try #require(older.items.first)
        #expect(done["status"] as? String == "completed")
        #expect((done["counts"] as? [String: Int]).map { [$0["sent"], $0["failed"], $0["queued"]] } == [1, 1, 0])
        #expect(done["expected_start_by"] is NSNull || done["expected_start_by"] == nil)
        // The progress of a queued batch says when it starts too.
        let progress = w.call("GET", "/api/whatsapp/bundle/\(ids[2])", token: staff.token, account: a)
        #expect(progress.json["expected_start_by"] is String, "\(progress.text)")
        #expect(w.call("GET", "/api/whatsapp/bundles?cursor=x", token: staff.token, account: a).status == 400)
    }

    @Test func aQueuedBatchStartsWithinFifteenSeconds() throws {
        // The timer that runs `medsync-jobs bundles` fires every 10 seconds, to the second.
        let timer = try String(contentsOfFile: "\(projectRoot)/systemd/medsync-bundles.timer", encoding: .utf8)
        let lines = Set(timer.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        #expect(lines.contains("OnCalendar=*:*:0/10"))
        #expect(lines.contains("AccuracySec=1s"))
        let now = Date()
        #expect(Bundles.expectedStart(createdAt: now, now: now) == now.addingTimeInterval(15))
        // A batch that waited longer (timer stopped) is promised the next 15 seconds, not the past.
        #expect(Bundles.expectedStart(createdAt: now.addingTimeInterval(-600), now: now) == now.addingTimeInterval(15))
    }
}
