import Foundation
import Testing
import TestSupport

/// A medsync-fcgi master of the test's own, started from `binary` on `stack`'s socket in place of the
/// stack's app (nginx passes requests to it), with `extra` settings; `stopMaster` ends it (exit 0
/// expected) and starts the stack's app again. (WorkerPoolTests, DeployTests.)
func startMaster(on stack: PrivateStack, binary: String, _ extra: [String: String]) throws -> Subprocess {
    try stack.stack("app-stop")
    let socket = "\(stack.dir)/fcgi.sock"
    try? FileManager.default.removeItem(atPath: socket)
    let settings = parseEnvFile(try stack.stack("env").stdout)
    let process = try Subprocess([binary], environment: settings.merging(["MEDSYNC_LISTEN": socket]) { $1 }.merging(extra) { $1 })
    try waitUntil("\(socket) exists") { FileManager.default.fileExists(atPath: socket) }
    _ = try runCommand(["chgrp", "www-data", socket])
    return process
}

func stopMaster(on stack: PrivateStack, _ process: Subprocess) {
    process.signal(SIGTERM)
    let status = process.wait()
    #expect(status == 0, "\(process.stderr.suffix(2000))")
    _ = try? stack.stack("app-start")
}

/// A wrk script of POSTs ("x") that counts the answers other than 405 — POST /api/ping is 405 from
/// the app itself, so any other answer came from nginx (nginx never passes a POST it sent on to
/// another connection: a POST that met a closing child is a 502). wrk prints "answers other than
/// 405: N" at the end. The caller removes the file.
func postsAnsweredByTheAppScript(_ name: String) throws -> String {
    let script = NSTemporaryDirectory() + "\(name)-\(getpid()).lua"
    try """
        wrk.method = "POST"
        wrk.body = "x"
        wrk.headers["Content-Type"] = "text/plain"
        local threads = {}
        function setup(thread) table.insert(threads, thread) end
        function init(args) others = 0 end
        function response(status, headers, body) if status ~= 405 then others = others + 1 end end
        function done(summary, latency, requests)
            local n = 0
            for _, t in ipairs(threads) do n = n + t:get("others") end
            io.write("answers other than 405: " .. n .. "\\n")
        end
        """.write(toFile: script, atomically: true, encoding: .utf8)
    return script
}
