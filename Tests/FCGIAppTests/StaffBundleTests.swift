import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite(.needsStack) struct StaffBundleTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let path = "\(projectRoot)/Tests/Fixtures/bundles/\(name)"
        guard let data = FileManager.default.contents(atPath: path) else { throw TestSetupError("missing fixture \(path)") }
        return Array(data)
    }

    static func upload(_ w: StaffWorld, token: String, account: Int64, file: [UInt8], filename: String,
                       extra: [(String, String)] = []) -> StaffWorld.Answer {
        let boundary = "----medsync\(UInt32.random(in: 0...UInt32.max))"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += file
        body += Array("\r\n".utf8)
        for (k, v) in extra { body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(k)\"\r\n\r\n\(v)\r\n".utf8) }
        body += Array("--\(boundary)--\r\n".utf8)
        return w.call("POST", "/api/whatsapp/bundle/preview", token: token, account: account, body: body,
                      headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"])
    }

    @Test func csvWithBOMSemicolonsAccentsBadRowsAndDuplicates() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let r = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("patients_semicolon_bom.csv"), filename: "lista.csv")
        #expect(r.status == 200, "\(r.text)")
        let recipients = r.json["recipients"] as? [[String: Any]] ?? []
        #expect(recipients.map { $0["phone"] as? String } == ["+525512345678", "+14155550101", "+34600123456"])
        try #require(recipients.count == 3)
        #expect(recipients[0]["name"] as? String == "Ana López")
        #expect(recipients[0]["language"] as? String == "es")
        #expect((recipients[0]["fields"] as? [String: String])?["cita"] == "lunes")
        #expect(recipients[1]["language"] as? String == "en")
        #expect(recipients[2]["name"] as? String == "Díaz; Pedro")
        #expect((recipients[2]["fields"] as? [String: String])?["cita"] == "jueves, 9:00")
        #expect(r.json["duplicates_merged"] as? Int == 1)
        #expect(r.json["total_rows"] as? Int == 7)
        let rejected = r.json["rejected"] as? [[String: Any]] ?? []
        #expect(rejected.map { $0["row"] as? Int } == [4, 5, 7])
        try #require(rejected.count == 3)
        #expect((rejected[0]["reason"] as? String)?.contains("missing phone") == true)
        #expect((rejected[1]["reason"] as? String)?.contains("invalid phone") == true)
        #expect((rejected[2]["reason"] as? String)?.contains("language") == true)
    }

    @Test func tenThousandRows() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        var csv = "name,phone,language\n"
        for i in 0..<10_000 { csv += "Patient \(i),+1415\(String(format: "%07d", i)),\(i % 2 == 0 ? "en" : "es")\n" }
        let r = Self.upload(w, token: staff.token, account: a, file: Array(csv.utf8), filename: "big.csv")
        #expect(r.status == 200, "\(r.text.prefix(300))")
        #expect((r.json["recipients"] as? [Any])?.count == 10_000)
        #expect((r.json["rejected"] as? [Any])?.count == 0)
    }

    @Test func defaultCountryCodeAndMissingPhoneColumn() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let r = Self.upload(w, token: staff.token, account: a, file: Array("Name,Celular\nAna,55 1234 5678\n".utf8), filename: "l.csv",
                            extra: [("default_country_code", "52")])
        #expect((r.json["recipients"] as? [[String: Any]])?.first?["phone"] as? String == "+525512345678")
        let none = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("no_phone_column.csv"), filename: "x.csv")
        #expect(none.status == 400)
        #expect(none.errorCode == "missing_phone_column")
        let empty = Self.upload(w, token: staff.token, account: a, file: [], filename: "x.csv")
        #expect(empty.status == 400)
    }

    @Test func xlsxSharedStringsNumbersInlineStringsAndBadRows() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let r = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("patients.xlsx"), filename: "Pacientes.xlsx")
        #expect(r.status == 200, "\(r.text)")
        let recipients = r.json["recipients"] as? [[String: Any]] ?? []
        #expect(recipients.map { $0["phone"] as? String } == ["+525512345678", "+14155550103"])
        #expect(recipients.map { $0["name"] as? String } == ["Ana López", "Zoe & Co"])
        try #require(recipients.count == 2)
        #expect(recipients[1]["language"] as? String == "en")
        // Row 4: Excel stored the phone as a number (its "+" is gone): refused unless a default country code is given.
        let rejected = r.json["rejected"] as? [[String: Any]] ?? []
        #expect(rejected.map { $0["row"] as? Int } == [3, 4])
        #expect((rejected.last?["values"] as? [String: String])?["nombre"] == "Inline Name")
        let withCountry = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("patients.xlsx"), filename: "Pacientes.xlsx",
                                      extra: [("default_country_code", "1")])
        #expect((withCountry.json["recipients"] as? [[String: Any]])?.map { $0["phone"] as? String }
                == ["+525512345678", "+14155550102", "+14155550103"])
    }

    @Test func zipBombAndDamagedXlsxAre4xx() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let bomb = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("bomb.xlsx"), filename: "bomb.xlsx")
        #expect(bomb.status == 413)
        #expect(bomb.errorCode == "file_too_large")
        let damaged = Self.upload(w, token: staff.token, account: a, file: try Self.fixture("not_a_zip.xlsx"), filename: "x.xlsx")
        #expect(damaged.status == 400)
        #expect(damaged.errorCode == "invalid_file")
        // Still serving afterwards.
        #expect(w.call("GET", "/api/whatsapp/senders", token: staff.token, account: a).status == 200)
    }

    @Test func sendValidatesEnqueuesAndShowsProgress() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        func send(_ json: [String: Any]) -> StaffWorld.Answer { w.call("POST", "/api/whatsapp/bundle/send", token: owner.token, account: a, json: json) }
        let two: [[String: Any]] = [["name": "Ana", "phone": "+14155550001", "language": "es", "fields": ["cita": "lunes"]],
                                    ["name": "Bob", "phone": "+14155550002", "fields": [:]]]
        let noSender = send(["body": "Hola {name}", "recipients": two, "consent_confirmed": true])
        #expect(noSender.status == 409)
        #expect(noSender.errorCode == "no_active_sender")
        try w.sender(a, "+14155550100")

        let noConsent = send(["body": "Hola {name}", "recipients": two, "consent_confirmed": false])
        #expect(noConsent.status == 400)
        #expect(noConsent.errorCode == "no_consent")
        let unknown = send(["body": "Hola {name}, {cita} {doctor} {mystery}", "recipients": two, "consent_confirmed": true])
        #expect(unknown.status == 400)
        #expect(unknown.errorCode == "unknown_placeholders")
        let listed = unknown.errorMessage.components(separatedBy: "available").first ?? ""
        #expect(listed.contains("{doctor}") && listed.contains("{mystery}") && !listed.contains("{cita}") && !listed.contains("{name}"))
        let many = (0..<251).map { ["phone": "+1415600\(String(format: "%04d", $0))"] }
        let tooMany = send(["body": "Hi {name}", "recipients": many, "consent_confirmed": true])
        #expect(tooMany.status == 400)
        #expect(tooMany.errorCode == "too_many_recipients")
        let badPhone = send(["body": "Hi", "recipients": [["phone": "12"]], "consent_confirmed": true])
        #expect(badPhone.status == 400)
        #expect(badPhone.errorCode == "no_valid_recipients")
        #expect(try w.conn.query("SELECT count(*) AS n FROM bundle_batches").first?.int("n") == 0)

        let ok = send(["body": "Hola {name}, su cita es el {cita}", "recipients": two + [two[0]], "consent_confirmed": true])
        #expect(ok.status == 202, "\(ok.text)")
        let batch = try #require(ok.json["batch_id"] as? Int)
        #expect(ok.json["total"] as? Int == 2)
        let progress = w.call("GET", "/api/whatsapp/bundle/\(batch)", token: owner.token, account: a)
        #expect(progress.status == 200)
        #expect(progress.json["status"] as? String == "queued")
        #expect((progress.json["counts"] as? [String: Int])?["queued"] == 2)
        let recipients = progress.json["recipients"] as? [[String: Any]] ?? []
        #expect(recipients.map { $0["phone"] as? String } == ["+14155550001", "+14155550002"])
        let fields = try w.conn.query("SELECT fields::text AS f, language FROM bundle_recipients WHERE batch_id = \(batch) ORDER BY id")
        try #require(fields.count == 2)
        #expect(fields.first?.string("f") == #"{"cita": "lunes"}"#)
        #expect(fields.first?.string("language") == "es")
        #expect(fields[1].string("language") == nil)
        // 250 is the limit, not 251.
        let max = send(["body": "Hi {name}", "recipients": Array(many.prefix(250)), "consent_confirmed": true])
        #expect(max.status == 202)
        let audit = try w.conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'bundle.send' AND workspace_id = \(a)")
        #expect(audit.first?.int("n") == 2)
    }

    /// The product guide's rule: the valid recipients (up to 250) are queued, the invalid ones listed.
    @Test func sendQueuesTheValidRecipientsAndListsTheInvalidOnes() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        try w.sender(a, "+14155550100")
        let recipients: [[String: Any]] = [["name": "Ana", "phone": "+14155550001"], ["name": "Typo", "phone": "555-12"],
                                           ["name": "Bob", "phone": "+14155550002", "language": "fr"], ["name": "Cy", "phone": "+14155550003"]]
        let r = w.call("POST", "/api/whatsapp/bundle/send", token: owner.token, account: a,
                       json: ["body": "Hola {name}", "recipients": recipients, "consent_confirmed": true])
        #expect(r.status == 202, "\(r.text)")
        #expect(r.json["total"] as? Int == 2)
        let invalid = r.json["invalid"] as? [[String: Any]] ?? []
        #expect(invalid.map { $0["index"] as? Int } == [1, 2])
        #expect(invalid.map { $0["phone"] as? String } == ["555-12", "+14155550002"])
        #expect((invalid.first?["reason"] as? String)?.contains("E.164") == true)
        let batch = try #require(r.json["batch_id"] as? Int)
        let queued = try w.conn.query("SELECT phone FROM bundle_recipients WHERE batch_id = \(Int64(batch)) ORDER BY id")
        #expect(queued.map { $0.string("phone") } == ["+14155550001", "+14155550003"])
        // 250 valid recipients and some invalid ones: the 250 go.
        let many = (0..<250).map { ["phone": "+1415600\(String(format: "%04d", $0))"] } + [["phone": "nope"]]
        let full = w.call("POST", "/api/whatsapp/bundle/send", token: owner.token, account: a,
                          json: ["body": "Hi", "recipients": many, "consent_confirmed": true])
        #expect(full.status == 202, "\(full.text)")
        #expect(full.json["total"] as? Int == 250)
        #expect((full.json["invalid"] as? [[String: Any]])?.count == 1)
    }
}
