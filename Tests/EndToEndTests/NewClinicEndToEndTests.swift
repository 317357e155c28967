import Domain
import Foundation
import Testing
import TestSupport
import MedsyncCrypto
import MedsyncConfig
import HTTPClient

/// Issue 12's "must show": a brand-new clinic, from `medsync-jobs workspace create` to a reminder
/// sent by `medsync-jobs reminders`, through the API only (no SQL), through nginx and libfcgi, with
/// the sandbox as Twilio, Gemini and the patient's phone. The README walks the same path with curl.
@Suite(.needsStack) struct NewClinicEndToEndTests {
    let env: StackEnvironment
    let jobs: String = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"

    init() throws { env = try StackEnvironment.shared() }

    /// `medsync-jobs …` with the stack's configuration; its stdout, trimmed.
    func medsyncJobs(_ arguments: String...) throws -> String {
        var environment: [String: String] = [:]
        for key in Config.Key.allCases.map(\.rawValue) { environment[key] = env.values[key] ?? "" }
        let job = try Subprocess([jobs] + arguments, environment: environment, cwd: NSTemporaryDirectory())
        let status = job.wait()
        guard status == 0 else { throw TestSetupError("medsync-jobs \(arguments.joined(separator: " ")) exited \(status): \(job.stderr)") }
        return job.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Answer {
        let status: Int
        let json: [String: Any]
        let text: String
    }

    func api(_ method: String, _ path: String, token: String? = nil, account: String? = nil, _ body: [String: Any]? = nil) throws -> Answer {
        var request = HTTPRequest(method: method, url: try env.appURL + path)
        if let token { request.headers.append(("Authorization", "Bearer \(token)")) }
        if let account { request.headers.append(("X-Account-Id", account)) }
        if let body {
            request.body = [UInt8](try JSONSerialization.data(withJSONObject: body))
            request.headers.append(("Content-Type", "application/json"))
        }
        let r = try http(request)
        return Answer(status: r.status, json: (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:],
                      text: String(decoding: r.body, as: UTF8.self))
    }

    func sandbox(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        let url = try env.sandboxURL + path
        let r = try body.map { try http(.json(url: url, body: [UInt8](try JSONSerialization.data(withJSONObject: $0)), method: method)) }
            ?? http(HTTPRequest(method: method, url: url))
        guard (200..<300).contains(r.status) else { throw TestSetupError("sandbox \(method) \(path): \(r.status) \(r.text)") }
        return (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
    }

    @Test("workspace create → doctor with availability, linked number, a patient books through the bot, accepted, reminded")
    func brandNewClinicThroughTheAPIOnly() throws {
        let tag = Crypto.hex(Crypto.randomBytes(4))
        // The operator: the clinic and its owner (the only two steps outside the API).
        let ws = try medsyncJobs("workspace", "create", "--name", "Clínica \(tag)", "--timezone", "America/Mexico_City")
        _ = try medsyncJobs("user", "create", "--email", "owner-\(tag)@clinic.test", "--workspace", ws, "--role", "owner", "--password", "owner password \(tag)")

        // The owner signs in and sets the clinic up.
        // Sign-ins share one password-hash slot per process (503 auth_busy while another test signs in): retry those.
        var login = try api("POST", "/api/auth/login", ["email": "owner-\(tag)@clinic.test", "password": "owner password \(tag)"])
        for _ in 0..<50 where login.status == 503 {
            Thread.sleep(forTimeInterval: 0.2)
            login = try api("POST", "/api/auth/login", ["email": "owner-\(tag)@clinic.test", "password": "owner password \(tag)"])
        }
        let token = try #require(login.json["token"] as? String, "\(login.text)")
        func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> Answer {
            try api(method, path, token: token, account: ws, body)
        }
        let profile = try call("PUT", "/api/clinic", ["clinic_name": "Clínica \(tag)", "clinic_info": "Consultas de lunes a domingo.",
                                                     "phone": "+525512340000", "default_language": "es"])
        #expect(profile.status == 200, "\(profile.text)")
        // The doctor is invited; she accepts the link with a password of her own.
        let invited = try call("POST", "/api/members", ["email": "dra-\(tag)@clinic.test", "name": "Dra. Vega", "role": "doctor"])
        #expect(invited.status == 201, "\(invited.text)")
        let link = try #require(invited.json["token"] as? String)
        var doctor = try api("POST", "/api/invitations/accept", ["token": link, "password": "doctor password \(tag)"])
        for _ in 0..<20 where doctor.status == 503 {
            Thread.sleep(forTimeInterval: 0.2)
            doctor = try api("POST", "/api/invitations/accept", ["token": link, "password": "doctor password \(tag)"])
        }
        #expect(doctor.status == 200, "\(doctor.text)")
        let doctorID = try #require((doctor.json["user"] as? [String: Any])?["id"] as? Int)
        #expect(try call("GET", "/api/doctors").json["items"].flatMap { $0 as? [[String: Any]] }?.map { $0["id"] as? Int } == [doctorID])
        let week = (0...6).map { ["weekday": $0, "start": "00:00", "end": "24:00", "slot_minutes": 30] as [String: Any] }
        let availability = try call("PUT", "/api/doctors/\(doctorID)/availability", ["weekly": week])
        #expect(availability.status == 200, "\(availability.text)")
        let free = try call("GET", "/api/doctors/\(doctorID)/free-slots?days=1")
        #expect((free.json["items"] as? [Any])?.isEmpty == false, "\(free.text)")

        // The number: the platform's Twilio account (the sandbox) owns it and sends its webhooks to us;
        // the operator assigns it to the clinic (members link only numbers of their own subaccount).
        let number = "+1556" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        _ = try sandbox("POST", "/sandbox/numbers", ["phone_number": number, "sms_url": try env.appURL + "/api/webhooks/whatsapp"])
        let refused = try call("POST", "/api/whatsapp/link-existing", ["phone_number": number, "display_name": "Recepción"])
        #expect(refused.json["error"] as? [String: Any] != nil && refused.status == 422, "\(refused.text)")
        _ = try medsyncJobs("sender", "assign", "--workspace", ws, "--number", number, "--name", "Recepción")
        let senders = try call("GET", "/api/whatsapp/senders")
        #expect(senders.text.contains(number), "\(senders.text)")
        let reminders = try call("PUT", "/api/whatsapp/reminder-settings", ["enabled": true, "hours_before": 24])
        #expect(reminders.json["enabled"] as? Bool == true, "\(reminders.text)")

        // A patient books through the bot.
        let patient = "+52155" + String(format: "%08d", Int.random(in: 0..<100_000_000))
        func say(_ text: String) throws -> String {
            let r = try sandbox("POST", "/sandbox/inbound", ["from": patient, "to": number, "body": text, "profile_name": "Lucía"])
            return ((r["deliveries"] as? [[String: Any]])?.first?["replies"] as? [String])?.first ?? ""
        }
        let offer = try say("Hola, quiero una cita")
        #expect(offer.contains("1. "), "\(offer)")
        let booked = try say("1")
        #expect(booked.hasPrefix("Perfecto"), "\(booked)")
        let pending = try call("GET", "/api/whatsapp/pending-appointments")
        let appointment = try #require((pending.json["items"] as? [[String: Any]])?.first, "\(pending.text)")
        #expect(appointment["doctor_id"] as? Int == doctorID)
        let appointmentID = try #require(appointment["id"] as? Int)
        let accepted = try call("POST", "/api/whatsapp/pending-appointments/\(appointmentID)/accept")
        #expect((accepted.json["notification"] as? [String: Any])?["sent"] as? Bool == true, "\(accepted.text)")
        let patientRecord = try call("GET", "/api/patients?search=\(patient.dropFirst())")
        #expect((patientRecord.json["items"] as? [[String: Any]])?.first?["name"] as? String == "Lucía")

        // The reminder job (as its systemd timer runs it).
        let summary = try medsyncJobs("reminders", "--workspace", ws)
        #expect(summary.contains("sent=1"), "\(summary)")
        let received = try sandbox("GET", "/sandbox/patients/\(patient)/messages")["messages"] as? [[String: Any]] ?? []
        let bodies = received.compactMap { $0["body"] as? String }
        #expect(bodies.contains { $0.hasPrefix("Hola Lucía, su cita con Dra. Vega") && $0.contains("está confirmada") }, "\(bodies)")
        #expect(bodies.contains { $0.hasPrefix("Hola Lucía, le recordamos su cita con Dra. Vega") }, "\(bodies)")
        let confirmed = try call("GET", "/api/appointments?patient_id=\((appointment["patient"] as? [String: Any])?["id"] as? Int ?? 0)")
        #expect((confirmed.json["items"] as? [[String: Any]])?.first?["status"] as? String == "confirmed")
    }
}
