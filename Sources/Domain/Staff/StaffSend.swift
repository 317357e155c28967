import Foundation
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

/// Staff sending a message or a template to a patient, through `Outbound` (the one sender), with
/// the action written to the audit log.
public enum StaffSend {
    public struct Result: Sendable, Codable {
        public let messageID: Int64
        public let conversationID: Int64
        public let twilioSID: String
        public let status: String
        public let contentSID: String?
        enum CodingKeys: String, CodingKey {
            case status
            case messageID = "message_id", conversationID = "conversation_id", twilioSID = "twilio_sid", contentSID = "content_sid"
        }
    }

    public static func send(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor,
                            patientID: Int64, body: String, idempotencyKey: String? = nil, now: Date = Date()) throws -> Result {
        let key = try Idempotency.key(idempotencyKey)
        guard body.count <= 1600 else { throw AppError.validation("body", "at most 1600 characters (WhatsApp's limit).") }
        struct Fingerprint: Encodable { let patient_id: Int64; let body: String }
        return try run(conn, http: http, config: config, actor: actor, action: "whatsapp.send", details: [:],
                       OutboundRequest(workspaceID: actor.workspaceID, patientID: patientID, content: .freeform(body),
                                       sentByUserID: actor.userID), idempotencyKey: key,
                       fingerprint: key == nil ? "" : try Idempotency.fingerprint("whatsapp.send", Fingerprint(patient_id: patientID, body: body)), now: now)
    }

    public static func sendTemplate(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor,
                                    patientID: Int64, templateKey: String, language: String?, variables: [String: String],
                                    idempotencyKey: String? = nil, now: Date = Date()) throws -> Result {
        let key = try Idempotency.key(idempotencyKey)
        struct Fingerprint: Encodable { let patient_id: Int64; let template_id: String; let language: String?; let variables: [String: String] }
        let fingerprint = key == nil ? "" : try Idempotency.fingerprint("whatsapp.send_template", Fingerprint(
            patient_id: patientID, template_id: templateKey, language: language, variables: variables))
        let context = try conn.query("""
            SELECT COALESCE(p.preferred_language, w.default_language) AS language,
                   COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic_name,
                   (SELECT NULLIF(u.name, '') FROM appointments a JOIN users u ON u.id = a.doctor_id
                     WHERE a.workspace_id = w.id AND a.patient_id = p.id AND a.status <> 'cancelled'
                     ORDER BY a.starts_at < \(now)::timestamptz, abs(extract(epoch FROM a.starts_at - \(now)::timestamptz)) LIMIT 1) AS doctor_name
              FROM workspaces w JOIN patients p ON p.workspace_id = w.id AND p.id = \(patientID)
             WHERE w.id = \(actor.workspaceID)
            """).first
        let lang: String
        if let language, !language.isEmpty { lang = language } else { lang = try context?.decode(String?.self, "language") ?? "en" }
        guard Templates.languages.contains(lang) else { throw AppError.validation("language", "en or es.") }
        // The product guide's clients send patient_name, date and time: the doctor (of the patient's
        // next appointment, else the latest) and the clinic are filled in when not given.
        var filled = variables
        if (filled["doctor_name"] ?? "").isEmpty {
            filled["doctor_name"] = try context?.decode(String?.self, "doctor_name") ?? (lang == "es" ? "su médico" : "your doctor")
        }
        if (filled["clinic_name"] ?? "").isEmpty, let clinic = try context?.decode(String?.self, "clinic_name") { filled["clinic_name"] = clinic }
        return try run(conn, http: http, config: config, actor: actor, action: "whatsapp.send_template",
                       details: ["template_id": templateKey, "language": lang],
                       OutboundRequest(workspaceID: actor.workspaceID, patientID: patientID,
                                       content: .template(key: templateKey, language: lang, variables: filled),
                                       sentByUserID: actor.userID), idempotencyKey: key, fingerprint: fingerprint, now: now)
    }

    static func run(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, action: String,
                    details: [String: String], _ request: OutboundRequest, idempotencyKey: String?, fingerprint: String, now: Date) throws -> Result {
        // The key first: a replay answers what the first request answered, whatever changed since.
        var claimed: Int64? = nil
        var since: Date? = nil
        if let key = idempotencyKey {
            switch try Idempotency.begin(conn, workspaceID: actor.workspaceID, key: key, operation: action, hash: fingerprint, as: Result.self) {
            case .replay(let answer): return answer
            case .fresh(let id): claimed = id
            case .resumed(let id, let at): claimed = id; since = at
            }
        }
        let result: Result
        do {
            result = try deliver(conn, http: http, config: config, actor: actor, action: action, details: details, request, since: since, now: now)
        } catch {
            // Nothing went out (or what may have is stored as `sending`, settled by the next try).
            if let claimed { try? Idempotency.release(conn, claimed) }
            throw error
        }
        // Sent: if the answer cannot be stored the key stays running, and its takeover asks Twilio first.
        if let claimed { try? Idempotency.complete(conn, claimed, answer: result) }
        return result
    }

    static func deliver(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, action: String,
                        details: [String: String], _ request: OutboundRequest, since: Date?, now: Date) throws -> Result {
        do {
            let prepared = try Outbound.prepare(conn, request, now: now)
            let r = try Outbound.sendOnce(conn, http: http, config: config, prepared, since: since)
            var d = details
            d["twilio_sid"] = r.twilioSID
            try Audit.record(conn, actor, action: action, targetType: "patient", targetID: String(request.patientID), details: d)
            return Result(messageID: r.messageID, conversationID: r.conversationID, twilioSID: r.twilioSID, status: r.status,
                          contentSID: r.contentSid)
        } catch let e as TwilioError {
            var d = details
            d["error_code"] = e.code.map(String.init) ?? ""
            try? Audit.record(conn, actor, action: action + ".failed", targetType: "patient", targetID: String(request.patientID), details: d)
            throw AppError(e)
        } catch let e as TwilioTransportError {
            try? Audit.record(conn, actor, action: action + ".failed", targetType: "patient", targetID: String(request.patientID), details: details)
            throw AppError(e)
        } catch let e as ConfigError {
            throw AppError(twilioConfiguration: e)
        }
    }
}
