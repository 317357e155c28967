import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import Postgres

/// nginx/medsync.conf as shipped, over TLS (a self-signed certificate made here), in front of the
/// test stack's workers. Only what cannot run here is rewritten: the certificate paths, the socket
/// path, the host name (localhost), the listen lines (loopback ports), the web root.
@Suite("The production nginx site, end to end over TLS", .needsStack, .serialized)
struct ProductionSiteTests {
    final class Site {
        let dir = "\(projectRoot)/.run/test-prod-nginx"
        let httpPort: Int
        let httpsPort: Int
        let env: StackEnvironment
        var cafile: String { "\(dir)/cert.pem" }
        var base: String { "https://localhost:\(httpsPort)" }

        init() throws {
            env = try StackEnvironment.shared()
            let offset = Int(ProcessInfo.processInfo.environment["MEDSYNC_TEST_PORT_OFFSET"] ?? "") ?? 0
            httpPort = 18950 + offset
            httpsPort = 18951 + offset
            let stackDir = try env["STACK_DIR"]
            stop()
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: "\(dir)/snippets", withIntermediateDirectories: true)
            let cert = try runCommand(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                       "-addext", "subjectAltName=DNS:localhost", "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem"])
            guard cert.status == 0 else { throw TestSetupError("openssl: \(cert.stderr)") }

