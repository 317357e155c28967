import Foundation

/// At most `limit` threads of this process do local work at once (CPU, PostgreSQL); the others wait
/// for a place in arrival order. A thread that waits on a remote API (every `HTTPClient.send` of a
/// client given the gate as its `RemoteWaitHook`: Twilio, Gemini) gives its place up meanwhile and takes one back, without waiting for the line, when the
/// answer comes.
///
/// Why: medsync-fcgi has many worker threads so that slow remote calls (a model answering in 8 s)
/// cannot use them all up; but when all of them have local work, 32 threads and their 32 PostgreSQL
/// backends share 2 cores and the scheduler, not arrival order, decides who finishes: at 32
/// concurrent webhooks p99 was 4× p50. With a few places, the rest wait in line, not on the CPU
/// (bench/README.md, "Threads and places").
///
/// That place is past the limit, and only one such thread at a time takes one (the others wait in a
/// line of their own): a batch of model answers that come back together (conversations asked at
/// once answer at once) is written one answer after another beside the requests in line, instead of
/// all at once ahead of them. That wait is bounded (`returnWaitMS`), so a thread that (against the
/// house rules) calls out while holding row locks cannot deadlock the others.
///
/// `limit` 0 (the default, and in every process that does not call `configure`) lets everything
/// through.
public final class WorkGate: RemoteWaitHook, @unchecked Sendable {
    public static let shared = WorkGate()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var limit = 0
    private var active = 0
    /// Threads waiting for a place; each is woken by the one that hands it its place.
    private var line = Line()
    /// Threads back from a remote call doing local work past the limit (at most one), and the line
    /// of the others.
    private var returning = 0
    private var returnLine = Line()
    /// The longest a thread back from a remote call waits for its turn (then it goes in anyway).
    private var returnWaitMS = 1000
    /// What the calling thread holds: nil nothing, `place` a place, `returned` a place taken back
    /// after a remote call (it hands the return turn on when it leaves).
    private let holding: pthread_key_t
    private static let place = 1
    private static let returned = 2
    private func hold(_ what: Int?) { pthread_setspecific(holding, what.flatMap { UnsafeRawPointer(bitPattern: $0) }) }

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

    /// Waiting threads, oldest first.
    private struct Line {
        private var waiters: [Waiter] = []
        private var head = 0
        var isEmpty: Bool { head == waiters.count }
        var count: Int { waiters.count - head }
        mutating func append(_ w: Waiter) { waiters.append(w) }
        /// Wakes the oldest waiter; false when none waits.
        mutating func wakeOldest() -> Bool {
            guard head < waiters.count else { return false }
            let next = waiters[head]
            head += 1
            compact()
            next.ready = true
            pthread_cond_signal(next.cond)
            return true
        }
        /// Takes a waiter that gave up out of the line.
        mutating func remove(_ w: Waiter) {
            guard let i = waiters[head...].firstIndex(where: { $0 === w }) else { return }
            waiters.remove(at: i)
            compact()
        }
        private mutating func compact() {
            if head == waiters.count { waiters.removeAll(keepingCapacity: true); head = 0 }
        }
    }

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        holding = key
    }

    /// Places for local work in this process; 0 turns the gate off. `returnWaitMS`: the longest a
    /// thread back from a remote call waits for its turn. Call before the threads start.
    public func configure(limit: Int, returnWaitMS: Int = 1000) {
        pthread_mutex_lock(mutex)
        self.limit = max(0, limit)
        self.returnWaitMS = max(0, returnWaitMS)
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
        if active < limit && line.isEmpty {
            active += 1
        } else {
            let me = Waiter()
            line.append(me)
            while !me.ready { pthread_cond_wait(me.cond, mutex) }   // `active` was handed over with the place
        }
        pthread_mutex_unlock(mutex)
        hold(WorkGate.place)
        return true
    }

    /// Gives the place to the oldest waiter, or back to the pool (and a return turn to the next thread
    /// back from a remote call).
    private func leave() {
        let held = Int(bitPattern: pthread_getspecific(holding))
        hold(nil)
        pthread_mutex_lock(mutex)
        if held == WorkGate.returned && !returnLine.wakeOldest() {
            returning -= 1
        }
        if !(active <= limit && line.wakeOldest()) {
            active -= 1
        }
        pthread_mutex_unlock(mutex)
    }

    /// Back from a remote call: a place past the limit, when no other thread back from one holds
    /// the return turn (or after `returnWaitMS` in line for it; see the type).
    private func reenter() {
        pthread_mutex_lock(mutex)
        var turn = true
        if returning == 0 && returnLine.isEmpty {
            returning = 1
        } else {
            let me = Waiter()
            returnLine.append(me)
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            let ns = Int(deadline.tv_nsec) + returnWaitMS * 1_000_000
            deadline.tv_sec += ns / 1_000_000_000
            deadline.tv_nsec = ns % 1_000_000_000
            while !me.ready && pthread_cond_timedwait(me.cond, mutex, &deadline) == 0 {}
            if !me.ready {
                // Waited long enough: in without the turn, out of its line.
                returnLine.remove(me)
                turn = false
            }
        }
        active += 1
        pthread_mutex_unlock(mutex)
        hold(turn ? WorkGate.returned : WorkGate.place)
    }

    /// Places taken and threads waiting (tests, metrics).
    public var state: (active: Int, waiting: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (active, line.count)
    }

    /// Threads back from a remote call: the one holding the return turn (0 or 1) and those in line
    /// for it (tests).
    public var returnState: (returning: Int, waiting: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (returning, returnLine.count)
    }
}
