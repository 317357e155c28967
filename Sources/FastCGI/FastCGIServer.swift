@preconcurrency import CFCGI
import Foundation

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
/// `run` blocks until SIGTERM or SIGINT: then no new request is accepted, requests in flight finish,
/// and `run` returns. Call it from the main thread before starting other threads: it blocks SIGTERM
/// and SIGINT in the calling thread (and so in every thread it starts) and waits for them on a
/// dedicated thread.
public final class FastCGIServer {
    /// Unix socket path, `host:port`, or "" when systemd passes the socket (LISTEN_FDS, fd 3).
    public let listen: String
    public let workers: Int
    public let maxBodyBytes: Int
    /// Connections waiting for a free worker (the kernel caps it at net.core.somaxconn).
    public var backlog: Int32 = 1024

    public init(listen: String, workers: Int, maxBodyBytes: Int) {
        self.listen = listen
        self.workers = max(1, workers)
        self.maxBodyBytes = max(0, maxBodyBytes)
    }

    public func run(_ makeHandler: @escaping @Sendable () -> (Request) -> Response) throws(FastCGIError) {
        guard FCGX_Init() == 0 else { throw FastCGIError(code: "init_failed", message: "FCGX_Init failed") }
        let (listenFD, description) = try openListenSocket()
        Log.line("medsync: listening on \(description) with \(workers) workers, max body \(maxBodyBytes) bytes")
        Signals.installWakeHandler()

        // SIGTERM/SIGINT are blocked here before any thread starts, so every thread inherits the mask
        // and only the signal thread's sigwait receives them (no work in a signal handler).
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        // SETMASK, not BLOCK: a mask inherited from the parent (a test runner's threads block SIGUSR1 and
        // more, and a child keeps that mask across exec) must not keep SIGUSR1 from waking the workers.
        pthread_sigmask(SIG_SETMASK, &stopSignals, nil)

        let pool = Pool(workers: workers)
        let maxBody = maxBodyBytes
        for index in 0..<workers {
            let thread = Thread {
                Worker(index: index, listenFD: listenFD, maxBodyBytes: maxBody, pool: pool).run(makeHandler())
            }
            thread.name = "fcgi-worker-\(index)"
            thread.start()
        }
        let waitSet = stopSignals
        let signalThread = Thread {
            var set = waitSet
            var signal: Int32 = 0
            sigwait(&set, &signal)
            Log.line("medsync: received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); finishing requests in flight")
            pool.stop()
        }
        signalThread.name = "fcgi-signals"
        signalThread.start()

        pool.waitUntilAllStopped()
        Log.line("medsync: all workers stopped")
    }

