import Foundation
import Testing
import TestSupport
import HTTPClient
import Twilio

/// The project's Twilio client against the running sandbox (SANDBOX_URL of the stack's env file).
/// Each test works in its own subaccount with its own sender number and patient, and scopes its
/// faults to that subaccount, so tests running in parallel never see each other's faults.
private struct TwilioSandbox {
    let url: String
    let masterSID: String
    let masterToken: String

    init() throws {
        let env = try StackEnvironment.shared()
        url = try env.sandboxURL
        masterSID = try env["TWILIO_ACCOUNT_SID"]
        masterToken = try env["TWILIO_AUTH_TOKEN"]
    }

    func master(_ http: HTTPClient, timeoutMS: Int? = nil) -> TwilioClient {
        TwilioClient(accountSID: masterSID, authToken: masterToken, baseURL: url, http: http, timeoutMS: timeoutMS)
    }

    /// A fresh subaccount owning a fresh sender number, and a fresh patient number.
    func tenant(_ http: HTTPClient, timeoutMS: Int? = nil) throws -> (client: TwilioClient, sender: String, patient: String) {
        let account = try master(http).createSubaccount(friendlyName: "test \(UUID().uuidString.prefix(8))")
        let sub = master(http, timeoutMS: timeoutMS).acting(as: account.sid, authToken: account.authToken)
        let available = try sub.searchAvailableNumbers(country: "US", areaCode: String(Int.random(in: 200...989)), limit: 30)
        let number = try #require(available.randomElement())
        _ = try sub.buyNumber(phoneNumber: number.phoneNumber, smsURL: "http://127.0.0.1:9/unused")
        return (sub, number.phoneNumber, "+1999\(Int.random(in: 1_000_000...9_999_999))")
    }

    func control(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
        let response = try http(HTTPRequest(
            method: method, url: url + path, headers: body == nil ? [] : [("Content-Type", "application/json")],
            body: Array((body ?? "").utf8)))
        guard (200..<300).contains(response.status),
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else { throw TestSetupError("sandbox \(method) \(path) answered \(response.status): \(response.text)") }
        return object
    }

    /// The patient wrote to the sender `hoursAgo` hours ago (opens or, when > 24, closes the window).
    func lastInbound(patient: String, sender: String, hoursAgo: Double) throws {
        _ = try control("POST", "/sandbox/patients/window",
                        #"{"patient":"\#(patient)","sender":"\#(sender)","hours_ago":\#(hoursAgo)}"#)
    }

    func fault(_ json: String) throws { _ = try control("POST", "/sandbox/faults", json) }

    /// What the patient's phone received (kind, body, content_sid, content_variables, account_sid).
    func received(_ patient: String) throws -> [[String: Any]] {
        try control("GET", "/sandbox/patients/\(patient)/messages")["messages"] as? [[String: Any]] ?? []
    }
}

/// Runs `body` and returns the TwilioError it threw (nil if it threw none or another error).
private func twilioError(_ body: () throws -> Void) -> TwilioError? {
    do { try body() } catch let e as TwilioError { return e } catch { return nil }
    return nil
}

@Suite struct TwilioClientTests {
    @Test(.needsStack) func freeformInsideTheWindowIsQueuedAndReachesThePatient() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        try sandbox.lastInbound(patient: patient, sender: sender, hoursAgo: 2)

        let message = try client.sendMessage(to: patient, from: sender, body: "Your appointment is confirmed ✅ & see you",
                                             mediaURLs: ["https://example.com/map.png"])
        #expect(message.sid.hasPrefix("SM") && message.sid.count == 34)
        #expect(message.status == "queued")
        #expect(message.to == "whatsapp:\(patient)")
        #expect(message.from == "whatsapp:\(sender)")
        #expect(message.accountSID == client.accountSID)
        #expect(message.body == "Your appointment is confirmed ✅ & see you")
        #expect(message.numMedia == "1")
        #expect(message.errorCode == nil)

        let phone = try sandbox.received(patient)
        #expect(phone.count == 1)
        #expect(phone.first?["sid"] as? String == message.sid)
        #expect(phone.first?["kind"] as? String == "freeform")
        #expect(phone.first?["body"] as? String == "Your appointment is confirmed ✅ & see you")
        #expect(phone.first?["account_sid"] as? String == client.accountSID)
        #expect(phone.first?["media_urls"] as? [String] == ["https://example.com/map.png"])

        #expect(try client.fetchMessage(sid: message.sid).sid == message.sid)
    }

