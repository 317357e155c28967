import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient

/// The running skeleton through real nginx, libfcgi and PostgreSQL (the stack `make test` started).
@Suite(.needsStack) struct SkeletonTests {
    let env: StackEnvironment
    init() throws { env = try StackEnvironment.shared() }

    @Test func healthThroughNginx() throws {
        let r = try httpGet("\(try env.appURL)/api/health")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.header("Content-Type")?.hasPrefix("application/json") == true)
        let body = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        #expect(body?["status"] as? String == "ok")
    }

    @Test func twoHundredConcurrentRequestsAllAnswered() throws {
        let url = "\(try env.appURL)/api/health"
        let statuses = concurrently(200) { _ in (try? httpGet(url).status) ?? -1 }
        #expect(statuses.count == 200)
        #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
    }

    @Test func bodyOverTheAppLimitGets413() throws {
        // Over the 1 MiB limit nginx and the app share: refused with the API's JSON error (nginx's error_page;
        // HostileUploadTests.bodyLimitsInTheApp checks the app's own limit past nginx).
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 2 << 20)
        let r = try http(HTTPRequest(method: "POST", url: "\(try env.appURL)/api/health",
                                     headers: [("Content-Type", "application/octet-stream")], body: body))
        #expect(r.status == 413)
        #expect(errorCode(r) == "payload_too_large", "\(r.text)")
    }

    @Test func bodyOverTheNginxLimitGets413() throws {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 13 << 20)
        let r = try http(HTTPRequest(method: "POST", url: "\(try env.appURL)/api/health",
                                     headers: [("Content-Type", "application/octet-stream")], body: body))
        #expect(r.status == 413)
    }

    @Test func unknownRouteIsAJSONError() throws {
        let r = try httpGet("\(try env.appURL)/api/no-such-route")
        #expect(r.status == 404)
        #expect(errorCode(r) == "not_found")
    }

    @Test func sourcingTheEnvFileSetsEveryValueExactly() throws {
        // `source .run/env` (as the README says): DATABASE_URL has spaces and must arrive whole.
        let path = try requiredEnvironment("MEDSYNC_TEST_ENV")
        for key in ["DATABASE_URL", "MEDSYNC_ADMIN_URL", "MEDSYNC_TOKEN", "MEDSYNC_URL"] {
            let r = try runCommand(["bash", "-c", "set -e; source \"$0\"; printf %s \"${!1}\"", path, key])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == (try env[key]), "\(key)")
        }
        #expect((try env.databaseURL).contains(" user="), "the value with spaces is read whole")
    }

    @Test func staticWebIsServed() throws {
        let r = try httpGet("\(try env.appURL)/")
        #expect(r.status == 200)
        #expect(r.text.contains("MedSync WhatsApp"))
    }
}

/// Stops and restarts PostgreSQL and the workers of a stack of its own.
@Suite(.needsStack, .serialized) final class ResilienceTests {
    let stack: PrivateStack
    init() throws { stack = try PrivateStack(name: "resilience", httpPort: 18180) }
    deinit { stack.down() }

    var healthURL: String { get throws { "\(try stack.env.appURL)/api/health" } }

    @Test func healthFollowsPostgresAndWorkersSurviveItsRestart() throws {
        #expect(try httpGet(healthURL).status == 200)
        try stack.stack("pg-stop")
        let down = try httpGet(healthURL)
        #expect(down.status == 503)
        #expect(errorCode(down) == "database_unavailable", "\(down.text)")
        try stack.stack("pg-start")
        // Every worker lost its connection; each must reconnect on its next request.
        let statuses = (0..<12).map { _ in (try? httpGet(healthURL).status) ?? -1 }
        #expect(statuses.allSatisfy { $0 == 200 }, "after restart: \(statuses)")
        let concurrent = concurrently(8) { [healthURL = try? healthURL] _ in (try? httpGet(healthURL ?? "").status) ?? -1 }
        #expect(concurrent.allSatisfy { $0 == 200 }, "after restart, concurrent: \(concurrent)")
    }

    @Test func sigtermLetsInFlightRequestsFinish() throws {
        // Run the workers as our own child to see their exit status.
        try stack.stack("app-stop")
        defer { _ = try? stack.stack("app-start") }
        let socket = "\(stack.dir)/fcgi.sock"
        try? FileManager.default.removeItem(atPath: socket)
        let settings = parseEnvFile(try stack.stack("env").stdout)
        let process = try Subprocess(["\(binDir)/medsync-fcgi"],
                                     environment: settings.merging(["MEDSYNC_LISTEN": socket, "MEDSYNC_WORKERS": "4"]) { $1 })
        try waitForSocket(socket)
        _ = try runCommand(["chgrp", "www-data", socket])
        #expect(try httpGet(healthURL).status == 200)

        // Hold a lock the health check needs, so three requests stay in flight inside the workers.
        let admin = try stack.env["MEDSYNC_ADMIN_URL"].replacingOccurrences(of: "dbname=postgres", with: "dbname=medsync")
        let locker = try Subprocess(["psql", admin, "-X", "-q", "-c",
                                     "BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"])
        try waitUntil("the lock is held") { try lockWaiters(admin, granted: true) >= 1 }

        let url = try healthURL
        let group = DispatchGroup()
        final class Results: @unchecked Sendable { var statuses: [Int] = []; let lock = NSLock() }
        let results = Results()
        for _ in 0..<3 {
            group.enter()
            Thread {
                let s = (try? httpGet(url).status) ?? -1
                results.lock.lock(); results.statuses.append(s); results.lock.unlock()
                group.leave()
            }.start()
        }
        try waitUntil("three requests wait inside the workers") { try lockWaiters(admin, granted: false) >= 3 }
        process.signal(SIGTERM)
        group.wait()
        let exitCode = process.wait()
        locker.wait()
        #expect(results.statuses == [200, 200, 200], "in-flight requests: \(results.statuses)")
        #expect(exitCode == 0, "medsync-fcgi after SIGTERM: \(process.stderr)")
    }

    var binDir: String { ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug" }

    func waitForSocket(_ path: String) throws {
        try waitUntil("\(path) exists") { FileManager.default.fileExists(atPath: path) }
    }

    /// Backends of the medsync database holding (granted) or waiting for (not granted) a relation lock on schema_migrations.
    func lockWaiters(_ url: String, granted: Bool) throws -> Int {
        let r = try runCommand(["psql", url, "-X", "-tAc",
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'schema_migrations' AND l.granted = \(granted)"])
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

/// Polls a condition every 50 ms for up to 10 s.
func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
    for _ in 0..<200 {
        if try condition() { return }
        usleep(50_000)
    }
    throw TestSetupError("timed out waiting until \(what)")
}

/// Missing configuration stops the binaries at start with a message naming the variable.
@Suite struct StartupConfigurationTests {
    @Test func missingRequiredVariableIsNamedAtStart() throws {
        let bin = "\(ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug")/medsync-fcgi"
        let secret = "super-secret-database-password"
        let r = try runCommand(["env", "-i", "PATH=/usr/bin:/bin", "DATABASE_URL=host=/nonexistent password=\(secret)",
                                "TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000", "MEDSYNC_LISTEN=/nonexistent/x.sock", bin],
                               cwd: "/")
        #expect(r.status == 78)
        #expect(r.stderr.contains("TWILIO_AUTH_TOKEN"), "\(r.stderr)")
        #expect(r.stderr.contains("MEDSYNC_FERNET_KEY"), "\(r.stderr)")
        #expect(!r.stderr.contains(secret))
    }
}
