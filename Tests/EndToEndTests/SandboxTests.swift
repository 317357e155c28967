import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient
import Twilio

/// The sandbox through nginx (SANDBOX_URL of the stack's env file), checked against an independent
/// implementation: twilio-python's RequestValidator and Client (Tests/Helpers/*.py).
private struct Sandbox {
    let url: String
    let masterSID: String
    let masterToken: String
    let geminiKey: String

    init() throws {
        let env = try StackEnvironment.shared()
        url = try env.sandboxURL
        masterSID = try env["TWILIO_ACCOUNT_SID"]
        masterToken = try env["TWILIO_AUTH_TOKEN"]
        geminiKey = try env["GEMINI_API_KEY"]
    }

    func master(_ http: HTTPClient) -> TwilioClient {
        TwilioClient(accountSID: masterSID, authToken: masterToken, baseURL: url, http: http)
    }

    /// A fresh subaccount owning a fresh number whose SmsUrl is `smsURL`.
    func tenant(_ http: HTTPClient, smsURL: String) throws -> (client: TwilioClient, token: String, sender: String) {
        let account = try master(http).createSubaccount(friendlyName: "e2e \(UUID().uuidString.prefix(8))")
        let sub = master(http).acting(as: account.sid, authToken: account.authToken)
        let number = try #require(try sub.searchAvailableNumbers(areaCode: String(Int.random(in: 200...989)), limit: 30).randomElement())
        _ = try sub.buyNumber(phoneNumber: number.phoneNumber, smsURL: smsURL)
        return (sub, account.authToken, number.phoneNumber)
    }

    static func patient() -> String { "+1999\(Int.random(in: 1_000_000...9_999_999))" }

    func call(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = []) throws -> (Int, [String: Any]) {
        let response = try http(HTTPRequest(
            method: method, url: url + path,
            headers: (body == nil ? [] : [("Content-Type", "application/json")]) + headers, body: Array((body ?? "").utf8)))
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    func control(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
        let (status, object) = try call(method, path, body)
        guard (200..<300).contains(status) else { throw TestSetupError("sandbox \(method) \(path) answered \(status): \(object)") }
        return object
    }
}

private func helper(_ name: String) -> String { "\(projectRoot)/Tests/Helpers/\(name)" }

private func jsonString(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self)
}

/// The receiver's log: every POST with its params and whether RequestValidator accepted it.
private func receiverLog(_ receiver: PythonServer) throws -> [[String: Any]] {
    let r = try httpGet("\(receiver.baseURL)/log")
    return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [[String: Any]]) ?? []
}

private func params(_ entry: [String: Any]) -> [String: String] {
    var out: [String: String] = [:]
    for pair in entry["params"] as? [[String]] ?? [] where pair.count == 2 { out[pair[0]] = pair[1] }
    return out
}

