import Foundation
import MedsyncConfig
import HTTPClient
import Twilio
import MedsyncLog

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
public typealias JobLogger = Logger

/// Spaces Twilio calls of one sender at most `rate` per second, as Twilio sees them: calls start at
/// least 1.01/rate s apart (monotonic clock), and a call starts only once 1 s has passed since the
/// *end* of the call `rate` calls before it — so however long a request takes to arrive, no window
/// of one second on Twilio's side can hold `rate + 1` of them. Call `wait()` before and
/// `completed()` after each call.
public final class SendPacer {
    public let rate: Int
    private let interval: UInt64
    private var lastStart: UInt64?
    /// End times of the last `rate` calls, oldest first.
    private var recentEnds: [UInt64] = []

    public init(rate: Int) {
        self.rate = max(rate, 1)
        interval = UInt64(1_000_000_000 / Double(max(rate, 1)) * 1.01)
    }

    /// Blocks until the next call may start.
    public func wait() {
        var target: UInt64 = 0
        if let lastStart { target = lastStart + interval }
        if recentEnds.count >= rate, let oldest = recentEnds.first { target = max(target, oldest + 1_000_000_000) }
        let now = DispatchTime.now().uptimeNanoseconds
        if target > now { Thread.sleep(forTimeInterval: Double(target - now) / 1_000_000_000) }
        lastStart = DispatchTime.now().uptimeNanoseconds
    }

    /// The call that followed the last `wait()` has ended (answered, failed, or was not made).
    public func completed() {
        recentEnds.append(DispatchTime.now().uptimeNanoseconds)
        if recentEnds.count > rate { recentEnds.removeFirst(recentEnds.count - rate) }
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

/// After an ambiguous Twilio failure — a 5xx, or no usable answer once the request went out — the
/// message may have been sent. Before trying again a job asks Twilio's Messages list for that
/// recipient since the claim (`JobMessenger.sentCheck`), and treats a match as sent: never a blind resend.
public enum SentCheck: Sendable {
    case sent(TwilioMessage)
    case notSent
    /// The list could not be read: nobody knows.
    case unknown(String)

    /// A 5xx, a timeout or an unreadable 2xx: Twilio may have acted. (429 and refused connections: it did not.)
    static func isAmbiguous(_ error: any Error) -> Bool {
        if let e = error as? TwilioError { return (500..<600).contains(e.httpStatus) }
        if let e = error as? TwilioTransportError { return e.code != .connect }
        return false
    }

    /// Messages.json?To=&From=&DateSent>= through the sender's account; an outbound API message with the
    /// same text (any text for a Content template, whose body Twilio renders) since `since` is a match.
    static func run(http: HTTPClient, config: Config, _ p: PreparedOutbound, since: Date) -> SentCheck {
        do {
            let client = try TwilioClients.forSender(p.sender, config: config, http: http)
            let found = try client.listMessages(to: p.patientPhone, from: p.sender.phoneNumber, since: since.addingTimeInterval(-30))
                .first { m in (m.direction ?? "outbound-api").hasPrefix("outbound-api") && (p.contentSid != nil || m.body == p.body) }
            return found.map(SentCheck.sent) ?? .notSent
        } catch {
            return .unknown(String(describing: error))
        }
    }
}

func milliseconds(since start: DispatchTime) -> Int {
    Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
}
