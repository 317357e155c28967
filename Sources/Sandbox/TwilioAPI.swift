import Foundation
import MedsyncCrypto
import HTTPClient

enum TwilioErrors {
    /// Twilio's REST error body: {"code":…, "message":…, "more_info":…, "status":…}.
    static func response(_ status: Int, code: Int, message: String) -> SandboxResponse {
        .json(status, .object([
            ("code", .int(code)),
            ("message", .string(message)),
            ("more_info", .string("https://www.twilio.com/docs/errors/\(code)")),
            ("status", .int(status)),
        ]))
    }

    /// The HTTP status and message Twilio uses for a code (for injected codes too).
    static func describe(_ code: Int) -> (Int, String) {
        switch code {
        case 20003: return (401, "Authenticate")
        case 20404: return (404, "The requested resource was not found")
        case 20429: return (429, "Too Many Requests")
        case 20500: return (500, "An internal server error has occurred")
        case 20503: return (503, "Service is unavailable. Please try again")
        case 21211: return (400, "Invalid 'To' Phone Number")
        case 21408: return (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number")
        case 21603: return (400, "A 'From' phone number is required.")
        case 21604: return (400, "A 'To' phone number is required.")
        case 21617: return (400, "The concatenated message body exceeds the 1600 character limit")
        case 21619: return (400, "A text message body or media urls must be specified.")
        case 63007: return (400, "Twilio could not find a Channel with the specified From address")
        case 63016: return (400, "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.")
        case 63024: return (400, "Invalid message recipient")
        case 63112: return (400, "The Meta and/or WhatsApp Business Account for this Sender has been disabled or blocked")
        default: return (400, "Error \(code)")
        }
    }

    static func code(_ code: Int, message: String? = nil) -> SandboxResponse {
        let (status, text) = describe(code)
        return response(status, code: code, message: message ?? text)
    }

    /// An injected HTTP status in Twilio's shape.
    static func http(_ status: Int) -> SandboxResponse {
        switch status {
        case 429: return response(429, code: 20429, message: "Too Many Requests")
        case 401: return response(401, code: 20003, message: "Authenticate")
        case 503: return response(503, code: 20503, message: "Service is unavailable. Please try again")
        case 500..<600: return response(status, code: 20500, message: "An internal server error has occurred")
        default: return response(status, code: 20001, message: "Error with HTTP status \(status)")
        }
    }
}

/// Twilio's REST API 2010-04-01: Accounts, Messages, AvailablePhoneNumbers, IncomingPhoneNumbers.
struct TwilioAPI: Sendable {
    let sandbox: Sandbox

    var routes: [Route] {
        let p = "/2010-04-01/Accounts"
        return [
            Route("POST", "\(p).json") { r, _, _ in self.createAccount(r) },
            Route("GET", "\(p)/{sid}.json") { r, a, _ in self.fetchAccount(r, a["sid"]!) },
            Route("POST", "\(p)/{sid}.json") { r, a, _ in self.updateAccount(r, a["sid"]!) },
            Route("POST", "\(p)/{sid}/Messages.json") { r, a, h in self.createMessage(r, a["sid"]!, http: h) },
            Route("GET", "\(p)/{sid}/Messages.json") { r, a, _ in self.listMessages(r, a["sid"]!) },
            Route("GET", "\(p)/{sid}/Messages/{msid}.json") { r, a, _ in self.fetchMessage(r, a["sid"]!, a["msid"]!) },
            Route("GET", "\(p)/{sid}/AvailablePhoneNumbers/{country}/Local.json") { r, a, _ in
                self.availableNumbers(r, a["sid"]!, country: a["country"]!)
            },
            Route("GET", "\(p)/{sid}/IncomingPhoneNumbers.json") { r, a, _ in self.listNumbers(r, a["sid"]!) },
            Route("POST", "\(p)/{sid}/IncomingPhoneNumbers.json") { r, a, _ in self.buyNumber(r, a["sid"]!) },
            Route("POST", "\(p)/{sid}/IncomingPhoneNumbers/{pn}.json") { r, a, _ in self.updateNumber(r, a["sid"]!, a["pn"]!) },
            Route("DELETE", "\(p)/{sid}/IncomingPhoneNumbers/{pn}.json") { r, a, _ in self.releaseNumber(r, a["sid"]!, a["pn"]!) },
        ]
    }

    // MARK: auth

