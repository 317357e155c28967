import Domain
import MedsyncLog
import FastCGI
import Gemini

/// Twilio's webhooks: no bearer token, Twilio's signature instead; the inbound one answers TwiML.
enum WebhookRoutes {
    static func register(in r: inout Router) {
        r.post("/api/webhooks/whatsapp", inboundWebhook)
        r.post("/api/webhooks/whatsapp/status", statusWebhook)
    }
}

private func twiml(_ text: String) -> Response {
    Response(status: 200, headers: [("Content-Type", "text/xml; charset=utf-8")], body: Array(text.utf8))
}

private let invalidSignature = AppError(.invalidSignature, "The X-Twilio-Signature header does not match this request.")

/// The URL Twilio signed, or 403 when it cannot be rebuilt.
private func signedURL(_ request: Request, _ ctx: RequestContext) throws -> String {
    guard let url = WebhookVerifier.publicURL(requestURI: request.uri, headers: request.headers,
                                              baseURL: ctx.config.twilioWebhookBaseURL) else { throw invalidSignature }
    return url
}

/// POST /api/webhooks/whatsapp: the signature policy (master token, then the subaccount token of the
/// sender `To` names, looked up only when the master token does not match), then the form decoded
/// into an `InboundWebhook` for the use case (`InboundService`: record, decide, answer).
@Sendable func inboundWebhook(_ request: Request, _ ctx: RequestContext) throws -> Response {
    let form = try request.form()
    let url = try signedURL(request, ctx)
    let conversations = ctx.stores.conversations
    let appointments = ctx.stores.appointments
    let to = InboundWebhook.e164(form["To"])
    var log = ctx.logger
    if let sid = form["MessageSid"] ?? form["SmsMessageSid"] { log[metadataKey: "message_sid"] = "\(sid.prefix(64))" }
    // The sender is looked up once: for the signature when the master token does not match, and then
    // handed to the use case (which otherwise finds it with the message).
    var sender: SenderRoute?
    let signer = try ctx.webhookVerifier.signer(signature: request.header("x-twilio-signature"), url: url, params: form.pairs) {
        sender = try to.flatMap { try conversations.sender(phone: $0) }
        return sender?.subaccount
    }
    guard signer != nil else {
        log.warning("inbound webhook with an invalid signature for \(url) (To \(to ?? "none"))")
        throw invalidSignature
    }
    let webhook = try InboundWebhook(form: form.pairs)
    let gemini = ctx.config.geminiAPIKey == nil ? nil : GeminiClient(http: try ctx.http(), config: ctx.config)
    let service = InboundService(store: conversations, freeSlots: { try appointments.freeSlots(workspaceID: $0, from: $1, days: $2, limit: $3) },
                                 gemini: gemini, log: log)
    return twiml(try service.handle(webhook, sender: sender).twiml)
}

/// POST /api/webhooks/whatsapp/status: the same signature policy (master, then the subaccount the
/// AccountSid or From names), then a forward-only status update by MessageSid. Unknown SIDs get 200
/// (logged) so Twilio stops retrying.
@Sendable func statusWebhook(_ request: Request, _ ctx: RequestContext) throws -> Response {
    let form = try request.form()
    let url = try signedURL(request, ctx)
    let conversations = ctx.stores.conversations
    var log = ctx.logger
    if let sid = form["MessageSid"] ?? form["SmsSid"] { log[metadataKey: "message_sid"] = "\(sid.prefix(64))" }
    let signer = try ctx.webhookVerifier.signer(signature: request.header("x-twilio-signature"), url: url, params: form.pairs) {
        try conversations.subaccountToken(accountSID: form["AccountSid"], from: InboundWebhook.e164(form["From"]))
    }
    guard let signer else {
        log.warning("status callback with an invalid signature for \(url)")
        throw invalidSignature
    }
    // A subaccount's token speaks for that subaccount only: a callback it signed naming another
    // AccountSid (the master's, another clinic's) changes nothing.
    if case .subaccount(let signedBy) = signer, form["AccountSid"] != signedBy {
        log.warning("status callback signed by subaccount \(signedBy ?? "none") names AccountSid \(form["AccountSid"] ?? "none"): ignored")
        return twiml(TwiML.empty)
    }
    _ = try StatusCallback.apply(conversations, params: form.pairs, masterAccountSID: ctx.config.twilioAccountSID ?? "", log: log)
    return twiml(TwiML.empty)
}
