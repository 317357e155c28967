import Foundation
import MedsyncLog

/// The lines a test's logger wrote (the production `LineLogHandler`, writing here instead of stderr).
public final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var captured: [String] = []

    public init() {}

    public var lines: [String] { lock.lock(); defer { lock.unlock() }; return captured }
    public var text: String { lines.joined(separator: "\n") }

    public func logger(program: String = "medsync", level: Logger.Level = .info, journal: Bool = false) -> Logger {
        Logger(label: "test") { _ in
            LineLogHandler(program: program, level: level, journal: journal, sink: { line in
                self.lock.lock()
                self.captured.append(line)
                self.lock.unlock()
            })
        }
    }
}
