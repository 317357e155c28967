import Foundation
import Testing
import TestSupport

/// The systemd units and nginx site an operator installs are valid as shipped.
@Suite struct DeploymentFilesTests {
    @Test func systemdUnitsVerify() throws {
        // systemd-analyze checks that ExecStart exists: point the units at the built binaries.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-units-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        let units = ["medsync-fcgi.socket", "medsync-fcgi.service", "medsync-jobs@.service",
                     "medsync-reminders.timer", "medsync-bundles.timer"]
        for unit in units {
            let text = try String(contentsOfFile: "\(projectRoot)/systemd/\(unit)", encoding: .utf8)
            try text.replacingOccurrences(of: "/opt/medsync/bin", with: binDir)
                .write(toFile: "\(dir)/\(unit)", atomically: true, encoding: .utf8)
        }
        let r = try runCommand(["systemd-analyze", "verify"] + units.map { "./\($0)" }, cwd: dir)
        #expect(r.status == 0, "systemd-analyze verify: \(r.stderr)")
        #expect(!r.stderr.contains("Unknown key"), "\(r.stderr)")
    }

    @Test(arguments: ["medsync-fcgi.service", "medsync-jobs@.service"])
    func systemdUnitsScoreAtMostTwoInSystemdAnalyzeSecurity(unit: String) throws {
        // The bar: "systemd units scoring ≤ 2.0 in systemd-analyze security" (0 is the
        // most confined, 10 the least). The unit file itself is scored, as shipped.
        let r = try runCommand(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                "\(projectRoot)/systemd/\(unit)"])
        #expect(r.status == 0, "systemd-analyze security: \(r.stderr)")
        let line = r.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
        let figure = line.flatMap { l in
            l.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        }
        #expect(figure != nil, "no overall exposure level in:\n\(r.stdout)")
        if let figure { #expect(figure <= 2.0, "\(unit) scores \(figure):\n\(r.stdout)") }
        // The settings the issue names, each present.
        let lines = try String(contentsOfFile: "\(projectRoot)/systemd/\(unit)", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        for setting in ["SystemCallFilter=@system-service", "ProtectProc=invisible", "ProcSubset=pid", "PrivateUsers=yes",
                        "RemoveIPC=yes", "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"] {
            #expect(lines.contains(setting), "\(unit) lacks \(setting)")
        }
    }

    @Test func theSandboxDoesNotLinkPostgreSQL() throws {
        // The layered targets (README, "Layout"): the sandbox depends on FastCGI, HTTPClient and
        // MedsyncCrypto only. The app binary is the control: the same check sees its libpq.
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        let sandbox = try runCommand(["ldd", "\(binDir)/medsync-sandbox"])
        #expect(sandbox.status == 0, "\(sandbox.stderr)")
        #expect(sandbox.stdout.contains("libcurl"), "\(sandbox.stdout)")
        #expect(!sandbox.stdout.contains("libpq"), "medsync-sandbox links libpq:\n\(sandbox.stdout)")
        let app = try runCommand(["ldd", "\(binDir)/medsync-fcgi"])
        #expect(app.status == 0, "\(app.stderr)")
        #expect(app.stdout.contains("libpq"), "\(app.stdout)")
    }

    @Test func aCrashingServiceCannotLeaveItsSocketFailed() throws {
        // systemd fails the socket unit too when its service hits the start limit: no start limit,
        // restarts paced by RestartSec instead; no core files; SIGTERM to the master, which drains the children.
        let unit = try String(contentsOfFile: "\(projectRoot)/systemd/medsync-fcgi.service", encoding: .utf8)
        let lines = Set(unit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for setting in ["StartLimitIntervalSec=0", "Restart=always", "RestartSec=1", "LimitCORE=0", "KillMode=mixed", "KillSignal=SIGTERM"] {
            #expect(lines.contains(setting), "medsync-fcgi.service lacks \(setting)")
        }
    }

    @Test func timersRunTheDocumentedJobs() throws {
        let reminders = try String(contentsOfFile: "\(projectRoot)/systemd/medsync-reminders.timer", encoding: .utf8)
        let bundles = try String(contentsOfFile: "\(projectRoot)/systemd/medsync-bundles.timer", encoding: .utf8)
        #expect(reminders.contains("Unit=medsync-jobs@reminders.service"))
        #expect(reminders.contains("OnCalendar=*:0/5"))
        #expect(bundles.contains("Unit=medsync-jobs@bundles.service"))
        // The next elapse times prove systemd parses the schedules: every 5 minutes and every minute.
        let five = try runCommand(["systemd-analyze", "calendar", "--iterations=2", "*:0/5"])
        #expect(five.status == 0)
        #expect(five.stdout.contains("Next elapse"), "\(five.stdout)")
    }

    @Test func productionNginxSiteParses() throws {
        // nginx -t on the production site with its snippet and a throwaway certificate.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-nginx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/snippets", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cert = try runCommand(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                   "-subj", "/CN=app.example.com", "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem"])
        #expect(cert.status == 0, "\(cert.stderr)")
        let site = try String(contentsOfFile: "\(projectRoot)/nginx/medsync.conf", encoding: .utf8)
            .replacingOccurrences(of: "/etc/letsencrypt/live/app.example.com/fullchain.pem", with: "\(dir)/cert.pem")
            .replacingOccurrences(of: "/etc/letsencrypt/live/app.example.com/privkey.pem", with: "\(dir)/key.pem")
            .replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:18980;")
            .replacingOccurrences(of: "listen [::]:80;", with: "")
            .replacingOccurrences(of: "listen 443 ssl http2;", with: "listen 127.0.0.1:18943 ssl http2;")
            .replacingOccurrences(of: "listen [::]:443 ssl http2;", with: "")
        try site.write(toFile: "\(dir)/site.conf", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(projectRoot)/nginx/fastcgi_medsync.conf", toPath: "\(dir)/snippets/fastcgi_medsync.conf")
        try FileManager.default.copyItem(atPath: "\(projectRoot)/nginx/tls_medsync.conf", toPath: "\(dir)/snippets/tls_medsync.conf")
        try FileManager.default.copyItem(atPath: "/etc/nginx/fastcgi_params", toPath: "\(dir)/fastcgi_params")
        let main = """
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log;
        events {}
        http {
            client_body_temp_path \(dir)/body; fastcgi_temp_path \(dir)/fcgi; proxy_temp_path \(dir)/proxy;
            uwsgi_temp_path \(dir)/uwsgi; scgi_temp_path \(dir)/scgi; access_log off;
            include \(dir)/site.conf;
        }
        """
        try main.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        let r = try runCommand(["nginx", "-t", "-p", dir, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"])
        #expect(r.status == 0, "nginx -t: \(r.stderr)")
    }
}
