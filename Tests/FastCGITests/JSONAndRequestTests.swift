import Foundation
import Testing
@testable import FastCGI

@Suite struct JSONBodyTests {
    struct NewPatient: Decodable, Equatable {
        let name: String
        let phone: String
        let tags: [String]?
        let age: Int?
    }

    func request(_ body: String) -> Request {
        Request(method: "POST", uri: "/api/patients", headers: ["Content-Type": "application/json"], body: Array(body.utf8))
    }

    func error(_ body: [UInt8]) -> BodyError? {
        do {
            _ = try Request(method: "POST", uri: "/", body: body).decodeJSON(NewPatient.self)
            return nil
        } catch { return error }
    }

    @Test func decodes() throws {
        let p = try request(#"{"name":"José","phone":"+5215512345678","tags":["vip"],"extra":1}"#).decodeJSON(NewPatient.self)
        #expect(p == NewPatient(name: "José", phone: "+5215512345678", tags: ["vip"], age: nil))
    }

    @Test func syntaxErrorsAreMalformedJSON() {
        for body in ["", "{", #"{"name":"a","phone":}"#, "nul", #"{"name":"a" "phone":"b"}"#, "[1,2", "\u{0}"] {
            let e = error(Array(body.utf8))
            #expect(e?.code == "malformed_json", "body \(body.debugDescription)")
            #expect(e?.status == 400)
        }
    }

    @Test func shapeErrorsAreMalformedJSONNamingTheField() {
        let missing = error(Array(#"{"name":"a"}"#.utf8))
        #expect(missing?.code == "malformed_json")
        #expect(missing?.message.contains("phone") == true, "\(missing?.message ?? "")")
        let wrongType = error(Array(#"{"name":"a","phone":"b","age":"old"}"#.utf8))
        #expect(wrongType?.code == "malformed_json")
        #expect(wrongType?.message.contains("age") == true, "\(wrongType?.message ?? "")")
        let notAnObject = error(Array("[1]".utf8))
        #expect(notAnObject?.code == "malformed_json")
    }

    @Test func messagesNeverEchoTheBody() {
        let e = error(Array(#"{"name":"SECRET-VALUE","phone":12}"#.utf8))
        #expect(e?.code == "malformed_json")
        #expect(e?.message.contains("SECRET-VALUE") == false)
    }

    @Test func notUTF8IsInvalidUTF8() {
        #expect(error([0x7B, 0x22, 0xFF, 0x22, 0x7D])?.code == "invalid_utf8")
    }
}

@Suite struct RequestAndResponseTests {
    @Test func requestFromCGIParameters() {
        let r = Worker.request(from: [
            "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/webhooks/whatsapp?x=1&y=%20", "QUERY_STRING": "x=1&y=%20",
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "12", "REMOTE_ADDR": "10.0.0.7",
            "HTTP_X_TWILIO_SIGNATURE": "abc=", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "clinic.example",
            "SCRIPT_FILENAME": "/x", "SERVER_SOFTWARE": "nginx",
        ])
        #expect(r.method == "POST")
        #expect(r.uri == "/api/webhooks/whatsapp?x=1&y=%20")
        #expect(r.path == "/api/webhooks/whatsapp")
        #expect(r.query == "x=1&y=%20")
        #expect(r.remoteAddress == "10.0.0.7")
        #expect(r.headers == ["content-type": "application/x-www-form-urlencoded", "content-length": "12",
                              "x-twilio-signature": "abc=", "x-forwarded-proto": "https", "host": "clinic.example"])
        #expect(r.header("X-Twilio-Signature") == "abc=")
        #expect(r.header("Content-Type") == "application/x-www-form-urlencoded")
    }

    @Test func paramsAreCopiedFromEnvp() {
        let strings: [UnsafeMutablePointer<CChar>?] = ["REQUEST_METHOD=GET", "REQUEST_URI=/a?b=c=d", "EMPTY=", "NOEQUALS"].map { (s: String) in strdup(s) }
        defer { strings.forEach { free($0) } }
        var array: [UnsafeMutablePointer<CChar>?] = strings + [nil]
        let params = array.withUnsafeMutableBufferPointer { Worker.params($0.baseAddress) }
        #expect(params == ["REQUEST_METHOD": "GET", "REQUEST_URI": "/a?b=c=d", "EMPTY": ""])
        #expect(Worker.params(nil) == [:])
    }

    @Test func requestWithoutQuery() {
        let r = Request(method: "GET", uri: "/api/health")
        #expect(r.path == "/api/health")
        #expect(r.query == "")
    }

    @Test func responseSerialization() {
        var r = Response.json(201, ["id": 7])
        r.headers.append(("X-Bad", "a\r\nSet-Cookie: x=1"))
        let text = String(decoding: r.serialized(), as: UTF8.self)
        #expect(text == "Status: 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nX-Bad: aSet-Cookie: x=1\r\nContent-Length: 8\r\n\r\n{\"id\":7}")
    }

    @Test func errorShape() throws {
        let r = Response.error(409, code: "conflict", message: "Already \"there\".")
        #expect(r.status == 409)
        #expect(r.header("content-type") == "application/json; charset=utf-8")
        let object = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: [String: String]]
        #expect(object == ["error": ["code": "conflict", "message": "Already \"there\"."]])
        let fromBody = Response.error(BodyError.unsupportedMediaType("no"))
        #expect(fromBody.status == 415)
    }

    @Test func unencodableJSONIsA500() {
        #expect(Response.json(200, ["x": Double.nan]).status == 500)
    }

    @Test func textResponse() {
        let r = Response.text(200, "<Response/>", contentType: "application/xml")
        #expect(r.header("Content-Type") == "application/xml")
        #expect(r.body == Array("<Response/>".utf8))
    }
}
