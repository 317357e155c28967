import Domain
import MedsyncLog
import Foundation
import MedsyncCrypto
import Postgres
import Gemini

/// A clinic in a fresh database: workspace (Mexico City), one doctor available every day 09:00–12:00
/// in 30-minute slots, one active sender. Used by the webhook's PostgreSQL tests (StoreTests) and
/// SchedulingTests; the use case's own tests run on `MemoryClinic` (DomainTests).
public struct InboundClinic {
    public let url: String
    public let conn: PGConnection
    public let workspaceID: Int64
    public let doctorID: Int64
    public let sender: SenderRoute
    public static let timezone = "America/Mexico_City"
    /// Tuesday 1 Dec 2026, 08:00 in Mexico City (UTC-6): the first free slot is today at 9:00.
    public static let now = Date(timeIntervalSince1970: 1_796_133_600)   // 2026-12-01T14:00:00Z

    public init(url: String? = nil, senderPhone: String = "+15550001000", availability: [(String, String)] = [("09:00", "12:00")],
         weekdays: [Int] = Array(0...6), subaccount: (sid: String, tokenEnc: String)? = nil) throws {
        self.url = try url ?? TestDatabase.create()
        conn = try PGConnection(self.url)
        workspaceID = try conn.query("""
            INSERT INTO workspaces (name, timezone, clinic_name, clinic_info) VALUES ('Clínica Sol', \(InboundClinic.timezone), 'Clínica Sol', 'General practice')
            RETURNING id
            """).first!.int64("id")!
        doctorID = try conn.query("INSERT INTO users (email, name) VALUES (\("doc-\(Crypto.hex(Crypto.randomBytes(4)))@clinic.test"), 'Dr. Ruiz') RETURNING id").first!.int64("id")!
        try conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(doctorID), \(workspaceID), 'doctor')")
        for day in weekdays {
            for (start, end) in availability {
                try conn.execute("""
                    INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
                    VALUES (\(workspaceID), \(doctorID), \(day), \(start), \(end), 30)
                    """)
            }
        }
        try conn.execute("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid, twilio_subaccount_token_enc)
            VALUES (\(workspaceID), \(senderPhone), 'Clínica Sol', \(subaccount?.sid), \(subaccount?.tokenEnc))
            """)
        sender = try SenderRoute.lookup(conn, phone: senderPhone)!
    }

    public func service(now: Date = InboundClinic.now, gemini: GeminiClient? = nil, connection: PGConnection? = nil) -> InboundService {
        InboundService(conn: connection ?? conn, gemini: gemini, log: .discarding, now: { now })
    }

    public static func params(from: String, body: String, sid: String = "SM" + Crypto.hex(Crypto.randomBytes(16)),
                       to: String = "+15550001000", profile: String = "Ana López", media: [(String, String)] = []) -> [(String, String)] {
        var p: [(String, String)] = [
            ("MessageSid", sid), ("AccountSid", "AC0000000000000000000000000000de00"), ("From", "whatsapp:\(from)"),
            ("To", "whatsapp:\(to)"), ("Body", body), ("ProfileName", profile), ("NumMedia", String(media.count)),
        ]
        for (i, m) in media.enumerated() {
            p.append(("MediaUrl\(i)", m.0))
            p.append(("MediaContentType\(i)", m.1))
        }
        return p
    }

    @discardableResult
    public func send(_ from: String, _ body: String, sid: String? = nil, now: Date = InboundClinic.now, gemini: GeminiClient? = nil)
        throws -> InboundOutcome
    {
        let p = sid.map { InboundClinic.params(from: from, body: body, sid: $0) } ?? InboundClinic.params(from: from, body: body)
        return try service(now: now, gemini: gemini).handle(InboundWebhook(form: p))
    }

    public func count(_ sql: String, _ params: [PGValue] = []) throws -> Int {
        try conn.query(sql, params).first!.int("n")!
    }
}

extension InboundService {
    /// The use case on a PostgreSQL session: its conversation store and FreeSlots on that session (what
    /// the webhook's route makes from the request's connection).
    public init(conn: PGConnection, gemini: GeminiClient?, log: Logger = Logger(label: "medsync.inbound"),
                now: @escaping () -> Date = Date.init) {
        self.init(store: PostgresStores(conn).conversations,
                  freeSlots: { try PostgresStores(conn).appointments.freeSlots(workspaceID: $0, from: $1, days: $2, limit: $3) },
                  gemini: gemini, log: log, now: now)
    }
}

extension SenderRoute {
    /// The sender a number names, on a PostgreSQL session (routes the session to its workspace).
    public static func lookup(_ conn: PGConnection, phone: String) throws -> SenderRoute? {
        try PostgresStores(conn).conversations.sender(phone: phone)
    }
}

extension StatusCallback {
    /// A verified callback applied on a PostgreSQL session.
    public static func apply(_ conn: PGConnection, params: [(String, String)], masterAccountSID: String,
                             log: Logger = Logger(label: "medsync.status")) throws -> Outcome {
        try apply(PostgresStores(conn).conversations, params: params, masterAccountSID: masterAccountSID, log: log)
    }
}
