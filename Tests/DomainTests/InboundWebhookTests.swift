import Domain
import Foundation
import TestSupport
import Testing

@Suite("Inbound: the webhook form decoded into one typed value, and the enums of the inbound path")
struct InboundWebhookTests {
    @Test("every field Twilio sends is decoded and validated once")
    func decodes() throws {
        let w = try InboundWebhook(form: [
            ("MessageSid", "SM0123"), ("AccountSid", "ACabc"), ("From", "whatsapp:+5215512345678"), ("To", "whatsapp:+15550001000"),
            ("Body", "hola"), ("ProfileName", "Ana"), ("NumMedia", "2"),
            ("MediaUrl0", "https://m/1"), ("MediaContentType0", "image/png"), ("MediaUrl1", "https://m/2"),
        ])
        #expect(w == InboundWebhook(messageSID: "SM0123", accountSID: "ACabc", from: "+5215512345678", to: "+15550001000",
                                    body: .text("hola"), profileName: "Ana",
                                    media: [.init(url: "https://m/1", contentType: "image/png"), .init(url: "https://m/2", contentType: "")]))
        #expect(w.text == "hola")
        #expect(!w.isEmpty)
    }

    @Test("fields are bounded: at most 10 media, profile names cut at 200 characters, a too-long body is marked, not kept")
    func bounded() throws {
        var form: [(String, String)] = [("MessageSid", "SM1"), ("From", "+5215512345678"), ("NumMedia", "500"),
                                        ("ProfileName", String(repeating: "é", count: 5000)),
                                        ("Body", String(repeating: "a", count: InboundWebhook.maxBodyCharacters + 1))]
        for i in 0..<20 { form.append(("MediaUrl\(i)", "https://m/\(i)")) }
        let w = try InboundWebhook(form: form)
        #expect(w.media.count == 10)
        #expect(w.profileName.count == 200)
        #expect(w.body == .tooLong(characters: InboundWebhook.maxBodyCharacters + 1))
        #expect(w.text == "")
        #expect(w.to == nil)
        let negative = try InboundWebhook(form: [("MessageSid", "SM1"), ("From", "+5215512345678"), ("NumMedia", "-3"), ("MediaUrl0", "x")])
        #expect(negative.media.isEmpty)
        #expect(negative.isEmpty)
    }

    @Test("what Twilio never sends is a 400 with a stable code", arguments: [
        ([("MessageSid", "SM1")], "missing_from"),
        ([("MessageSid", "SM1"), ("From", "whatsapp:5512345678")], "invalid_from"),
        ([("From", "whatsapp:+5215512345678")], "missing_message_sid"),
        ([("From", "whatsapp:+5215512345678"), ("MessageSid", String(repeating: "S", count: 65))], "missing_message_sid"),
    ])
    func refused(form: [(String, String)], code: String) {
        do {
            _ = try InboundWebhook(form: form)
            Issue.record("decoded \(form)")
        } catch let e as AppError {
            // Answered 400: ErrorCatalogueTests holds every code's status.
            #expect(e.code.rawValue == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("fallback intents are an enum", arguments: [
        ("I need to cancel my appointment", Intent.cancel), ("reprogramar mi cita", .reschedule), ("adiós", .farewell),
        ("muchas gracias", .thanks), ("quiero una cita", .book), ("hola", .greeting), ("¿aceptan seguro?", .question),
    ])
    func intents(text: String, intent: Intent) {
        #expect(InboundText.fallbackIntent(text) == intent)
    }
}
