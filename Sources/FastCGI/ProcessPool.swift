@preconcurrency import CLinux
import Foundation
import MedsyncLog

/// The master process of `medsync-fcgi`, in php-fpm's shape (`fpm_children.c`, `fpm_process_ctl.c`):
/// it owns the listening socket, forks `processes` children that each serve it with their own worker
/// threads, and keeps that many alive.
///
/// - A child that dies (a trap, a signal, the OOM killer) takes only its own requests in flight; the
///   master reaps it and starts another at once. When children keep dying (more than `crashBurst`
///   abnormal exits within `crashWindow`, php-fpm's emergency_restart_threshold idea) each start
///   waits longer, 100 ms doubling up to 5 s, so a crash loop cannot become a fork loop.
/// - A child recycled after `FastCGIServer.maxRequests` (staggered: `recycleAfter`) tells the master
///   the moment it stops accepting (`retiring()`, SIGUSR2), and its replacement starts then, not once
///   it has exited: the retiring child still answers on the connections nginx keeps open to it (up to
///   nginx's keepalive_time), and for that while new connections need threads of their own.
/// - SIGTERM or SIGINT to the master is passed to every child, which stops accepting and answers what
///   it holds; the master returns once all have exited (no child is started meanwhile). Connections
///   arriving in between wait in the socket's backlog.
/// - Every child asks the kernel for SIGTERM when the master dies (PR_SET_PDEATHSIG), so a master
///   killed with SIGKILL leaves no orphans serving an old configuration.
///
/// The master is one thread and stays one: it forks only while no other thread exists (a child of a
/// threaded process may inherit a lock some other thread held), so it starts no thread, does no
/// libcurl or libpq work, and waits for signals with `sigtimedwait` instead of handlers.
public final class ProcessPool {
    public let processes: Int
    /// Abnormal exits allowed within `crashWindow` before starts are delayed.
    public let crashBurst: Int
    public let crashWindow: Duration = .seconds(10)
    static let maxDelay: Duration = .seconds(5)
    /// The master's lines (children starting, dying, being replaced).
    public var logger = Logger(label: "medsync.pool")

    /// Slots for the children's shared state (metrics): each child holds one until it has exited, so
    /// a retiring child and its replacement need two.
    public var slots: Int { 2 * processes }

    public init(processes: Int) {
        self.processes = max(1, processes)
        crashBurst = max(3, 2 * self.processes)
    }

    /// The master's pid, in a child of the pool (0 elsewhere): set right after the fork.
    nonisolated(unsafe) private static var master: pid_t = 0

    /// In a child: "I stop accepting; start my replacement." Nothing outside a pool's child.
    public static func retiring() {
        if master != 0, getppid() == master { kill(master, SIGUSR2) }
    }

    /// How many requests the child at `position` answers before it is recycled: `maxRequests` for the
    /// first, up to half as many again for the last (0 stays 0: never). Children start together and
    /// share the load evenly, so with one count for all they would all be replaced at the same moment
    /// — every replacement starting with cold database sessions at once (gunicorn's
    /// `max_requests_jitter`, uWSGI's `max-requests-delta`, made deterministic per position).
    public static func recycleAfter(_ maxRequests: Int, position: Int, processes: Int) -> Int {
        guard maxRequests > 0, processes > 1, position > 0 else { return max(0, maxRequests) }
        let spread = maxRequests / 2 / (processes - 1) * min(position, processes - 1)  // ≤ maxRequests / 2
        return maxRequests > Int.max - spread ? Int.max : maxRequests + spread
    }

    /// Runs the master until SIGTERM/SIGINT and every child has exited; returns its exit status.
    /// `child` runs in each forked child, on its one thread, with the child's slot (0..<slots, free
    /// until the child has exited) and position (0..<processes: a replacement takes the position of
    /// the child it replaces) and returns the child's exit status. `reaped` runs in the master once
    /// the child of a slot has exited, before the slot is reused.
    public func run(child: (_ slot: Int, _ position: Int) -> Int32, reaped: (Int) -> Void = { _ in }) -> Int32 {
        let master = getpid()
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGUSR2] { sigaddset(&signals, s) }
        // Taken with sigtimedwait only; children inherit the mask and set their own (FastCGIServer.serve).
        pthread_sigmask(SIG_SETMASK, &signals, nil)
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 1
        if threads > 1 {
            logger.warning("the master has \(threads) threads before forking; children may inherit held locks")
        }
        logger.info("master \(master) keeps \(processes) children")

