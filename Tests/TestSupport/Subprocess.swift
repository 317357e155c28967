import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Not Foundation's `Process`: its `waitUntilExit` was seen never returning while several tests spawn
/// at once. Output goes to temporary files, not pipes, so a daemon the child starts (nginx,
/// PostgreSQL) cannot keep a test waiting for end-of-file; the child starts with an empty signal mask
/// and default handlers, whatever the test thread had.
public final class Subprocess: @unchecked Sendable {
    public let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String
    private var exitStatus: Int32?

    public init(_ arguments: [String], environment: [String: String] = [:], cwd: String = projectRoot, stdin: String = "") throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-sub-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let stdinPath = "\(dir)/stdin"
        stdoutPath = "\(dir)/stdout"
        stderrPath = "\(dir)/stderr"
        try stdin.write(toFile: stdinPath, atomically: false, encoding: .utf8)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // env(1) changes directory (-C) and finds the program on PATH.
        let argv = (["/usr/bin/env", "-C", cwd] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard rc == 0 else { throw TestSetupError("posix_spawn \(arguments.first ?? "") failed: \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Waits for the exit and returns the exit code (128 + signal when killed by one).
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus = code
        return code
    }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    deinit {
        if exitStatus == nil { kill(pid, SIGKILL); wait() }
        try? FileManager.default.removeItem(atPath: (stdoutPath as NSString).deletingLastPathComponent)
    }
}

public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a program to completion and captures its output.
@discardableResult
public func runCommand(_ arguments: [String], environment: [String: String] = [:], cwd: String = projectRoot,
                       stdin: String = "") throws -> CommandResult {
    let process = try Subprocess(arguments, environment: environment, cwd: cwd, stdin: stdin)
    let status = process.wait()
    return CommandResult(status: status, stdout: process.stdout, stderr: process.stderr)
}
