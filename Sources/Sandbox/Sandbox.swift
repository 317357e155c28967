import Foundation
import Synchronization
import MedsyncCrypto

// The sandbox's whole memory: one value behind one Mutex, shared by the FastCGI worker threads and
// the callback thread. Handlers copy what they need out of the lock and never hold it during I/O.

struct Account: Sendable {
    var sid: String
    var authToken: String
    var friendlyName: String
    /// The master account for a subaccount; its own SID for the master.
    var ownerAccountSid: String
    var status = "active"
    var created: Date
}

struct PhoneNumber: Sendable {
    var sid: String
    var accountSid: String
    /// E.164, without the `whatsapp:` prefix.
    var phoneNumber: String
    var friendlyName: String
    var smsUrl: String
    var smsMethod = "POST"
    var statusCallback: String
    var created: Date
    var updated: Date
}

/// Something a patient received: a REST API message (freeform or template) or a TwiML reply.
struct OutboundMessage: Sendable {
    enum Kind: String, Sendable { case freeform, template, twiml }
    var sid: String
    var kind: Kind
    var accountSid: String
    /// `whatsapp:+…` as given.
    var from: String
    var to: String
    var body: String?
    var contentSid: String?
    var contentVariables: String?
    var mediaURLs: [String]
    var statusCallback: String?
    var status: String
    var errorCode: Int?
    var created: Date
    var updated: Date
    /// For a TwiML reply: the inbound MessageSid it answered.
    var inReplyTo: String?
}

/// One POST of an inbound message to a number's SmsUrl, exactly as sent, and what came back.
struct InboundDelivery: Sendable {
    var messageSid: String
    var accountSid: String
    var from: String
    var to: String
    var url: String
    var params: [(String, String)]
    var signature: String
    var at: Date
    var responseStatus: Int?
    var responseBody: String
    var error: String?
    var replies: [String]
}

/// One status callback POST, exactly as sent, and what came back.
struct CallbackDelivery: Sendable {
    var messageSid: String
    var status: String
    var url: String
    var params: [(String, String)]
    var signature: String
    var at: Date
    var responseStatus: Int?
    var error: String?
}

struct GeminiCall: Sendable {
    var model: String
    var apiKey: String
    var lastUserText: String
    var systemInstruction: String
    /// How many slots the structured part offered (`GeminiRequest.slots`).
    var slots: Int = 0
    var at: Date
    /// The JSON text answered, or nil when a fault answered instead.
    var answer: String?
    var fault: String?
}

enum FaultKind: Sendable {
    /// Answer this HTTP status in the API's error shape, no side effects.
    case http(Int)
    /// Sleep, then answer 504 with no side effects (the caller should have timed out by then).
    case hang(Double)
    /// Sleep, then answer normally.
    case slow(Double)
    /// Twilio: answer this error code (HTTP status as Twilio uses for it). For `twilio_delivery`: the
    /// next send is accepted, and its status callbacks end in `failed`/`undelivered` with this code.
    case twilioError(Int)
    /// Gemini: a 200 whose candidate text is not JSON.
    case invalidJSON

    var json: JSON {
        switch self {
        case .http(let s): return .object([("kind", .string("http")), ("status", .int(s))])
        case .hang(let s): return .object([("kind", .string("hang")), ("seconds", .double(s))])
        case .slow(let s): return .object([("kind", .string("slow")), ("seconds", .double(s))])
        case .twilioError(let c): return .object([("kind", .string("twilio_error")), ("code", .int(c))])
        case .invalidJSON: return .object([("kind", .string("invalid_json"))])
        }
    }
}

struct Fault: Sendable {
    var api: String
    var kind: FaultKind
    var remaining: Int
    /// Optional scope, so parallel tests do not take each other's faults: only calls made with this
    /// account (Twilio), to this recipient (Twilio messages, E.164), or whose last user message
    /// contains this text (Gemini) see the fault.
    var accountSid: String? = nil
    var to: String? = nil
    var contains: String? = nil
    /// Twilio messages and number purchases: do the work (record the message, buy the number) and
    /// only then answer the fault — a 5xx or a timeout after the request went through.
    var after = false

    func matches(accountSid: String?, to: String?, text: String?) -> Bool {
        if let a = self.accountSid, a != accountSid { return false }
        if let t = self.to, t != to { return false }
        if let c = self.contains, !(text ?? "").contains(c) { return false }
        return true
    }
}

struct SandboxSettings: Sendable {
    /// Send sent/delivered/read callbacks by themselves after each successful send.
    var autoCallbacks = true
    /// Pause before each automatic callback.
    var callbackDelayMS = 50
}