@Suite(.needsStack) struct SandboxTests {
    @Test func inboundIsSignedAsTwilioSignsAndTheTwiMLReplyIsRecorded() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        // The receiver validates with the subaccount's token, which only exists after the tenant is made:
        // create the tenant first with a placeholder URL, then point the number at the receiver.
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        let receiver = try PythonServer(script: helper("twilio_receiver.py"), arguments: [token])
        let hook = "\(receiver.baseURL)/inbound/whatsapp?clinic=norte&x=1"
        let pn = try #require(try sandbox.control("GET", "/sandbox/numbers")["numbers"] as? [[String: Any]])
            .first { $0["phone_number"] as? String == sender }?["sid"] as? String
        _ = try sub.updateNumberWebhooks(sid: try #require(pn), smsURL: hook)

        let patient = Sandbox.patient()
        let text = "Hola, ¿hay cita mañana? 100% & <más> +info"
        let answer = try sandbox.control("POST", "/sandbox/inbound", try jsonString([
            "from": patient, "to": sender, "body": text, "profile_name": "Ana María",
            "media": [["url": "https://media.example/x.jpg?a=1&b=2", "content_type": "image/jpeg"]],
        ]))
        let sid = try #require(answer["message_sid"] as? String)
        #expect(sid.hasPrefix("SM") && sid.count == 34)
        #expect(answer["account_sid"] as? String == sub.accountSID)
        #expect(answer["url"] as? String == hook)
        let delivery = try #require((answer["deliveries"] as? [[String: Any]])?.first)
        #expect(delivery["status"] as? Int == 200)
        #expect(delivery["replies"] as? [String] == ["ok: \(text)"])

        let log = try receiverLog(receiver)
        #expect(log.count == 1)
        let got = try #require(log.first)
        #expect(got["valid"] as? Bool == true)
        #expect(got["content_type"] as? String == "application/x-www-form-urlencoded")
        let form = params(got)
        #expect(form["MessageSid"] == sid)
        #expect(form["SmsMessageSid"] == sid)
        #expect(form["AccountSid"] == sub.accountSID)
        #expect(form["From"] == "whatsapp:\(patient)")
        #expect(form["To"] == "whatsapp:\(sender)")
        #expect(form["Body"] == text)
        #expect(form["ProfileName"] == "Ana María")
        #expect(form["WaId"] == String(patient.dropFirst()))
        #expect(form["NumMedia"] == "1")
        #expect(form["MediaUrl0"] == "https://media.example/x.jpg?a=1&b=2")
        #expect(form["MediaContentType0"] == "image/jpeg")
        #expect(form["ApiVersion"] == "2010-04-01")
        #expect(form["SmsStatus"] == "received")

        // The patient's phone shows the TwiML reply; the inbound opened the 24-hour window.
        let phone = try sandbox.control("GET", "/sandbox/patients/\(patient)/messages")["messages"] as? [[String: Any]] ?? []
        #expect(phone.map { $0["kind"] as? String } == ["twiml"])
        #expect(phone.first?["body"] as? String == "ok: \(text)")
        #expect(phone.first?["in_reply_to"] as? String == sid)
        #expect(try sub.sendMessage(to: patient, from: sender, body: "freeform now allowed").status == "queued")

        // The validator can say no: the same message signed with another token is refused.
        let forged = try sandbox.control("POST", "/sandbox/inbound", try jsonString([
            "from": patient, "to": sender, "body": "x", "auth_token": String(repeating: "f", count: 32),
        ]))
        #expect((forged["deliveries"] as? [[String: Any]])?.first?["status"] as? Int == 403)
        #expect(try receiverLog(receiver).last?["valid"] as? Bool == false)
    }