    /// The authenticated account, if it may act on `urlSid` (itself, or a subaccount it owns).
    private func authorize(_ r: SandboxRequest, _ urlSid: String?) -> Result<Account, SandboxRequestFailure> {
        guard let account = sandbox.authenticate(r.basicAuth) else {
            return .failure(.init(TwilioErrors.response(401, code: 20003, message: "Authenticate")))
        }
        guard let urlSid else { return .success(account) }
        if urlSid == account.sid { return .success(account) }
        let target = sandbox.state.withLock { $0.accounts[urlSid] }
        if let target, target.ownerAccountSid == account.sid { return .success(target) }
        return .failure(.init(TwilioErrors.response(401, code: 20003, message: "Authenticate")))
    }

    /// Applies an injected fault for `api`: nil to go on, or the response to give instead. Faults
    /// scoped with `contains` match the acting account's FriendlyName (or `text` when given).
    private func fault(_ api: String, account: Account, to: String? = nil, text: String? = nil) -> SandboxResponse? {
        guard let kind = sandbox.takeFault(api, accountSid: account.sid, to: to, text: text ?? account.friendlyName) else { return nil }
        return respond(kind)
    }

    /// A fault with `after: true` is taken here and answered once the work is done (`respond`).
    private func afterFault(_ api: String, account: Account, to: String? = nil) -> (before: SandboxResponse?, after: FaultKind?) {
        guard let f = sandbox.takeFullFault(api, accountSid: account.sid, to: to, text: account.friendlyName) else { return (nil, nil) }
        return f.after ? (nil, f.kind) : (respond(f.kind), nil)
    }

    private func respond(_ kind: FaultKind) -> SandboxResponse? {
        switch kind {
        case .http(let status): return TwilioErrors.http(status)
        case .twilioError(let code): return TwilioErrors.code(code)
        case .hang(let seconds):
            Thread.sleep(forTimeInterval: seconds)
            return TwilioErrors.response(504, code: 20504, message: "Gateway Timeout")
        case .slow(let seconds):
            Thread.sleep(forTimeInterval: seconds)
            return nil
        case .invalidJSON:
            return SandboxResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{\"sid\":".utf8))
        }
    }

    // MARK: Accounts

    func createAccount(_ r: SandboxRequest) -> SandboxResponse {
        let parent: Account
        switch authorize(r, nil) {
        case .failure(let f): return f.response
        case .success(let a): parent = a
        }
        let form = r.form
        if let f = fault("twilio_accounts", account: parent, text: Form.first(form, "FriendlyName") ?? "") { return f }
        let now = Date()
        let master = parent.ownerAccountSid  // subaccounts cannot own subaccounts: they go to the master
        let account = Account(
            sid: SID.make("AC"), authToken: Crypto.hex(Crypto.randomBytes(16)),
            friendlyName: Form.first(form, "FriendlyName") ?? "SubAccount Created at \(Dates.rfc2822(now))",
            ownerAccountSid: master, created: now)
        sandbox.state.withLock { $0.accounts[account.sid] = account }
        return .json(201, accountJSON(account))
    }

    func fetchAccount(_ r: SandboxRequest, _ sid: String) -> SandboxResponse {
        switch authorize(r, sid) {
        case .failure(let f): return f.response
        case .success(let a): return .json(200, accountJSON(a))
        }
    }

    /// POST /Accounts/{sid}.json: Status=closed|suspended|active and FriendlyName. A closed account
    /// cannot authenticate again and its numbers are released (as Twilio does when a subaccount closes).
    func updateAccount(_ r: SandboxRequest, _ sid: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, sid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_accounts", account: account) { return f }
        let form = r.form
        let status = Form.first(form, "Status")
        if let status, !["closed", "suspended", "active"].contains(status) {
            return TwilioErrors.response(400, code: 20001, message: "Status must be one of closed, suspended, active")
        }
        if status != nil && account.sid == account.ownerAccountSid {
            return TwilioErrors.response(400, code: 20001, message: "The master account cannot change its own status")
        }
        let updated: Account = sandbox.state.withLock { s in
            var a = s.accounts[account.sid] ?? account
            if let status { a.status = status }
            if let name = Form.first(form, "FriendlyName") { a.friendlyName = name }
            s.accounts[a.sid] = a
            if status == "closed" { s.numbers.removeAll { $0.accountSid == a.sid } }
            return a
        }
        return .json(200, accountJSON(updated))
    }

