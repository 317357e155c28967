import Foundation

/// At most `limit` threads of this process do local work at once (CPU, PostgreSQL); the others wait
/// for a place in arrival order. A thread that waits on a remote API (every `HTTPClient.send`: Twilio,
/// Gemini) gives its place up meanwhile and takes one back, without queueing, when the answer comes.
///
/// Why: medsync-fcgi has many worker threads so that slow remote calls (a model answering in 8 s)
/// cannot use them all up; but when all of them have local work, 32 threads and their 32 PostgreSQL
/// backends share 2 cores and the scheduler, not arrival order, decides who finishes: at 32
/// concurrent webhooks p99 was 4× p50. With a few places, the rest wait in line, not on the CPU
/// (bench/README.md, "Threads and places").
///
/// `limit` 0 (the default, and in every process that does not call `configure`) lets everything
/// through. Taking a place back after a remote call never waits, so a thread that (against the
/// house rules) calls out while holding row locks cannot deadlock the others.
public final class WorkGate: @unchecked Sendable {
    public static let shared = WorkGate()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var limit = 0
    private var active = 0
    /// Threads waiting for a place, oldest first; each is woken by the one that hands it its place.
    private var queue: [Waiter] = []
    private var head = 0
    /// Set (non-nil) while the calling thread holds a place.
    private let holding: pthread_key_t

    private final class Waiter {
        let cond: UnsafeMutablePointer<pthread_cond_t>
        var ready = false
        init() {
            cond = .allocate(capacity: 1)
            pthread_cond_init(cond, nil)
        }
        deinit {
            pthread_cond_destroy(cond)
            cond.deallocate()
        }
    }

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        holding = key
    }

    /// Places for local work in this process; 0 turns the gate off. Call before the threads start.
    public func configure(limit: Int) {
        pthread_mutex_lock(mutex)
        self.limit = max(0, limit)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` holding a place (waiting in line for one if all are taken).
    public func inside<T>(_ body: () throws -> T) rethrows -> T {
        guard enter() else { return try body() }
        defer { leave() }
        return try body()
    }

    /// Runs `body` (a wait on something remote) without the calling thread's place, if it holds one.
    public func outside<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard pthread_getspecific(holding) != nil else { return try body() }
        leave()
        defer { reenter() }
        return try body()
    }

    /// Takes a place; false when the gate is off (nothing to give back).
    private func enter() -> Bool {
        pthread_mutex_lock(mutex)
        guard limit > 0 else { pthread_mutex_unlock(mutex); return false }
        if active < limit && head == queue.count {
            active += 1
        } else {
            let me = Waiter()
            queue.append(me)
            while !me.ready { pthread_cond_wait(me.cond, mutex) }   // `active` was handed over with the place
        }
        pthread_mutex_unlock(mutex)
        pthread_setspecific(holding, UnsafeRawPointer(bitPattern: 1))
        return true
    }

    /// Gives the place to the oldest waiter, or back to the pool.
    private func leave() {
        pthread_setspecific(holding, nil)
        pthread_mutex_lock(mutex)
        if head < queue.count && active <= limit {
            let next = queue[head]
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            next.ready = true
            pthread_cond_signal(next.cond)
        } else {
            active -= 1
        }
        pthread_mutex_unlock(mutex)
    }

    /// Back from a remote call: a place at once, even past the limit for a moment (see the type).
    private func reenter() {
        pthread_mutex_lock(mutex)
        active += 1
        pthread_mutex_unlock(mutex)
        pthread_setspecific(holding, UnsafeRawPointer(bitPattern: 1))
    }

    /// Places taken and threads waiting (tests, metrics).
    public var state: (active: Int, waiting: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (active, queue.count - head)
    }
}
