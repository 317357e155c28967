import Domain
import FastCGI

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

private let invalidSignature = AppError(status: 403, code: "invalid_signature",
                                        message: "The X-Twilio-Signature header does not match this request.")

/// The URL Twilio signed, or 403 when it cannot be rebuilt.
private func signedURL(_ request: Request, _ ctx: AppContext) throws -> String {
    guard let url = WebhookVerifier.publicURL(requestURI: request.uri, headers: request.headers,
                                              baseURL: ctx.config.twilioWebhookBaseURL) else { throw invalidSignature }
    return url
}

/// POST /api/webhooks/whatsapp: signature (master token, then the number's subaccount token),
/// route by To, record and answer in one transaction (Domain `InboundService`).
@Sendable func inboundWebhook(_ request: Request, _ ctx: AppContext) throws -> Response {
    let form = try request.form()
    let url = try signedURL(request, ctx)
    let db = ctx.db()
    let to = InboundService.e164(form["To"])
    let sender = try to.flatMap { try SenderRoute.lookup(db, phone: $0) }
    guard WebhookVerifier(config: ctx.config).isValid(signature: request.header("x-twilio-signature"), url: url,
                                                      params: form.pairs, subaccountTokenEnc: sender?.subaccountTokenEnc) else {
        Log.line("warning: inbound webhook with an invalid signature for \(url) (To \(to ?? "none"))")
        throw invalidSignature
    }
    let gemini = ctx.config.geminiAPIKey == nil ? nil : GeminiClient(http: try ctx.http(), config: ctx.config)
    let service = InboundService(conn: db, gemini: gemini, log: { Log.line($0) })
    return twiml(try service.handle(params: form.pairs, sender: sender).twiml)
}

/// POST /api/webhooks/whatsapp/status: signature (master, then the AccountSid's subaccount), then a
/// forward-only status update by MessageSid. Unknown SIDs get 200 (logged) so Twilio stops retrying.
@Sendable func statusWebhook(_ request: Request, _ ctx: AppContext) throws -> Response {
    let form = try request.form()
    let url = try signedURL(request, ctx)
    let db = ctx.db()
    let verifier = WebhookVerifier(config: ctx.config)
    let signature = request.header("x-twilio-signature")
    var valid = verifier.isValid(signature: signature, url: url, params: form.pairs, subaccountTokenEnc: nil)
    var signedBySubaccount: String? = nil
    if !valid, let sub = try StatusCallback.subaccountToken(db, accountSID: form["AccountSid"], from: InboundService.e164(form["From"])) {
        valid = verifier.isValid(signature: signature, url: url, params: form.pairs, subaccountTokenEnc: sub.tokenEnc)
        signedBySubaccount = sub.sid
    }
    guard valid else {
        Log.line("warning: status callback with an invalid signature for \(url)")
        throw invalidSignature
    }
    // A subaccount's token speaks for that subaccount only: a callback it signed naming another
    // AccountSid (the master's, another clinic's) changes nothing.
    if let signedBySubaccount, form["AccountSid"] != signedBySubaccount {
        Log.line("warning: status callback signed by subaccount \(signedBySubaccount) names AccountSid \(form["AccountSid"] ?? "none"): ignored")
        return twiml(TwiML.empty)
    }
    _ = try StatusCallback.apply(db, params: form.pairs, masterAccountSID: ctx.config.twilioAccountSID ?? "", log: { Log.line($0) })
    return twiml(TwiML.empty)
}
