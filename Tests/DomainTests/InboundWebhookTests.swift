import Domain
import Foundation
import TestSupport
import Testing
import Postgres

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

    @Test("a row with an unknown state or language is a decode_failed error naming the column, not a trap", .needsStack)
    func enumsFromRows() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let row = try #require(try conn.query("SELECT 'bot' AS ok_state, 'es' AS ok_language, 'paused' AS state, 'fr' AS language").first)
        #expect(try row.decode(ConversationState.self, "ok_state") == .bot)
        #expect(try row.decode(Language.self, "ok_language") == .es)
        for column in ["state", "language"] {
            do {
                _ = column == "state" ? try row.decode(ConversationState.self, column) as Any : try row.decode(Language.self, column) as Any
                Issue.record("decoded \(column)")
            } catch let e as PGError {
                #expect(e.code == .decodeFailed)
                #expect(e.column == column)
            }
        }
        // Bound as their raw values.
        let bound = try #require(try conn.query("SELECT \(Language.es)::text AS l, \(ConversationState.handoff)::text AS s").first)
        #expect(try bound.decode(String.self, "l") == "es")
        #expect(try bound.decode(String.self, "s") == "handoff")
    }

    @Test("fallback intents are an enum", arguments: [
        ("I need to cancel my appointment", Intent.cancel), ("reprogramar mi cita", .reschedule), ("adiós", .farewell),
        ("muchas gracias", .thanks), ("quiero una cita", .book), ("hola", .greeting), ("¿aceptan seguro?", .question),
    ])
    func intents(text: String, intent: Intent) {
        #expect(InboundText.fallbackIntent(text) == intent)
    }
}