            var site = try String(contentsOfFile: "\(projectRoot)/nginx/medsync.conf", encoding: .utf8)
            let rewrites: [(String, String)] = [
                ("server unix:/run/medsync/fcgi.sock;", "server unix:\(stackDir)/fcgi.sock;"),
                ("/etc/letsencrypt/live/app.example.com/fullchain.pem", "\(dir)/cert.pem"),
                ("/etc/letsencrypt/live/app.example.com/privkey.pem", "\(dir)/key.pem"),
                ("listen 80 default_server;", "listen 127.0.0.1:\(httpPort) default_server;"),
                ("listen [::]:80 default_server;", ""),
                ("listen 443 ssl default_server;", "listen 127.0.0.1:\(httpsPort) ssl default_server;"),
                ("listen [::]:443 ssl default_server;", ""),
                ("listen 80;", "listen 127.0.0.1:\(httpPort);"),
                ("listen [::]:80;", ""),
                ("listen 443 ssl http2;", "listen 127.0.0.1:\(httpsPort) ssl http2;"),
                ("listen [::]:443 ssl http2;", ""),
                ("server_name app.example.com;", "server_name localhost;"),
                ("root /opt/medsync/web;", "root \(projectRoot)/web;"),
            ]
            for (from, to) in rewrites {
                guard site.contains(from) else { throw TestSetupError("nginx/medsync.conf no longer contains \"\(from)\": update this test") }
                site = site.replacingOccurrences(of: from, with: to)
            }
            try site.write(toFile: "\(dir)/site.conf", atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: "\(projectRoot)/nginx/fastcgi_medsync.conf", toPath: "\(dir)/snippets/fastcgi_medsync.conf")
            try FileManager.default.copyItem(atPath: "\(projectRoot)/nginx/tls_medsync.conf", toPath: "\(dir)/snippets/tls_medsync.conf")
            try FileManager.default.copyItem(atPath: "/etc/nginx/fastcgi_params", toPath: "\(dir)/fastcgi_params")
            for sub in ["body", "fcgi", "proxy", "uwsgi", "scgi"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/tmp/\(sub)", withIntermediateDirectories: true)
            }
            _ = try runCommand(["chown", "-R", "www-data", "\(dir)/tmp"])
            let main = """
            user www-data;
            worker_processes 1;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 256; }
            http {
                include /etc/nginx/mime.types;
                # What Debian's /etc/nginx/nginx.conf sets at the http level, where the site is included.
                ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
                ssl_prefer_server_ciphers on;
                client_body_temp_path \(dir)/tmp/body; fastcgi_temp_path \(dir)/tmp/fcgi; proxy_temp_path \(dir)/tmp/proxy;
                uwsgi_temp_path \(dir)/tmp/uwsgi; scgi_temp_path \(dir)/tmp/scgi; access_log \(dir)/access.log;
                include \(dir)/site.conf;
            }
            """
            try main.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
            let started = try runCommand(["nginx", "-p", dir, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"], stdin: "")
            guard started.status == 0 else { throw TestSetupError("nginx did not start: \(started.stderr)") }
        }

        func stop() {
            guard FileManager.default.fileExists(atPath: "\(dir)/nginx.pid") else { return }
            _ = try? runCommand(["nginx", "-p", dir, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log", "-s", "stop"])
            for _ in 0..<50 where FileManager.default.fileExists(atPath: "\(dir)/nginx.pid") { Thread.sleep(forTimeInterval: 0.1) }
        }

        deinit { stop() }

        /// Runs the Python client with one request per line; one answer per request.
        func client(_ requests: [[String: Any]]) throws -> [[String: Any]] {
            let input = try requests.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n")
            let out = try runPython(["\(projectRoot)/Tests/Helpers/tls_client.py"], stdin: input + "\n")
            return out.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
        }
    }

    @Test("a twilio-python-signed webhook to the https URL is accepted; client X-Forwarded-Host/-Proto are overwritten")
    func signedWebhookOverTLS() throws {
        let site = try Site()
        let clinic = try StackClinic(stack: site.env)
        let token = try site.env["TWILIO_AUTH_TOKEN"]
        let url = site.base + "/api/webhooks/whatsapp"
        func params(_ body: String) -> [String: String] {
            ["MessageSid": "SM" + Crypto.hex(Crypto.randomBytes(16)), "From": "whatsapp:\(StackClinic.patient())",
             "To": "whatsapp:\(clinic.phone)", "Body": body, "AccountSid": (try? site.env["TWILIO_ACCOUNT_SID"]) ?? ""]
        }
        let forged = ["X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"]
        let answers = try site.client([
            // Signed for the real https URL, with forged forwarding headers: accepted.
            ["action": "webhook", "url": url, "cafile": site.cafile, "auth_token": token, "params": params("hola"), "headers": forged],
            // Signed for the forged host: refused (the app never saw evil.example).
            ["action": "webhook", "url": url, "cafile": site.cafile, "auth_token": token, "params": params("hola"),
             "sign_url": "https://evil.example/api/webhooks/whatsapp", "headers": forged],
            // Signed for http:// (the forged proto): refused, nginx says https.
            ["action": "webhook", "url": url, "cafile": site.cafile, "auth_token": token, "params": params("hola"),
             "sign_url": "http://localhost:\(site.httpsPort)/api/webhooks/whatsapp", "headers": forged],
        ])
        #expect(answers.count == 3)
        #expect(answers[0]["status"] as? Int == 200, "\(answers[0])")
        #expect((answers[0]["body"] as? String)?.contains("<Response>") == true, "\(answers[0])")
        #expect((answers[0]["body"] as? String)?.contains("<Message>") == true, "\(answers[0])")
        #expect(answers[1]["status"] as? Int == 403, "\(answers[1])")
        #expect((answers[1]["body"] as? String)?.contains("invalid_signature") == true)
        #expect(answers[2]["status"] as? Int == 403, "\(answers[2])")
        // Exactly the accepted one was stored (its message and the bot's reply).
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 2)
    }

    @Test("unknown Host or TLS name: the connection is closed without an answer; ours is served; http redirects")
    func unknownHostsAreDropped() throws {
        let site = try Site()
        let answers = try site.client([
            ["action": "request", "url": site.base + "/api/health", "cafile": site.cafile],
            ["action": "request", "url": site.base + "/api/health", "cafile": site.cafile, "headers": ["Host": "evil.example"]],
            ["action": "request", "url": "http://127.0.0.1:\(site.httpPort)/api/health", "headers": ["Host": "evil.example"]],
            ["action": "request", "url": "http://localhost:\(site.httpPort)/api/health"],
            ["action": "handshake", "host": "127.0.0.1", "port": site.httpsPort, "cafile": site.cafile, "server_name": "evil.example"],
            ["action": "handshake", "host": "127.0.0.1", "port": site.httpsPort, "cafile": site.cafile, "server_name": "localhost"],
        ])
        #expect(answers.count == 6)
        #expect(answers[0]["status"] as? Int == 200, "\(answers[0])")
        #expect(answers[1]["closed"] as? Bool == true, "\(answers[1])")
        #expect(answers[2]["closed"] as? Bool == true, "\(answers[2])")
        #expect(answers[3]["status"] as? Int == 301, "\(answers[3])")
        #expect(((answers[3]["headers"] as? [String: Any])?["Location"] as? String)?.hasPrefix("https://localhost") == true)
        #expect(answers[4]["handshake"] as? String == "refused", "\(answers[4])")
        #expect(answers[5]["handshake"] as? String == "ok", "\(answers[5])")
    }

    @Test("the production site's headers: CSP with base-uri, form-action and object-src; Permissions-Policy; the app's no-store on API answers")
    func securityHeaders() throws {
        let site = try Site()
        let answers = try site.client([
            ["action": "request", "url": site.base + "/api/health", "cafile": site.cafile],
            ["action": "request", "url": site.base + "/", "cafile": site.cafile],
        ])
        #expect(answers.count == 2)
        for (i, answer) in answers.enumerated() {
            let headers = Dictionary(((answer["headers"] as? [String: Any]) ?? [:]).map { ($0.key.lowercased(), "\($0.value)") }) { a, _ in a }
            let csp = headers["content-security-policy"] ?? ""
            for directive in ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"] {
                #expect(csp.contains(directive), "\(i): \(csp)")
            }
            #expect(headers["permissions-policy"]?.contains("camera=()") == true, "\(i): \(headers)")
            #expect(headers["strict-transport-security"] != nil)
        }
        let api = Dictionary(((answers[0]["headers"] as? [String: Any]) ?? [:]).map { ($0.key.lowercased(), "\($0.value)") }) { a, _ in a }
        #expect(api["cache-control"] == "no-store", "\(api)")
    }

