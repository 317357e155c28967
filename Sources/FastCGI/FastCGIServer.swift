@preconcurrency import CFCGI
@preconcurrency import CLinux
import Foundation
import MedsyncLog

/// A start-up failure of the FastCGI server.
public struct FastCGIError: Error, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String
    public var description: String { "FastCGIError(\(code)): \(message)" }
}

/// A pool of worker threads accepting FastCGI requests on one socket with libfcgi
/// (as fcgi2's examples/threaded.c): `FCGX_Init` once, then per thread `FCGX_Accept_r` → handler →
/// `FCGX_Finish_r`.
///
/// `run` opens the socket and serves in this process (the sandbox); `medsync-fcgi` opens the socket
/// in its master (`ProcessPool`) and calls `serve` in each child. Either blocks until SIGTERM or
/// SIGINT (or, with `maxRequests`, until that many requests were answered): then no new request is
/// accepted, requests in flight finish, and the call returns. Call it before starting other threads:
/// it blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts) and waits
/// for them on a dedicated thread.
///
/// Stopping needs no signal to the workers: the listening socket is non-blocking and each worker
/// waits for it in an epoll set of its own (`EPOLLEXCLUSIVE`: one waiter woken per connection, no
/// thundering herd across threads and processes) with a short timeout, and looks at the stop flag
/// between waits. A worker that is woken always accepts, so a connection is never left unnoticed in
/// the backlog; one that loses the race to another worker or process gets EAGAIN and waits again.
/// (Interrupting `FCGX_Accept_r` with a signal instead could drop a connection libfcgi had already
/// accepted but not yet read.)
///
/// nginx may keep a connection open for further requests (`fastcgi_keep_conn`): the worker that
/// accepted it then waits for its next request on it, not on the listening socket, so each idle kept
/// connection pins one thread (nginx/dev.conf.in keeps them to half the threads). Once stopping, a
/// worker still answers on its kept connection until nginx closes it (`keptConnectionDrain`).
public final class FastCGIServer: @unchecked Sendable {
    /// Unix socket path, `host:port`, or "" when systemd passes the socket (LISTEN_FDS, fd 3).
    public let listen: String
    public let workers: Int
    public let maxBodyBytes: Int
    /// `serve` stops accepting after this many requests (0: never); the pool then starts a fresh child.
    public var maxRequests = 0
    /// Called once when `maxRequests` is reached, as this process stops accepting (in a pool's child:
    /// `ProcessPool.retiring`, so that the replacement starts while this one finishes).
    public var onRecycle: (@Sendable () -> Void)?
    /// A request still running after this long gets one slow-log line (method, path, elapsed); nil: none.
    public var slowRequestAfter: Duration?
    /// Per-route body limits (default `maxBodyBytes`); set before `serve`.
    public var bodyLimits: BodyLimits
    /// When listening on TCP: the only IPv4 addresses whose connections are served (libfcgi's
    /// FCGI_WEB_SERVER_ADDRS; another peer's connection is closed unread). Required for a TCP address
    /// that is not loopback. Set before `openListenSocket`.
    public var allowedPeers: [String] = []
    /// Connections waiting for a free worker (the kernel caps it at net.core.somaxconn).
    public var backlog: Int32 = 1024
    /// Once stopping, how long a worker keeps answering on a connection nginx kept open before it
    /// closes it itself. nginx closes its kept connections sooner (nginx/dev.conf.in: keepalive_time
    /// and keepalive_timeout 1s), so normally nginx closes first and no request meets a closed socket.
    public var keptConnectionDrain: Duration = .seconds(3)
    /// How often an idle worker looks at the stop flag.
    static let stopPollMS: Int32 = 200
    /// The server's lines: start and stop, worker failures, the slow log, one access line per request
    /// (method, path without query, status, time; `request_id`).
    public var logger = Logger(label: "medsync.fastcgi")

    public init(listen: String, workers: Int, maxBodyBytes: Int) {
        self.listen = listen
        self.workers = max(1, workers)
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.bodyLimits = BodyLimits(defaultBytes: maxBodyBytes)
    }

