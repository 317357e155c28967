import Foundation

/// Options both jobs take (`--dry-run`, `--limit`, `--workspace`).
public struct JobOptions: Sendable {
    /// Report what would be sent; claim, send and record nothing.
    public var dryRun: Bool
    /// At most this many sends (Twilio calls) in this run; nil = no limit.
    public var limit: Int?
    /// Only this workspace.
    public var workspaceID: Int64?

    public init(dryRun: Bool = false, limit: Int? = nil, workspaceID: Int64? = nil) {
        self.dryRun = dryRun
        self.limit = limit
        self.workspaceID = workspaceID
    }
}

/// Time as the jobs see it: the system clock in production, a fixed or stepped one in tests.
public protocol JobClock: Sendable {
    func now() -> Date
    func sleep(seconds: Double)
}

public struct SystemClock: JobClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        Thread.sleep(forTimeInterval: seconds)
    }
}

/// A clock whose `now` is fixed (e.g. a date before a DST change) while sleeps really wait.
public struct FixedClock: JobClock {
    public let date: Date
    public init(_ date: Date) { self.date = date }
    public func now() -> Date { date }
    public func sleep(seconds: Double) { SystemClock().sleep(seconds: seconds) }
}

/// Where the jobs write their lines (stderr under systemd ends up in the journal).
public typealias JobLogger = @Sendable (String) -> Void

/// Spaces Twilio calls of one sender at most `rate` per second (measured on a monotonic clock,
/// with a 1% margin so that network jitter cannot put `rate + 1` calls into one second).
public final class SendPacer {
    public let rate: Int
    private let interval: Double
    private var last: UInt64?   // DispatchTime nanoseconds of the previous call

    public init(rate: Int) {
        self.rate = max(rate, 1)
        interval = 1.0 / Double(max(rate, 1)) * 1.01
    }

    /// Blocks until the next call may start.
    public func wait() {
        let now = DispatchTime.now().uptimeNanoseconds
        if let last {
            let next = last + UInt64(interval * 1_000_000_000)
            if next > now { SystemClock().sleep(seconds: Double(next - now) / 1_000_000_000) }
        }
        last = DispatchTime.now().uptimeNanoseconds
    }
}

/// Exponential backoff with jitter for Twilio 429/5xx answers.
public struct RetryPolicy: Sendable {
    /// Twilio calls per recipient at most (the first one included).
    public var maxAttempts: Int
    public var baseSeconds: Double
    public var maxSeconds: Double

    public init(maxAttempts: Int = 5, baseSeconds: Double = 0.5, maxSeconds: Double = 30) {
        self.maxAttempts = maxAttempts
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
    }

    /// Delay before attempt `attempt + 1` after `attempt` failed: base·2^(attempt-1), capped, with
    /// "equal jitter" (half fixed, half random) so that senders hit by the same 429 spread out.
    public func delay(afterAttempt attempt: Int) -> Double {
        let exp = min(baseSeconds * pow(2, Double(max(attempt - 1, 0))), maxSeconds)
        return exp / 2 + Double.random(in: 0...(exp / 2))
    }
}

func milliseconds(since start: DispatchTime) -> Int {
    Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
}