    @Test func retryPostsTheSameSignedRequestAgainConcurrently() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let receiver = try PythonServer(script: helper("twilio_receiver.py"), arguments: [sandbox.masterToken])
        // A number of the master account, added through the control API.
        let sender = "+1555\(Int.random(in: 2_000_000...9_999_999))"
        _ = try sandbox.control("POST", "/sandbox/numbers", #"{"phone_number":"\#(sender)","sms_url":"\#(receiver.baseURL)/inbound"}"#)
        let first = try sandbox.control("POST", "/sandbox/inbound", #"{"from":"\#(Sandbox.patient())","to":"\#(sender)","body":"1"}"#)
        let sid = try #require(first["message_sid"] as? String)
        let again = try sandbox.control("POST", "/sandbox/inbound/retry", #"{"message_sid":"\#(sid)","repeat":5}"#)
        #expect((again["deliveries"] as? [[String: Any]])?.count == 5)
        let log = try receiverLog(receiver)
        #expect(log.count == 6)
        #expect(log.allSatisfy { $0["valid"] as? Bool == true && params($0)["MessageSid"] == sid })
        #expect(Set(log.compactMap { $0["signature"] as? String }).count == 1)
        _ = httpClient
    }

    @Test func statusCallbacksFollowASendSignedWithTheOwnersToken() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        let receiver = try PythonServer(script: helper("twilio_receiver.py"), arguments: [token])
        let patient = Sandbox.patient()
        let callback = "\(receiver.baseURL)/status?ws=7"
        let message = try sub.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: ["1": "Ana"], statusCallback: callback)

        // The sandbox posts sent, delivered, read from a background thread shortly after the send.
        var callbacks: [[String: Any]] = []
        for _ in 0..<100 {
            callbacks = try sandbox.control("GET", "/sandbox/callbacks?message_sid=\(message.sid)")["callbacks"] as? [[String: Any]] ?? []
            if callbacks.count >= 3 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(callbacks.map { $0["status"] as? String } == ["sent", "delivered", "read"])
        #expect(callbacks.allSatisfy { $0["response_status"] as? Int == 200 && $0["url"] as? String == callback })
        let log = try receiverLog(receiver)
        #expect(log.count == 3)
        #expect(log.allSatisfy { $0["valid"] as? Bool == true })
        let form = params(try #require(log.first))
        #expect(form["MessageSid"] == message.sid)
        #expect(form["SmsSid"] == message.sid)
        #expect(form["MessageStatus"] == "sent")
        #expect(form["SmsStatus"] == "sent")
        #expect(form["AccountSid"] == sub.accountSID)
        #expect(form["From"] == "whatsapp:\(sender)")
        #expect(form["To"] == "whatsapp:\(patient)")
        #expect(form["ApiVersion"] == "2010-04-01")
        #expect(form["ErrorCode"] == nil)
        #expect(try sub.fetchMessage(sid: message.sid).status == "read")
    }

    @Test func deliveryFaultEndsInFailedWithTheErrorCode() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        let receiver = try PythonServer(script: helper("twilio_receiver.py"), arguments: [token])
        let patient = Sandbox.patient()
        _ = try sandbox.control("POST", "/sandbox/faults", #"{"api":"twilio_delivery","kind":"twilio_error","code":63024,"to":"\#(patient)"}"#)
        let message = try sub.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:],
                                           statusCallback: "\(receiver.baseURL)/status")
        #expect(message.status == "queued")  // accepted; the failure comes by callback
        var log: [[String: Any]] = []
        for _ in 0..<100 {
            log = try receiverLog(receiver)
            if log.count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(log.map { params($0)["MessageStatus"] } == ["sent", "failed"])
        #expect(params(try #require(log.last))["ErrorCode"] == "63024")
        #expect(log.allSatisfy { $0["valid"] as? Bool == true })
        let fetched = try sub.fetchMessage(sid: message.sid)
        #expect(fetched.status == "failed")
        #expect(fetched.errorCode == 63024)
    }

    @Test func callbacksOnRequestShuffledAndDuplicatedValidateInPython() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        let receiver = try PythonServer(script: helper("twilio_receiver.py"), arguments: [token])
        let patient = Sandbox.patient()
        // Without a StatusCallback the sandbox posts nothing by itself; the test asks for the callbacks.
        let sids = try (0..<5).map { _ in try sub.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).sid }
        let result = try sandbox.control("POST", "/sandbox/callbacks/deliver", try jsonString([
            "message_sids": sids, "duplicate": 2, "shuffle": true, "seed": 7, "concurrency": 4,
            "url": "\(receiver.baseURL)/status",
        ]))
        #expect(result["requested"] as? Int == 30)
        #expect(result["delivered"] as? Int == 30)
        #expect(result["failed"] as? Int == 0)
        let log = try receiverLog(receiver)
        #expect(log.count == 30)
        #expect(log.allSatisfy { $0["valid"] as? Bool == true })
        // Every message got each status twice.
        for sid in sids {
            let statuses = log.filter { params($0)["MessageSid"] == sid }.compactMap { params($0)["MessageStatus"] }
            #expect(statuses.sorted() == ["delivered", "delivered", "read", "read", "sent", "sent"])
        }

