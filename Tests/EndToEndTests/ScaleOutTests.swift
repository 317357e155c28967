import Domain
import Foundation
import Postgres
import Testing
import TestSupport

/// Scale-out on the engines we already run: two medsync-fcgi instances on TCP (as two app hosts)
/// behind one nginx `upstream`, with `fastcgi_next_upstream error` (nginx/fastcgi_medsync.conf).
@Suite(.needsStack, .serialized) final class ScaleOutTests {
    let stack: PrivateStack
    init() throws { stack = try PrivateStack(name: "scaleout", httpPort: 18480) }
    deinit { stack.down() }

    var binDir: String { ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug" }

    @Test func killingOneAppInstanceUnderLoadSendsNewRequestsToTheOtherAndRecordsNothingTwice() throws {
        let settings = parseEnvFile(try stack.stack("env").stdout)
        let ports = [stack.httpPort + 10, stack.httpPort + 11]
        let workers = 4, connections = 8
        let instances = try ports.map { port in
            try Subprocess(["\(binDir)/medsync-fcgi"], environment: settings.merging(
                ["MEDSYNC_LISTEN": "127.0.0.1:\(port)", "MEDSYNC_PROCESSES": "1", "MEDSYNC_WORKERS": "\(workers)"]) { $1 })
        }
        defer {
            for i in instances {
                for child in childProcesses(of: i.pid) { kill(child, SIGKILL) }
                i.signal(SIGKILL)
                _ = i.wait()
            }
        }
        for port in ports { try waitUntil("an instance listens on \(port)") { tcpAccepts(port: port) } }
        try stack.stack(["nginx-start"], environment: ["MEDSYNC_FCGI_UPSTREAMS": ports.map { "127.0.0.1:\($0)" }.joined(separator: " ")])
        defer { _ = try? stack.stack("nginx-start") }  // back to the stack's own socket

        // The slot-shortcut benchmark for 6 s, 8 connections; instance A is killed 2 s into it.
        let bench = try Subprocess(["\(projectRoot)/bench/run", "shortcut"],
                                   environment: ["ENV_FILE": "\(stack.dir)/env", "DURATION": "6s", "CONNECTIONS": "\(connections)", "REQUESTS": "12000",
                                                "WARMUP": "0"])  // the counts below are the measured run's
        try waitUntil("wrk started") { bench.stdout.contains("[bench] wrk ") }
        usleep(2_000_000)
        let victim = instances[0]
        for child in childProcesses(of: victim.pid) { kill(child, SIGKILL) }
        victim.signal(SIGKILL)
        #expect(bench.wait() == 0, "\(bench.stderr)")

        let out = bench.stdout
        func number(after prefix: String) -> Int? {
            out.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .flatMap { Int($0.dropFirst(prefix.count).prefix { $0.isNumber }) }
        }
        let requests = try #require(number(after: "[bench] requests "), "\(out)")
        let failed = try #require(number(after: "[bench] non-200 answers: "), "\(out)")
        let inbound = try #require(number(after: "inbound messages: "), "\(out)")
        let replies = try #require(out.split(separator: "\n").first { $0.hasPrefix("inbound messages: ") }
            .flatMap { $0.split(separator: " ").last }.flatMap { Int($0) })
        let appointments = try #require(number(after: "appointments (pending_review): "), "\(out)")
        print("scale-out: one of two app instances killed under load (8 connections, 6 s): \(failed) failed of \(requests) requests")

        #expect(requests > 50, "\(out)")
        // Every request a new MessageSid: a wrapped list would resend some, and the counts below assume none.
        #expect(out.contains("request list wrapped: 0 time(s)"), "\(out)")
        // Only what was in flight at the killed instance can fail (in its workers or its accept queue:
        // nginx never passes a POST that was sent on to the other instance), never more than wrk had open.
        #expect(failed <= connections, "\(out)")
        // Every recorded message has at most one reply and booked at most once; no slot twice. (wrk
        // does not count the requests still open when it stops; the server answered them.)
        #expect(inbound >= requests - failed && inbound <= requests + connections, "\(out)")
        #expect(out.contains("double-booked starts: 0"), "\(out)")
        // The webhook records the message, then answers it (the bot runs outside the transaction): a
        // request killed between the two has its message recorded and no reply. Only failed requests
        // can be such, and Twilio's retry of each (here: the same MessageSid, signed, through nginx)
        // answers it exactly once — then every message has one reply and one appointment.
        #expect(inbound - replies <= failed && replies == appointments, "\(out)")
        let conn = try PGConnection(try stack.env.databaseURL)
        let unanswered = try conn.query("""
            SELECT m.twilio_sid, p.phone, s.phone_number, m.body FROM whatsapp_messages m
              JOIN whatsapp_conversations c ON c.id = m.conversation_id JOIN patients p ON p.id = c.patient_id
              JOIN whatsapp_senders s ON s.id = c.sender_id
             WHERE m.direction = 'inbound' AND NOT EXISTS (SELECT 1 FROM whatsapp_messages r WHERE r.in_reply_to_id = m.id)
            """)
        print("scale-out: \(unanswered.count) message(s) recorded by the killed instance but not answered, retried")
        let token = try stack.env["TWILIO_AUTH_TOKEN"]
        for row in unanswered {
            let params = [("MessageSid", try row.decode(String.self, "twilio_sid")), ("From", "whatsapp:" + (try row.decode(String.self, "phone"))),
                          ("To", "whatsapp:" + (try row.decode(String.self, "phone_number"))), ("Body", try row.decode(String.self, "body"))]
            #expect(try postWebhook(stack.env, params: params, token: token).status == 200)
        }
        // Requests the surviving instance still held when wrk stopped (queued for a place, WorkGate)
        // may be recorded after bench/run counted: at most one per connection, each answered.
        func totals() throws -> (inbound: Int, replies: Int, appointments: Int) {
            let r = try #require(try conn.query("""
                SELECT (SELECT count(*) FROM whatsapp_messages WHERE direction = 'inbound') AS inbound,
                       (SELECT count(*) FROM whatsapp_messages WHERE in_reply_to_id IS NOT NULL) AS replies,
                       (SELECT count(*) FROM appointments WHERE status = 'pending_review') AS appointments
                """).first)
            return (try r.decode(Int.self, "inbound"), try r.decode(Int.self, "replies"), try r.decode(Int.self, "appointments"))
        }
        var after = try totals()
        let settle = ContinuousClock.now
        while after.replies != after.inbound && ContinuousClock.now - settle < .seconds(10) {
            usleep(100_000)
            after = try totals()
        }
        #expect(after.inbound >= inbound && after.inbound <= inbound + connections, "\(after) after \(inbound)")
        #expect(after.replies == after.inbound && after.appointments == after.inbound, "\(after)")

        // New requests reach the surviving instance.
        let url = "\(try stack.env.appURL)/api/health"
        let health = (0..<20).map { _ in (try? httpGet(url).status) ?? -1 }
        #expect(health.allSatisfy { $0 == 200 }, "\(health)")
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func tcpAccepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// FastCGI over TCP (the README's scale-out) serves only the peers MEDSYNC_FCGI_ALLOWED_PEERS lists:
/// a FastCGI peer sets REMOTE_ADDR itself and reaches every route past nginx's limits.
@Suite(.needsStack, .serialized) struct FastCGIPeerTests {
    var binDir: String { ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug" }
    var port: Int { 18495 + (Int(ProcessInfo.processInfo.environment["MEDSYNC_TEST_PORT_OFFSET"] ?? "") ?? 0) }

    func ping(from source: String) throws -> String {
        try runPython(["\(projectRoot)/Tests/Helpers/fcgi_request.py", "tcp:127.0.0.1:\(port)@\(source)", "GET", "/api/ping", "", "0"])
    }

    @Test func aPeerNotListedIsRefusedAndAListedOneIsServed() throws {
        let settings = try StackEnvironment.shared().values
        let app = try Subprocess(["\(binDir)/medsync-fcgi"], environment: settings.merging(
            ["MEDSYNC_LISTEN": "127.0.0.1:\(port)", "MEDSYNC_FCGI_ALLOWED_PEERS": "127.0.0.2",
             "MEDSYNC_PROCESSES": "1", "MEDSYNC_WORKERS": "2"]) { $1 })
        defer {
            for child in childProcesses(of: app.pid) { kill(child, SIGKILL) }
            app.signal(SIGKILL)
            _ = app.wait()
        }
        try waitUntil("the instance listens on \(port)") { tcpAccepts(port: port) }
        #expect(try ping(from: "127.0.0.2").contains("Status: 200"), "the listed peer is served")
        // 127.0.0.1 is not listed: libfcgi closes the connection before reading a request.
        for _ in 0..<3 {
            #expect(try ping(from: "127.0.0.1") == "", "an unlisted peer got an answer")
        }
        // The refusals cost no worker: the listed peer is still served.
        #expect(try ping(from: "127.0.0.2").contains("Status: 200"))
    }

    @Test func anAddressOtherHostsReachRefusesToStartWithoutAList() throws {
        let settings = try StackEnvironment.shared().values
        let app = try Subprocess(["\(binDir)/medsync-fcgi"], environment: settings.merging(
            ["MEDSYNC_LISTEN": ":\(port)", "MEDSYNC_FCGI_ALLOWED_PEERS": "", "MEDSYNC_PROCESSES": "1"]) { $1 })
        let status = app.wait()
        #expect(status != 0)
        #expect(app.stderr.contains("MEDSYNC_FCGI_ALLOWED_PEERS"), "\(app.stderr)")
        #expect(!tcpAccepts(port: port))
    }
}
