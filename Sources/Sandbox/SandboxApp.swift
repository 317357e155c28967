import Foundation

/// The sandbox's settings (environment) and its router.
struct SandboxApp: Sendable {
    let sandbox: Sandbox
    let router: Router
    let listen: String
    let workers: Int
    let maxBodyBytes: Int

    /// Environment:
    /// - MEDSYNC_LISTEN: FastCGI socket (unix path, host:port, "" for socket activation).
    /// - SANDBOX_WORKERS: worker threads (default 64: a worker waits while the app answers an inbound
    ///   webhook, and the app calls back into the sandbox for Gemini meanwhile).
    /// - TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN: the master account the sandbox knows.
    /// - SANDBOX_NUMBERS: comma-separated E.164 sender numbers the master account owns at start (+15550001000).
    /// - SANDBOX_WEBHOOK_BASE_URL: the app's base URL; those numbers' SmsUrl is it + /api/webhooks/whatsapp
    ///   (or SANDBOX_SMS_URL for the whole URL).
    /// - GEMINI_API_KEY: the key Gemini callers must send (any non-empty key when unset).
    init(environment: [String: String]) {
        func value(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }
        let base = (value("SANDBOX_WEBHOOK_BASE_URL") ?? "http://127.0.0.1:8080").trimmingSuffix("/")
        let seed = SandboxSeed(
            masterSid: value("TWILIO_ACCOUNT_SID") ?? "AC0000000000000000000000000000de00",
            masterToken: value("TWILIO_AUTH_TOKEN") ?? "0123456789abcdef0123456789abcdef",
            numbers: (value("SANDBOX_NUMBERS") ?? "+15550001000").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { Addresses.e164($0) != nil },
            smsURL: value("SANDBOX_SMS_URL") ?? base + "/api/webhooks/whatsapp",
            geminiKey: value("GEMINI_API_KEY"))
        sandbox = Sandbox(seed: seed)
        router = Router(routes: TwilioAPI(sandbox: sandbox).routes + GeminiAPI(sandbox: sandbox).routes
                        + ControlAPI(sandbox: sandbox).routes)
        listen = environment["MEDSYNC_LISTEN"] ?? "/run/medsync/sandbox.sock"
        workers = value("SANDBOX_WORKERS").flatMap(Int.init) ?? 64
        maxBodyBytes = value("MEDSYNC_MAX_BODY_BYTES").flatMap(Int.init) ?? 12 << 20
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
