import Domain
import FastCGI
import MedsyncLog
import Foundation
import MedsyncConfig
import HTTPClient

// medsync-fcgi: the API's FastCGI workers behind nginx, as a pool in php-fpm's shape: a master
// process owns the socket and keeps MEDSYNC_PROCESSES children, each with MEDSYNC_WORKERS threads
// (ProcessPool, FastCGIServer). A child that dies takes only its own requests in flight with it.
//
// Configuration (environment, or .env in the working directory; README.md, "Configuration"):
//   DATABASE_URL            libpq conninfo or postgresql:// URL (required)
//   TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, MEDSYNC_FERNET_KEY   (required)
//   MEDSYNC_LISTEN          unix socket path (made 0660), "host:port", or "" under systemd socket
//                           activation (LISTEN_FDS/LISTEN_PID, fd 3 — also taken whenever systemd passes one)
//   MEDSYNC_PROCESSES       child processes (the number of cores); a dead one is replaced at once,
//                           with a growing delay when children keep dying
//   MEDSYNC_WORKERS         worker threads per child (16)
//   MEDSYNC_ACTIVE_WORKERS  of those, how many do local work (CPU, PostgreSQL) at once; the others wait
//                           in line, and a thread waiting on Twilio or Gemini does not count (4; 0 no limit)
//   MEDSYNC_MAX_REQUESTS    a child answers this many requests, then exits and is replaced (100000; 0 never)
//   MEDSYNC_REQUEST_TIMEOUT seconds after which a request still running is logged as slow: method,
//                           path without query, elapsed (15; 0 off). The request is not killed.
//   MEDSYNC_MAX_BODY_BYTES  larger request bodies get 413 (1048576)
//   MEDSYNC_MAX_UPLOAD_BYTES  the same for /api/whatsapp/bundle/ (5242880; nginx allows the same)
//   MEDSYNC_DB_CONNECT_TIMEOUT_S, MEDSYNC_DB_STATEMENT_TIMEOUT_MS, MEDSYNC_DB_IDLE_TX_TIMEOUT_MS
//                           limits of each database session (5, 15000, 30000; 0 ms: no limit)
// SIGHUP to the master (`systemctl reload medsync-fcgi`): a deploy. The master re-executes the binary
// at the path it was started from, keeping its pid and socket; the new binary's children start, then
// the old ones finish what they hold and exit (ProcessPool). /api/health's "version" names the binary.
// SIGTERM/SIGINT to the master: every child stops accepting, answers what it holds and exits; the
// master then exits 0 (connections arriving meanwhile wait in the socket's backlog). 78 on a
// configuration error, 1 when the socket cannot be opened.
//
// The master forks before any thread exists: configuration is read and the socket opened in the
// master, while libcurl is initialised, and threads and connections are started, in each child.

func runServer() -> Int32 {
    // `medsync-fcgi --version`: the binary's digest (/api/health's "version"), then exit 0. A reload
    // runs it before re-executing the master, to know the new binary starts at all (ProcessPool).
    if CommandLine.arguments.dropFirst().first == "--version" {
        print(BinaryVersion.current)
        return 0
    }
    // First, before any thread or fork: every Logger of the process writes LineLogHandler lines.
    let log = MedsyncLogging.bootstrap(program: "medsync", environment: ProcessInfo.processInfo.environment)
    let config: Config
    do {
        // Webhook signatures need the master token; subaccount credentials need the Fernet key.
        config = try Config.load(requiring: [.databaseURL, .twilioAccountSID, .twilioAuthToken, .fernetKey])
    } catch {
        log.critical("medsync-fcgi: \(error.message)")
        return 78  // EX_CONFIG
    }
    let server = FastCGIServer(listen: config.listen, workers: config.workers, maxBodyBytes: config.maxBodyBytes)
    server.slowRequestAfter = config.requestTimeout > 0 ? .seconds(config.requestTimeout) : nil
    server.bodyLimits.allow(config.maxUploadBytes, under: uploadRoutePrefix)
    server.allowedPeers = config.fcgiAllowedPeers
    let listenFD: Int32
    do {
        let (fd, description) = try server.openListenSocket()
        listenFD = fd
        log.notice("listening on \(description): \(config.processes) processes × \(config.workers) workers (\(config.activeWorkers) active at once), max \(config.maxRequests) requests per process, max body \(config.maxBodyBytes) bytes")
    } catch {
        log.critical("medsync-fcgi: \(error.message)")
        return 1
    }
    var routes = Router.medsync()
    if ProcessInfo.processInfo.environment["MEDSYNC_TEST_CRASH_ROUTE"] == "1" { registerCrashRoute(&routes, log) }
    let router = routes
    let processes = ProcessPool(processes: config.processes)
    // SIGHUP re-executes the master from the binary at this path, keeping the socket (a deploy).
    processes.listenFD = listenFD
    log.notice("medsync-fcgi \(BinaryVersion.current) (\(processes.executable)); SIGHUP takes a new binary at that path over without a failed request")
    Metrics.shared.share(processes: processes.slots)
    return processes.run(child: { slot, position in
        // In a child, still single-threaded: curl_global_init before any thread starts.
        HTTPClient.globalInit()
        Metrics.shared.use(slot: slot)
        server.maxRequests = ProcessPool.recycleAfter(config.maxRequests, position: position, processes: config.processes)
        server.onRecycle = ProcessPool.retiring
        // Many threads so that slow remote calls cannot use them all up; few at a time on the CPU.
        WorkGate.shared.configure(limit: config.activeWorkers)
        // One cap on concurrent password hashes for the whole child, shared by its worker threads.
        let hashGate = HashGate(config: config)
        // The child's PostgreSQL sessions, shared by its threads a request at a time.
        let sessions = AppContext.pool(config: config, limit: config.workers)
        do {
            _ = try server.serve(listenFD: listenFD) {
                // The worker's resources; each request gets a context of its own that refers to them.
                // Its HTTP client gives the worker's place in the gate up while Twilio or Gemini answers.
                let worker = AppContext(config: config, hashGate: hashGate, pool: sessions, remoteWait: WorkGate.shared)
                return { request in
                    WorkGate.shared.inside {
                        defer { worker.requestDone() }
                        return router.handleMeasured(request, worker)  // handle + Metrics (Metrics.swift)
                    }
                }
            }
        } catch {
            log.critical("medsync-fcgi: \(error)")
            return 1
        }
        return 0
    }, reaped: { slot in Metrics.shared.retire(slot: slot) })
}

/// Tests only (WorkerPoolTests), never set in production: `POST /api/test/crash` decodes its body as
/// spreadsheet column letters without a bound — the overflow that once took the whole service down —
/// so the child serving it traps like a real bug would. (A SIGSEGV sent with kill(1) is no substitute:
/// Swift's crash handler prints a backtrace for it and the process then carries on.)
func registerCrashRoute(_ router: inout Router, _ log: Logger) {
    log.warning("MEDSYNC_TEST_CRASH_ROUTE=1: POST /api/test/crash makes the child serving it trap (tests only)")
    router.post("/api/test/crash") { request, _ in
        var column = 0
        for byte in request.body.prefix(64) { column = column * 26 + Int(byte) - 64 }
        return .text(200, "column \(column)\n")
    }
}

exit(runServer())
