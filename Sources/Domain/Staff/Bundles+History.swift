import Foundation

/// Past bundle batches with their counts, newest first, and when a queued batch starts: the
/// `medsync-bundles.timer` fires every 10 seconds (systemd/medsync-bundles.timer), so a batch queued
/// now is picked up within `startWithinSeconds`.
extension Bundles {
    public static let startWithinSeconds = 15

    public struct BatchSummary: Sendable, Encodable {
        public let id: Int64
        public let status: String
        public let body: String
        public let senderID: Int64
        public let createdBy: Int64?
        public let total: Int
        public let counts: [String: Int]
        public let createdAt: Date
        public let startedAt: Date?
        public let completedAt: Date?
        /// While queued: the time by which the next bundles run has picked it up.
        public let expectedStartBy: Date?
        enum CodingKeys: String, CodingKey {
            case id, status, body, total, counts
            case senderID = "sender_id", createdBy = "created_by", createdAt = "created_at", startedAt = "started_at"
            case completedAt = "completed_at", expectedStartBy = "expected_start_by"
        }
    }

    public struct BatchPage: Sendable, Encodable {
        public let items: [BatchSummary]
        public let nextCursor: String?
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor" }
    }

    /// Newest first; `before` is the `next_cursor` of the previous page.
    public static func history(_ store: some BundleStore, workspaceID: Int64, before: Int64?, limit: Int, now: Date = Date()) throws -> BatchPage {
        let limit = min(max(limit, 1), 100)
        let rows = try store.batches(workspaceID: workspaceID, before: before, limit: limit + 1)
        let items = rows.prefix(limit).map { b -> BatchSummary in
            var counts: [String: Int] = ["queued": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0, "unknown": 0]
            counts.merge(b.counts) { $1 }
            return BatchSummary(id: b.id, status: b.status, body: b.body, senderID: b.senderID, createdBy: b.createdBy,
                                total: b.total ?? 0, counts: counts, createdAt: b.createdAt, startedAt: b.startedAt, completedAt: b.completedAt,
                                expectedStartBy: b.status == "queued" ? expectedStart(createdAt: b.createdAt, now: now) : nil)
        }
        return BatchPage(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
    }

    /// When a queued batch starts at the latest: `startWithinSeconds` after it was queued (or after
    /// now, for a batch that waited longer, e.g. while the timer was stopped).
    public static func expectedStart(createdAt: Date, now: Date) -> Date {
        let due = createdAt.addingTimeInterval(Double(startWithinSeconds))
        return due > now ? due : now.addingTimeInterval(Double(startWithinSeconds))
    }
}
