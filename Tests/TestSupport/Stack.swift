import Foundation
import Testing

/// The project's root folder (where Package.swift is), from this file's path.
public let projectRoot: String = {
    if let root = ProcessInfo.processInfo.environment["MEDSYNC_ROOT"] { return root }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a required variable of the test environment; a missing one fails the test with a clear message.
public func requiredEnvironment(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw TestSetupError("\(name) is not set: run the tests with `make test`, which starts the stack they need")
    }
    return value
}

/// Parses KEY=VALUE lines (the stack's env file); a value in single quotes is read as bash reads it.
public func parseEnvFile(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
        var value = String(line[line.index(after: eq)...])
        if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") {
            value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "'\\''", with: "'")
        }
        out[String(line[..<eq])] = value
    }
    return out
}

/// The stack `make test` started: URLs, database, demo workspace and token.
public struct StackEnvironment: Sendable {
    public let values: [String: String]

    public static func shared() throws -> StackEnvironment {
        let path = try requiredEnvironment("MEDSYNC_TEST_ENV")
        return try StackEnvironment(path: path)
    }

    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TestSetupError("cannot read the stack's env file \(path)")
        }
        values = parseEnvFile(text)
    }

    public subscript(_ key: String) -> String {
        get throws {
            guard let v = values[key] else { throw TestSetupError("the stack's env has no \(key)") }
            return v
        }
    }

    public var appURL: String { get throws { try self["MEDSYNC_URL"] } }
    public var sandboxURL: String { get throws { try self["SANDBOX_URL"] } }
    public var databaseURL: String { get throws { try self["DATABASE_URL"] } }
}

/// A stack of its own (PostgreSQL cluster, sandbox, workers, nginx) for tests that stop or restart
/// parts of it. Ports must be unique per suite; `MEDSYNC_TEST_PORT_OFFSET` shifts them all, so two
/// checkouts can run `make test` side by side.
public final class PrivateStack: @unchecked Sendable {
    public let dir: String
    public let httpPort: Int
    public let env: StackEnvironment
    private let settings: [String: String]

    public init(name: String, httpPort: Int) throws {
        dir = "\(projectRoot)/.run/test-\(name)"
        let offset = Int(ProcessInfo.processInfo.environment["MEDSYNC_TEST_PORT_OFFSET"] ?? "") ?? 0
        self.httpPort = httpPort + offset
        let httpPort = self.httpPort
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        settings = ["STACK_DIR": dir, "MEDSYNC_HTTP_PORT": "\(httpPort)", "SANDBOX_HTTP_PORT": "\(httpPort + 1)",
                    "BIN_DIR": binDir, "MEDSYNC_WORKERS": "4", "MEDSYNC_PROCESSES": "2"]
        try? runCommand(["\(projectRoot)/scripts/stack", "down"], environment: settings)
        try? FileManager.default.removeItem(atPath: dir)
        let up = try runCommand(["\(projectRoot)/scripts/stack", "up"], environment: settings)
        guard up.status == 0 else { throw TestSetupError("scripts/stack up failed: \(up.stderr)") }
        env = try StackEnvironment(path: "\(dir)/env")
    }

    /// Runs `scripts/stack <command>` for this stack.
    @discardableResult
    public func stack(_ arguments: String...) throws -> CommandResult {
        try stack(arguments, environment: [:])
    }

    /// Runs `scripts/stack <command>` for this stack with more settings (e.g. MEDSYNC_FCGI_UPSTREAMS).
    @discardableResult
    public func stack(_ arguments: [String], environment: [String: String]) throws -> CommandResult {
        let r = try runCommand(["\(projectRoot)/scripts/stack"] + arguments, environment: settings.merging(environment) { $1 })
        guard r.status == 0 else { throw TestSetupError("scripts/stack \(arguments.joined(separator: " ")) failed: \(r.stderr)") }
        return r
    }

    public func down() { _ = try? runCommand(["\(projectRoot)/scripts/stack", "down"], environment: settings) }

    deinit { down() }
}

/// Whether the stack `make test` starts is up. scripts/test sets `MEDSYNC_TEST_ENV` (the stack's env
/// file) after `scripts/stack up`; a plain `swift test` has no stack and runs only the tests that need
/// none. Under `make test` nothing is skipped: `StackPresenceTests` fails when the variable is set but
/// the stack does not answer, and scripts/test fails when the run reports a skipped test.
public enum Stack {
    public static var isUp: Bool { ProcessInfo.processInfo.environment["MEDSYNC_TEST_ENV"] != nil }
}

extension Trait where Self == ConditionTrait {
    /// For a test or suite that needs PostgreSQL, the sandbox, nginx or the workers (the stack
    /// `make test` starts, or a private one started the same way).
    public static var needsStack: Self {
        .enabled(if: Stack.isUp, "needs the stack `make test` starts (PostgreSQL, sandbox, nginx); run `make test`")
    }
}