    /// Opens the socket and serves in this process until SIGTERM/SIGINT.
    public func run(_ makeHandler: @escaping @Sendable () -> (Request) -> Response) throws(FastCGIError) {
        let (listenFD, description) = try openListenSocket()
        logger.info("listening on \(description) with \(workers) workers, max body \(maxBodyBytes) bytes")
        _ = try serve(listenFD: listenFD, makeHandler)
    }

    /// Why `serve` returned.
    public enum StopReason: Sendable, Equatable {
        /// SIGTERM or SIGINT.
        case signal
        /// `maxRequests` requests were answered.
        case recycled
    }

    /// Serves on an open listening socket with `workers` threads until SIGTERM/SIGINT or
    /// `maxRequests`; returns once every request in flight is answered.
    public func serve(listenFD: Int32, _ makeHandler: @escaping @Sendable () -> (Request) -> Response) throws(FastCGIError) -> StopReason {
        // SIGTERM/SIGINT are blocked before FCGX_Init (which installs a SIGTERM handler of its own if
        // none is set) and before any thread starts, so every thread inherits the mask and only the
        // signal thread's sigwait receives them (no work in a signal handler).
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        // SETMASK, not BLOCK: a mask inherited from the parent (a test runner's threads block more,
        // and a child keeps that mask across exec) must not leak into the workers.
        pthread_sigmask(SIG_SETMASK, &stopSignals, nil)
        guard FCGX_Init() == 0 else { throw FastCGIError(code: "init_failed", message: "FCGX_Init failed") }
        // libfcgi's own SIGUSR1 handler would set its "shutdown pending" flag, after which no worker
        // could accept again: nothing here uses SIGUSR1, so a stray one is ignored.
        signal(SIGUSR1, SIG_IGN)

        let pool = Pool(workers: workers, maxRequests: maxRequests, onRecycle: onRecycle, logger: logger)
        let limits = bodyLimits
        let drain = keptConnectionDrain
        for index in 0..<workers {
            let thread = Thread {
                Worker(index: index, listenFD: listenFD, bodyLimits: limits, pool: pool, keptConnectionDrain: drain).run(makeHandler())
            }
            thread.name = "fcgi-worker-\(index)"
            thread.start()
        }
        let waitSet = stopSignals
        let signalThread = Thread {
            var set = waitSet
            var signal: Int32 = 0
            sigwait(&set, &signal)
            pool.logger.info("\(getpid()) received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); finishing requests in flight")
            pool.stop(.signal)
        }
        signalThread.name = "fcgi-signals"
        signalThread.start()
        if let slow = slowRequestAfter {
            let watchdog = Thread { pool.watchSlowRequests(after: slow) }
            watchdog.name = "fcgi-slowlog"
            watchdog.start()
        }

        let reason = pool.waitUntilAllStopped()
        logger.info(reason == .recycled
                    ? "\(getpid()) answered \(maxRequests) requests; exiting to be replaced"
                    : "\(getpid()) all workers stopped")
        return reason
    }

