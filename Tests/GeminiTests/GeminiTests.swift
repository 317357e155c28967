import Domain
import Foundation
import TestSupport
import Testing
import HTTPClient
import Gemini

@Suite("Gemini: request shape, answer validation, typed errors")
struct GeminiTests {
    @Test("the request carries the system instruction, the turns and the JSON schema")
    func body() throws {
        let body = GeminiClient.body(system: "You are…", turns: [GeminiTurn(role: .user, text: "hola"), GeminiTurn(role: .model, text: "¡Hola!")],
                                     schema: BotAnswer.schema)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let system = try #require(o["systemInstruction"] as? [String: Any])
        #expect(((system["parts"] as? [[String: Any]])?.first?["text"] as? String) == "You are…")
        let contents = try #require(o["contents"] as? [[String: Any]])
        #expect(contents.map { $0["role"] as? String } == ["user", "model"])
        let config = try #require(o["generationConfig"] as? [String: Any])
        #expect(config["responseMimeType"] as? String == "application/json")
        let schema = try #require(config["responseJsonSchema"] as? [String: Any])
        #expect((schema["required"] as? [String])?.sorted() == ["intent", "language", "reply", "selected_slot"])
        #expect(config["temperature"] as? Double == 0.2)
    }

    @Test("every text reaches the model as it was: quotes, backslashes, control characters, any Unicode")
    func bodyEscapesText() throws {
        let texts = ["say \"hi\"\\ now", "line\nbreak\r\ttab \u{0}\u{1}\u{1F}\u{7F}", "¡Hola! 👋🏽 日本語 \u{2028}\u{2029}", "", "</script>{}[],:"]
        let body = GeminiClient.body(system: texts[1], turns: texts.map { GeminiTurn(role: .user, text: $0) }, schema: BotAnswer.schema)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let system = try #require(o["systemInstruction"] as? [String: Any])
        #expect(((system["parts"] as? [[String: Any]])?.first?["text"] as? String) == texts[1])
        let contents = try #require(o["contents"] as? [[String: Any]])
        #expect(contents.map { (($0["parts"] as? [[String: Any]])?.first?["text"] as? String) } == texts)
        let none = GeminiClient.body(system: "s", turns: [], schema: GeminiSchema([:]))
        #expect((try JSONSerialization.jsonObject(with: Data(none)) as? [String: Any])?["contents"] as? [Any] != nil)
    }

    @Test("a valid answer parses")
    func valid() throws {
        let a = try BotAnswer.parse(#"{"reply":"Perfecto","intent":"book","selected_slot":2,"language":"es"}"#, slotCount: 5)
        #expect(a == BotAnswer(reply: "Perfecto", intent: .book, selectedSlot: 2, language: .es))
        let b = try BotAnswer.parse(#"{"reply":"Hi","intent":"greeting","selected_slot":null,"language":"en"}"#, slotCount: 0)
        #expect(b.selectedSlot == nil)
    }

    @Test("invalid answers are failures", arguments: [
        #"{"reply": "Sure! Here are"#,
        #"{"reply":"","intent":"book","selected_slot":null,"language":"en"}"#,
        #"{"reply":"ok","intent":"dance","selected_slot":null,"language":"en"}"#,
        #"{"reply":"ok","intent":"book","selected_slot":9,"language":"en"}"#,
        #"{"reply":"ok","intent":"book","selected_slot":"2","language":"en"}"#,
        #"{"reply":"ok","intent":"book","selected_slot":true,"language":"en"}"#,
        #"{"reply":"ok","intent":"book","selected_slot":1,"language":"fr"}"#,
        #"[1,2]"#,
    ])
    func invalid(text: String) {
        #expect(throws: GeminiError.self) { try BotAnswer.parse(text, slotCount: 3) }
    }

    @Test("no key: missing_key without a network call; unreachable server: transport")
    func errors() throws {
        let http = try HTTPClient(connectTimeoutMS: 1000, timeoutMS: 2000)
        let noKey = GeminiClient(http: http, apiKey: nil, baseURL: "http://127.0.0.1:1", model: "gemini-2.5-flash", timeoutMS: 1000)
        #expect(throws: GeminiError.missingKey) { try noKey.generateJSON(system: "s", turns: [], schema: GeminiSchema([:])) }
        let port = try closedLocalPort()
        let down = GeminiClient(http: http, apiKey: "k", baseURL: "http://127.0.0.1:\(port)", model: "gemini-2.5-flash", timeoutMS: 1000)
        do {
            _ = try down.generateJSON(system: "s", turns: [GeminiTurn(role: .user, text: "hi")], schema: GeminiSchema([:]))
            Issue.record("expected a transport error")
        } catch {
            #expect(error.code == "transport")
        }
    }
}
