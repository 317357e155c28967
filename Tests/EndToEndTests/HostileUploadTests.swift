import Domain
import Foundation
import TestSupport
import Testing
import HTTPClient

/// Samples, while a request runs, the resident memory of medsync-fcgi (the process in the stack's
/// fcgi.pid and every descendant, found by ppid in /proc: a master and its children count alike)
/// and GET /api/health from another thread.
final class ServiceWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var peakKB: [Int32: Int] = [:]
    private var health: [Int] = []
    private let done = DispatchGroup()

    init(pidFile: String, healthURL: String) {
        run { [self] in
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let root = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
            for pid in ServiceWatch.processTree(root) {
                if let kb = ServiceWatch.rssKB(pid) { lock.withLock { peakKB[pid] = max(peakKB[pid] ?? 0, kb) } }
            }
            usleep(10_000)
        }
        run { [self] in
            let status = (try? httpGet(healthURL).status) ?? -1
            lock.withLock { health.append(status) }
            usleep(50_000)
        }
    }

    private func run(_ step: @escaping @Sendable () -> Void) {
        done.enter()
        Thread { [self] in
            while !lock.withLock({ stopped }) { step() }
            done.leave()
        }.start()
    }

    /// Stops sampling; the highest RSS seen per process (kB) and every health status seen.
    func stop() -> (peakKB: [Int32: Int], health: [Int]) {
        lock.withLock { stopped = true }
        done.wait()
        return lock.withLock { (peakKB, health) }
    }

    static func processTree(_ root: Int32) -> [Int32] {
        var parents: [Int32: Int32] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = Int32(fields[1]) { parents[pid] = ppid }
        }
        var tree: [Int32] = [root]
        var i = 0
        while i < tree.count {
            tree += parents.filter { $0.value == tree[i] }.map(\.key)
            i += 1
        }
        return tree
    }

    static func rssKB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
}

@Suite("Hostile uploads and body limits through nginx", .needsStack)
struct HostileUploadTests {
    func upload(_ c: StaffClient, _ file: [UInt8], filename: String) throws -> StaffClient.Answer {
        let boundary = "----hostile\(UInt32.random(in: 0...UInt32.max))"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += file + Array("\r\n--\(boundary)--\r\n".utf8)
        let r = try http(HTTPRequest(method: "POST", url: try c.clinic.appURL + "/api/whatsapp/bundle/preview",
                                     headers: [("Authorization", "Bearer \(c.token)"), ("X-Account-Id", String(c.clinic.workspaceID)),
                                               ("Content-Type", "multipart/form-data; boundary=\(boundary)")], body: body))
        return StaffClient.Answer(status: r.status, json: (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:],
                                  text: String(decoding: r.body, as: UTF8.self))
    }

    /// Uploads `file` while watching the workers: a 4xx with `code` within 2 s, every medsync-fcgi
    /// process under 200 MB, /api/health 200 throughout, and the service still answering afterwards.
    func expectRefusedCalmly(_ file: [UInt8], filename: String, status: Int, code: String) throws {
        let c = try StaffClient()
        let stackDir = try c.clinic.env["STACK_DIR"]
        let watch = ServiceWatch(pidFile: "\(stackDir)/fcgi.pid", healthURL: try c.clinic.appURL + "/api/health")
        let start = ContinuousClock.now
        let answer = Result { try upload(c, file, filename: filename) }
        let elapsed = ContinuousClock.now - start
        usleep(200_000)  // a few more samples after the answer
        let seen = watch.stop()
        let r = try answer.get()
        #expect(r.status == status, "\(r.text.prefix(300))")
        #expect(r.errorCode == code, "\(r.text.prefix(300))")
        #expect(elapsed < .seconds(2), "answered in \(elapsed)")
        #expect(!seen.peakKB.isEmpty, "no medsync-fcgi process was found to measure")
        for (pid, kb) in seen.peakKB { #expect(kb < 200 * 1024, "medsync-fcgi pid \(pid) reached \(kb / 1024) MB") }
        #expect(!seen.health.isEmpty && seen.health.allSatisfy { $0 == 200 }, "health answers: \(seen.health)")
        #expect(try c.call("GET", "/api/whatsapp/senders").status == 200)
    }

    @Test("an .xlsx whose cell reference overflows Int (AAAAAAAAAAAAAAAAAAAA2): 400 invalid_file, nothing traps")
    func overflowingCellReference() throws {
        let file = TestXlsx.workbook(sheetData: "<row r=\"1\">\(TestXlsx.cell("A1", "phone"))</row>"
                                     + "<row r=\"2\"><c r=\"AAAAAAAAAAAAAAAAAAAA2\"><v>1</v></c></row>")
        #expect(file.count < 2048)
        try expectRefusedCalmly(file, filename: "lista.xlsx", status: 400, code: "invalid_file")
    }

    @Test("a CSV with a line of 250,000 commas then 20,000 rows: 413 too_many_columns, no ballooning")
    func quarterMillionCommas() throws {
        var csv = String(repeating: ",", count: 250_000) + "\n"
        for i in 0..<20_000 { csv += "P\(i),+52155\(String(format: "%06d", i))\n" }
        try expectRefusedCalmly(Array(csv.utf8), filename: "lista.csv", status: 413, code: "too_many_columns")
    }

    @Test("nginx and the app: 5 MiB for /api/whatsapp/bundle/, 1 MiB elsewhere, a JSON 413 over either")
    func bodyLimitsThroughNginx() throws {
        let c = try StaffClient()
        // 4.5 MiB reaches the app (it answers about the file, not the size).
        let big = try upload(c, [UInt8](repeating: UInt8(ascii: "a"), count: 4_500_000), filename: "old.xls")
        #expect(big.status == 415, "\(big.text.prefix(200))")
        #expect(big.errorCode == "unsupported_file")
        let tooBig = try upload(c, [UInt8](repeating: UInt8(ascii: "a"), count: 5_300_000), filename: "l.csv")
        #expect(tooBig.status == 413)
        #expect(tooBig.errorCode == "payload_too_large", "\(tooBig.text.prefix(200))")
        let json = try c.call("POST", "/api/whatsapp/send", ["patient_id": 1, "body": String(repeating: "x", count: 1_200_000)])
        #expect(json.status == 413)
        #expect(json.errorCode == "payload_too_large", "\(json.text.prefix(200))")
    }

    @Test("the app's own limits per route, straight to the FastCGI socket")
    func bodyLimitsInTheApp() throws {
        let env = try StackEnvironment.shared()
        let socket = try env["STACK_DIR"] + "/fcgi.sock"
        func send(_ uri: String, _ bytes: Int) throws -> String {
            try runPython(["\(projectRoot)/Tests/Helpers/fcgi_request.py", socket, "POST", uri, "application/octet-stream", String(bytes)])
        }
        let health = try send("/api/health", 2 << 20)
        #expect(health.hasPrefix("Status: 413"), "\(health.prefix(200))")
        #expect(health.contains("payload_too_large"))
        let upload = try send("/api/whatsapp/bundle/preview", 2 << 20)
        #expect(upload.hasPrefix("Status: 401"), "read whole, then refused for its missing token: \(upload.prefix(200))")
        let tooBig = try send("/api/whatsapp/bundle/preview", 6 << 20)
        #expect(tooBig.hasPrefix("Status: 413"), "\(tooBig.prefix(200))")
    }
}
