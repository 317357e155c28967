import Dispatch

/// A process-wide cap on PBKDF2 password hashes running at once (each is ~0.1 s of one core): a
/// counting semaphore shared by every worker thread. A caller over the cap waits up to `wait`
/// seconds for a slot, then gets 503 `auth_busy` with `Retry-After`, so a login storm cannot take
/// every core from the webhooks. The wait is short on purpose: a sign-in waiting for a slot holds a
/// worker thread, and a storm of them would otherwise leave no thread for the webhooks.
public final class HashGate: Sendable {
    public let limit: Int
    public let wait: Double
    private let slots: DispatchSemaphore

    public init(limit: Int, wait: Double = 0.1) {
        self.limit = max(1, limit)
        self.wait = wait
        slots = DispatchSemaphore(value: self.limit)
    }

    public static let busy = AppError(.authBusy, "Too many sign-ins are being checked right now; retry in a moment.", retryAfter: 1)

    /// Runs `body` holding one slot; throws `busy` when none frees up in time.
    public func run<T>(_ body: () throws -> T) throws -> T {
        guard slots.wait(timeout: .now() + wait) == .success else { throw HashGate.busy }
        defer { slots.signal() }
        return try body()
    }
}