    /// The listening socket: fd 3 under systemd socket activation, else a new unix or TCP socket.
    /// A unix socket is made 0660 (the app user and nginx's group), never world-writable. The socket
    /// is made non-blocking (see the type's comment); accepted connections stay blocking.
    public func openListenSocket() throws(FastCGIError) -> (fd: Int32, description: String) {
        let (fd, description) = try openSocket()
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw FastCGIError(code: "listen_failed", message: "fcntl O_NONBLOCK on \(description) failed: \(String(cString: strerror(errno)))")
        }
        return (fd, description)
    }

    private func openSocket() throws(FastCGIError) -> (fd: Int32, description: String) {
        if let fd = ProcessPool.inheritedListenSocket() {
            // A master re-executed by SIGHUP (ProcessPool): the socket is the one it served before,
            // already bound, listening and non-blocking; never unlinked or opened anew.
            if !allowedPeers.isEmpty { setenv("FCGI_WEB_SERVER_ADDRS", allowedPeers.joined(separator: ","), 1) }
            return (fd, "fd \(fd) kept across the re-exec")
        }
        let env = ProcessInfo.processInfo.environment
        if let pid = env["LISTEN_PID"].flatMap({ Int32($0) }), pid == getpid(),
           let count = env["LISTEN_FDS"].flatMap({ Int($0) }), count >= 1 {
            // sd_listen_fds(3): the first passed socket is fd 3 (SD_LISTEN_FDS_START). It belongs to
            // systemd: never unlinked, chmod-ed or shut down here.
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
            _ = fcntl(3, F_SETFD, FD_CLOEXEC)
            return (3, "fd 3 from systemd (socket activation)")
        }
        guard !listen.isEmpty else {
            throw FastCGIError(code: "no_listen_socket",
                               message: "no listen address: set MEDSYNC_LISTEN (unix socket path or host:port) or start under systemd socket activation")
        }
        let isUnix = listen.contains("/") || !listen.contains(":")
        if !isUnix {
            // libfcgi serves any peer unless FCGI_WEB_SERVER_ADDRS lists some; FCGX_Init (in `serve`,
            // in every child after the fork) reads it once. A FastCGI peer can claim any REMOTE_ADDR
            // and reach every route past nginx's limits, so an address other hosts can reach needs the list.
            let host = String(listen[..<(listen.lastIndex(of: ":") ?? listen.startIndex)])
            let loopback = host == "localhost" || host.hasPrefix("127.")
            guard loopback || !allowedPeers.isEmpty else {
                throw FastCGIError(code: "peers_required",
                                   message: "MEDSYNC_LISTEN=\(listen) accepts connections from other hosts: set MEDSYNC_FCGI_ALLOWED_PEERS to the nginx hosts' IPv4 addresses")
            }
        }
        if !allowedPeers.isEmpty {
            setenv("FCGI_WEB_SERVER_ADDRS", allowedPeers.joined(separator: ","), 1)
        }
        if isUnix {
            let dir = (listen as NSString).deletingLastPathComponent
            guard dir.isEmpty || access(dir, W_OK | X_OK) == 0 else {
                throw FastCGIError(code: "listen_failed", message: "cannot create the socket \(listen): its directory is missing or not writable")
            }
            guard listen.utf8.count < 108 else {
                throw FastCGIError(code: "listen_failed", message: "the socket path \(listen) is longer than 107 bytes")
            }
        }
        // libfcgi: a path with ':port' is TCP ("127.0.0.1:9000", ":9000" for every address), else a unix path.
        let fd = FCGX_OpenSocket(listen, backlog)
        guard fd >= 0 else {
            throw FastCGIError(code: "listen_failed", message: "FCGX_OpenSocket(\(listen)) failed: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        if isUnix, chmod(listen, 0o660) != 0 {
            throw FastCGIError(code: "listen_failed", message: "chmod 0660 \(listen) failed: \(String(cString: strerror(errno)))")
        }
        return (fd, listen)
    }
}

/// What the worker threads of one process share: the stop flag, the request count (recycling) and
/// the requests in flight (slow log).
final class Pool: @unchecked Sendable {
    private let lock = NSCondition()
    private var reason: FastCGIServer.StopReason?
    private var running: Int
    private let maxRequests: Int
    private let onRecycle: (@Sendable () -> Void)?
    private var answered = 0
    /// Requests being handled, by worker index: when they started, method and path (no query).
    private var inFlight: [Int: (start: ContinuousClock.Instant, method: String, path: String, requestID: String, reported: Bool)] = [:]
    let logger: Logger

    init(workers: Int, maxRequests: Int, onRecycle: (@Sendable () -> Void)? = nil, logger: Logger) {
        running = workers
        self.maxRequests = maxRequests
        self.onRecycle = onRecycle
        self.logger = logger
    }

