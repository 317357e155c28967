import Foundation
import Synchronization
import MedsyncCrypto
import HTTPClient

/// Status callbacks, posted and signed the way Twilio does: form-encoded, `X-Twilio-Signature` =
/// HMAC-SHA1 with the sending account's auth token over the exact callback URL plus the sorted params.
struct Callbacks: Sendable {
    let sandbox: Sandbox

    /// After a successful send: each status in order, `delayMS` apart, from a background thread.
    func scheduleAutomatic(messageSid: String, statuses: [String], errorCode: Int?, delayMS: Int) {
        let sandbox = self.sandbox
        DispatchQueue.global().async {
            guard let client = try? HTTPClient(connectTimeoutMS: 2000, timeoutMS: 15000) else { return }
            for status in statuses {
                if delayMS > 0 { Thread.sleep(forTimeInterval: Double(delayMS) / 1000) }
                let failing = status == "failed" || status == "undelivered"
                _ = Callbacks(sandbox: sandbox).deliver(
                    messageSid: messageSid, status: status, errorCode: failing ? errorCode : nil, url: nil, http: client)
            }
        }
    }

    /// Posts one callback now and records it. Nil when the message is unknown or has no callback URL.
    func deliver(messageSid: String, status: String, errorCode: Int?, url override: String?, http: HTTPClient) -> CallbackDelivery? {
        let found: (OutboundMessage, String)? = sandbox.state.withLock { s in
            guard let i = s.messages.firstIndex(where: { $0.sid == messageSid }),
                let account = s.accounts[s.messages[i].accountSid]
            else { return nil }
            // The sandbox's own record moves forward like Twilio's (a late "sent" does not undo "read").
            if Callbacks.rank(status) > Callbacks.rank(s.messages[i].status) {
                s.messages[i].status = status
                s.messages[i].updated = Date()
                if let errorCode { s.messages[i].errorCode = errorCode }
            }
            return (s.messages[i], account.authToken)
        }
        guard let (message, token) = found, let url = override ?? message.statusCallback else { return nil }
        var params: [(String, String)] = [
            ("ApiVersion", "2010-04-01"),
            ("MessageStatus", status),
            ("SmsSid", message.sid),
            ("SmsStatus", status),
            ("ChannelPrefix", "whatsapp"),
            ("To", message.to),
            ("From", message.from),
            ("MessageSid", message.sid),
            ("AccountSid", message.accountSid),
        ]
        if let errorCode {
            params.append(("ErrorCode", String(errorCode)))
            params.append(("ErrorMessage", TwilioErrors.describe(errorCode).1))
        }
        let signature = TwilioSignature.compute(authToken: token, url: url, params: params)
        var record = CallbackDelivery(
            messageSid: message.sid, status: status, url: url, params: params, signature: signature, at: Date(),
            responseStatus: nil, error: nil)
        do {
            let response = try http.send(.form(url: url, pairs: params, headers: [
                ("X-Twilio-Signature", signature), ("User-Agent", "TwilioProxy/1.1"), ("Accept", "*/*"),
            ]))
            record.responseStatus = response.status
        } catch {
            record.error = error.description
        }
        let saved = record
        sandbox.state.withLock { $0.callbacks.append(saved) }
        return saved
    }

    static func rank(_ status: String) -> Int {
        switch status {
        case "accepted", "scheduled": return 0
        case "queued": return 1
        case "sending": return 2
        case "sent": return 3
        case "delivered": return 4
        case "read": return 5
        case "failed", "undelivered": return 6
        default: return 0
        }
    }

    /// Control: posts the given (message, status) jobs, `concurrency` at a time, each thread with its
    /// own HTTP client. Returns what was sent, in the order it was started.
    func deliverAll(_ jobs: [(String, String, Int?)], url: String?, concurrency: Int) -> [CallbackDelivery?] {
        let next = Mutex(0)
        let results = Mutex([CallbackDelivery?](repeating: nil, count: jobs.count))
        let sandbox = self.sandbox
        let workers = max(1, min(concurrency, jobs.count))
        onThreads(workers) { _ in
            guard let client = try? HTTPClient(connectTimeoutMS: 2000, timeoutMS: 15000) else { return }
            while true {
                let i: Int = next.withLock { n in
                    defer { n += 1 }
                    return n
                }
                guard i < jobs.count else { return }
                let (sid, status, code) = jobs[i]
                let r = Callbacks(sandbox: sandbox).deliver(messageSid: sid, status: status, errorCode: code, url: url, http: client)
                results.withLock { $0[i] = r }
            }
        }
        return results.withLock { $0 }
    }
}

/// A small seeded generator (SplitMix64) so a shuffled delivery order can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
