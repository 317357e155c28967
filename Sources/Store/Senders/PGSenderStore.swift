import Foundation
import Postgres

public struct PGSenderStore: SenderStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let columns: SQLFragment = """
        id, phone_number, display_name, is_active, is_primary, slot, twilio_subaccount_sid, phone_number_sid, created_at, deactivated_at
        """

    public func list(workspaceID: Int64) throws -> [SenderView] {
        try conn.query("""
            SELECT \(unescaped: Self.columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID)
             ORDER BY is_active DESC, is_primary DESC, slot NULLS LAST, id
            """).map(SenderView.init(row:))
    }

    public func get(workspaceID: Int64, id: Int64) throws -> SenderView? {
        try conn.query("SELECT \(unescaped: Self.columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND id = \(id)")
            .first.map(SenderView.init(row:))
    }

    public func credentials(workspaceID: Int64, id: Int64) throws -> SenderCredentials? {
        guard let row = try conn.query("""
            SELECT \(unescaped: Self.columns), twilio_subaccount_token_enc FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND id = \(id)
            """).first else { return nil }
        return SenderCredentials(sender: try SenderView(row: row), subaccountTokenEncrypted: try row.decode(String?.self, "twilio_subaccount_token_enc"))
    }

    /// Serializes the sender changes of one workspace until the transaction ends, so the checks made
    /// under it (free slot, holds, caps) stay true until commit.
    func lockSenders(_ workspaceID: Int64) throws {
        try conn.execute("SELECT pg_advisory_xact_lock(hashtext('whatsapp_senders'), hashtext(\(String(workspaceID))))")
    }

    public func activeCount(workspaceID: Int64) throws -> Int {
        try conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active").first?.decode(Int?.self, "n") ?? 0
    }

    public func numbersTaken(workspaceID: Int64) throws -> Int {
        try conn.query("""
            SELECT count(*) AS n FROM sender_number_claims
             WHERE workspace_id = \(workspaceID) AND claimed_at > now() - interval '24 hours'
            """).first?.decode(Int?.self, "n") ?? 0
    }

    /// Why a change was rolled back (before it wrote anything).
    private enum Refused: Error { case alreadyActive, noFreeSlot, heldElsewhere }

    public func reactivate(workspaceID: Int64, phone: String, name: String, maxActive: Int,
                           audit: (Int64) -> AuditEntry) throws -> SenderReactivation {
        do {
            return try conn.transaction { () throws -> SenderReactivation in
                try lockSenders(workspaceID)
                // The workspace's senders of the number it holds: an active one first, else the newest.
                guard let row = try conn.query("""
                    SELECT s.id, s.is_active
                      FROM whatsapp_senders s
                      JOIN sender_number_claims c ON c.phone_number = s.phone_number AND c.workspace_id = s.workspace_id AND c.released_at IS NULL
                     WHERE s.workspace_id = \(workspaceID) AND s.phone_number = \(phone)
                     ORDER BY s.is_active DESC, s.deactivated_at DESC NULLS LAST, s.id DESC LIMIT 1
                    """).first, let id = try row.decode(Int64?.self, "id") else { return .notHeld }
                if try row.decode(Bool?.self, "is_active") == true { throw Refused.alreadyActive }
                guard try activeCount(workspaceID: workspaceID) < maxActive else { throw Refused.noFreeSlot }
                try conn.execute("""
                    UPDATE whatsapp_senders SET is_active = true, display_name = CASE WHEN \(name) = '' THEN display_name ELSE \(name) END
                     WHERE workspace_id = \(workspaceID) AND id = \(id)
                    """)
                try conn.recordAudit(audit(id))
                guard let view = try get(workspaceID: workspaceID, id: id) else { throw AppError.internal }
                return .reactivated(view)
            }
        } catch Refused.alreadyActive {
            return .alreadyActive
        } catch Refused.noFreeSlot {
            return .noFreeSlot
        }
    }

    public func insert(_ s: NewSender, maxActive: Int, audit: (SenderView) -> AuditEntry) throws -> SenderInsertion {
        let workspaceID = s.workspaceID
        do {
            return try conn.transaction {
                // Serialize links of one workspace so the checks below stay true until commit.
                try lockSenders(workspaceID)
                // Only this workspace's senders are visible here (row-level security, sql/0021); another
                // workspace's hold on the number refuses the INSERT below (0018's claim trigger).
                if let existing = try conn.query("""
                    SELECT workspace_id FROM whatsapp_senders WHERE phone_number = \(s.phoneNumber) AND is_active LIMIT 1
                    """).first {
                    return try existing.decode(Int64?.self, "workspace_id") == workspaceID ? .alreadyLinked : .heldElsewhere
                }
                guard try activeCount(workspaceID: workspaceID) < maxActive else { return .noFreeSlot }
                let view: SenderView
                do {
                    let row = try conn.query("""
                        INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid,
                                                      twilio_subaccount_token_enc, phone_number_sid)
                        VALUES (\(workspaceID), \(s.phoneNumber), \(s.displayName), \(s.subaccountSID), \(s.subaccountTokenEncrypted), \(s.phoneNumberSID))
                        RETURNING \(unescaped: Self.columns)
                        """).first
                    guard let row else { throw AppError.internal }
                    view = try SenderView(row: row)
                } catch let e as PGError where e.isUniqueViolation {
                    // Another workspace holds the number (sender_number_claims: kept after it deactivated it,
                    // or linked at the same moment): only its release frees it. The transaction is rolled back.
                    throw Refused.heldElsewhere
                }
                try conn.recordAudit(audit(view))
                return .inserted(view)
            }
        } catch Refused.heldElsewhere {
            return .heldElsewhere
        }
    }

    public func deactivate(workspaceID: Int64, id: Int64, audit: (SenderView) -> AuditEntry) throws -> SenderDeactivation {
        try conn.transaction {
            try lockSenders(workspaceID)
            guard let sender = try get(workspaceID: workspaceID, id: id) else { return .notFound }
            guard sender.isActive else {
                return .alreadyInactive(sender, numberKept: try holdsIdle(workspaceID: workspaceID, phone: sender.phoneNumber))
            }
            try conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE workspace_id = \(workspaceID) AND id = \(id)")
            if sender.isPrimary {
                try conn.execute("""
                    UPDATE whatsapp_senders SET is_primary = true
                     WHERE id = (SELECT id FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active ORDER BY slot, id LIMIT 1)
                    """)
            }
            try conn.recordAudit(audit(sender))
            guard let view = try get(workspaceID: workspaceID, id: id) else { throw AppError.internal }
            return .deactivated(view)
        }
    }

    /// Whether the workspace holds `phone` with no active sender of it (a kept number).
    func holdsIdle(workspaceID: Int64, phone: String) throws -> Bool {
        try conn.query("""
            SELECT 1 AS one FROM sender_number_claims
             WHERE workspace_id = \(workspaceID) AND phone_number = \(phone) AND released_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM whatsapp_senders WHERE phone_number = \(phone) AND is_active)
            """).first != nil
    }

    public func releaseClaim(workspaceID: Int64, phone: String, audit: AuditEntry) throws {
        try conn.transaction {
            try lockSenders(workspaceID)
            try conn.execute("""
                UPDATE sender_number_claims SET released_at = now()
                 WHERE workspace_id = \(workspaceID) AND phone_number = \(phone) AND released_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM whatsapp_senders WHERE phone_number = \(phone) AND is_active)
                """)
            try conn.recordAudit(audit)
        }
    }

    public func makePrimary(workspaceID: Int64, id: Int64, audit: (SenderView) -> AuditEntry) throws -> SenderPrimary {
        try conn.transaction {
            try lockSenders(workspaceID)
            guard let sender = try get(workspaceID: workspaceID, id: id) else { return .notFound }
            guard sender.isActive else { return .inactive }
            try conn.recordAudit(audit(sender))
            if sender.isPrimary { return .primary(sender) }
            try conn.execute("UPDATE whatsapp_senders SET is_primary = false WHERE workspace_id = \(workspaceID) AND is_primary")
            try conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE workspace_id = \(workspaceID) AND id = \(id)")
            guard let view = try get(workspaceID: workspaceID, id: id) else { throw AppError.internal }
            return .primary(view)
        }
    }

    // MARK: provisioning records (migration 0006)

    public func abandonProvisionings(workspaceID: Int64, after seconds: Int) throws {
        // A run whose process died long ago no longer blocks the workspace (its SIDs stay on the record).
        try conn.execute("""
            UPDATE sender_provisionings SET status = 'failed', error_code = 'abandoned'
             WHERE workspace_id = \(workspaceID) AND status = 'running' AND updated_at < now() - make_interval(secs => \(seconds))
            """)
    }

    public func provisioning(workspaceID: Int64, key: String) throws -> ProvisioningRecord? {
        guard let row = try conn.query("""
            SELECT id, request, status, sender_id FROM sender_provisionings WHERE workspace_id = \(workspaceID) AND idempotency_key = \(key)
            """).first, let id = try row.decode(Int64?.self, "id") else { return nil }
        return ProvisioningRecord(id: id, request: try row.decode(String?.self, "request"), status: try row.decode(String?.self, "status"),
                                  senderID: try row.decode(Int64?.self, "sender_id"))
    }

    public func deleteFailedProvisioning(id: Int64) throws {
        try conn.execute("DELETE FROM sender_provisionings WHERE id = \(id) AND status = 'failed'")
    }

    public func startProvisioning(workspaceID: Int64, key: String, request: String) throws -> Int64? {
        do {
            let row = try conn.query("""
                INSERT INTO sender_provisionings (workspace_id, idempotency_key, request) VALUES (\(workspaceID), \(key), \(request)) RETURNING id
                """).first
            guard let id = try row?.decode(Int64?.self, "id") else { throw AppError.internal }
            return id
        } catch let e as PGError where e.isUniqueViolation {
            // Another provisioning of this workspace is running (or the same key raced us).
            return nil
        }
    }

    public func provisioningsStarted(workspaceID: Int64, excluding id: Int64) throws -> Int {
        try conn.query("""
            SELECT count(*) AS n FROM sender_provisionings
             WHERE workspace_id = \(workspaceID) AND created_at > now() - interval '24 hours' AND id <> \(id)
            """).first?.decode(Int?.self, "n") ?? 0
    }

    public func noteProvisioning(_ id: Int64, subaccountSID: String) throws {
        try conn.execute("UPDATE sender_provisionings SET subaccount_sid = \(subaccountSID) WHERE id = \(id)")
    }

    public func noteProvisioning(_ id: Int64, numberSID: String, phoneNumber: String) throws {
        try conn.execute("UPDATE sender_provisionings SET number_sid = \(numberSID), phone_number = \(phoneNumber) WHERE id = \(id)")
    }

    public func completeProvisioning(_ id: Int64, senderID: Int64) throws {
        try conn.execute("UPDATE sender_provisionings SET status = 'completed', sender_id = \(senderID) WHERE id = \(id)")
    }

    public func failProvisioning(_ id: Int64, code: String, cleanup: String) throws {
        try conn.execute("UPDATE sender_provisionings SET status = 'failed', error_code = \(code), cleanup = \(String(cleanup.prefix(2000))) WHERE id = \(id)")
    }

    // MARK: subaccounts

    public func openSubaccount(workspaceID: Int64) throws -> StoredSubaccount? {
        guard let row = try conn.query("""
            SELECT subaccount_sid, auth_token_enc FROM workspace_subaccounts WHERE workspace_id = \(workspaceID) AND closed_at IS NULL
            """).first, let sid = try row.decode(String?.self, "subaccount_sid"), let enc = try row.decode(String?.self, "auth_token_enc") else { return nil }
        return StoredSubaccount(sid: sid, authTokenEncrypted: enc)
    }

    public func closeSubaccount(sid: String) throws {
        try conn.execute("UPDATE workspace_subaccounts SET closed_at = now() WHERE subaccount_sid = \(sid) AND closed_at IS NULL")
    }

    public func subaccountCount(workspaceID: Int64) throws -> Int {
        try conn.query("SELECT count(*) AS n FROM workspace_subaccounts WHERE workspace_id = \(workspaceID)").first?.decode(Int?.self, "n") ?? 0
    }

    public func addSubaccount(workspaceID: Int64, sid: String, authTokenEncrypted: String) throws {
        try conn.execute("""
            INSERT INTO workspace_subaccounts (workspace_id, subaccount_sid, auth_token_enc)
            VALUES (\(workspaceID), \(sid), \(authTokenEncrypted))
            """)
    }

    public func heldNumbers(_ numbers: [String]) throws -> Set<String> {
        // The claims of every workspace, as numbers only (row-level security, sql/0021).
        Set(try conn.query("SELECT phone_number FROM medsync_held_numbers(\(numbers)::text[])")
            .compactMap { try $0.decode(String?.self, "phone_number") })
    }

    // MARK: Fernet rotation

    public func fernetTokens(_ column: FernetColumn, after: Int64, limit: Int) throws -> [(id: Int64, token: String)] {
        let c = column.names
        // Table and column names are the constants of `FernetColumn`, never input.
        return try conn.query(PGQuery(unsafeSQL: """
            SELECT \(c.id) AS id, \(c.column) AS token FROM \(c.table)
             WHERE \(c.column) IS NOT NULL AND \(c.id) > $1 ORDER BY \(c.id) LIMIT \(limit)
            """, binds: [PGValue(after)])).map { (try $0.decode(Int64.self, "id"), try $0.decode(String.self, "token")) }
    }

    public func rewriteFernetTokens(_ column: FernetColumn, _ rewrites: [FernetRewrite]) throws -> Int {
        let c = column.names
        return try conn.transaction {
            var rewritten = 0
            for r in rewrites {
                // Only if the row still holds the token that was read (safe beside the running app).
                rewritten += try conn.execute(PGQuery(unsafeSQL: "UPDATE \(c.table) SET \(c.column) = $1 WHERE \(c.id) = $2 AND \(c.column) = $3",
                                                      binds: [PGValue(r.new), PGValue(r.id), PGValue(r.old)]))
            }
            return rewritten
        }
    }
}

extension PostgresStores {
    public var senders: PGSenderStore { PGSenderStore(conn) }
}