struct SandboxState: Sendable {
    var accounts: [String: Account] = [:]
    var numbers: [PhoneNumber] = []
    var messages: [OutboundMessage] = []
    var inbound: [InboundDelivery] = []
    var callbacks: [CallbackDelivery] = []
    var gemini: [GeminiCall] = []
    var faults: [Fault] = []
    /// "patient|sender" (both E.164) → time of the patient's last message to that sender.
    var lastInbound: [String: Date] = [:]
    var settings = SandboxSettings()
    /// Next suffix for AvailablePhoneNumbers.
    var numberSeed = 100

    func number(_ e164: String) -> PhoneNumber? { numbers.first { $0.phoneNumber == e164 } }

    static func windowKey(patient: String, sender: String) -> String { "\(patient)|\(sender)" }
}

/// What the sandbox starts with (and returns to on reset).
struct SandboxSeed: Sendable {
    var masterSid: String
    var masterToken: String
    /// Sender numbers owned by the master account at start.
    var numbers: [String]
    /// Where those numbers' inbound messages go (SmsUrl).
    var smsURL: String
    /// Gemini key required of callers; nil accepts any non-empty key.
    var geminiKey: String?
}

final class Sandbox: Sendable {
    let state: Mutex<SandboxState>
    let seed: SandboxSeed
    /// Serial: callbacks of one message go out in order.
    let callbackQueue = DispatchQueue(label: "sandbox.callbacks")

    init(seed: SandboxSeed) {
        self.seed = seed
        state = Mutex(Sandbox.initialState(seed))
    }

    static func initialState(_ seed: SandboxSeed) -> SandboxState {
        var s = SandboxState()
        let now = Date()
        s.accounts[seed.masterSid] = Account(
            sid: seed.masterSid, authToken: seed.masterToken, friendlyName: "Sandbox master account",
            ownerAccountSid: seed.masterSid, created: now)
        for n in seed.numbers {
            s.numbers.append(PhoneNumber(
                sid: SID.make("PN"), accountSid: seed.masterSid, phoneNumber: n, friendlyName: n,
                smsUrl: seed.smsURL, statusCallback: "", created: now, updated: now))
        }
        return s
    }

    func reset() {
        let fresh = Sandbox.initialState(seed)
        state.withLock { $0 = fresh }
    }

    /// Takes one occurrence of the first pending fault for `api` (it clears after its count).
    func takeFault(_ api: String, accountSid: String? = nil, to: String? = nil, text: String? = nil) -> FaultKind? {
        takeFullFault(api, accountSid: accountSid, to: to, text: text)?.kind
    }

    /// The same, with the fault's options (`after`).
    func takeFullFault(_ api: String, accountSid: String? = nil, to: String? = nil, text: String? = nil) -> Fault? {
        state.withLock { s -> Fault? in
            guard let i = s.faults.firstIndex(where: { $0.api == api && $0.matches(accountSid: accountSid, to: to, text: text) })
            else { return nil }
            let fault = s.faults[i]
            s.faults[i].remaining -= 1
            if s.faults[i].remaining <= 0 { s.faults.remove(at: i) }
            return fault
        }
    }

    /// The account for HTTP Basic credentials, if they are right.
    func authenticate(_ credentials: (String, String)?) -> Account? {
        guard let (sid, token) = credentials else { return nil }
        return state.withLock { s -> Account? in
            guard let a = s.accounts[sid], a.status == "active",
                Crypto.constantTimeEqual(Array(a.authToken.utf8), Array(token.utf8))
            else { return nil }
            return a
        }
    }
}

enum SID {
    /// Twilio's 34-character SIDs: a two-letter prefix and 32 lower-case hex digits.
    static func make(_ prefix: String) -> String { prefix + Crypto.hex(Crypto.randomBytes(16)) }
}

enum Dates {
    /// RFC 2822 in GMT, as Twilio writes `date_created`: "Wed, 25 Nov 2026 07:29:22 +0000".
    static func rfc2822(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) +0000"
    }

    /// ISO 8601 with milliseconds, UTC, for the control API.
    static func iso(_ date: Date) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        return "\(pad(Int(tm.tm_year) + 1900, 4))-\(pad(Int(tm.tm_mon) + 1, 2))-\(pad(Int(tm.tm_mday), 2))T"
            + "\(pad(Int(tm.tm_hour), 2)):\(pad(Int(tm.tm_min), 2)):\(pad(Int(tm.tm_sec), 2)).\(pad(ms % 1000, 3))Z"
    }

    /// A Twilio date filter value: "YYYY-MM-DD" (that whole GMT day) or an ISO 8601 date-time (that instant).
    static func twilioDateBounds(_ s: String) -> (Date, Date)? {
        if s.count == 10, let day = parseISO(s + "T00:00:00Z") { return (day, day.addingTimeInterval(86400 - 0.001)) }
        guard let t = parseISO(s) else { return nil }
        return (t, t)
    }

    static func parseISO(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}

/// Runs `body(0..<count)` on `count` threads at once and waits for all. (`concurrentPerform` would
/// cap the parallelism at the number of cores; a retry storm needs real simultaneity.)
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            body(i)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}
