import Foundation
import MedsyncConfig
import HTTPClient
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

    /// What the Idempotency-Key's fingerprint covers (encoded with sorted keys).
    struct SendFingerprint: Encodable { let patient_id: Int64; let body: String }
    struct TemplateFingerprint: Encodable { let patient_id: Int64; let template_id: String; let language: String?; let variables: [String: String] }

    public static func send(_ store: some MessageStore, audit: some AuditStore, http: HTTPClient, config: Config, actor: StaffActor,
                            patientID: Int64, body: String, idempotencyKey: String? = nil, now: Date = Date()) throws -> Result {
        let key = try Idempotency.key(idempotencyKey)
        guard body.count <= 1600 else { throw AppError.validation("body", "at most 1600 characters (WhatsApp's limit).") }
        return try run(store, audit: audit, http: http, config: config, actor: actor, action: "whatsapp.send", details: [:],
                       OutboundRequest(workspaceID: actor.workspaceID, patientID: patientID, content: .freeform(body),
                                       sentByUserID: actor.userID), idempotencyKey: key,
                       fingerprint: key == nil ? "" : try Idempotency.fingerprint("whatsapp.send", SendFingerprint(patient_id: patientID, body: body)), now: now)
    }

    public static func sendTemplate(_ store: some MessageStore, audit: some AuditStore, http: HTTPClient, config: Config, actor: StaffActor,
                                    patientID: Int64, templateKey: String, language: String?, variables: [String: String],
                                    idempotencyKey: String? = nil, now: Date = Date()) throws -> Result {
        let key = try Idempotency.key(idempotencyKey)
        let fingerprint = key == nil ? "" : try Idempotency.fingerprint("whatsapp.send_template", TemplateFingerprint(
            patient_id: patientID, template_id: templateKey, language: language, variables: variables))
        let context = try store.templateContext(workspaceID: actor.workspaceID, patientID: patientID, now: now)
        let lang: String
        if let language, !language.isEmpty { lang = language } else { lang = context?.language ?? "en" }
        guard Templates.languages.contains(lang) else { throw AppError.validation("language", "en or es.") }
        // The product guide's clients send patient_name, date and time: the doctor (of the patient's
        // next appointment, else the latest) and the clinic are filled in when not given.
        var filled = variables
        if (filled["doctor_name"] ?? "").isEmpty {
            filled["doctor_name"] = context?.doctorName ?? (lang == "es" ? "su médico" : "your doctor")
        }
        if (filled["clinic_name"] ?? "").isEmpty, let clinic = context?.clinicName { filled["clinic_name"] = clinic }
        return try run(store, audit: audit, http: http, config: config, actor: actor, action: "whatsapp.send_template",
                       details: ["template_id": templateKey, "language": lang],
                       OutboundRequest(workspaceID: actor.workspaceID, patientID: patientID,
                                       content: .template(key: templateKey, language: lang, variables: filled),
                                       sentByUserID: actor.userID), idempotencyKey: key, fingerprint: fingerprint, now: now)
    }

    static func run(_ store: some MessageStore, audit: some AuditStore, http: HTTPClient, config: Config, actor: StaffActor, action: String,
                    details: [String: String], _ request: OutboundRequest, idempotencyKey: String?, fingerprint: String, now: Date) throws -> Result {
        // The key first: a replay answers what the first request answered, whatever changed since.
        var claimed: Int64? = nil
        var since: Date? = nil
        if let key = idempotencyKey {
            switch try Idempotency.begin(store, workspaceID: actor.workspaceID, key: key, operation: action, hash: fingerprint, as: Result.self) {
            case .replay(let answer): return answer
            case .fresh(let id): claimed = id
            case .resumed(let id, let at): claimed = id; since = at
            }
        }
        let result: Result
        do {
            result = try deliver(store, audit: audit, http: http, config: config, actor: actor, action: action, details: details, request, since: since, now: now)
        } catch {
            // Nothing went out (or what may have is stored as `sending`, settled by the next try).
            if let claimed { try? Idempotency.release(store, claimed) }
            throw error
        }
        // Sent: if the answer cannot be stored the key stays running, and its takeover asks Twilio first.
        if let claimed { try? Idempotency.complete(store, claimed, answer: result) }
        return result
    }

    static func deliver(_ store: some MessageStore, audit: some AuditStore, http: HTTPClient, config: Config, actor: StaffActor, action: String,
                        details: [String: String], _ request: OutboundRequest, since: Date?, now: Date) throws -> Result {
        do {
            let prepared = try Outbound.prepare(store, request, now: now)
            let r = try Outbound.sendOnce(store, http: http, config: config, prepared, since: since)
            var d = details
            d["twilio_sid"] = r.twilioSID
            try audit.record(actor.audit(action, "patient", String(request.patientID), d))
            return Result(messageID: r.messageID, conversationID: r.conversationID, twilioSID: r.twilioSID, status: r.status,
                          contentSID: r.contentSid)
        } catch let e as TwilioError {
            var d = details
            d["error_code"] = e.code.map(String.init) ?? ""
            try? audit.record(actor.audit(action + ".failed", "patient", String(request.patientID), d))
            throw AppError(e)
        } catch let e as TwilioTransportError {
            try? audit.record(actor.audit(action + ".failed", "patient", String(request.patientID), details))
            throw AppError(e)
        } catch let e as ConfigError {
            throw AppError(twilioConfiguration: e)
        }
    }
}