    @Test(.needsStack) func templateIsAllowedOutsideTheWindowWithItsVariables() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        // No inbound at all: only a template may go out.
        let message = try client.sendTemplate(to: patient, from: sender, contentSid: "HX0123456789abcdef0123456789abcdef",
                                              variables: ["1": "Ana", "2": "mañana a las 9:00"])
        #expect(message.status == "queued")
        let phone = try #require(try sandbox.received(patient).first)
        #expect(phone["kind"] as? String == "template")
        #expect(phone["content_sid"] as? String == "HX0123456789abcdef0123456789abcdef")
        #expect(phone["content_variables"] as? [String: String] == ["1": "Ana", "2": "mañana a las 9:00"])
    }

    @Test(.needsStack) func freeformOutsideTheWindowIs63016() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)

        let never = twilioError { _ = try client.sendMessage(to: patient, from: sender, body: "hello") }
        #expect(never?.code == 63016)
        #expect(never?.httpStatus == 400)
        #expect(never?.moreInfo == "https://www.twilio.com/docs/errors/63016")
        #expect(never?.explanation.contains("template") == true)
        #expect(never?.isRetryable == false)

        try sandbox.lastInbound(patient: patient, sender: sender, hoursAgo: 24.5)
        let stale = twilioError { _ = try client.sendMessage(to: patient, from: sender, body: "hello") }
        #expect(stale?.code == 63016)

        try sandbox.lastInbound(patient: patient, sender: sender, hoursAgo: 23.5)
        #expect(try client.sendMessage(to: patient, from: sender, body: "hello").status == "queued")
        #expect(try sandbox.received(patient).count == 1)
    }

    @Test(.needsStack) func wrongCredentialsAre20003() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let bad = TwilioClient(accountSID: sandbox.masterSID, authToken: String(repeating: "0", count: 32), baseURL: sandbox.url, http: http)
        let error = twilioError { _ = try bad.sendMessage(to: "+19995550000", from: "+15550001000", body: "x") }
        #expect(error?.httpStatus == 401)
        #expect(error?.code == 20003)
        #expect(error?.explanation.contains("credentials") == true)

        // A subaccount's token does not open another subaccount.
        let (a, _, _) = try sandbox.tenant(http)
        let (b, senderB, _) = try sandbox.tenant(http)
        let cross = TwilioClient(accountSID: b.accountSID, authToken: "wrong", baseURL: sandbox.url, http: http)
        #expect(twilioError { _ = try cross.sendMessage(to: "+19995550000", from: senderB, body: "x") }?.code == 20003)
        #expect(a.accountSID != b.accountSID)
    }

    @Test(.needsStack) func toNotE164Is21211() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, _) = try sandbox.tenant(http)
        for to in ["5215512345678", "+52 55 1234 5678", "whatsapp:+0123", "whatsapp:+1abc5550000"] {
            let error = twilioError { _ = try client.sendMessage(to: to, from: sender, body: "x") }
            #expect(error?.code == 21211, "To \(to)")
            #expect(error?.httpStatus == 400)
        }
    }

    @Test(.needsStack) func fromNotASenderOfTheAccountIs63007() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, _, patient) = try sandbox.tenant(http)
        let (_, otherSender, _) = try sandbox.tenant(http)
        // Unknown number, and a number that belongs to another subaccount.
        for from in ["+15559990000", otherSender] {
            let error = twilioError { _ = try client.sendTemplate(to: patient, from: from, contentSid: "HX1", variables: [:]) }
            #expect(error?.code == 63007, "From \(from)")
        }
    }

    @Test(.needsStack) func rateLimitIs20429OnceThenClears() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        try sandbox.fault(#"{"api":"twilio_messages","kind":"http","status":429,"account_sid":"\#(client.accountSID)"}"#)
        let error = twilioError { _ = try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]) }
        #expect(error?.httpStatus == 429)
        #expect(error?.code == 20429)
        #expect(error?.isRetryable == true)
        #expect(try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).status == "queued")
        #expect(try sandbox.received(patient).count == 1)  // the refused call sent nothing
    }

    @Test(.needsStack, arguments: [500, 503])
    func serverErrorsAreRetryableOnceThenClear(status: Int) throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        try sandbox.fault(#"{"api":"twilio_messages","kind":"http","status":\#(status),"count":2,"account_sid":"\#(client.accountSID)"}"#)
        for _ in 0..<2 {
            let error = twilioError { _ = try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]) }
            #expect(error?.httpStatus == status)
            #expect(error?.isRetryable == true)
        }
        #expect(try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).status == "queued")
    }

    @Test(.needsStack) func hangLongerThanTheTimeoutIsATransportTimeoutOnceThenClears() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http, timeoutMS: 1000)
        try sandbox.fault(#"{"api":"twilio_messages","kind":"hang","seconds":3,"account_sid":"\#(client.accountSID)"}"#)
        var caught: (any Error)?
        do { _ = try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]) } catch { caught = error }
        let transport = try #require(caught as? TwilioTransportError, "got \(String(describing: caught))")
        #expect(transport.code == .timeout)
        #expect(transport.isRetryable)
        #expect(try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).status == "queued")
    }

    @Test(.needsStack) func injectedTwilioCodeIsObservedOnce() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        try sandbox.fault(#"{"api":"twilio_messages","kind":"twilio_error","code":63112,"to":"\#(patient)"}"#)
        let error = twilioError { _ = try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]) }
        #expect(error?.code == 63112)
        #expect(error?.explanation.contains("disabled") == true)
        #expect(try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).status == "queued")
        let faults = try sandbox.control("GET", "/sandbox/faults")["faults"] as? [[String: Any]] ?? []
        #expect(!faults.contains { $0["to"] as? String == patient })
    }

    @Test(.needsStack) func anAnswerThatIsNotTwiliosJSONIsAnInvalidResponse() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let (client, sender, patient) = try sandbox.tenant(http)
        try sandbox.fault(#"{"api":"twilio_messages","kind":"invalid_json","to":"\#(patient)"}"#)
        var caught: (any Error)?
        do { _ = try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]) } catch { caught = error }
        let transport = try #require(caught as? TwilioTransportError, "got \(String(describing: caught))")
        #expect(transport.code == .invalidResponse)
        #expect(!transport.isRetryable)
        #expect(try client.sendTemplate(to: patient, from: sender, contentSid: "HX1", variables: [:]).status == "queued")
    }

    @Test func explanationsCoverTheCodesClinicsMeet() {
        for code in [63016, 63112, 63024, 21211, 21408, 63007, 20003, 20429] {
            #expect(TwilioError.explanation(for: code) != nil, "code \(code)")
        }
        #expect(TwilioError.explanation(for: 99999) == nil)
        #expect(TwilioError(httpStatus: 400, code: 99999, message: "Twilio says", moreInfo: nil).explanation == "Twilio says")
    }

    @Test func connectionRefusedIsATransportError() throws {
        let port = try closedLocalPort()
        let client = TwilioClient(accountSID: "AC1", authToken: "t", baseURL: "http://127.0.0.1:\(port)", http: try HTTPClient())
        var caught: (any Error)?
        do { _ = try client.sendMessage(to: "+19995550000", from: "+15550001000", body: "x") } catch { caught = error }
        #expect((caught as? TwilioTransportError)?.code == .connect)
    }

    @Test(.needsStack) func subaccountNumbersAndWebhooks() throws {
        let sandbox = try TwilioSandbox()
        let http = try HTTPClient()
        let master = sandbox.master(http)
        let account = try master.createSubaccount(friendlyName: "Clínica Norte")
        #expect(account.sid.hasPrefix("AC") && account.sid.count == 34)
        #expect(account.authToken.count == 32)
        #expect(account.friendlyName == "Clínica Norte")
        #expect(account.status == "active")
        #expect(account.ownerAccountSID == sandbox.masterSID)
        #expect(!String(describing: account).contains(account.authToken))

        let sub = master.acting(as: account.sid, authToken: account.authToken)
        let numbers = try sub.searchAvailableNumbers(country: "US", areaCode: "415", limit: 3)
        #expect(numbers.count == 3)
        #expect(numbers.allSatisfy { $0.phoneNumber.hasPrefix("+1415") })
        let bought = try sub.buyNumber(phoneNumber: numbers[0].phoneNumber, smsURL: "https://clinic.example/api/webhooks/whatsapp",
                                       statusCallback: "https://clinic.example/api/webhooks/whatsapp/status")
        #expect(bought.sid.hasPrefix("PN"))
        #expect(bought.accountSID == account.sid)
        #expect(bought.smsURL == "https://clinic.example/api/webhooks/whatsapp")
        // A bought number is no longer offered.
        #expect(!(try sub.searchAvailableNumbers(country: "US", areaCode: "415", limit: 30)).contains { $0.phoneNumber == bought.phoneNumber })

        let updated = try sub.updateNumberWebhooks(sid: bought.sid, smsURL: "https://other.example/hook")
        #expect(updated.smsURL == "https://other.example/hook")
        #expect(updated.statusCallback == "https://clinic.example/api/webhooks/whatsapp/status")
        let buyAgain = twilioError { _ = try sub.buyNumber(phoneNumber: bought.phoneNumber, smsURL: nil) }
        #expect(buyAgain?.httpStatus == 400)
    }
}
