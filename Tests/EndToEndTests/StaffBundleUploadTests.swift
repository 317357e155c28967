import Domain
import Foundation
import TestSupport
import Testing
import HTTPClient

@Suite("Bundle uploads and /metrics through nginx", .needsStack)
struct StaffBundleUploadTests {
    func upload(_ c: StaffClient, _ file: [UInt8], filename: String) throws -> StaffClient.Answer {
        let boundary = "----e2e\(UInt32.random(in: 0...UInt32.max))"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += file + Array("\r\n--\(boundary)--\r\n".utf8)
        let request = HTTPRequest(method: "POST", url: try c.clinic.appURL + "/api/whatsapp/bundle/preview",
                                  headers: [("Authorization", "Bearer \(c.token)"), ("X-Account-Id", String(c.clinic.workspaceID)),
                                            ("Content-Type", "multipart/form-data; boundary=\(boundary)")], body: body)
        let r = try http(request)
        return StaffClient.Answer(status: r.status, json: (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:],
                                  text: String(decoding: r.body, as: UTF8.self))
    }

    @Test("10,000-row CSV, a zip bomb and a damaged .xlsx: results or 4xx, and the app keeps answering")
    func uploads() throws {
        let c = try StaffClient()
        var csv = "\u{FEFF}Nombre;Teléfono;Idioma\n"
        for i in 0..<10_000 { csv += "Paciente \(i);+52 55 \(String(format: "%08d", i));es\n" }
        let big = try upload(c, Array(csv.utf8), filename: "lista.csv")
        #expect(big.status == 200, "\(big.text.prefix(300))")
        #expect((big.json["recipients"] as? [Any])?.count == 10_000)
        let bomb = try upload(c, Array(try Data(contentsOf: URL(fileURLWithPath: "\(projectRoot)/Tests/Fixtures/bundles/bomb.xlsx"))), filename: "bomb.xlsx")
        #expect(bomb.status == 413)
        #expect(bomb.errorCode == "file_too_large")
        let damaged = try upload(c, Array("PK\u{3}\u{4}not really a zip".utf8), filename: "x.xlsx")
        #expect(damaged.status == 400)
        #expect(try c.call("GET", "/api/whatsapp/senders").status == 200)
    }

    @Test("/metrics from loopback through nginx: requests by route and status, latency, messages")
    func metrics() throws {
        let c = try StaffClient()
        _ = try c.call("GET", "/api/whatsapp/senders")
        let r = try httpGet(try c.clinic.appURL + "/metrics")
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 200)
        #expect(text.contains("medsync_http_requests_total{method=\"GET\",route=\"/api/whatsapp/senders\",status=\"200\"}"))
        #expect(text.contains("# TYPE medsync_http_request_duration_seconds histogram"))
        #expect(text.contains("# TYPE medsync_twilio_errors gauge"))
    }
}