    func accountJSON(_ a: Account) -> JSON {
        let base = "/2010-04-01/Accounts/\(a.sid)"
        return .object([
            ("auth_token", .string(a.authToken)),
            ("date_created", .string(Dates.rfc2822(a.created))),
            ("date_updated", .string(Dates.rfc2822(a.created))),
            ("friendly_name", .string(a.friendlyName)),
            ("owner_account_sid", .string(a.ownerAccountSid)),
            ("sid", .string(a.sid)),
            ("status", .string(a.status)),
            ("subresource_uris", .object([
                ("available_phone_numbers", .string("\(base)/AvailablePhoneNumbers.json")),
                ("incoming_phone_numbers", .string("\(base)/IncomingPhoneNumbers.json")),
                ("messages", .string("\(base)/Messages.json")),
            ])),
            ("type", .string("Full")),
            ("uri", .string("\(base).json")),
        ])
    }

    // MARK: Messages

    func createMessage(_ r: SandboxRequest, _ urlSid: String, http: HTTPClient) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        let form = r.form
        let toParam = Form.first(form, "To") ?? ""
        let (faultNow, faultAfter) = afterFault("twilio_messages", account: account, to: Addresses.anyE164(toParam))
        if let faultNow { return faultNow }
        guard let to = Form.first(form, "To"), !to.isEmpty else { return TwilioErrors.code(21604) }
        guard let patient = Addresses.whatsappE164(to) else {
            return TwilioErrors.code(21211, message: "Invalid 'To' Phone Number: \(to)")
        }
        guard let from = Form.first(form, "From"), !from.isEmpty else { return TwilioErrors.code(21603) }
        let body = Form.first(form, "Body")
        let contentSid = Form.first(form, "ContentSid").flatMap { $0.isEmpty ? nil : $0 }
        let contentVariables = Form.first(form, "ContentVariables")
        let media = Form.all(form, "MediaUrl").filter { !$0.isEmpty }
        let statusCallback = Form.first(form, "StatusCallback").flatMap { $0.isEmpty ? nil : $0 }
        if contentSid == nil && (body ?? "").isEmpty && media.isEmpty { return TwilioErrors.code(21619) }
        if (body ?? "").count > 1600 { return TwilioErrors.code(21617) }
        if let vars = contentVariables, !vars.isEmpty {
            guard case .object = JSON.parse(vars) ?? .null else {
                return TwilioErrors.response(400, code: 21656, message: "The ContentVariables Parameter is invalid")
            }
        }

        let now = Date()
        let deliveryFault = sandbox.takeFault("twilio_delivery", accountSid: account.sid, to: patient)
        let result: Result<OutboundMessage, SandboxRequestFailure> = sandbox.state.withLock { s in
            guard let sender = Addresses.whatsappE164(from), let number = s.number(sender), number.accountSid == account.sid else {
                return .failure(.init(TwilioErrors.code(63007, message: "Twilio could not find a Channel with the specified From address: \(from)")))
            }
            if contentSid == nil {
                let last = s.lastInbound[SandboxState.windowKey(patient: patient, sender: number.phoneNumber)]
                if last == nil || now.timeIntervalSince(last!) > 24 * 3600 {
                    return .failure(.init(TwilioErrors.code(63016)))
                }
            }
            let msg = OutboundMessage(
                sid: SID.make("SM"), kind: contentSid == nil ? .freeform : .template, accountSid: account.sid,
                from: from, to: to, body: body, contentSid: contentSid,
                contentVariables: contentSid == nil ? nil : (contentVariables ?? "{}"), mediaURLs: media,
                statusCallback: statusCallback, status: "queued", errorCode: nil, created: now, updated: now, inReplyTo: nil)
            s.messages.append(msg)
            return .success(msg)
        }
        let message: OutboundMessage
        switch result {
        case .failure(let f): return f.response
        case .success(let m): message = m
        }

