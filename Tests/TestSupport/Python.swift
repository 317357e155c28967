import Foundation

/// The Python interpreter tests use: `MEDSYNC_PYTHON` (the venv `make test` creates) or `python3`.
public var pythonExecutable: String {
    ProcessInfo.processInfo.environment["MEDSYNC_PYTHON"] ?? "python3"
}

/// Path of a helper script under Tests/DomainTests/Helpers.
public func domainTestHelper(_ name: String) -> String {
    "\(projectRoot)/Tests/DomainTests/Helpers/\(name)"
}

/// Runs a Python script with `stdin` as its input; returns stdout. A non-zero exit throws with stderr,
/// and a missing module says how to get it (instead of a bare traceback).
public func runPython(_ arguments: [String], stdin: String = "") throws -> String {
    let result = try runCommand([pythonExecutable] + arguments, stdin: stdin)
    guard result.status == 0 else {
        if result.stderr.contains("ModuleNotFoundError") {
            throw TestSetupError("""
                \(pythonExecutable) lacks a module the test needs (`make test` installs it into .run/venv; \
                or `pip install cryptography twilio` and set MEDSYNC_PYTHON): \(result.stderr)
                """)
        }
        throw TestSetupError("\(pythonExecutable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
    }
    return result.stdout
}

/// A helper server started from a Python script that prints its port on the first stdout line and
/// exits when its stdin closes. Stopped in `deinit` (and by the stdin EOF if the test process dies).
public final class PythonServer: @unchecked Sendable {
    public let port: Int
    private let process: Process
    private let stdin: Pipe

    public init(script: String, arguments: [String] = []) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [pythonExecutable, script] + arguments
        stdin = Pipe()
        let out = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw TestSetupError("cannot start \(pythonExecutable) \(script): \(error)")
        }
        var line = Data()
        let reader = out.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }  // EOF: the script died before printing its port
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(text), port > 0 else {
            process.terminate()
            throw TestSetupError("\(script) did not print a port (got \(text.debugDescription))")
        }
        self.port = port
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
public func closedLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestSetupError("bind() failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard named == 0 else { throw TestSetupError("getsockname() failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
