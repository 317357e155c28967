import Foundation
import Synchronization
import MedsyncCrypto
import HTTPClient

/// The control API under /sandbox/… (JSON in and out; errors {"error":{"code","message"}}).
///
/// The sandbox is shared by every test running at once: use fresh patient numbers (and, for Twilio
/// faults, a fresh subaccount or a `to` scope), never `reset` from a test.
///
///   GET    /sandbox/health                    master account SID, sender numbers
///   POST   /sandbox/reset                     back to the start state (accounts, numbers, logs, faults)
///   GET    /sandbox/accounts                  accounts with their auth tokens
///   GET    /sandbox/numbers                   sender numbers {sid, phone_number, account_sid, sms_url}
///   POST   /sandbox/numbers                   {phone_number, account_sid?, sms_url?} add/move a sender
///   POST   /sandbox/inbound                   the patient writes: {from, to, body, profile_name?, media?:[{url,
///                                             content_type}], message_sid?, repeat?, url?, signature_url?, auth_token?}
///                                             → {message_sid, account_sid, url, signature, params, deliveries:[{status,
///                                             body, replies, error, at}]}
///   POST   /sandbox/inbound/retry             {message_sid, repeat?} the recorded request again, byte for byte
///   GET    /sandbox/inbound?message_sid=      what was posted and answered
///   POST   /sandbox/patients/window           {patient, sender, hours_ago | last_inbound_at (ISO 8601 or null)}
///   GET    /sandbox/patients/{phone}/messages what the patient received: freeform, template (content_sid,
///                                             content_variables), twiml replies; status, account_sid, date_created
///   GET    /sandbox/messages?to=&from=&sid=&kind=
///   POST   /sandbox/callbacks/deliver         {message_sids, statuses?, error_code?, duplicate?, shuffle?, seed?,
///                                             concurrency?, url?} → {requested, delivered, failed, skipped, first_failures}
///   GET    /sandbox/callbacks?message_sid=    status callbacks sent (url, params, signature, response_status)
///   POST   /sandbox/faults                    {api: twilio_messages|twilio_delivery|twilio_accounts|twilio_numbers|
///                                             twilio_buy|twilio_list|gemini, kind: http|hang|slow|twilio_error|invalid_json, status?,
///                                             code?, seconds?, count? (1), account_sid?, to?, contains?, after?}
///                                             (twilio_buy: number purchases only; twilio_list: the Messages list;
///                                             twilio_accounts: create and close;
///                                             contains: for Twilio, the acting account's FriendlyName — or the one
///                                             requested for a new subaccount; after: true on twilio_messages/twilio_buy
///                                             records the message or buys the number first, then answers the fault)
///   GET    /sandbox/faults ; DELETE /sandbox/faults[?api=&account_sid=&to=&contains=]
///   GET|POST /sandbox/settings                {auto_callbacks, callback_delay_ms}
///   GET    /sandbox/gemini/requests?contains= generateContent calls received (count, last_user_text, slots, answer, fault)
struct ControlAPI: Sendable {
    let sandbox: Sandbox

    var routes: [Route] {
        [
            Route("GET", "/sandbox/health") { _, _, _ in self.health() },
            Route("POST", "/sandbox/reset") { _, _, _ in
                self.sandbox.reset()
                return .json(200, .object([("reset", .bool(true))]))
            },
            Route("GET", "/sandbox/accounts") { _, _, _ in self.accounts() },
            Route("GET", "/sandbox/numbers") { _, _, _ in self.numbers() },
            Route("POST", "/sandbox/numbers") { r, _, _ in self.putNumber(r) },
            Route("POST", "/sandbox/inbound") { r, _, h in self.inbound(r, http: h) },
            Route("POST", "/sandbox/inbound/retry") { r, _, h in self.retry(r, http: h) },
            Route("GET", "/sandbox/inbound") { r, _, _ in self.inboundLog(r) },
            Route("POST", "/sandbox/patients/window") { r, _, _ in self.setWindow(r) },
            Route("GET", "/sandbox/patients/{phone}/messages") { r, a, _ in self.received(r, patient: a["phone"]!) },
            Route("GET", "/sandbox/messages") { r, _, _ in self.messages(r) },
            Route("POST", "/sandbox/callbacks/deliver") { r, _, _ in self.deliverCallbacks(r) },
            Route("GET", "/sandbox/callbacks") { r, _, _ in self.callbackLog(r) },
            Route("POST", "/sandbox/faults") { r, _, _ in self.addFault(r) },
            Route("GET", "/sandbox/faults") { _, _, _ in self.faults() },
            Route("DELETE", "/sandbox/faults") { r, _, _ in self.clearFaults(r) },
            Route("POST", "/sandbox/settings") { r, _, _ in self.settings(r) },
            Route("GET", "/sandbox/settings") { _, _, _ in self.settingsJSON() },
            Route("GET", "/sandbox/gemini/requests") { r, _, _ in self.geminiLog(r) },
        ]
    }

