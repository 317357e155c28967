import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient

/// A deploy: a new medsync-fcgi binary is installed at the path the running one was started from
/// and the master gets SIGHUP (`systemctl reload medsync-fcgi`). The master re-executes itself from
/// the new file, keeping its pid and the listening socket; the new binary's children start, the old
/// ones finish what they hold and exit. Through nginx, under wrk, no request fails, and /api/health
/// names the new binary afterwards.
@Suite(.needsStack, .serialized) final class DeployTests {
    let stack: PrivateStack
    init() throws { stack = try PrivateStack(name: "deploy", httpPort: 18580) }
    deinit { stack.down() }

    var binDir: String { ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug" }

    @Test func aNewBinaryTakesOverOnSIGHUPWithoutAFailedRequest() throws {
        // Where the deploy installs binaries (as /opt/medsync/bin in production).
        let installed = try install(in: "bin")

        let master = try startMaster(on: stack, binary: installed, ["MEDSYNC_PROCESSES": "2", "MEDSYNC_WORKERS": "4", "MEDSYNC_MAX_REQUESTS": "0"])
        defer { stopMaster(on: stack, master) }
        try waitUntil("the pool has 2 children") { childProcesses(of: master.pid).count == 2 }
        let oldChildren = childProcesses(of: master.pid)
        let health = "\(try stack.env.appURL)/api/health"
        let before = try version(health)
        #expect(before == (try digest(installed)), "health names the running binary")

        // The new build: the same program with other bytes, so another digest. Installed as a deploy
        // does it: written beside, then renamed over the old path (the running file stays intact).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: installed))
        bytes.append(contentsOf: Array("medsync deploy test \(UInt64.random(in: 0...UInt64.max))".utf8))
        try bytes.write(to: URL(fileURLWithPath: installed + ".new"))
        chmod(installed + ".new", 0o755)
        #expect(rename(installed + ".new", installed) == 0)
        let newDigest = try digest(installed)
        #expect(newDigest != before)

        // GETs of /api/health (a query each) and, beside them, POSTs (nginx never passes a POST it
        // sent on to another connection, so a POST that met a closing child would be a 502):
        // POST /api/ping is 405 from the app itself; any other answer came from nginx.
        let script = try postsAnsweredByTheAppScript("deploy-post")
        defer { try? FileManager.default.removeItem(atPath: script) }
        let wrk = try Subprocess(["wrk", "-t2", "-c8", "-d5s", "--timeout", "5s", health])
        let posts = try Subprocess(["wrk", "-t1", "-c4", "-d5s", "--timeout", "5s", "-s", script, "\(try stack.env.appURL)/api/ping"])
        usleep(1_500_000)
        master.signal(SIGHUP)
        #expect(wrk.wait() == 0, "wrk: \(wrk.stderr)")
        #expect(posts.wait() == 0, "wrk: \(posts.stderr)")
        let result = WrkResult(wrk.stdout), postResult = WrkResult(posts.stdout)
        print("deploy: SIGHUP under wrk (8 connections of GET /api/health, 4 of POST, 5 s): \(result.non2xx + result.socketErrors) failed of \(result.requests) GETs; "
              + "\(posts.stdout.split(separator: "\n").last ?? "") of \(postResult.requests) POSTs, \(postResult.socketErrors) socket errors")
        #expect(result.requests > 100, "\(wrk.stdout)")
        #expect(result.non2xx == 0 && result.socketErrors == 0, "\(wrk.stdout)\n\(master.stderr.suffix(3000))")
        #expect(postResult.requests > 100 && postResult.socketErrors == 0, "\(posts.stdout)")
        #expect(posts.stdout.contains("answers other than 405: 0"), "\(posts.stdout)\n\(master.stderr.suffix(3000))")

        #expect(try version(health) == newDigest, "the new binary answers")
        // The same master (its pid is what systemd watches), new children, the old ones gone.
        try waitUntil("the old children have exited") { oldChildren.allSatisfy { !isRunning($0) } }
        let now = childProcesses(of: master.pid)
        #expect(now.count == 2 && Set(now).isDisjoint(with: oldChildren), "\(oldChildren) → \(now)")
        let log = master.stderr
        #expect(log.contains("master received SIGHUP: executing \(installed)"), "\(log.suffix(3000))")
        #expect(log.contains("stopping the previous binary's 2 children"), "\(log.suffix(3000))")
        #expect(!log.contains("requests in flight are lost"), "\(log.suffix(3000))")
    }

    /// A reload whose binary cannot run (here: the file is gone) leaves the running one serving.
    @Test func aReloadWithoutAnExecutableBinaryKeepsServing() throws {
        let installed = try install(in: "bin-missing")
        let master = try startMaster(on: stack, binary: installed, ["MEDSYNC_PROCESSES": "1"])
        defer { stopMaster(on: stack, master) }
        try waitUntil("the pool has 1 child") { childProcesses(of: master.pid).count == 1 }
        try FileManager.default.removeItem(atPath: installed)
        master.signal(SIGHUP)
        try waitUntil("the failed reload is logged") { master.stderr.contains("SIGHUP: cannot execute") }
        #expect(try httpGet("\(try stack.env.appURL)/api/health").status == 200)
    }

    /// A reload to a file that can be executed but does not start (here: a script that exits 1, as a
    /// build missing a library would) is refused before the master executes it: the same children
    /// keep serving. (Executed in place of the master, it would have taken the pool down with it.)
    @Test func aReloadToABinaryThatCannotStartKeepsServing() throws {
        let installed = try install(in: "bin-broken")
        let master = try startMaster(on: stack, binary: installed, ["MEDSYNC_PROCESSES": "1"])
        defer { stopMaster(on: stack, master) }
        try waitUntil("the pool has 1 child") { childProcesses(of: master.pid).count == 1 }
        let children = childProcesses(of: master.pid)
        let health = "\(try stack.env.appURL)/api/health"
        let before = try version(health)
        #expect(before != nil)
        try "#!/bin/sh\nexit 1\n".write(toFile: installed + ".new", atomically: true, encoding: .utf8)
        chmod(installed + ".new", 0o755)
        #expect(rename(installed + ".new", installed) == 0)
        master.signal(SIGHUP)
        try waitUntil("the refused reload is logged") { master.stderr.contains("--version exited with status 1: not starting it") }
        #expect(isRunning(master.pid), "\(master.stderr.suffix(2000))")
        #expect(try version(health) == before, "the running binary answers")
        #expect(Set(childProcesses(of: master.pid)) == Set(children))
        #expect(!master.stderr.contains("master received SIGHUP: executing"), "\(master.stderr.suffix(2000))")
    }

    /// A copy of the built medsync-fcgi at `<stack>/<directory>/medsync-fcgi` (as /opt/medsync/bin in
    /// production), for a deploy to replace.
    func install(in directory: String) throws -> String {
        let installed = "\(stack.dir)/\(directory)/medsync-fcgi"
        try FileManager.default.createDirectory(atPath: "\(stack.dir)/\(directory)", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: installed)
        try FileManager.default.copyItem(atPath: "\(binDir)/medsync-fcgi", toPath: installed)
        return installed
    }

    /// The "version" of /api/health.
    func version(_ url: String) throws -> String? {
        let r = try httpGet(url)
        guard r.status == 200, let object = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else { return nil }
        return object["version"] as? String
    }

    /// What BinaryVersion says of a file: the first 16 hex digits of its SHA-256.
    func digest(_ path: String) throws -> String {
        String(try runCommand(["sha256sum", path]).stdout.prefix(16))
    }
}
