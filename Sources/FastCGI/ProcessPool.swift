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
/// - SIGHUP (a deploy: `systemctl reload medsync-fcgi`) re-executes the master from `executable` —
///   the binary now at the path it was started from, so a new build installed there takes over —
///   keeping its pid, its listening socket (`listenFD`, passed across exec) and its children, which
///   go on serving. The new master starts a full set of children from the new binary; once they have
///   run `drainAfter` without a crash it sends the old ones SIGTERM, and they answer what they hold
///   and exit (reaped by the new master: they are still its children). Connections are served
///   throughout, by the old children, then both, then the new ones: no request fails. The new
///   binary is first run apart with `--version`; when that fails (it cannot be executed, or cannot
///   start) the master carries on as it was; when its children crash, the old ones keep serving
///   until a later reload.
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

    /// The listening socket, handed to the new master across a re-exec (SIGHUP); -1: no re-exec.
    public var listenFD: Int32 = -1
    /// The binary a SIGHUP re-executes: the path this one was started from (read at start, before a
    /// deploy replaces the file).
    public let executable: String = ProcessPool.startedFrom()
    /// How long the children of a new binary must serve without a crash before the old ones are stopped.
    public var drainAfter: Duration = .seconds(1)

    public init(processes: Int) {
        self.processes = max(1, processes)
        crashBurst = max(3, 2 * self.processes)
    }

    /// Set across a re-exec: the listening socket ("pid:fd": only for that pid, so a process the
    /// master starts otherwise never takes it) and the old children to drain.
    static let inheritedSocketVariable = "MEDSYNC_INHERITED_LISTEN_FD"
    static let drainVariable = "MEDSYNC_DRAIN_CHILDREN"

    /// The listening socket a re-executed master inherited (its descriptor, made close-on-exec again),
    /// or nil. Read once, before `run`.
    public static func inheritedListenSocket() -> Int32? {
        guard let value = getenv(inheritedSocketVariable).map({ String(cString: $0) }) else { return nil }
        unsetenv(inheritedSocketVariable)
        let parts = value.split(separator: ":")
        guard parts.count == 2, pid_t(parts[0]) == getpid(), let fd = Int32(parts[1]), fcntl(fd, F_GETFD) >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// The absolute path of the running binary, as it was when it started.
    static func startedFrom() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments.first ?? "" }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // Replaced already (a deploy wrote a new file at the path): the kernel appends " (deleted)".
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// Re-executes this process from `executable`, handing over the socket and the children to
    /// drain; returns only when exec failed (the environment and the socket are as they were).
    private func reexec(draining: [pid_t]) {
        guard listenFD >= 0, !executable.isEmpty else {
            logger.error("SIGHUP: no socket to hand over; not reloading")
            return
        }
        // After execv there is no way back: a binary that cannot start would take the master (and,
        // with it, every child) down. Tried first, apart.
        guard startsCleanly() else { return }
        setenv(ProcessPool.inheritedSocketVariable, "\(getpid()):\(listenFD)", 1)
        setenv(ProcessPool.drainVariable, draining.map(String.init).joined(separator: ","), 1)
        _ = fcntl(listenFD, F_SETFD, 0)
        logger.notice("master received SIGHUP: executing \(executable); \(draining.count) children serve until its own do")
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        if argv.count == 1 { argv = [strdup(executable), nil] }
        execv(executable, argv)
        let reason = String(cString: strerror(errno))
        for p in argv { free(p) }
        _ = fcntl(listenFD, F_SETFD, FD_CLOEXEC)
        unsetenv(ProcessPool.inheritedSocketVariable)
        unsetenv(ProcessPool.drainVariable)
        logger.error("SIGHUP: cannot execute \(executable): \(reason); the running binary goes on serving")
    }

    /// How long `executable --version` may take before a reload gives up on it.
    public var preflightTimeout: Duration = .seconds(30)

    /// Runs `executable --version` in a process of its own (stdin and stdout on /dev/null, stderr
    /// kept for the journal) and tells whether it exited 0 within `preflightTimeout`: a file that
    /// can be executed but cannot start (a missing library, a trap before main, a script that fails)
    /// is refused here, while the running master can still carry on. DATABASE_URL is left out of its
    /// environment, so a build that does not know `--version` stops at its configuration (78)
    /// instead of starting a second server.
    private func startsCleanly() -> Bool {
        guard access(executable, X_OK) == 0 else {
            logger.error("SIGHUP: cannot execute \(executable): \(String(cString: strerror(errno))); the running binary goes on serving")
            return false
        }
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != "DATABASE_URL" }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), strdup("--version"), nil]
        defer { for p in envp + argv { free(p) } }
        let pid = fork()
        if pid == 0 {
            let null = open("/dev/null", O_RDWR)
            if null >= 0 { _ = dup2(null, 0); _ = dup2(null, 1) }
            execve(executable, argv, envp)
            _exit(127)
        }
        guard pid > 0 else {
            logger.error("SIGHUP: fork failed: \(String(cString: strerror(errno))); not reloading")
            return false
        }
        let deadline = ContinuousClock.now + preflightTimeout
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                logger.error("SIGHUP: \(executable) --version did not finish in \(preflightTimeout); the running binary goes on serving")
                return false
            }
            usleep(10_000)
        }
        let exit = ChildExit(status: status)
        guard !exit.isAbnormal else {
            let reason = exit.exitCode == 127 && exit.signal == nil ? "cannot be executed, or " : ""
            logger.error("SIGHUP: \(executable) --version \(reason)\(exit): not starting it; the running binary goes on serving")
            return false
        }
        return true
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
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGUSR2, SIGHUP] { sigaddset(&signals, s) }
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
        // The previous binary's children (this master re-executed, SIGHUP): serving until ours have
        // served `drainAfter` without a crash (`drainAt`), then stopped (`draining`) and reaped.
        var previous = Set((getenv(ProcessPool.drainVariable).map { String(cString: $0) } ?? "")
            .split(separator: ",").compactMap { pid_t($0) })
        unsetenv(ProcessPool.drainVariable)
        var draining = Set<pid_t>()
        var drainAt: ContinuousClock.Instant?
        var crashedSinceStart = false
        var keepPrevious = false
        if !previous.isEmpty { logger.notice("master \(master) re-executed: \(previous.count) children of the previous binary serve until these start") }
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
            if !previous.isEmpty && !stopping {
                if drainAt == nil && !keepPrevious && children.count == processes { drainAt = ContinuousClock.now + drainAfter }
                if let at = drainAt, ContinuousClock.now >= at {
                    drainAt = nil
                    if crashedSinceStart {
                        keepPrevious = true
                        logger.error("the new binary's children crash: the previous binary's \(previous.count) children keep serving")
                    } else {
                        logger.notice("the new binary's children serve: stopping the previous binary's \(previous.count) children")
                        for pid in previous { kill(pid, SIGTERM) }
                        draining.formUnion(previous)
                        previous.removeAll()
                    }
                }
            }
            if stopping && children.isEmpty && retiring.isEmpty && draining.isEmpty && previous.isEmpty { break }

            var wait = Duration.seconds(1)
            if !stopping && children.count < processes {
                wait = max(.milliseconds(1), min(wait, nextStart - ContinuousClock.now))
            }
            if let at = drainAt, !stopping {
                wait = max(.milliseconds(1), min(wait, at - ContinuousClock.now))
            }
            let (seconds, attoseconds) = wait.components
            var timeout = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            var info = siginfo_t()
            let signal = sigtimedwait(&signals, &info, &timeout)
            if (signal == SIGTERM || signal == SIGINT) && !stopping {
                stopping = true
                logger.notice("master received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); stopping \(children.count) children")
                for pid in Array(children.keys) + Array(retiring.keys) + Array(previous) + Array(draining) { kill(pid, SIGTERM) }
                draining.formUnion(previous)
                previous.removeAll()
            }
            if signal == SIGHUP && !stopping {
                // Ours and any still-serving children of an earlier binary go on until the next
                // binary's children serve.
                reexec(draining: Array(children.keys) + Array(previous) + Array(retiring.keys) + Array(draining))
                continue
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
                if draining.remove(pid) != nil || previous.remove(pid) != nil {
                    logger.info("child \(pid) of the previous binary \(exit)")
                    continue
                }
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
                crashedSinceStart = true
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
        // A reload is the master's (SIGHUP re-executes it): a SIGHUP sent to every process of the
        // service by name would otherwise end the children with their requests.
        signal(SIGHUP, SIG_IGN)
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