    /// The listening socket: fd 3 under systemd socket activation, else a new unix or TCP socket.
    /// A unix socket is made 0660 (the app user and nginx's group), never world-writable.
    func openListenSocket() throws(FastCGIError) -> (fd: Int32, description: String) {
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

/// What the worker threads share: the stop flag and which threads are blocked in accept.
final class Pool: @unchecked Sendable {
    private let lock = NSCondition()
    private var stopping = false
    private var running: Int
    /// Workers currently inside FCGX_Accept_r, by index.
    private var accepting: [Int: pthread_t] = [:]

    init(workers: Int) { running = workers }

    /// Marks a worker as entering accept; false when the pool is stopping (the worker must exit).
    func enterAccept(_ index: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopping { return false }
        accepting[index] = pthread_self()
        return true
    }

    /// Marks a worker as back from accept; returns whether the pool is stopping.
    func leaveAccept(_ index: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        accepting[index] = nil
        return stopping
    }

    func workerExited() {
        lock.lock()
        running -= 1
        lock.broadcast()
        lock.unlock()
    }

    /// Stops accepting: sets the flag, then interrupts the threads blocked in accept (SIGUSR1,
    /// whose handler is installed without SA_RESTART, and requests with FCGI_FAIL_ACCEPT_ON_INTR)
    /// every 50 ms until every worker has returned — a thread may enter accept() just after a kick.
    func stop() {
        FCGX_ShutdownPending()
        lock.lock()
        stopping = true
        while running > 0 {
            for thread in accepting.values { pthread_kill(thread, SIGUSR1) }
            _ = lock.wait(until: Date(timeIntervalSinceNow: 0.05))
        }
        lock.unlock()
    }

    func waitUntilAllStopped() {
        lock.lock()
        while !(stopping && running == 0) { lock.wait() }
        lock.unlock()
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
    let maxBodyBytes: Int
    let pool: Pool

    func run(_ handler: (Request) -> Response) {
        defer { pool.workerExited() }
        let request: FCGIRequestHandle
        do {
            request = try FCGIRequestHandle(listenFD: listenFD)
        } catch {
            Log.line("medsync: worker \(index): \(error)")
            return
        }
        while pool.enterAccept(index) {
            let rc = FCGX_Accept_r(request.raw)
            let stopping = pool.leaveAccept(index)
            if rc < 0 {
                if stopping { break }
                // Interrupted by an unrelated signal, or a transient accept error: try again.
                if rc != -EINTR { Log.line("medsync: worker \(index): FCGX_Accept_r failed (\(rc))"); usleep(100_000) }
                continue
            }
            serve(request.raw, handler)
            FCGX_Finish_r(request.raw)
        }
    }

    func serve(_ raw: UnsafeMutablePointer<FCGX_Request>, _ handler: (Request) -> Response) {
        let start = ContinuousClock.now
        let params = Self.params(raw.pointee.envp)
        var request = Self.request(from: params)
        let response: Response
        if let declared = params["CONTENT_LENGTH"].flatMap({ Int($0) }), declared > maxBodyBytes {
            // Refused from the declared length without reading the body (nginx copes: it reads the
            // response while it sends, verified with 8 MB bodies).
            response = Self.tooLarge(maxBodyBytes)
        } else if let body = readBody(raw.pointee.in) {
            request.body = body
            response = handler(request)
        } else {
            // CONTENT_LENGTH understated the body: stopped reading at the limit.
            response = Self.tooLarge(maxBodyBytes)
        }
        let written = write(response.serialized(), to: raw.pointee.out)
        let ms = (ContinuousClock.now - start).milliseconds
        Log.line("\(Log.clean(request.method)) \(Log.clean(request.path)) \(response.status) \(ms)ms\(written ? "" : " (client gone)")")
    }

    static func tooLarge(_ limit: Int) -> Response {
        .error(413, code: "payload_too_large", message: "The request body is larger than \(limit) bytes.")
    }

    /// The CGI parameters, copied at once (the strings die at the next accept/finish).
    static func params(_ envp: FCGX_ParamArray?) -> [String: String] {
        var params: [String: String] = [:]
        guard var p = envp else { return params }
        while let entry = p.pointee {
            let s = String(decoding: UnsafeRawBufferPointer(start: entry, count: strlen(entry)), as: UTF8.self)
            if let eq = s.firstIndex(of: "=") {
                params[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return params
    }

    /// The Swift request (body added later) from the CGI parameters.
    static func request(from params: [String: String]) -> Request {
        var headers: [String: String] = [:]
        for (name, value) in params where name.hasPrefix("HTTP_") {
            headers[name.dropFirst(5).lowercased().replacingOccurrences(of: "_", with: "-")] = value
        }
        if let v = params["CONTENT_TYPE"], !v.isEmpty { headers["content-type"] = v }
        if let v = params["CONTENT_LENGTH"], !v.isEmpty { headers["content-length"] = v }
        let query = params["QUERY_STRING"] ?? ""
        let uri = params["REQUEST_URI"]
            ?? ((params["DOCUMENT_URI"] ?? params["SCRIPT_NAME"] ?? "/") + (query.isEmpty ? "" : "?" + query))
        var request = Request(method: params["REQUEST_METHOD"] ?? "GET", uri: uri, headers: headers,
                              remoteAddress: params["REMOTE_ADDR"] ?? "")
        if params["QUERY_STRING"] != nil { request.query = query }
        return request
    }

    /// Reads FCGI_STDIN to its end; nil when it holds more than `maxBodyBytes`.
    func readBody(_ stream: UnsafeMutablePointer<FCGX_Stream>?) -> [UInt8]? {
        var body: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in
                FCGX_GetStr(buf.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buf.count), stream)
            }
            if n <= 0 { return body }
            if body.count + Int(n) > maxBodyBytes { return nil }
            body.append(contentsOf: chunk[0..<Int(n)])
        }
    }

    /// Writes with FCGX_PutStr (never the variadic FCGX_FPrintF); false when the client went away.
    func write(_ bytes: [UInt8], to stream: UnsafeMutablePointer<FCGX_Stream>?) -> Bool {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = min(buf.count - offset, 1 << 20)
                let rc = FCGX_PutStr(buf.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n), stream)
                if rc < 0 { return false }
                offset += n
            }
            return FCGX_FFlush(stream) >= 0
        }
    }
}

enum Signals {
    /// A no-op SIGUSR1 handler without SA_RESTART: delivering it makes a blocked accept() fail with
    /// EINTR, which FCGX_Accept_r (FCGI_FAIL_ACCEPT_ON_INTR) reports instead of retrying.
    static func installWakeHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR1, &action, nil)
    }
}

public enum Log {
    /// One line to stderr in a single write (lines of concurrent workers do not interleave).
    public static func line(_ s: String) {
        let bytes = Array((s + "\n").utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// Without control characters (a path could carry escape sequences into a terminal).
    public static func clean(_ s: String) -> String {
        String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
