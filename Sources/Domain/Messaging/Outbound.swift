import Foundation
import MedsyncConfig
import HTTPClient
import Twilio

/// What to send: a freeform text (only inside the patient's 24-hour window) or an in-app template
/// (sent as a Meta Content template when the workspace maps a Content SID for it, which WhatsApp
/// allows outside the window; otherwise rendered and sent as freeform text).
public enum OutboundContent: Sendable, Equatable {
    case freeform(String)
    case template(key: String, language: String, variables: [String: String])
}

public struct OutboundRequest: Sendable {
    public var workspaceID: Int64
    public var patientID: Int64
    public var content: OutboundContent
    public var sentByUserID: Int64?
    /// nil: the workspace's primary active sender.
    public var senderID: Int64?
    /// The 24-hour window is checked before Twilio for freeform text; bundles turn this off and let
    /// Twilio answer 63016 for recipients the database knows nothing about.
    public var checkWindow: Bool

    public init(workspaceID: Int64, patientID: Int64, content: OutboundContent, sentByUserID: Int64? = nil,
                senderID: Int64? = nil, checkWindow: Bool = true) {
        self.workspaceID = workspaceID
        self.patientID = patientID
        self.content = content
        self.sentByUserID = sentByUserID
        self.senderID = senderID
        self.checkWindow = checkWindow
    }
}

public struct OutboundResult: Sendable, Equatable {
    public let messageID: Int64
    public let twilioSID: String
    /// Twilio's status at creation ("queued" normally).
    public let status: String
    public let conversationID: Int64
    /// Set when the message went as a Content template.
    public let contentSid: String?
}

/// A send that passed every check and is ready for Twilio.
public struct PreparedOutbound: Sendable {
    public let workspaceID: Int64
    public let patientID: Int64
    public let patientPhone: String
    public let sender: SenderAccount
    /// The patient's conversation with this sender, when there is one already.
    public let conversationID: Int64?
    /// The text (freeform body, or the rendered template kept for the inbox).
    public let body: String
    public let templateKey: String?
    public let contentSid: String?
    public let contentVariables: [String: String]
    public let sentByUserID: Int64?
}

public enum Outbound {
    public static let windowSeconds: TimeInterval = 24 * 3600

    /// The 24-hour window is closed (our records, or Twilio's 63016).
    public static let windowClosed = AppError(.windowClosed, "The patient has not written in the last 24 hours, so WhatsApp only allows an approved template: "
        + "use POST /api/whatsapp/send-template with a template that has a Content SID.")

    /// Checks and sends one message, and records it with Twilio's SID. Throws `AppError`
    /// (patient_not_found, no_consent, no_active_sender, window_closed, unknown_template, …) before any
    /// Twilio call, `TwilioError` when Twilio refused (stored on the message: error_code + explanation;
    /// `isRetryable` for 429/5xx) and `TwilioTransportError` when Twilio did not answer.
    public static func send(_ store: some MessageStore, http: HTTPClient, config: Config, _ request: OutboundRequest,
                            now: Date = Date()) throws -> OutboundResult {
        let prepared = try prepare(store, request, now: now)
        return try deliver(store, http: http, config: config, prepared)
    }

    /// The checks of `send`, without calling Twilio: patient, consent, sender, template, window.
    public static func prepare(_ store: some MessageStore, _ request: OutboundRequest, now: Date = Date()) throws -> PreparedOutbound {
        guard let patient = try store.patient(workspaceID: request.workspaceID, id: request.patientID)
        else { throw AppError(.patientNotFound, "There is no such patient in this workspace.") }
        guard patient.consentWhatsapp == true else {
            throw AppError(.noConsent, "The patient has not given consent to receive WhatsApp messages (or opted out).")
        }
        let sender: SenderAccount
        if let id = request.senderID {
            guard let s = try store.sender(workspaceID: request.workspaceID, id: id), s.isActive else {
                throw AppError(.noActiveSender, "The selected WhatsApp sender is not active in this workspace.")
            }
            sender = s
        } else {
            guard let s = try store.primarySender(workspaceID: request.workspaceID) else {
                throw AppError(.noActiveSender, "This workspace has no active WhatsApp sender. Link or provision a number first.")
            }
            sender = s
        }

        var body: String
        var templateKey: String? = nil
        var contentSid: String? = nil
        var contentVariables: [String: String] = [:]
        switch request.content {
        case .freeform(let text):
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw AppError(.emptyBody, "The message is empty.")
            }
            body = text
        case .template(let key, let language, let variables):
            templateKey = key
            body = try Templates.render(key: key, language: language, variables: variables)
            if let sid = try Templates.contentSid(store, workspaceID: request.workspaceID, key: key, language: language) {
                contentSid = sid
                contentVariables = Templates.contentVariables(key: key, variables: variables, language: language)
            }
        }

