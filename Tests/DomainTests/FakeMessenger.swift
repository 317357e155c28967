@testable import Domain
import Foundation
import Twilio

/// Twilio and Outbound's checks as the jobs see them, in memory: each patient's phone, consent and
/// 24-hour window (ours, and Twilio's, which may differ), the clinics' Content SIDs, what Twilio
/// accepted (its Messages list) and the messages recorded; faults a test queues per phone.
final class FakeMessenger: JobMessenger, @unchecked Sendable {
    struct Patient {
        var workspaceID: Int64
        var phone: String
        var consent: Bool
        /// When the patient last wrote (our records); nil = never.
        var lastInbound: Date?
        /// Twilio's view of the window: closed → freeform text is refused with 63016.
        var twilioWindowOpen = true
    }

    /// A message Twilio accepted.
    struct Message {
        let sid: String
        let to: String
        let body: String
        let contentSid: String?
        let contentVariables: [String: String]
    }

    enum Fault {
        /// Twilio refuses the call (nothing is sent).
        case refuse(TwilioError)
        /// Nothing reaches Twilio.
        case unreachable
        /// Twilio accepts (and sends) the message, then the answer is lost: `error` is what the job sees.
        case afterAccepting(any Error)
    }

    var patients: [Int64: Patient] = [:]
    /// For patients the job creates as it runs (a bundle's recipients): looked up when not in `patients`.
    var patientLookup: ((Int64) -> Patient?)? = nil
    /// workspace → template key → language → Content SID.
    var contentSids: [Int64: [String: [String: String]]] = [:]
    /// Faults for calls to a phone, first first.
    var faults: [String: [Fault]] = [:]
    /// Twilio's Messages list cannot be read.
    var listUnreadable = false
    private(set) var accepted: [Message] = []
    /// Messages recorded in our database (message id → Twilio SID).
    private(set) var recorded: [Int64: String] = [:]
    private(set) var calls = 0

    func sent(to phone: String) -> [Message] { accepted.filter { $0.to == phone } }

    func prepare(_ request: OutboundRequest, now: Date) throws -> PreparedOutbound {
        guard let patient = patients[request.patientID] ?? patientLookup?(request.patientID), patient.workspaceID == request.workspaceID else {
            throw AppError(.patientNotFound, "There is no such patient in this workspace.")
        }
        guard patient.consent else { throw AppError(.noConsent, "The patient has not given consent to receive WhatsApp messages (or opted out).") }
        var body: String
        var templateKey: String? = nil
        var contentSid: String? = nil
        var contentVariables: [String: String] = [:]
        switch request.content {
        case .freeform(let text):
            body = text
        case .template(let key, let language, let variables):
            templateKey = key
            body = try Templates.render(key: key, language: language, variables: variables)
            if let sid = try self.contentSid(workspaceID: request.workspaceID, key: key, language: language) {
                contentSid = sid
                contentVariables = Templates.contentVariables(key: key, variables: variables, language: language)
            }
        }
        if contentSid == nil && request.checkWindow {
            if patient.lastInbound.map({ now.timeIntervalSince($0) > Outbound.windowSeconds }) ?? true { throw Outbound.windowClosed }
        }
        let sender = SenderAccount(id: request.senderID ?? 1, workspaceID: request.workspaceID, phoneNumber: "+15550001000", isPrimary: true,
                                   isActive: true, subaccountSID: nil, subaccountTokenEncrypted: nil)
        return PreparedOutbound(workspaceID: request.workspaceID, patientID: request.patientID, patientPhone: patient.phone, sender: sender,
                                conversationID: nil, body: body, templateKey: templateKey, contentSid: contentSid,
                                contentVariables: contentVariables, sentByUserID: request.sentByUserID)
    }

    func contentSid(workspaceID: Int64, key: String, language: String) throws -> String? {
        contentSids[workspaceID]?[key]?[language]
    }

    func deliver(_ p: PreparedOutbound) throws -> OutboundResult {
        calls += 1
        if var queued = faults[p.patientPhone], !queued.isEmpty {
            let fault = queued.removeFirst()
            faults[p.patientPhone] = queued
            switch fault {
            case .refuse(let error): throw error
            case .unreachable: throw TwilioTransportError(code: .connect, message: "connection refused")
            case .afterAccepting(let error):
                _ = accept(p)
                throw error
            }
        }
        if p.contentSid == nil, let patient = patients[p.patientID], !patient.twilioWindowOpen {
            throw TwilioError(httpStatus: 400, code: 63016, message: "Failed to send freeform message because you are outside the allowed window.", moreInfo: nil)
        }
        let m = accept(p)
        return OutboundResult(messageID: record(m.sid), twilioSID: m.sid, status: "queued", conversationID: 1, contentSid: p.contentSid)
    }

    func sentCheck(_ p: PreparedOutbound, since: Date) -> SentCheck {
        if listUnreadable { return .unknown("Twilio answered 503") }
        guard let m = accepted.last(where: { $0.to == p.patientPhone && (p.contentSid != nil || $0.body == p.body) }) else { return .notSent }
        return .sent(Self.twilioMessage(m, from: p.sender.phoneNumber))
    }

    func recordSettled(_ p: PreparedOutbound, _ m: TwilioMessage) throws -> Int64 { record(m.sid) }

    private func accept(_ p: PreparedOutbound) -> Message {
        let m = Message(sid: "SM\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())", to: p.patientPhone,
                        body: p.body, contentSid: p.contentSid, contentVariables: p.contentVariables)
        accepted.append(m)
        return m
    }

    private func record(_ sid: String) -> Int64 {
        let id = Int64(recorded.count + 1)
        recorded[id] = sid
        return id
    }

    static func twilioMessage(_ m: Message, from: String) -> TwilioMessage {
        let json: [String: Any] = ["sid": m.sid, "account_sid": "AC00000000000000000000000000000000", "status": "queued", "to": "whatsapp:\(m.to)",
                                   "from": "whatsapp:\(from)", "body": m.body, "direction": "outbound-api"]
        // The fields Twilio always sends: a decoding failure here is a broken test, not a case to handle.
        return try! JSONDecoder().decode(TwilioMessage.self, from: JSONSerialization.data(withJSONObject: json))
    }
}

/// A job clock fixed at `date` whose sleeps return at once (the retries' backoff costs a test nothing).
struct InstantClock: JobClock {
    let date: Date
    init(_ date: Date = Date()) { self.date = date }
    func now() -> Date { date }
    func sleep(seconds: Double) {}
}
