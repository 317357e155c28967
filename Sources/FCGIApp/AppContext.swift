import Domain
import MedsyncLog
import FastCGI
import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

/// What one worker thread owns, outliving its requests: the PostgreSQL session of the request being
/// handled (taken from the child's `ConnectionPool` at its first statement, given back when it is
/// answered; one of its own without a pool), its HTTP client (opened lazily, never shared with another
/// thread), the configuration and the worker's logger. Handlers never see it mutated for them: the
/// router makes a `RequestContext` value per request that refers to it.
final class AppContext {
    let config: Config
    private let databaseURL: String
    private var connection: PGConnection?
    private let pool: ConnectionPool?
    private var httpClient: HTTPClient?
    /// Sign-in limits; their hash gate is shared by every worker of the process (main.swift).
    let authLimits: StaffAuth.Limits
    /// The worker's logger, without any request's metadata (each `RequestContext` adds its own).
    let logger: Logger
    /// Admission control the HTTP client gives its place up to while it waits on Twilio or Gemini
    /// (main.swift hands the process's `WorkGate`; nil: none).
    private let remoteWait: (any RemoteWaitHook)?
    /// Twilio's signature policy for the webhooks (master token, Fernet key of the subaccount tokens),
    /// made once per worker from `config`: decoding the Fernet key for every webhook was 3 % of its CPU.
    private(set) lazy var webhookVerifier = WebhookVerifier(config: config, log: logger)

    init(config: Config, hashGate: HashGate? = nil, pool: ConnectionPool? = nil, logger: Logger = Logger(label: "medsync.app"),
         remoteWait: (any RemoteWaitHook)? = nil) {
        self.config = config
        self.pool = pool
        self.logger = logger
        self.remoteWait = remoteWait
        self.databaseURL = Self.conninfo(config)
        self.authLimits = StaffAuth.Limits(config: config, hashGate: hashGate)
    }

    /// The request's connection, connected on first use; it reconnects by itself when the server
    /// went away (`PGConnection`), so the first request after PostgreSQL is back succeeds.
    func db() -> PGConnection {
        if let connection { return connection }
        let fresh = pool?.take() ?? Self.open(databaseURL, config)
        connection = fresh
        return fresh
    }

    /// The PostgreSQL stores on the request's connection (`ctx.stores.patients`, …).
    var stores: PostgresStores { PostgresStores(db()) }

    static func open(_ url: String, _ config: Config) -> PGConnection {
        PGConnection(lazy: url, statementCacheCapacity: config.statementCache)
    }

    /// The request was answered: its session goes back to the pool (kept, without a pool).
    func requestDone() {
        guard let pool, let connection else { return }
        self.connection = nil
        pool.give(back: connection)
    }

    /// The pool's sessions open with the same settings as a worker's own.
    static func pool(config: Config, limit: Int) -> ConnectionPool {
        let conninfo = Self.conninfo(config)
        return ConnectionPool(limit: limit) { open(conninfo, config) }
    }

    /// DATABASE_URL with the session limits (DatabaseSession); one libpq cannot parse is kept as it
    /// is, for the connection attempt to report.
    static func conninfo(_ config: Config) -> String {
        let url = config.databaseURL?.value ?? ""
        return url.isEmpty ? url : ((try? config.databaseSession.conninfo(url)) ?? url)
    }

    /// Forgets the connection (after it failed in a way it may not recover from, e.g. inside a
    /// transaction); the next `db()` opens a new one.
    func dropDatabaseConnection() { connection = nil }

    /// The worker's HTTP client (Twilio, Gemini), created on first use.
    func http() throws -> HTTPClient {
        if let httpClient { return httpClient }
        let client = try HTTPClient(connectTimeoutMS: 5000, timeoutMS: max(15000, config.geminiTimeoutMS), remoteWait: remoteWait)
        httpClient = client
        return client
    }
}