        let settings = sandbox.state.withLock { $0.settings }
        if settings.autoCallbacks {  // the status advances as on Twilio; a callback is posted only when one was given
            var statuses = ["sent", "delivered", "read"]
            var errorCode: Int? = nil
            if case .twilioError(let code) = deliveryFault {
                statuses = ["sent", code == 63024 || code == 21211 ? "failed" : "undelivered"]
                errorCode = code
            }
            Callbacks(sandbox: sandbox).scheduleAutomatic(messageSid: message.sid, statuses: statuses, errorCode: errorCode,
                                                          delayMS: settings.callbackDelayMS)
        }
        // The message went out; the caller hears an error (or nothing) all the same.
        if let faultAfter, let f = respond(faultAfter) { return f }
        return .json(201, messageJSON(message))
    }

    func fetchMessage(_ r: SandboxRequest, _ urlSid: String, _ msid: String) -> SandboxResponse {
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let account):
            guard let m = sandbox.state.withLock({ s in s.messages.first { $0.sid == msid && $0.accountSid == account.sid } }) else {
                return TwilioErrors.response(404, code: 20404, message: "The requested resource \(r.path) was not found")
            }
            return .json(200, messageJSON(m))
        }
    }

    /// GET Messages.json?To=&From=&DateSent=&DateSent>=&DateSent<=&PageSize=: the account's messages,
    /// newest first. Dates are YYYY-MM-DD (GMT; `>=` from midnight, `<=` through the end of that day)
    /// or ISO 8601 date-times (exact bounds); To and From compare the whole address (`whatsapp:+…`).
    func listMessages(_ r: SandboxRequest, _ urlSid: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_list", account: account) { return f }
        let q = r.queryItems
        let to = Form.first(q, "To"), from = Form.first(q, "From")
        var lower: Date? = nil, upper: Date? = nil
        for (key, value) in q where key.hasPrefix("DateSent") {
            guard let (start, end) = Dates.twilioDateBounds(value) else {
                return TwilioErrors.response(400, code: 20001, message: "Invalid DateSent: \(value)")
            }
            switch key {
            case "DateSent>": lower = start
            case "DateSent<": upper = end
            case "DateSent": lower = start; upper = end
            default: return TwilioErrors.response(400, code: 20001, message: "Unknown parameter \(key)")
            }
        }
        let pageSize = min(max(Int(Form.first(q, "PageSize") ?? "") ?? 50, 1), 1000)
        let list = sandbox.state.withLock { s in
            s.messages.filter { m in
                m.accountSid == account.sid && (to == nil || m.to == to) && (from == nil || m.from == from)
                    && (lower == nil || m.created >= lower!) && (upper == nil || m.created <= upper!)
            }
        }.sorted { $0.created > $1.created }.prefix(pageSize)
        let uri = r.path + (r.query.isEmpty ? "" : "?" + r.query)
        return .json(200, .object([
            ("messages", .array(list.map(messageJSON))),
            ("end", .int(max(list.count - 1, 0))),
            ("first_page_uri", .string(uri)),
            ("next_page_uri", .null),
            ("page", .int(0)),
            ("page_size", .int(pageSize)),
            ("previous_page_uri", .null),
            ("start", .int(0)),
            ("uri", .string(uri)),
        ]))
    }

    func messageJSON(_ m: OutboundMessage) -> JSON {
        let uri = "/2010-04-01/Accounts/\(m.accountSid)/Messages/\(m.sid)"
        let failed = m.status == "failed" || m.status == "undelivered"
        return .object([
            ("account_sid", .string(m.accountSid)),
            ("api_version", .string("2010-04-01")),
            ("body", .string(m.body ?? "")),
            ("date_created", .string(Dates.rfc2822(m.created))),
            ("date_sent", .string(Dates.rfc2822(m.created))),
            ("date_updated", .string(Dates.rfc2822(m.updated))),
            ("direction", .string(m.kind == .twiml ? "outbound-reply" : "outbound-api")),
            ("error_code", m.errorCode.map(JSON.int) ?? .null),
            ("error_message", failed && m.errorCode != nil ? .string(TwilioErrors.describe(m.errorCode!).1) : .null),
            ("from", .string(m.from)),
            ("messaging_service_sid", .null),
            ("num_media", .string(String(m.mediaURLs.count))),
            ("num_segments", .string("1")),
            ("price", .null),
            ("price_unit", .string("USD")),
            ("sid", .string(m.sid)),
            ("status", .string(m.status)),
            ("subresource_uris", .object([
                ("media", .string("\(uri)/Media.json")),
                ("feedback", .string("\(uri)/Feedback.json")),
            ])),
            ("to", .string(m.to)),
            ("uri", .string("\(uri).json")),
        ])
    }

    // MARK: Phone numbers

    func availableNumbers(_ r: SandboxRequest, _ urlSid: String, country: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_numbers", account: account) { return f }
        let q = r.queryItems
        let areaCode = Form.first(q, "AreaCode").flatMap { $0.isEmpty ? nil : $0 }
        if let a = areaCode, a.count != 3 || !a.allSatisfy(\.isNumber) {
            return TwilioErrors.response(400, code: 21452, message: "AreaCode must be a 3-digit number")
        }
        let area = areaCode ?? "555"
        let pageSize = min(max(Int(Form.first(q, "PageSize") ?? "") ?? 5, 1), 30)
        let taken = sandbox.state.withLock { Set($0.numbers.map(\.phoneNumber)) }
        var list: [JSON] = []
        var suffix = 100
        let cc = country.uppercased() == "US" || country.uppercased() == "CA" ? "1" : "1"
        while list.count < pageSize && suffix < 10000 {
            let national = "\(area)555\(String(format: "%04d", suffix))"
            suffix += 1
            let e164 = "+\(cc)\(national)"
            if taken.contains(e164) { continue }
            list.append(.object([
                ("friendly_name", .string("(\(area)) 555-\(national.suffix(4))")),
                ("phone_number", .string(e164)),
                ("lata", .string("722")),
                ("locality", .string("Sandbox")),
                ("rate_center", .string("SANDBOX")),
                ("latitude", .string("37.780000")),
                ("longitude", .string("-122.410000")),
                ("region", .string("CA")),
                ("postal_code", .string("94103")),
                ("iso_country", .string(country.uppercased())),
                ("address_requirements", .string("none")),
                ("beta", .bool(false)),
                ("capabilities", .object([("voice", .bool(true)), ("SMS", .bool(true)), ("MMS", .bool(true))])),
            ]))
        }
        return .json(200, .object([
            ("available_phone_numbers", .array(list)),
            ("uri", .string(r.path + (r.query.isEmpty ? "" : "?" + r.query))),
        ]))
    }

    func buyNumber(_ r: SandboxRequest, _ urlSid: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_numbers", account: account) { return f }
        let (buyFault, buyFaultAfter) = afterFault("twilio_buy", account: account)
        if let buyFault { return buyFault }
        let form = r.form
        guard let phone = Form.first(form, "PhoneNumber"), let e164 = Addresses.e164(phone) else {
            return TwilioErrors.response(400, code: 21421, message: "PhoneNumber is invalid")
        }
        let now = Date()
        let result: Result<PhoneNumber, SandboxRequestFailure> = sandbox.state.withLock { s in
            if s.number(e164) != nil {
                return .failure(.init(TwilioErrors.response(400, code: 21422, message: "PhoneNumber is not available")))
            }
            let n = PhoneNumber(
                sid: SID.make("PN"), accountSid: account.sid, phoneNumber: e164,
                friendlyName: Form.first(form, "FriendlyName") ?? e164,
                smsUrl: Form.first(form, "SmsUrl") ?? "", smsMethod: Form.first(form, "SmsMethod") ?? "POST",
                statusCallback: Form.first(form, "StatusCallback") ?? "", created: now, updated: now)
            s.numbers.append(n)
            return .success(n)
        }
        switch result {
        case .failure(let f): return f.response
        case .success(let n):
            // Bought; the caller hears an error (or nothing) all the same.
            if let buyFaultAfter, let f = respond(buyFaultAfter) { return f }
            return .json(201, numberJSON(n))
        }
    }

    /// DELETE IncomingPhoneNumbers/{PN}.json: releases the number (204, no body).
    func releaseNumber(_ r: SandboxRequest, _ urlSid: String, _ pn: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_numbers", account: account) { return f }
        let removed: Bool = sandbox.state.withLock { s in
            guard let i = s.numbers.firstIndex(where: { $0.sid == pn && $0.accountSid == account.sid }) else { return false }
            s.numbers.remove(at: i)
            return true
        }
        guard removed else {
            return TwilioErrors.response(404, code: 20404, message: "The requested resource \(r.path) was not found")
        }
        return SandboxResponse(status: 204, headers: [], body: [])
    }

    func listNumbers(_ r: SandboxRequest, _ urlSid: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_numbers", account: account) { return f }
        // Twilio's PhoneNumber filter: partial numbers match, `*` stands for any one digit.
        let filter = Form.first(r.queryItems, "PhoneNumber").flatMap { $0.isEmpty ? nil : $0 }
        let list = sandbox.state.withLock { s in
            s.numbers.filter { $0.accountSid == account.sid && (filter == nil || Self.phoneMatches($0.phoneNumber, filter!)) }
        }
        let uri = r.path + (r.query.isEmpty ? "" : "?" + r.query)
        return .json(200, .object([
            ("end", .int(max(list.count - 1, 0))),
            ("first_page_uri", .string(uri)),
            ("incoming_phone_numbers", .array(list.map(numberJSON))),
            ("next_page_uri", .null),
            ("page", .int(0)),
            ("page_size", .int(50)),
            ("previous_page_uri", .null),
            ("start", .int(0)),
            ("uri", .string(uri)),
        ]))
    }

    func updateNumber(_ r: SandboxRequest, _ urlSid: String, _ pn: String) -> SandboxResponse {
        let account: Account
        switch authorize(r, urlSid) {
        case .failure(let f): return f.response
        case .success(let a): account = a
        }
        if let f = fault("twilio_numbers", account: account) { return f }
        let form = r.form
        let updated: PhoneNumber? = sandbox.state.withLock { s in
            guard let i = s.numbers.firstIndex(where: { $0.sid == pn && $0.accountSid == account.sid }) else { return nil }
            if let v = Form.first(form, "SmsUrl") { s.numbers[i].smsUrl = v }
            if let v = Form.first(form, "SmsMethod") { s.numbers[i].smsMethod = v }
            if let v = Form.first(form, "StatusCallback") { s.numbers[i].statusCallback = v }
            if let v = Form.first(form, "FriendlyName") { s.numbers[i].friendlyName = v }
            // Moving a number to another account of the same owner (Twilio's AccountSid parameter).
            if let v = Form.first(form, "AccountSid"), let target = s.accounts[v],
                target.ownerAccountSid == account.ownerAccountSid || target.sid == account.ownerAccountSid
            {
                s.numbers[i].accountSid = v
            }
            s.numbers[i].updated = Date()
            return s.numbers[i]
        }
        guard let updated else {
            return TwilioErrors.response(404, code: 20404, message: "The requested resource \(r.path) was not found")
        }
        return .json(200, numberJSON(updated))
    }

    /// Does `pattern` (digits, `+`, `*` for any digit) occur in `number`?
    static func phoneMatches(_ number: String, _ pattern: String) -> Bool {
        let n = Array(number.utf8), p = Array(pattern.utf8)
        guard !p.isEmpty, p.count <= n.count else { return false }
        for start in 0...(n.count - p.count) {
            var ok = true
            for (i, c) in p.enumerated() where !(c == n[start + i] || (c == UInt8(ascii: "*") && n[start + i] >= 48 && n[start + i] <= 57)) {
                ok = false
                break
            }
            if ok { return true }
        }
        return false
    }

    func numberJSON(_ n: PhoneNumber) -> JSON {
        let uri = "/2010-04-01/Accounts/\(n.accountSid)/IncomingPhoneNumbers/\(n.sid).json"
        return .object([
            ("account_sid", .string(n.accountSid)),
            ("address_requirements", .string("none")),
            ("api_version", .string("2010-04-01")),
            ("beta", .bool(false)),
            ("capabilities", .object([("voice", .bool(true)), ("sms", .bool(true)), ("mms", .bool(true))])),
            ("date_created", .string(Dates.rfc2822(n.created))),
            ("date_updated", .string(Dates.rfc2822(n.updated))),
            ("friendly_name", .string(n.friendlyName)),
            ("identity_sid", .null),
            ("phone_number", .string(n.phoneNumber)),
            ("origin", .string("twilio")),
            ("sid", .string(n.sid)),
            ("sms_application_sid", .string("")),
            ("sms_fallback_method", .string("POST")),
            ("sms_fallback_url", .string("")),
            ("sms_method", .string(n.smsMethod)),
            ("sms_url", .string(n.smsUrl)),
            ("status_callback", .string(n.statusCallback)),
            ("status_callback_method", .string("POST")),
            ("status", .string("in-use")),
            ("uri", .string(uri)),
        ])
    }
}

/// A handler's early answer, carried through `Result`.
struct SandboxRequestFailure: Error, Sendable {
    let response: SandboxResponse
    init(_ response: SandboxResponse) { self.response = response }
}

enum Addresses {
    /// "+" and 8…15 digits, first not 0.
    static func e164(_ s: String) -> String? {
        let digits = s.dropFirst()
        guard s.hasPrefix("+"), (8...16).contains(s.count), let f = digits.first, f != "0",
            digits.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        return s
    }

    /// "whatsapp:+E164" → "+E164".
    static func whatsappE164(_ s: String) -> String? {
        guard s.hasPrefix("whatsapp:") else { return nil }
        return e164(String(s.dropFirst("whatsapp:".count)))
    }

    /// Accepts "+E164" or "whatsapp:+E164".
    static func anyE164(_ s: String) -> String? { whatsappE164(s) ?? e164(s) }
}