        // Read only: a send refused here leaves no trace (the conversation is created or shown again
        // when a message is actually recorded).
        let conversation = try store.conversation(workspaceID: request.workspaceID, patientID: request.patientID, senderID: sender.id)
        if contentSid == nil && request.checkWindow {
            let last = conversation?.lastInboundAt
            if last.map({ now.timeIntervalSince($0) > windowSeconds }) ?? true { throw windowClosed }
        }
        return PreparedOutbound(
            workspaceID: request.workspaceID, patientID: request.patientID, patientPhone: patient.phone,
            sender: sender, conversationID: conversation?.id, body: body, templateKey: templateKey,
            contentSid: contentSid, contentVariables: contentVariables, sentByUserID: request.sentByUserID)
    }

    /// Calls Twilio for a prepared send and records the outbound message. `recordRetryable: false`
    /// leaves no message row for a 429/5xx answer (the caller will try again).
    public static func deliver(_ store: some MessageStore, http: HTTPClient, config: Config, _ p: PreparedOutbound,
                               recordRetryable: Bool = true) throws -> OutboundResult {
        let client = try TwilioClients.forSender(p.sender, config: config, http: http)
        let callback = TwilioClients.statusCallbackURL(config)
        let message: TwilioMessage
        do {
            if let sid = p.contentSid {
                message = try client.sendTemplate(to: p.patientPhone, from: p.sender.phoneNumber, contentSid: sid,
                                                  variables: p.contentVariables, statusCallback: callback)
            } else {
                message = try client.sendMessage(to: p.patientPhone, from: p.sender.phoneNumber, body: p.body,
                                                 statusCallback: callback)
            }
        } catch let error as TwilioError {
            if recordRetryable || !error.isRetryable {
                try record(store, p, sid: nil, status: "failed", errorCode: error.code, errorMessage: error.explanation)
            }
            throw error
        } catch let error as TwilioTransportError {
            if recordRetryable {
                try record(store, p, sid: nil, status: "failed", errorCode: nil,
                           errorMessage: "No answer from Twilio (\(error.code.rawValue)); the message may or may not have been sent.")
            }
            throw error
        }
        let status = storedStatus(message.status)
        let recorded = try record(store, p, sid: message.sid, status: status, errorCode: message.errorCode,
                                  errorMessage: message.errorMessage)
        return OutboundResult(messageID: recorded.messageID, twilioSID: message.sid, status: message.status, conversationID: recorded.conversationID,
                              contentSid: p.contentSid)
    }

    /// Twilio's status as a message row may hold it (`fallback` for one the schema does not know).
    static func storedStatus(_ status: String, else fallback: String = "queued") -> String {
        OutboundMessage.storedStatus(status, else: fallback)
    }

    /// The message row of a prepared send.
    static func message(_ p: PreparedOutbound, sid: String?, status: String, errorCode: Int?, errorMessage: String?) -> OutboundMessage {
        OutboundMessage(workspaceID: p.workspaceID, patientID: p.patientID, senderID: p.sender.id, body: p.body, templateKey: p.templateKey,
                        contentSid: p.contentSid, sentByUserID: p.sentByUserID, sid: sid, status: status, errorCode: errorCode,
                        errorMessage: errorMessage)
    }

    /// Records the outbound message (and its conversation, created or shown again); returns both ids.
    @discardableResult
    static func record(_ store: some MessageStore, _ p: PreparedOutbound, sid: String?, status: String, errorCode: Int?,
                       errorMessage: String?) throws -> RecordedOutbound {
        try store.record(message(p, sid: sid, status: status, errorCode: errorCode, errorMessage: errorMessage))
    }
}