    private func bad(_ message: String) -> SandboxResponse { .controlError(400, "bad_request", message) }

    private func body(_ r: SandboxRequest) -> Result<JSON, SandboxRequestFailure> {
        if r.body.isEmpty { return .success(.object([])) }
        guard let j = r.json, case .object = j else {
            return .failure(.init(.controlError(400, "malformed_json", "the body must be a JSON object")))
        }
        return .success(j)
    }

    // MARK: state views

    func health() -> SandboxResponse {
        let numbers = sandbox.state.withLock { $0.numbers }
        return .json(200, .object([
            ("status", .string("ok")),
            ("master_account_sid", .string(sandbox.seed.masterSid)),
            ("numbers", .array(numbers.map(numberJSON))),
        ]))
    }

    func accounts() -> SandboxResponse {
        let list = sandbox.state.withLock { Array($0.accounts.values) }.sorted { $0.created < $1.created }
        return .json(200, .object([("accounts", .array(list.map { a in
            .object([("sid", .string(a.sid)), ("auth_token", .string(a.authToken)), ("friendly_name", .string(a.friendlyName)),
                     ("owner_account_sid", .string(a.ownerAccountSid)), ("status", .string(a.status))])
        }))]))
    }

    func numberJSON(_ n: PhoneNumber) -> JSON {
        .object([("sid", .string(n.sid)), ("phone_number", .string(n.phoneNumber)), ("account_sid", .string(n.accountSid)),
                 ("sms_url", .string(n.smsUrl)), ("status_callback", .string(n.statusCallback))])
    }

    func numbers() -> SandboxResponse {
        let list = sandbox.state.withLock { $0.numbers }
        return .json(200, .object([("numbers", .array(list.map(numberJSON)))]))
    }