    var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return reason != nil
    }

    func begin(_ index: Int, method: String, path: String, requestID: String) {
        lock.lock()
        inFlight[index] = (ContinuousClock.now, method, path, requestID, false)
        lock.unlock()
    }

    /// A request was answered; past `maxRequests` the pool stops accepting.
    func end(_ index: Int) {
        lock.lock()
        inFlight[index] = nil
        answered += 1
        let recycled = maxRequests > 0 && answered >= maxRequests && reason == nil
        if recycled { reason = .recycled }
        lock.unlock()
        if recycled { onRecycle?() }
    }

    func workerExited() {
        lock.lock()
        running -= 1
        lock.broadcast()
        lock.unlock()
    }

    /// Stops accepting; the workers see it within `FastCGIServer.stopPollMS` and finish what they hold.
    func stop(_ why: FastCGIServer.StopReason) {
        lock.lock()
        if reason == nil { reason = why }
        lock.broadcast()
        lock.unlock()
    }

    func waitUntilAllStopped() -> FastCGIServer.StopReason {
        lock.lock()
        defer { lock.unlock() }
        while !(reason != nil && running == 0) { lock.wait() }
        return reason ?? .signal
    }

    /// The slow log (php-fpm's request_slowlog_timeout): one line per request still running after
    /// `limit`, while it runs. The request is not interrupted: a thread cannot be stopped safely
    /// in the middle of a libpq or libcurl call.
    func watchSlowRequests(after limit: Duration) {
        let interval = min(Duration.seconds(1), limit / 4)
        lock.lock()
        defer { lock.unlock() }
        while !(reason != nil && running == 0) {
            _ = lock.wait(until: Date(timeIntervalSinceNow: Double(interval.milliseconds) / 1000))
            let now = ContinuousClock.now
            for (index, r) in inFlight where !r.reported && now - r.start >= limit {
                inFlight[index]?.reported = true
                self.logger.warning("slow request: \(r.method) \(r.path) running for \((now - r.start).milliseconds)ms (pid \(getpid()), worker \(index))",
                               metadata: ["request_id": "\(r.requestID)"])
            }
        }
    }
}

/// Owns one `FCGX_Request`, allocated at a fixed address (its streams point back to it).
final class FCGIRequestHandle {
    let raw: UnsafeMutablePointer<FCGX_Request>

    init(listenFD: Int32) throws(FastCGIError) {
        raw = .allocate(capacity: 1)
        raw.initialize(to: FCGX_Request())
        guard FCGX_InitRequest(raw, listenFD, Int32(FCGI_FAIL_ACCEPT_ON_INTR)) == 0 else {
            raw.deinitialize(count: 1)
            raw.deallocate()
            throw FastCGIError(code: "init_failed", message: "FCGX_InitRequest failed")
        }
    }

    deinit {
        FCGX_Free(raw, 1)
        raw.deinitialize(count: 1)
        raw.deallocate()
    }
}

struct Worker {
    let index: Int
    let listenFD: Int32
    let bodyLimits: BodyLimits
    let pool: Pool
    var keptConnectionDrain: Duration = .seconds(3)

    func run(_ handler: (Request) -> Response) {
        defer { pool.workerExited() }
        let request: FCGIRequestHandle
        let waiter: AcceptWaiter
        do {
            request = try FCGIRequestHandle(listenFD: listenFD)
            waiter = try AcceptWaiter(listenFD: listenFD)
        } catch {
            pool.logger.error("worker \(index): \(error)")
            return
        }
        var drainUntil: ContinuousClock.Instant?
        while true {
            let kept = request.raw.pointee.ipcFd >= 0
            if pool.isStopping {
                // A connection nginx kept open is never closed from here while nginx may be sending on
                // it (a webhook written to a closed connection is a 502): the worker answers what comes
                // on it until nginx closes it (upstream keepalive_timeout/keepalive_time), at most
                // `keptConnectionDrain`. New connections are left to the other processes.
                guard kept else { break }
                let deadline = drainUntil ?? ContinuousClock.now + keptConnectionDrain
                drainUntil = deadline
                if ContinuousClock.now >= deadline { break }
            }
            if kept {
                // nginx kept the last connection open (fastcgi_keep_conn): its next request comes on it.
                guard Worker.waitReadable(request.raw.pointee.ipcFd, milliseconds: FastCGIServer.stopPollMS) else { continue }
                // Or nginx closed it: close our end here rather than in FCGX_Accept_r, which would go
                // on to accept a new connection — and a stopping worker must not take new ones.
                if Worker.peerClosed(request.raw.pointee.ipcFd) {
                    FCGX_Free(request.raw, 1)
                    continue
                }
            } else {
                // Woken: a connection is waiting (accept it even when stopping, see FastCGIServer).
                guard waiter.wait(milliseconds: FastCGIServer.stopPollMS) else { continue }
            }
            let rc = FCGX_Accept_r(request.raw)
            if rc < 0 {
                // Another worker or process took the connection (EAGAIN), or a signal interrupted.
                if rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR {
                    pool.logger.error("worker \(index): FCGX_Accept_r failed (\(rc))")
                    usleep(100_000)
                }
                continue
            }
            serve(request.raw, handler)
            FCGX_Finish_r(request.raw)
            pool.end(index)
        }
    }

