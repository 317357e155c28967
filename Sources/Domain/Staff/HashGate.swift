import Dispatch
import HTTPClient
import MedsyncConfig

/// A process-wide budget of PBKDF2 password hashes running at once (each is ~0.3–0.6 s of one core
/// at 600,000 iterations): a counting semaphore shared by every worker thread, the process's share
/// of the cores unless configured (the pool as a whole hashes on at most every core). A caller over
/// the budget waits in line up to `wait` seconds (10 by default: long enough for a room of people
/// signing in together, since a slot frees every fraction of a second), giving up its CPU place
/// meanwhile, then gets 503 `auth_busy` with `Retry-After`, so a login storm cannot hold worker
/// threads for long nor take more cores than the budget from the webhooks.
public final class HashGate: Sendable {
    public let limit: Int
    public let wait: Double
    private let slots: DispatchSemaphore

    public init(limit: Int, wait: Double = 10) {
        self.limit = max(1, limit)
        self.wait = wait
        slots = DispatchSemaphore(value: self.limit)
    }

    /// The budget and wait the configuration names (`MEDSYNC_PASSWORD_HASH_CONCURRENCY`, `…_WAIT_MS`).
    public convenience init(config: Config) {
        self.init(limit: config.passwordHashConcurrency, wait: Double(config.passwordHashWaitMS) / 1000)
    }

    public static let busy = AppError(.authBusy, "Too many sign-ins are being checked right now; retry in a moment.", retryAfter: 1)

    /// Runs `body` holding one slot; throws `busy` when none frees up in time. While it waits in
    /// line the thread gives up its place in the process's `WorkGate` (as during a remote call), so
    /// sign-ins waiting for a hash do not keep webhooks off the CPU.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let deadline = DispatchTime.now() + wait
        if slots.wait(timeout: .now()) != .success {
            guard WorkGate.shared.outside({ slots.wait(timeout: deadline) }) == .success else { throw HashGate.busy }
        }
        defer { slots.signal() }
        return try body()
    }
}