    /// {"phone_number": "+1555…", "account_sid"?: master, "sms_url"?: the default webhook}: adds or
    /// updates a sender number (what buying one in Twilio's console does).
    func putNumber(_ r: SandboxRequest) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        guard let phone = j["phone_number"]?.string.flatMap(Addresses.anyE164) else {
            return bad("phone_number must be E.164 (+ and digits)")
        }
        let accountSid = j["account_sid"]?.string ?? sandbox.seed.masterSid
        let smsURL = j["sms_url"]?.string
        let result: PhoneNumber? = sandbox.state.withLock { s in
            guard s.accounts[accountSid] != nil else { return nil }
            let now = Date()
            if let i = s.numbers.firstIndex(where: { $0.phoneNumber == phone }) {
                s.numbers[i].accountSid = accountSid
                if let smsURL { s.numbers[i].smsUrl = smsURL }
                s.numbers[i].updated = now
                return s.numbers[i]
            }
            let n = PhoneNumber(sid: SID.make("PN"), accountSid: accountSid, phoneNumber: phone, friendlyName: phone,
                                smsUrl: smsURL ?? sandbox.seed.smsURL, statusCallback: "", created: now, updated: now)
            s.numbers.append(n)
            return n
        }
        guard let result else { return .controlError(404, "unknown_account", "no account \(accountSid)") }
        return .json(200, numberJSON(result))
    }

    // MARK: the patient's phone

    /// {"from": "+52…", "to": "+1555…", "body": "hola", "profile_name"?: "Ana",
    ///  "media"?: [{"url": …, "content_type": …}], "message_sid"?: reuse one (a retry),
    ///  "repeat"?: n concurrent deliveries of the same signed request,
    ///  "url"?: post here instead of the number's SmsUrl, "signature_url"?: sign this URL instead,
    ///  "auth_token"?: sign with this token instead of the owner's}
    func inbound(_ r: SandboxRequest, http: HTTPClient) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        guard let patient = j["from"]?.string.flatMap(Addresses.anyE164) else { return bad("from must be the patient's E.164 number") }
        guard let sender = j["to"]?.string.flatMap(Addresses.anyE164) else { return bad("to must be the sender's E.164 number") }
        let text = j["body"]?.string ?? ""
        let profile = j["profile_name"]?.string ?? "Patient \(patient.suffix(4))"
        let media: [(String, String)] = (j["media"]?.array ?? []).compactMap { m in
            guard let url = m["url"]?.string else { return nil }
            return (url, m["content_type"]?.string ?? "image/jpeg")
        }
        let sid = j["message_sid"]?.string ?? SID.make("SM")
        let now = Date()
        let (number, owner): (PhoneNumber?, Account?) = sandbox.state.withLock { s in
            let n = s.number(sender)
            let a = s.accounts[n?.accountSid ?? sandbox.seed.masterSid]
            // Twilio opens the 24-hour window when it receives the patient's message.
            s.lastInbound[SandboxState.windowKey(patient: patient, sender: sender)] = now
            return (n, a)
        }
        guard let owner else { return .controlError(500, "internal", "the master account is missing") }
        let url = j["url"]?.string ?? number?.smsUrl ?? sandbox.seed.smsURL
        guard !url.isEmpty else { return .controlError(409, "no_webhook", "number \(sender) has no SmsUrl") }

        var params: [(String, String)] = [
            ("SmsMessageSid", sid),
            ("NumMedia", String(media.count)),
            ("ProfileName", profile),
            ("MessageType", media.isEmpty ? "text" : (media[0].1.hasPrefix("image/") ? "image" : "document")),
            ("SmsSid", sid),
            ("WaId", String(patient.dropFirst())),
            ("SmsStatus", "received"),
            ("Body", text),
            ("To", "whatsapp:\(sender)"),
            ("NumSegments", "1"),
            ("ReferralNumMedia", "0"),
            ("MessageSid", sid),
            ("AccountSid", owner.sid),
            ("From", "whatsapp:\(patient)"),
            ("ApiVersion", "2010-04-01"),
        ]
        for (i, m) in media.enumerated() {
            params.append(("MediaContentType\(i)", m.1))
            params.append(("MediaUrl\(i)", m.0))
        }
        let signedURL = j["signature_url"]?.string ?? url
        let token = j["auth_token"]?.string ?? owner.authToken
        let signature = TwilioSignature.compute(authToken: token, url: signedURL, params: params)
        let template = InboundDelivery(
            messageSid: sid, accountSid: owner.sid, from: "whatsapp:\(patient)", to: "whatsapp:\(sender)", url: url,
            params: params, signature: signature, at: now, responseStatus: nil, responseBody: "", error: nil, replies: [])
        let repeatCount = min(max(j["repeat"]?.int ?? 1, 1), 200)
        let deliveries = post(template, times: repeatCount, http: http)
        return .json(200, inboundJSON(template, deliveries: deliveries))
    }

    /// {"message_sid": "SM…", "repeat"?: n}: posts the recorded request again, byte for byte.
    func retry(_ r: SandboxRequest, http: HTTPClient) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        guard let sid = j["message_sid"]?.string else { return bad("message_sid is required") }
        guard let original = sandbox.state.withLock({ s in s.inbound.first { $0.messageSid == sid } }) else {
            return .controlError(404, "unknown_message", "no inbound message \(sid) was sent by the sandbox")
        }
        let repeatCount = min(max(j["repeat"]?.int ?? 1, 1), 200)
        let deliveries = post(original, times: repeatCount, http: http)
        return .json(200, inboundJSON(original, deliveries: deliveries))
    }

    /// Posts the signed form `times` times (concurrently when more than once) and records each.
    private func post(_ template: InboundDelivery, times: Int, http: HTTPClient) -> [InboundDelivery] {
        if times == 1 { return [postOnce(template, client: http)] }
        let results = Mutex([InboundDelivery?](repeating: nil, count: times))
        onThreads(times) { i in
            guard let client = try? HTTPClient(connectTimeoutMS: 5000, timeoutMS: 30000) else { return }
            let d = postOnce(template, client: client)
            results.withLock { $0[i] = d }
        }
        return results.withLock { $0 }.compactMap { $0 }
    }

    private func postOnce(_ template: InboundDelivery, client: HTTPClient) -> InboundDelivery {
        var d = template
        d.at = Date()
        do {
            let response = try client.send(.form(url: d.url, pairs: d.params, headers: [
                ("X-Twilio-Signature", d.signature), ("User-Agent", "TwilioProxy/1.1"), ("Accept", "*/*"),
            ]))
            d.responseStatus = response.status
            d.responseBody = response.text
            d.replies = TwiML.messages(response.text)
        } catch {
            d.error = error.description
        }
        let record = d
        sandbox.state.withLock { s in
            s.inbound.append(record)
            for reply in record.replies {
                s.messages.append(OutboundMessage(
                    sid: SID.make("SM"), kind: .twiml, accountSid: record.accountSid, from: record.to, to: record.from,
                    body: reply, contentSid: nil, contentVariables: nil, mediaURLs: [], statusCallback: nil,
                    status: "sent", errorCode: nil, created: record.at, updated: record.at, inReplyTo: record.messageSid))
            }
        }
        return record
    }

    private func inboundJSON(_ t: InboundDelivery, deliveries: [InboundDelivery]) -> JSON {
        .object([
            ("message_sid", .string(t.messageSid)),
            ("account_sid", .string(t.accountSid)),
            ("url", .string(t.url)),
            ("signature", .string(t.signature)),
            ("params", paramsJSON(t.params)),
            ("deliveries", .array(deliveries.map(deliveryJSON))),
        ])
    }

    private func deliveryJSON(_ d: InboundDelivery) -> JSON {
        .object([
            ("status", d.responseStatus.map(JSON.int) ?? .null),
            ("body", .string(d.responseBody)),
            ("replies", .array(d.replies.map(JSON.string))),
            ("error", .str(d.error)),
            ("at", .string(Dates.iso(d.at))),
        ])
    }

    private func paramsJSON(_ params: [(String, String)]) -> JSON {
        .array(params.map { .array([.string($0.0), .string($0.1)]) })
    }

    func inboundLog(_ r: SandboxRequest) -> SandboxResponse {
        let sid = Form.first(r.queryItems, "message_sid")
        let list = sandbox.state.withLock { s in s.inbound.filter { sid == nil || $0.messageSid == sid } }
        return .json(200, .object([("count", .int(list.count)), ("deliveries", .array(list.map { d in
            .object([("message_sid", .string(d.messageSid)), ("account_sid", .string(d.accountSid)), ("url", .string(d.url)),
                     ("signature", .string(d.signature)), ("params", paramsJSON(d.params)),
                     ("status", d.responseStatus.map(JSON.int) ?? .null), ("body", .string(d.responseBody)),
                     ("replies", .array(d.replies.map(JSON.string))), ("error", .str(d.error)), ("at", .string(Dates.iso(d.at)))])
        }))]))
    }

    /// {"patient": "+52…", "sender": "+1555…", "last_inbound_at"?: ISO 8601 | null, "hours_ago"?: 25}
    func setWindow(_ r: SandboxRequest) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        guard let patient = j["patient"]?.string.flatMap(Addresses.anyE164),
            let sender = j["sender"]?.string.flatMap(Addresses.anyE164)
        else { return bad("patient and sender must be E.164 numbers") }
        var at: Date? = nil
        if let hours = j["hours_ago"]?.double {
            at = Date().addingTimeInterval(-hours * 3600)
        } else if let s = j["last_inbound_at"]?.string {
            guard let d = Dates.parseISO(s) else { return bad("last_inbound_at must be ISO 8601") }
            at = d
        } else if j["last_inbound_at"] == nil {
            return bad("give last_inbound_at (ISO 8601, or null to clear) or hours_ago")
        }
        let key = SandboxState.windowKey(patient: patient, sender: sender)
        sandbox.state.withLock { $0.lastInbound[key] = at }
        return .json(200, .object([("patient", .string(patient)), ("sender", .string(sender)),
                                   ("last_inbound_at", at.map { .string(Dates.iso($0)) } ?? .null)]))
    }

    // MARK: what patients received

    func messageJSON(_ m: OutboundMessage) -> JSON {
        .object([
            ("sid", .string(m.sid)),
            ("kind", .string(m.kind.rawValue)),
            ("account_sid", .string(m.accountSid)),
            ("from", .string(m.from)),
            ("to", .string(m.to)),
            ("body", .str(m.body)),
            ("content_sid", .str(m.contentSid)),
            ("content_variables", m.contentVariables.flatMap { JSON.parse($0) } ?? .null),
            ("media_urls", .array(m.mediaURLs.map(JSON.string))),
            ("status_callback", .str(m.statusCallback)),
            ("status", .string(m.status)),
            ("error_code", m.errorCode.map(JSON.int) ?? .null),
            ("in_reply_to", .str(m.inReplyTo)),
            ("date_created", .string(Dates.iso(m.created))),
        ])
    }

    func received(_ r: SandboxRequest, patient: String) -> SandboxResponse {
        guard let phone = Addresses.anyE164(patient) else { return bad("the patient must be an E.164 number") }
        let list = sandbox.state.withLock { s in s.messages.filter { $0.to == "whatsapp:\(phone)" } }
        return .json(200, .object([("patient", .string(phone)), ("count", .int(list.count)), ("messages", .array(list.map(messageJSON)))]))
    }

    /// ?to=&from=&sid=&kind= filters, all optional.
    func messages(_ r: SandboxRequest) -> SandboxResponse {
        let q = r.queryItems
        let to = Form.first(q, "to").flatMap(Addresses.anyE164), from = Form.first(q, "from").flatMap(Addresses.anyE164)
        let sid = Form.first(q, "sid"), kind = Form.first(q, "kind")
        let list = sandbox.state.withLock { s in
            s.messages.filter {
                (to == nil || $0.to == "whatsapp:\(to!)") && (from == nil || $0.from == "whatsapp:\(from!)")
                    && (sid == nil || $0.sid == sid) && (kind == nil || $0.kind.rawValue == kind)
            }
        }
        return .json(200, .object([("count", .int(list.count)), ("messages", .array(list.map(messageJSON)))]))
    }

    // MARK: status callbacks on request

    /// {"message_sids": ["SM…"], "statuses"?: ["sent","delivered","read"], "error_code"?: 63024 (sent with
    ///  failed/undelivered), "duplicate"?: 1, "shuffle"?: false, "seed"?: 1, "concurrency"?: 1, "url"?: override}
    func deliverCallbacks(_ r: SandboxRequest) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        guard let sids = j["message_sids"]?.array?.compactMap(\.string), !sids.isEmpty else {
            return bad("message_sids must be a non-empty array of message SIDs")
        }
        let statuses = j["statuses"]?.array?.compactMap(\.string) ?? ["sent", "delivered", "read"]
        let allowed: Set<String> = ["queued", "sending", "sent", "delivered", "read", "failed", "undelivered"]
        guard !statuses.isEmpty, statuses.allSatisfy(allowed.contains) else {
            return bad("statuses must be among \(allowed.sorted().joined(separator: ", "))")
        }
        let known = sandbox.state.withLock { s in Set(s.messages.map(\.sid)) }
        if let unknown = sids.first(where: { !known.contains($0) }) {
            return .controlError(404, "unknown_message", "the sandbox did not send \(unknown)")
        }
        let errorCode = j["error_code"]?.int
        let copies = min(max(j["duplicate"]?.int ?? 1, 1), 20)
        var jobs: [(String, String, Int?)] = []
        for sid in sids {
            for status in statuses {
                for _ in 0..<copies {
                    jobs.append((sid, status, status == "failed" || status == "undelivered" ? errorCode : nil))
                }
            }
        }
        if j["shuffle"]?.bool == true {
            var rng = SeededGenerator(state: UInt64(truncatingIfNeeded: j["seed"]?.int ?? 1))
            jobs.shuffle(using: &rng)
        }
        let results = Callbacks(sandbox: sandbox).deliverAll(
            jobs, url: j["url"]?.string, concurrency: min(max(j["concurrency"]?.int ?? 1, 1), 32))
        let delivered = results.compactMap { $0 }
        let failures = delivered.filter { $0.error != nil || !(200..<300).contains($0.responseStatus ?? 0) }
        return .json(200, .object([
            ("requested", .int(jobs.count)),
            ("delivered", .int(delivered.count)),
            ("failed", .int(failures.count)),
            ("skipped", .int(results.count - delivered.count)),
            ("first_failures", .array(failures.prefix(5).map(callbackJSON))),
        ]))
    }

    func callbackJSON(_ c: CallbackDelivery) -> JSON {
        .object([("message_sid", .string(c.messageSid)), ("status", .string(c.status)), ("url", .string(c.url)),
                 ("params", paramsJSON(c.params)), ("signature", .string(c.signature)),
                 ("response_status", c.responseStatus.map(JSON.int) ?? .null), ("error", .str(c.error)),
                 ("at", .string(Dates.iso(c.at)))])
    }

    func callbackLog(_ r: SandboxRequest) -> SandboxResponse {
        let sid = Form.first(r.queryItems, "message_sid")
        let list = sandbox.state.withLock { s in s.callbacks.filter { sid == nil || $0.messageSid == sid } }
        return .json(200, .object([("count", .int(list.count)), ("callbacks", .array(list.map(callbackJSON)))]))
    }

    // MARK: faults and settings

    static let apis: Set<String> = ["twilio_messages", "twilio_delivery", "twilio_accounts", "twilio_numbers", "twilio_buy",
                                    "twilio_list", "gemini"]

    /// {"api": "twilio_messages"|"twilio_delivery"|"twilio_accounts"|"twilio_numbers"|"gemini",
    ///  "kind": "http"|"hang"|"slow"|"twilio_error"|"invalid_json", "status"?: 429, "code"?: 63016,
    ///  "seconds"?: 10, "count"?: 1, scope (all optional): "account_sid"?, "to"?: E.164, "contains"?: Gemini text}
    func addFault(_ r: SandboxRequest) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        var api = j["api"]?.string ?? ""
        if api == "twilio" || api == "messages" { api = "twilio_messages" }
        guard ControlAPI.apis.contains(api) else { return bad("api must be one of \(ControlAPI.apis.sorted().joined(separator: ", "))") }
        let count = j["count"]?.int ?? 1
        guard count >= 1, count <= 10000 else { return bad("count must be 1…10000") }
        let kind: FaultKind
        switch j["kind"]?.string ?? "" {
        case "http":
            guard let s = j["status"]?.int, (400..<600).contains(s) else { return bad("http faults need a status 400…599") }
            kind = .http(s)
        case "hang", "slow":
            guard let s = j["seconds"]?.double, s > 0, s <= 120 else { return bad("hang/slow faults need seconds (0…120]") }
            kind = j["kind"]?.string == "hang" ? .hang(s) : .slow(s)
        case "twilio_error":
            guard let c = j["code"]?.int else { return bad("twilio_error faults need a code") }
            kind = .twilioError(c)
        case "invalid_json":
            kind = .invalidJSON
        default:
            return bad("kind must be http, hang, slow, twilio_error or invalid_json")
        }
        var fault = Fault(api: api, kind: kind, remaining: count)
        fault.accountSid = j["account_sid"]?.string
        fault.to = j["to"]?.string.flatMap(Addresses.anyE164)
        fault.contains = j["contains"]?.string
        fault.after = j["after"]?.bool ?? false
        let added = fault
        sandbox.state.withLock { $0.faults.append(added) }
        var out = faults()
        out.status = 201
        return out
    }

    /// DELETE /sandbox/faults[?api=&account_sid=&to=&contains=]: removes the pending faults with that
    /// scope (all of them without parameters — careful: tests run in parallel share the sandbox).
    func clearFaults(_ r: SandboxRequest) -> SandboxResponse {
        let q = r.queryItems
        let api = Form.first(q, "api"), account = Form.first(q, "account_sid")
        let to = Form.first(q, "to").flatMap(Addresses.anyE164), contains = Form.first(q, "contains")
        sandbox.state.withLock { s in
            s.faults.removeAll { f in
                (api == nil || f.api == api) && (account == nil || f.accountSid == account)
                    && (to == nil || f.to == to) && (contains == nil || f.contains == contains)
            }
        }
        return faults()
    }

    func faults() -> SandboxResponse {
        let list = sandbox.state.withLock { $0.faults }
        return .json(200, .object([("faults", .array(list.map { f in
            .object([("api", .string(f.api)), ("remaining", .int(f.remaining)), ("fault", f.kind.json),
                     ("account_sid", .str(f.accountSid)), ("to", .str(f.to)), ("contains", .str(f.contains)),
                     ("after", .bool(f.after))])
        }))]))
    }

    /// {"auto_callbacks"?: bool, "callback_delay_ms"?: int}
    func settings(_ r: SandboxRequest) -> SandboxResponse {
        let j: JSON
        switch body(r) { case .failure(let f): return f.response; case .success(let v): j = v }
        sandbox.state.withLock { s in
            if let b = j["auto_callbacks"]?.bool { s.settings.autoCallbacks = b }
            if let d = j["callback_delay_ms"]?.int { s.settings.callbackDelayMS = max(0, min(d, 60000)) }
        }
        return settingsJSON()
    }

    func settingsJSON() -> SandboxResponse {
        let s = sandbox.state.withLock { $0.settings }
        return .json(200, .object([("auto_callbacks", .bool(s.autoCallbacks)), ("callback_delay_ms", .int(s.callbackDelayMS))]))
    }

    /// ?contains=text (in the last user message) filters.
    func geminiLog(_ r: SandboxRequest) -> SandboxResponse {
        let needle = Form.first(r.queryItems, "contains")
        let list = sandbox.state.withLock { s in s.gemini.filter { needle == nil || $0.lastUserText.contains(needle!) } }
        return .json(200, .object([("count", .int(list.count)), ("requests", .array(list.map { c in
            .object([("model", .string(c.model)), ("last_user_text", .string(c.lastUserText)),
                     ("system_instruction", .string(c.systemInstruction)), ("slots", .int(c.slots)), ("answer", .str(c.answer)),
                     ("fault", .str(c.fault)), ("at", .string(Dates.iso(c.at)))])
        }))]))
    }
}

/// Reads the `<Message>` texts out of a TwiML answer (`<Message>text</Message>` or
/// `<Message><Body>text</Body></Message>`), entities decoded.
enum TwiML {
    static func messages(_ xml: String) -> [String] {
        var out: [String] = []
        var rest = Substring(xml)
        while let open = rest.range(of: "<Message") {
            guard let tagEnd = rest[open.upperBound...].firstIndex(of: ">") else { break }
            if rest[rest.index(before: tagEnd)] == "/" { rest = rest[rest.index(after: tagEnd)...]; continue }
            let contentStart = rest.index(after: tagEnd)
            guard let close = rest[contentStart...].range(of: "</Message>") else { break }
            var content = String(rest[contentStart..<close.lowerBound])
            if let b = content.range(of: "<Body>"), let e = content.range(of: "</Body>") , b.upperBound <= e.lowerBound {
                content = String(content[b.upperBound..<e.lowerBound])
            }
            out.append(unescape(content))
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        var t = s
        for (entity, char) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&#39;", "'"), ("&#10;", "\n")] {
            t = t.replacingOccurrences(of: entity, with: char)
        }
        return t.replacingOccurrences(of: "&amp;", with: "&")
    }
}