        // The same signatures, recomputed offline by twilio-python from what the sandbox recorded.
        let recorded = try sandbox.control("GET", "/sandbox/callbacks?message_sid=\(sids[0])")["callbacks"] as? [[String: Any]] ?? []
        #expect(recorded.count == 6)
        let items = recorded.map { ["token": token, "url": $0["url"]!, "params": $0["params"]!, "signature": $0["signature"]!] }
        let tampered = recorded.prefix(1).map { ["token": token, "url": "\($0["url"]!)&x=1", "params": $0["params"]!, "signature": $0["signature"]!] }
        let verdicts = try runPython([helper("validate_signatures.py")], stdin: try jsonString(items + tampered))
        #expect(verdicts.trimmingCharacters(in: .whitespacesAndNewlines) == "[" + Array(repeating: "true", count: 6).joined(separator: ", ") + ", false]")
    }

    @Test func twilioPythonClientParsesTheSandboxsMessages() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        let patient = Sandbox.patient()
        let request = try jsonString([
            "to": "whatsapp:\(patient)", "from": "whatsapp:\(sender)", "content_sid": "HX0123456789abcdef0123456789abcdef",
            "content_variables": #"{"1":"Ana"}"#, "fetch": true,
        ])
        let output = try runPython([helper("twilio_client.py"), sandbox.url, sub.accountSID, token], stdin: request)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let created = try #require(parsed["created"] as? [String: Any], "twilio-python said: \(output)")
        let sid = try #require(created["sid"] as? String)
        #expect(sid.hasPrefix("SM") && sid.count == 34)
        #expect(created["status"] as? String == "queued")
        #expect(created["account_sid"] as? String == sub.accountSID)
        #expect(created["to"] as? String == "whatsapp:\(patient)")
        #expect(created["from"] as? String == "whatsapp:\(sender)")
        #expect(created["direction"] as? String == "outbound-api")
        #expect(created["api_version"] as? String == "2010-04-01")
        #expect(created["date_created_type"] as? String == "datetime")  // RFC 2822 parsed by the SDK
        #expect(created["error_code"] is NSNull)
        #expect((parsed["fetched"] as? [String: Any])?["sid"] as? String == sid)
        // The sandbox recorded what the SDK sent.
        let phone = try sandbox.control("GET", "/sandbox/patients/\(patient)/messages")["messages"] as? [[String: Any]] ?? []
        #expect(phone.first?["content_variables"] as? [String: String] == ["1": "Ana"])

        // Errors come through the SDK's TwilioRestException with Twilio's code.
        let freeform = try jsonString(["to": "whatsapp:\(patient)", "from": "whatsapp:\(sender)", "body": "hi"])
        let failed = try runPython([helper("twilio_client.py"), sandbox.url, sub.accountSID, token], stdin: freeform)
        let error = try #require((try JSONSerialization.jsonObject(with: Data(failed.utf8)) as? [String: Any])?["error"] as? [String: Any])
        #expect(error["code"] as? Int == 63016)
        #expect(error["status"] as? Int == 400)
    }

    /// Issue 9's lookups, read by twilio-python's own Client: Messages list by To/From/DateSent>,
    /// IncomingPhoneNumbers by (partial, `*`) PhoneNumber, releasing a number, closing a subaccount.
    @Test func twilioPythonReadsTheLookupsMedSyncRelyOn() throws {
        let sandbox = try Sandbox()
        let httpClient = try HTTPClient()
        let (sub, token, sender) = try sandbox.tenant(httpClient, smsURL: "http://127.0.0.1:9/none")
        func py(_ sid: String, _ tok: String, _ request: [String: Any]) throws -> [String: Any] {
            let output = try runPython([helper("twilio_lookups.py"), sandbox.url, sid, tok], stdin: try jsonString(request))
            return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "twilio-python said: \(output)")
        }
        let start = Date().addingTimeInterval(-5)
        let iso = ISO8601DateFormatter()
        let ana = Sandbox.patient(), bob = Sandbox.patient()
        var sent: [String] = []
        for patient in [ana, ana, bob] {
            sent.append(try sub.sendTemplate(to: patient, from: sender, contentSid: "HX0123456789abcdef0123456789abcdef", variables: [:]).sid)
        }
        let toAna = try py(sub.accountSID, token, ["op": "messages", "to": "whatsapp:\(ana)", "from": "whatsapp:\(sender)",
                                                    "date_sent_after": iso.string(from: start)])
        #expect(Set(toAna["sids"] as? [String] ?? []) == Set(sent[0...1]), "\(toAna)")
        #expect((toAna["directions"] as? [String] ?? []).allSatisfy { $0 == "outbound-api" })
        let later = try py(sub.accountSID, token, ["op": "messages", "to": "whatsapp:\(ana)", "from": "whatsapp:\(sender)",
                                                    "date_sent_after": iso.string(from: Date().addingTimeInterval(120))])
        #expect((later["sids"] as? [String])?.isEmpty == true, "\(later)")
        // MedSync's own client reads the same.
        #expect(try sub.listMessages(to: bob, from: sender, since: start).map(\.sid) == [sent[2]])
        #expect(try sub.listMessages(to: bob, from: sender, since: Date().addingTimeInterval(120)).isEmpty)

        // Numbers: partial and wildcard filters, as Twilio matches them.
        let tail = String(sender.suffix(7))
        #expect(try py(sub.accountSID, token, ["op": "numbers", "phone_number": tail])["numbers"] as? [String] == [sender])
        let wild = String(sender.dropLast()) + "*"
        #expect(try py(sub.accountSID, token, ["op": "numbers", "phone_number": wild])["numbers"] as? [String] == [sender])
        #expect((try py(sub.accountSID, token, ["op": "numbers", "phone_number": "+19999999999"])["numbers"] as? [String])?.isEmpty == true)
        let pn = try #require(try sub.incomingNumbers(phoneNumber: sender).first?.sid)
        #expect(try py(sub.accountSID, token, ["op": "release", "sid": pn])["deleted"] as? Bool == true)
        #expect(try sub.incomingNumbers(phoneNumber: sender).isEmpty)

        // Closing the subaccount (with the master's credentials): its own credentials stop working.
        #expect(try py(sub.accountSID, token, ["op": "fetch_account"])["status"] as? String == "active")
        #expect(try py(sandbox.masterSID, sandbox.masterToken, ["op": "close", "sid": sub.accountSID])["status"] as? String == "closed")
        let refused = try #require(try py(sub.accountSID, token, ["op": "fetch_account"])["error"] as? [String: Any])
        #expect(refused["status"] as? Int == 401 && refused["code"] as? Int == 20003)
    }

    // MARK: Gemini

    private func generate(_ sandbox: Sandbox, text: String, key: String? = nil, history: [(String, String)] = []) throws -> (Int, [String: Any]) {
        let instruction = """
            You are the WhatsApp assistant of Clínica Norte. Local time: Wed 25 Nov 2026 08:00 (America/Mexico_City).
            Free slots: the "slots" list of the JSON part below.
            """
        // The slots as the app sends them: structured, in a part of their own.
        let slots = #"{"slots":[{"label":"mañana a las 9:00 con Dra. Ruiz","n":1,"starts_at":"2026-11-26T15:00:00Z"},"#
            + #"{"label":"mañana a las 10:30 con Dra. Ruiz","n":2,"starts_at":"2026-11-26T16:30:00Z"},"#
            + #"{"label":"vie 27 nov a las 16:00","n":3,"starts_at":"2026-11-27T22:00:00Z"}]}"#
        var contents: [[String: Any]] = history.map { ["role": $0.0, "parts": [["text": $0.1]]] }
        contents.append(["role": "user", "parts": [["text": text]]])
        let body: [String: Any] = [
            "systemInstruction": ["parts": [["text": instruction], ["text": slots]]],
            "contents": contents,
            "generationConfig": [
                "responseMimeType": "application/json",
                "responseJsonSchema": [
                    "type": "object",
                    "properties": [
                        "reply": ["type": "string"],
                        "intent": ["type": "string", "enum": ["book", "cancel", "reschedule", "question", "greeting", "farewell", "handoff"]],
                        "selected_slot": ["type": ["string", "null"]],
                        "language": ["type": "string"],
                    ],
                    "required": ["reply", "intent", "selected_slot", "language"],
                ],
            ],
        ]
        return try sandbox.call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", try jsonString(body),
                                headers: [("x-goog-api-key", key ?? sandbox.geminiKey)])
    }

    private func reply(_ response: [String: Any]) throws -> [String: Any] {
        let candidate = try #require((response["candidates"] as? [[String: Any]])?.first)
        #expect(candidate["finishReason"] as? String == "STOP")
        let content = try #require(candidate["content"] as? [String: Any])
        #expect(content["role"] as? String == "model")
        let text = try #require((content["parts"] as? [[String: Any]])?.first?["text"] as? String)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
    }

    @Test func geminiAnswersInTheLanguageOfTheLastMessageAndPicksSlots() throws {
        let sandbox = try Sandbox()
        let tag = UUID().uuidString.prefix(8)
        let (s1, hello) = try generate(sandbox, text: "Hola, buenos días \(tag)")
        #expect(s1 == 200)
        #expect(hello["usageMetadata"] != nil)
        let r1 = try reply(hello)
        #expect(r1["intent"] as? String == "greeting")
        #expect(r1["language"] as? String == "es")
        #expect(r1["selected_slot"] is NSNull)
        let text = try #require(r1["reply"] as? String)
        #expect(text.contains("1. mañana a las 9:00") && text.contains("2. mañana a las 10:30"))
        #expect(!text.contains("2026-11-26T"))

        let r2 = try reply(try generate(sandbox, text: "2", history: [("user", "Hola"), ("model", text)]).1)
        #expect(r2["intent"] as? String == "book")
        #expect(r2["selected_slot"] as? String == "2026-11-26T16:30:00Z")
        #expect(r2["language"] as? String == "es")  // "2" says nothing: the conversation's language

        let r3 = try reply(try generate(sandbox, text: "Can I book the 4 pm one? \(tag)").1)
        #expect(r3["intent"] as? String == "book")
        #expect(r3["selected_slot"] as? String == "2026-11-27T22:00:00Z")
        #expect(r3["language"] as? String == "en")

        #expect(try reply(try generate(sandbox, text: "quiero hablar con alguien").1)["intent"] as? String == "handoff")
        #expect(try reply(try generate(sandbox, text: "please cancel my appointment").1)["intent"] as? String == "cancel")

        let log = try sandbox.control("GET", "/sandbox/gemini/requests?contains=\(tag)")
        #expect(log["count"] as? Int == 2)
    }

    @Test func geminiFaultsAreObservedOnceInGooglesShape() throws {
        let sandbox = try Sandbox()
        let tag = "fault-\(UUID().uuidString.prefix(8))"
        for (status, googleStatus) in [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE")] {
            _ = try sandbox.control("POST", "/sandbox/faults", #"{"api":"gemini","kind":"http","status":\#(status),"contains":"\#(tag)"}"#)
            let (code, body) = try generate(sandbox, text: "hello \(tag)")
            #expect(code == status)
            let error = try #require(body["error"] as? [String: Any])
            #expect(error["code"] as? Int == status)
            #expect(error["status"] as? String == googleStatus)
            #expect(try generate(sandbox, text: "hello \(tag)").0 == 200)
        }
        _ = try sandbox.control("POST", "/sandbox/faults", #"{"api":"gemini","kind":"invalid_json","contains":"\#(tag)"}"#)
        let (code, body) = try generate(sandbox, text: "hello \(tag)")
        #expect(code == 200)
        let text = ((body["candidates"] as? [[String: Any]])?.first?["content"] as? [String: Any])
            .flatMap { ($0["parts"] as? [[String: Any]])?.first?["text"] as? String } ?? ""
        #expect(!text.isEmpty)
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) == nil)
        #expect(try reply(try generate(sandbox, text: "hello \(tag)").1)["intent"] as? String == "greeting")

        let (badKey, keyError) = try generate(sandbox, text: "hello \(tag)", key: "not-the-key")
        #expect(badKey == 400)
        #expect((keyError["error"] as? [String: Any])?["status"] as? String == "INVALID_ARGUMENT")
        // Every call, refused or not, is in the request log.
        #expect(try sandbox.control("GET", "/sandbox/gemini/requests?contains=\(tag)")["count"] as? Int == 7)
    }

    @Test func unknownTwilioPathsAnswerInTwiliosShape() throws {
        let sandbox = try Sandbox()
        let (status, body) = try sandbox.call("GET", "/2010-04-01/Accounts/\(sandbox.masterSID)/Nothing.json")
        #expect(status == 404)
        #expect(body["code"] as? Int == 20404)
        #expect(body["more_info"] as? String == "https://www.twilio.com/docs/errors/20404")
    }
}
