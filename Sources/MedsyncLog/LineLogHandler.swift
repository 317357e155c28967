import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@_exported import Logging

/// The log handler of every MedSync binary: one line per event on stderr, which systemd sends to
/// the journal —
///
///     medsync: warning: status callback without AccountSid: ignored message_sid=SM… request_id=…
///
/// the program's name, the level, the message, then the metadata as `key=value` (sorted; values
/// with spaces or quotes are quoted). Control characters become `?`, so an event is always one line
/// and nothing from a request can forge another. Under systemd (`JOURNAL_STREAM` set) each line
/// starts with its syslog priority (`<3>`…`<7>`), so `journalctl -p warning` filters by level.
///
/// Fork-safe by construction: no lock, no buffer, no allocation shared between threads; each line
/// is one `write(2)` of its own (lines of concurrent workers do not interleave). The FastCGI master
/// forks while no other thread exists, and a child may log at once.
///
/// What goes in a line is the caller's responsibility, and the rule is: no secrets, no row values.
/// Errors are logged through their `description` (PGError's is generic: SQLSTATE and code, never
/// the server's DETAIL or HINT); see `LogSafe`.
public struct LineLogHandler: LogHandler {
    public typealias Sink = @Sendable (String) -> Void

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let program: String
    private let priorityPrefix: Bool
    private let sink: Sink

    /// - Parameters:
    ///   - program: the line's first word (`medsync`, `medsync-jobs`).
    ///   - level: events below it are dropped (by `Logger`, before any formatting).
    ///   - journal: prefix each line with its syslog priority (`<N>`), as journald reads stderr.
    ///   - sink: where a finished line goes; stderr unless a test captures it.
    public init(program: String, level: Logger.Level = .info, journal: Bool = false,
                metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping Sink = LineLogHandler.standardError) {
        self.program = program
        self.logLevel = level
        self.priorityPrefix = journal
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let own = event.metadata { all.merge(own) { _, new in new } }
        var line = priorityPrefix ? "<\(Self.syslogPriority(event.level))>" : ""
        line += "\(program): \(event.level): \(Self.clean(event.message.description))"
        if let error = event.error, all["error"] == nil { all["error"] = .string(String(describing: error)) }
        for key in all.keys.sorted() {
            guard let value = all[key] else { continue }
            line += " \(Self.clean(key))=\(Self.quoted(Self.clean(Self.render(value))))"
        }
        sink(line)
    }

    /// One `write(2)` of the line and its newline (retried only on EINTR; a full or closed stderr
    /// loses the line rather than blocking or crashing the process).
    @Sendable public static func standardError(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = write(2, base + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// RFC 5424 severities, as journald reads them from a `<N>` prefix.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .debug, .trace: return 7
        }
    }

    /// Control characters (newline, escape…) as `?`: one event, one line, no terminal escapes.
    public static func clean(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }

    static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return "[" + a.map(render).joined(separator: ",") + "]"
        case .dictionary(let d): return "{" + d.sorted { $0.key < $1.key }.map { "\($0.key):\(render($0.value))" }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ s: String) -> String {
        guard s.isEmpty || s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// Setting up logging once per process.
public enum MedsyncLogging {
    /// `MEDSYNC_LOG_LEVEL`: trace, debug, info (the default), notice, warning, error or critical.
    public static let levelVariable = "MEDSYNC_LOG_LEVEL"

    /// The level the environment asks for; nil when the value is not a level's name.
    public static func level(_ value: String?) -> Logger.Level? {
        guard let value, !value.isEmpty else { return .info }
        return Logger.Level(rawValue: value.lowercased().trimmingCharacters(in: .whitespaces))
    }

    /// Makes every `Logger(label:)` of the process a `LineLogHandler` writing to stderr, at the level
    /// of `MEDSYNC_LOG_LEVEL` (an unknown value: info, and a warning saying so). Call it once, first
    /// thing in `main`, before any thread or fork. Returns the process's logger.
    @discardableResult
    public static func bootstrap(program: String, environment: [String: String]) -> Logger {
        let level = Self.level(environment[levelVariable])
        let journal = environment["JOURNAL_STREAM"].map { !$0.isEmpty } ?? false
        LoggingSystem.bootstrap { _ in LineLogHandler(program: program, level: level ?? .info, journal: journal) }
        let logger = Logger(label: program)
        if level == nil {
            logger.warning("\(levelVariable) is not one of trace, debug, info, notice, warning, error, critical: using info")
        }
        return logger
    }
}

extension Logger {
    /// A logger that drops everything (tests that do not look at the log).
    public static let discarding = Logger(label: "discarding") { _ in SwiftLogNoOpLogHandler() }
}