    @Test("TLS: the intermediate profile refuses non-forward-secret suites and accepts ECDHE-GCM over TLS 1.2 and TLS 1.3")
    func tlsProfile() throws {
        let site = try Site()
        func shake(_ ciphers: String?) -> [String: Any] {
            var r: [String: Any] = ["action": "handshake", "host": "127.0.0.1", "port": site.httpsPort, "cafile": site.cafile, "server_name": "localhost"]
            if let ciphers { r["ciphers"] = ciphers }
            return r
        }
        let answers = try site.client([shake("AES128-SHA:AES256-GCM-SHA384"), shake("ECDHE-RSA-AES128-GCM-SHA256"), shake(nil)])
        #expect(answers[0]["handshake"] as? String == "refused", "\(answers[0])")
        #expect(answers[1]["handshake"] as? String == "ok", "\(answers[1])")
        #expect(answers[1]["version"] as? String == "TLSv1.2")
        #expect(answers[2]["version"] as? String == "TLSv1.3", "\(answers[2])")
    }

    @Test("nginx throttles the login location per address: a burst past the limit gets 429 before the app")
    func loginRateLimit() throws {
        let site = try Site()
        // Empty bodies: the app answers 400 at once (no password is hashed, nothing counted).
        let answers = try site.client([["action": "request", "method": "POST", "url": site.base + "/api/auth/login", "cafile": site.cafile,
                                        "headers": ["Content-Type": "application/json"], "data": "{}", "repeat": 40]])
        let statuses = answers.first?["statuses"] as? [Int] ?? []
        #expect(statuses.count == 40)
        #expect(statuses.contains(400))
        #expect(statuses.contains(429), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == 400 || $0 == 429 }, "\(statuses)")
    }
}