        var children: [pid_t: (slot: Int, position: Int)] = [:]  // serving, counted in `processes`
        var retiring: [pid_t: Int] = [:]  // pid → slot: replaced already, finishing what they hold
        var stopping = false
        var crashes: [ContinuousClock.Instant] = []
        var nextStart = ContinuousClock.now
        while true {
            if !stopping {
                while children.count < processes && ContinuousClock.now >= nextStart {
                    let taken = Set(children.values.map(\.slot)).union(retiring.values)
                    let held = Set(children.values.map(\.position))
                    guard let slot = (0..<slots).first(where: { !taken.contains($0) }),
                          let position = (0..<processes).first(where: { !held.contains($0) }) else { break }
                    let pid = fork()
                    if pid == 0 { runChild(master: master) { child(slot, position) } }
                    if pid < 0 {
                        logger.error("fork failed: \(String(cString: strerror(errno))); retrying in 1 s")
                        nextStart = ContinuousClock.now + .seconds(1)
                        break
                    }
                    children[pid] = (slot, position)
                    logger.info("child \(pid) started (\(children.count) of \(processes))")
                }
            }
            if stopping && children.isEmpty && retiring.isEmpty { break }

            var wait = Duration.seconds(1)
            if !stopping && children.count < processes {
                wait = max(.milliseconds(1), min(wait, nextStart - ContinuousClock.now))
            }
            let (seconds, attoseconds) = wait.components
            var timeout = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            var info = siginfo_t()
            let signal = sigtimedwait(&signals, &info, &timeout)
            if (signal == SIGTERM || signal == SIGINT) && !stopping {
                stopping = true
                logger.notice("master received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); stopping \(children.count) children")
                for pid in Array(children.keys) + Array(retiring.keys) { kill(pid, SIGTERM) }
            }
            let sender = medsync_siginfo_pid(&info)
            if signal == SIGUSR2, !stopping, let retired = children.removeValue(forKey: sender) {
                retiring[sender] = retired.slot
                logger.info("child \(sender) stopped accepting; starting its replacement")
                continue
            }

            // Reap every child that ended (one SIGCHLD may stand for several).
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                let exit = ChildExit(status: status)
                if let slot = retiring.removeValue(forKey: pid) {
                    reaped(slot)
                    if exit.isAbnormal { logger.error("retiring child \(pid) \(exit) — its requests in flight are lost") }
                    else { logger.info("retiring child \(pid) \(exit)") }
                    continue
                }
                guard let slot = children.removeValue(forKey: pid)?.slot else { continue }
                reaped(slot)
                if stopping {
                    logger.info("child \(pid) \(exit) (\(children.count + retiring.count) left)")
                    continue
                }
                guard exit.isAbnormal else {
                    logger.info("child \(pid) \(exit); replacing it")
                    continue
                }
                let now = ContinuousClock.now
                crashes.append(now)
                crashes.removeAll { now - $0 > crashWindow }
                if crashes.count > crashBurst {
                    let doublings = min(crashes.count - crashBurst - 1, 10)
                    let delay = min(ProcessPool.maxDelay, .milliseconds(100 * (1 << doublings)))
                    nextStart = max(nextStart, now + delay)
                    logger.error("child \(pid) \(exit) — its requests in flight are lost; \(crashes.count) crashes in \(crashWindow): next start in \(delay.milliseconds)ms")
                } else {
                    logger.error("child \(pid) \(exit) — its requests in flight are lost; replacing it")
                }
            }
        }
        logger.notice("master \(master) stopped")
        return 0
    }

    /// In a new child: die with the master, then serve.
    private func runChild(master: pid_t, _ child: () -> Int32) -> Never {
        // SIGTERM, not SIGKILL: an orphaned child still answers what it holds before it exits.
        _ = medsync_prctl_set_pdeathsig(SIGTERM)
        // The master may have died before prctl took effect.
        if getppid() != master { exit(0) }
        ProcessPool.master = master
        exit(child())
    }
}

/// How a child ended, from its `waitpid` status.
struct ChildExit: CustomStringConvertible {
    let status: Int32

    var signal: Int32? { status & 0x7f == 0 ? nil : status & 0x7f }
    var exitCode: Int32 { (status >> 8) & 0xff }
    /// Killed by a signal, or exited non-zero. A child exits 0 only when recycled or stopped.
    var isAbnormal: Bool { signal != nil || exitCode != 0 }

    var description: String {
        if let signal {
            let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGKILL: "SIGKILL", SIGABRT: "SIGABRT", SIGILL: "SIGILL",
                                          SIGTRAP: "SIGTRAP", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGTERM: "SIGTERM", SIGINT: "SIGINT"]
            return "was killed by signal \(signal) (\(names[signal] ?? "?"))\(status & 0x80 != 0 ? ", core dumped" : "")"
        }
        return exitCode == 0 ? "exited" : "exited with status \(exitCode)"
    }
}