    /// True when the peer of a readable `fd` has closed it (no data left to read).
    static func peerClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    }

    /// True when `fd` has data or its peer closed it; false on timeout or a signal.
    static func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, milliseconds) > 0
    }

    func serve(_ raw: UnsafeMutablePointer<FCGX_Request>, _ handler: (Request) -> Response) {
        let start = ContinuousClock.now
        let params = Self.params(raw.pointee.envp)
        var request = Self.request(from: params)
        pool.begin(index, method: request.method, path: request.path, requestID: request.requestID)
        let response: Response
        let maxBodyBytes = bodyLimits.bytes(forPath: request.path)
        if let declared = params["CONTENT_LENGTH"].flatMap({ Int($0) }), declared > maxBodyBytes {
            // Refused from the declared length without reading the body (nginx copes: it reads the
            // response while it sends, verified with 8 MB bodies).
            response = Self.tooLarge(maxBodyBytes)
        } else if let body = readBody(raw.pointee.in, limit: maxBodyBytes, expected: params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0) {
            request.body = body
            response = handler(request)
        } else {
            // CONTENT_LENGTH understated the body: stopped reading at the limit.
            response = Self.tooLarge(maxBodyBytes)
        }
        let written = write(response.serialized(), to: raw.pointee.out, closingFirst: raw.pointee.err)
        let ms = (ContinuousClock.now - start).milliseconds
        pool.logger.info("\(request.method) \(request.path) \(response.status) \(ms)ms\(written ? "" : " (client gone)")",
                         metadata: ["request_id": "\(request.requestID)"])
    }

    static func tooLarge(_ limit: Int) -> Response {
        .error(413, code: "payload_too_large", message: "The request body is larger than \(limit) bytes.")
    }

    /// The CGI parameters, copied at once (the strings die at the next accept/finish).
    static func params(_ envp: FCGX_ParamArray?) -> [String: String] {
        var params: [String: String] = [:]
        guard var p = envp else { return params }
        // Sized once (nginx sends ~30): growing the table step by step rehashed every name each time.
        var n = 0
        while p[n] != nil { n += 1 }
        params.reserveCapacity(n)
        while let entry = p.pointee {
            // NAME=value: split at the first "=" byte (a Character search over the String cost more
            // than the rest of the request's parsing).
            let bytes = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
            if let eq = bytes.firstIndex(of: UInt8(ascii: "=")) {
                params[String(decoding: bytes[..<eq], as: UTF8.self)] = String(decoding: bytes[(eq + 1)...], as: UTF8.self)
            }
            p += 1
        }
        return params
    }

    /// The Swift request (body added later) from the CGI parameters.
    static func request(from params: [String: String]) -> Request {
        var headers: [String: String] = [:]
        headers.reserveCapacity(params.count)
        for (name, value) in params where name.hasPrefix("HTTP_") {
            headers[headerName(name.utf8.dropFirst(5))] = value
        }
        if let v = params["CONTENT_TYPE"], !v.isEmpty { headers["content-type"] = v }
        if let v = params["CONTENT_LENGTH"], !v.isEmpty { headers["content-length"] = v }
        let query = params["QUERY_STRING"] ?? ""
        let uri = params["REQUEST_URI"]
            ?? ((params["DOCUMENT_URI"] ?? params["SCRIPT_NAME"] ?? "/") + (query.isEmpty ? "" : "?" + query))
        var request = Request(method: params["REQUEST_METHOD"] ?? "GET", uri: uri, headers: headers,
                              remoteAddress: params["REMOTE_ADDR"] ?? "")
        if params["QUERY_STRING"] != nil { request.query = query }
        request.requestID = Request.requestID(params["REQUEST_ID"])
        return request
    }

    /// `HTTP_X_TWILIO_SIGNATURE` → `x-twilio-signature`: nginx passes ASCII header names (it drops
    /// invalid ones), lowered byte by byte, `_` → `-`. (Foundation's `replacingOccurrences` here was
    /// 16 % of a worker's CPU on the no-database route: perf, bench/README.md.)
    static func headerName(_ cgi: Substring.UTF8View) -> String {
        String(decoding: cgi.map { $0 == 95 ? 45 : ($0 >= 65 && $0 <= 90 ? $0 + 32 : $0) }, as: UTF8.self)
    }

    /// Reads FCGI_STDIN to its end; nil when it holds more than `limit` bytes. The read buffer is the
    /// declared length plus one byte (to see the end, or an understated length), at most 64 KiB: a GET
    /// no longer clears 64 KiB per request.
    func readBody(_ stream: UnsafeMutablePointer<FCGX_Stream>?, limit maxBodyBytes: Int, expected: Int = 64 * 1024) -> [UInt8]? {
        var body: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(64 * 1024, max(0, expected) + 1))
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in
                FCGX_GetStr(buf.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buf.count), stream)
            }
            if n <= 0 { return body }
            if body.count + Int(n) > maxBodyBytes { return nil }
            body.append(contentsOf: chunk[0..<Int(n)])
            // More than declared (only a client past nginx can send that): read on in 64 KiB chunks.
            if Int(n) == chunk.count && chunk.count < 64 * 1024 { chunk = [UInt8](repeating: 0, count: 64 * 1024) }
        }
    }

    /// Writes the response with FCGX_PutStr (never the variadic FCGX_FPrintF), then closes the
    /// request's streams, `err` (never written to) first:
    /// libfcgi then sends the rest of the response, its end-of-stream record and FCGI_END_REQUEST in
    /// one write(2) (flushing `out` and leaving the end records to `FCGX_Finish_r` took two, and
    /// nginx two reads). False when a write failed (the client or nginx went away).
    func write(_ bytes: [UInt8], to stream: UnsafeMutablePointer<FCGX_Stream>?, closingFirst err: UnsafeMutablePointer<FCGX_Stream>?) -> Bool {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = min(buf.count - offset, 1 << 20)
                let rc = FCGX_PutStr(buf.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n), stream)
                if rc < 0 { return false }
                offset += n
            }
            if let err { _ = FCGX_FClose(err) }
            return FCGX_FClose(stream) >= 0
        }
    }
}

/// One worker's epoll set holding the listening socket with `EPOLLEXCLUSIVE`, so that a new
/// connection wakes one waiting worker (of any process) rather than all of them.
final class AcceptWaiter {
    let epollFD: Int32

    init(listenFD: Int32) throws(FastCGIError) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else {
            throw FastCGIError(code: "init_failed", message: "epoll_create1 failed: \(String(cString: strerror(errno)))")
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        event.data.fd = listenFD
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, listenFD, &event) == 0 else {
            let message = String(cString: strerror(errno))
            close(epollFD)
            throw FastCGIError(code: "init_failed", message: "epoll_ctl(EPOLLEXCLUSIVE) failed: \(message)")
        }
    }

    deinit { close(epollFD) }

    /// True when the socket has a connection to accept; false on timeout or a signal.
    func wait(milliseconds: Int32) -> Bool {
        var event = epoll_event()
        return epoll_wait(epollFD, &event, 1, milliseconds) > 0
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
