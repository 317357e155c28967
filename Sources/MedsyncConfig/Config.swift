import Foundation
import MedsyncCrypto

/// A configuration problem found at start-up. `message` names the variable(s) and never contains
/// the value of a secret.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String
    /// The variables concerned (for tests and tooling).
    public let variables: [String]

    public init(code: String, message: String, variables: [String]) {
        self.code = code
        self.message = message
        self.variables = variables
    }

    public static let missingVariableCode = "missing_variable"
    public static let invalidValueCode = "invalid_value"
    public static let invalidEnvFileCode = "invalid_env_file"

    static func missing(_ keys: [Config.Key]) -> ConfigError {
        let names = keys.map(\.rawValue)
        return ConfigError(
            code: missingVariableCode,
            message: "missing required configuration: \(names.joined(separator: ", ")) (set \(names.count == 1 ? "it" : "them") in the environment or in .env)",
            variables: names)
    }

    static func invalid(_ key: Config.Key, _ expectation: String, got value: String) -> ConfigError {
        let shown = key.isSecret ? "" : " (got \"\(value)\")"
        return ConfigError(code: invalidValueCode, message: "\(key.rawValue) \(expectation)\(shown)", variables: [key.rawValue])
    }

    public var description: String { "ConfigError(\(code)): \(message)" }
}

/// The process configuration, read once at start from the environment plus an optional `.env`
/// file (the environment wins). Each binary states which variables it needs with `require`.
public struct Config: Sendable, CustomStringConvertible, CustomReflectable {
    /// Every variable the project reads.
    public enum Key: String, CaseIterable, Sendable {
        case databaseURL = "DATABASE_URL"
        case twilioAccountSID = "TWILIO_ACCOUNT_SID"
        case twilioAuthToken = "TWILIO_AUTH_TOKEN"
        case twilioWebhookBaseURL = "TWILIO_WEBHOOK_BASE_URL"
        case twilioAPIBaseURL = "TWILIO_API_BASE_URL"
        case geminiAPIKey = "GEMINI_API_KEY"
        case geminiAPIBaseURL = "GEMINI_API_BASE_URL"
        case geminiModel = "GEMINI_MODEL"
        case geminiTimeoutMS = "GEMINI_TIMEOUT_MS"
        case fernetKey = "MEDSYNC_FERNET_KEY"
        case fernetKeys = "MEDSYNC_FERNET_KEYS"
        case allowedOrigins = "ALLOWED_ORIGINS"
        case listen = "MEDSYNC_LISTEN"
        case fcgiAllowedPeers = "MEDSYNC_FCGI_ALLOWED_PEERS"
        case workers = "MEDSYNC_WORKERS"
        case processes = "MEDSYNC_PROCESSES"
        case maxRequests = "MEDSYNC_MAX_REQUESTS"
        case activeWorkers = "MEDSYNC_ACTIVE_WORKERS"
        case requestTimeout = "MEDSYNC_REQUEST_TIMEOUT"
        case dbConnectTimeoutS = "MEDSYNC_DB_CONNECT_TIMEOUT_S"
        case dbStatementTimeoutMS = "MEDSYNC_DB_STATEMENT_TIMEOUT_MS"
        case dbIdleTxTimeoutMS = "MEDSYNC_DB_IDLE_TX_TIMEOUT_MS"
        case maxBodyBytes = "MEDSYNC_MAX_BODY_BYTES"
        case maxUploadBytes = "MEDSYNC_MAX_UPLOAD_BYTES"
        case sendRate = "MEDSYNC_SEND_RATE"
        case sqlDir = "MEDSYNC_SQL_DIR"
        case tokenTTLSeconds = "MEDSYNC_TOKEN_TTL_SECONDS"
        case loginWindowSeconds = "MEDSYNC_LOGIN_WINDOW_SECONDS"
        case loginMaxFailures = "MEDSYNC_LOGIN_MAX_FAILURES"
        case loginMaxFailuresPerAddress = "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS"
        case passwordHashConcurrency = "MEDSYNC_PASSWORD_HASH_CONCURRENCY"
        case passwordHashWaitMS = "MEDSYNC_PASSWORD_HASH_WAIT_MS"
        case tokenMaxAgeSeconds = "MEDSYNC_TOKEN_MAX_AGE_SECONDS"
        case commonPasswords = "MEDSYNC_COMMON_PASSWORDS"
        case statementCache = "MEDSYNC_PG_STATEMENT_CACHE"

        /// Values that are never printed (a DATABASE_URL may carry a password).
        public var isSecret: Bool {
            switch self {
            case .databaseURL, .twilioAuthToken, .geminiAPIKey, .fernetKey, .fernetKeys: return true
            default: return false
            }
        }

        /// The value used when the variable is unset; nil for variables without a default.
        public var defaultValue: String? {
            switch self {
            case .twilioAPIBaseURL: return "https://api.twilio.com"
            case .geminiAPIBaseURL: return "https://generativelanguage.googleapis.com"
            case .geminiModel: return "gemini-2.5-flash"
            case .geminiTimeoutMS: return "8000"
            case .listen: return "/run/medsync/fcgi.sock"
            case .workers: return "16"
            case .processes: return String(max(1, ProcessInfo.processInfo.activeProcessorCount))
            case .maxRequests: return "100000"
            case .activeWorkers: return "4"
            case .requestTimeout: return "15"
            case .dbConnectTimeoutS: return "5"
            case .dbStatementTimeoutMS: return "15000"
            case .dbIdleTxTimeoutMS: return "30000"
            case .maxBodyBytes: return "1048576"
            case .maxUploadBytes: return "5242880"
            case .sendRate: return "80"
            case .sqlDir: return "sql"
            case .tokenTTLSeconds: return "43200"
            case .tokenMaxAgeSeconds: return "2592000"
            case .loginWindowSeconds: return "900"
            case .loginMaxFailures: return "5"
            case .loginMaxFailuresPerAddress: return "20"
            case .passwordHashConcurrency: return "0"
            case .passwordHashWaitMS: return "10000"
            case .commonPasswords: return "data/common-passwords.txt.gz"
            case .statementCache: return "256"
            default: return nil
            }
        }
    }

    // MARK: Values (optional ones are nil when unset; `require` them first)

    public let databaseURL: Secret?
    public let twilioAccountSID: String?
    public let twilioAuthToken: Secret?
    /// Public base URL Twilio calls, without a trailing slash.
    public let twilioWebhookBaseURL: String?
    /// Without a trailing slash.
    public let twilioAPIBaseURL: String
    public let geminiAPIKey: Secret?
    /// Without a trailing slash.
    public let geminiAPIBaseURL: String
    public let geminiModel: String
    public let geminiTimeoutMS: Int
    /// The key that encrypts: the first of `MEDSYNC_FERNET_KEYS`, else `MEDSYNC_FERNET_KEY`.
    /// Checked at load to be urlsafe base64 of 32 bytes.
    public let fernetKey: Secret?
    /// Every key that decrypts, the encrypting one first: `MEDSYNC_FERNET_KEYS` (comma-separated), then
    /// `MEDSYNC_FERNET_KEY` when it is set and not in that list. Empty when neither is set.
    public let fernetKeys: [Secret]
    /// `fernetKeys` ready to use (MultiFernet: the first encrypts, all decrypt); nil without keys.
    public let fernet: MultiFernet?
    /// CORS origins in order; the first is the fallback public URL. Empty when unset.
    public let allowedOrigins: [String]
    /// Unix socket path, `host:port`, or "" for systemd socket activation.
    public let listen: String
    /// The IPv4 addresses allowed to connect when MEDSYNC_LISTEN is `host:port` (libfcgi's
    /// FCGI_WEB_SERVER_ADDRS); empty when unset. Required for a TCP address that is not loopback.
    public let fcgiAllowedPeers: [String]
    public let workers: Int
    /// Child processes of the medsync-fcgi master (default: the number of cores).
    public let processes: Int
    /// A child is replaced after answering this many requests; 0: never.
    public let maxRequests: Int
    /// Worker threads of a child doing local work (CPU, PostgreSQL) at once; the others wait in line,
    /// and a thread waiting on Twilio or Gemini does not count (`WorkGate`). 0: no limit.
    public let activeWorkers: Int
    /// Seconds after which a request still running is written to the slow log; 0: no slow log.
    public let requestTimeout: Int
    /// Database session limits, applied to every connection the binaries open (`DatabaseSession`).
    public let dbConnectTimeoutS: Int
    /// 0 disables the limit (PostgreSQL's own meaning of 0).
    public let dbStatementTimeoutMS: Int
    /// 0 disables the limit.
    public let dbIdleTxTimeoutMS: Int
    public let maxBodyBytes: Int
    /// The body limit of the bundle upload route (`/api/whatsapp/bundle/`); nginx allows the same.
    public let maxUploadBytes: Int
    /// Outbound messages per second (Twilio's WhatsApp throughput).
    public let sendRate: Int
    public let sqlDir: String
    /// API tokens expire this many seconds after their last use (12 hours unless set).
    public let tokenTTLSeconds: Int
    /// API tokens expire this many seconds after they were made, however much they are used (30 days).
    public let tokenMaxAgeSeconds: Int
    /// Failed logins count within this window; reaching a limit locks for a window (doubling).
    public let loginWindowSeconds: Int
    /// Failed logins per account (email) within the window before it is locked.
    public let loginMaxFailures: Int
    /// Failed logins per client address within the window before it is locked.
    public let loginMaxFailuresPerAddress: Int
    /// PBKDF2 password hashes one process runs at once (0, the default: the process's share of the
    /// cores, so the pool as a whole hashes on at most every core); more wait in line up to
    /// `passwordHashWaitMS`, then 503 `auth_busy`.
    public let passwordHashConcurrency: Int
    /// How long a sign-in waits in line for a hash slot before 503 `auth_busy`.
    public let passwordHashWaitMS: Int
    /// The bundled list of breached passwords (gzip, one lower-cased password a line).
    public let commonPasswordsPath: String
    /// Prepared statements each PostgreSQL connection keeps (0: every statement unnamed, e.g. behind
    /// a pooler in transaction mode that cannot keep a session's prepared statements).
    public let statementCache: Int

    /// Effective raw values (environment over .env over defaults), empty strings dropped.
    private let values: [String: String]

    /// Reads the configuration once. `dotEnvPath` may name a missing file (then only the environment
    /// counts); pass nil to ignore .env entirely. Throws when a set value is malformed or a variable of
    /// `requiring` is missing.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvPath: String? = ".env",
        requiring required: [Key] = []
    ) throws(ConfigError) -> Config {
        var merged: [String: String] = [:]
        if let dotEnvPath, FileManager.default.fileExists(atPath: dotEnvPath) {
            guard let data = FileManager.default.contents(atPath: dotEnvPath) else {
                throw ConfigError(code: ConfigError.invalidEnvFileCode, message: "cannot read \(dotEnvPath)", variables: [])
            }
            merged = try DotEnv.parse(String(decoding: data, as: UTF8.self), path: dotEnvPath)
        }
        for key in Key.allCases {
            if let v = environment[key.rawValue] { merged[key.rawValue] = v }
        }
        let config = try Config(merged)
        try config.require(required)
        return config
    }

    init(_ raw: [String: String]) throws(ConfigError) {
        var values: [String: String] = [:]
        for key in Key.allCases {
            let v = raw[key.rawValue]?.trimmingCharacters(in: .whitespaces) ?? ""
            if !v.isEmpty { values[key.rawValue] = v }
        }
        self.values = values

        func text(_ key: Key) -> String? { values[key.rawValue] ?? key.defaultValue }
        func url(_ key: Key) throws(ConfigError) -> String? {
            guard var v = text(key) else { return nil }
            guard let parsed = URL(string: v), let scheme = parsed.scheme?.lowercased(),
                scheme == "http" || scheme == "https", parsed.host?.isEmpty == false
            else { throw .invalid(key, "must be an http(s) URL", got: v) }
            while v.hasSuffix("/") { v.removeLast() }
            return v
        }
        func positiveInt(_ key: Key) throws(ConfigError) -> Int {
            let v = text(key)!
            guard let n = Int(v), n > 0 else { throw .invalid(key, "must be a positive integer", got: v) }
            return n
        }
        func nonNegativeInt(_ key: Key) throws(ConfigError) -> Int {
            let v = text(key)!
            guard let n = Int(v), n >= 0, n <= Int(Int32.max) else { throw .invalid(key, "must be a non-negative integer", got: v) }
            return n
        }
        func secret(_ key: Key) -> Secret? { text(key).map(Secret.init) }

        databaseURL = secret(.databaseURL)
        twilioAccountSID = text(.twilioAccountSID)
        twilioAuthToken = secret(.twilioAuthToken)
        twilioWebhookBaseURL = try url(.twilioWebhookBaseURL)
        twilioAPIBaseURL = try url(.twilioAPIBaseURL)!
        geminiAPIKey = secret(.geminiAPIKey)
        geminiAPIBaseURL = try url(.geminiAPIBaseURL)!
        geminiModel = text(.geminiModel)!
        geminiTimeoutMS = try positiveInt(.geminiTimeoutMS)
        var keys: [Secret] = []
        var parsed: [Fernet] = []
        for part in (text(.fernetKeys) ?? "").split(separator: ",") {
            let key = part.trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { continue }
            guard let f = try? Fernet(key: key) else {
                throw .invalid(.fernetKeys, "must be comma-separated Fernet keys, each urlsafe base64 of 32 bytes (make one with Fernet.generateKey())", got: key)
            }
            if !keys.contains(where: { $0.value == key }) { keys.append(Secret(key)); parsed.append(f) }
        }
        if let single = secret(.fernetKey) {
            guard let f = try? Fernet(key: single.value) else {
                throw .invalid(.fernetKey, "must be urlsafe base64 of 32 bytes (make one with Fernet.generateKey())", got: single.value)
            }
            if !keys.contains(where: { $0.value == single.value }) { keys.append(single); parsed.append(f) }
        }
        fernetKeys = keys
        fernetKey = keys.first
        fernet = try? MultiFernet(parsed)
        allowedOrigins = (text(.allowedOrigins) ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .map { var o = $0; while o.hasSuffix("/") { o.removeLast() }; return o }
        for origin in allowedOrigins {
            guard let u = URL(string: origin), let s = u.scheme, s == "http" || s == "https", u.host != nil else {
                throw .invalid(.allowedOrigins, "must be a comma-separated list of http(s) origins", got: origin)
            }
        }
        // MEDSYNC_LISTEN may legitimately be "" (socket activation): only this one keeps an explicit empty value.
        listen = raw[Key.listen.rawValue].map { $0.trimmingCharacters(in: .whitespaces) } ?? Key.listen.defaultValue!
        fcgiAllowedPeers = (text(.fcgiAllowedPeers) ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for peer in fcgiAllowedPeers {
            var address = in_addr()
            guard inet_pton(AF_INET, peer, &address) == 1 else {
                throw .invalid(.fcgiAllowedPeers, "must be a comma-separated list of IPv4 addresses (libfcgi checks IPv4 peers only)", got: peer)
            }
        }
        workers = try positiveInt(.workers)
        processes = try positiveInt(.processes)
        maxRequests = try nonNegativeInt(.maxRequests)
        activeWorkers = try nonNegativeInt(.activeWorkers)
        requestTimeout = try nonNegativeInt(.requestTimeout)
        dbConnectTimeoutS = try positiveInt(.dbConnectTimeoutS)
        dbStatementTimeoutMS = try nonNegativeInt(.dbStatementTimeoutMS)
        dbIdleTxTimeoutMS = try nonNegativeInt(.dbIdleTxTimeoutMS)
        maxBodyBytes = try positiveInt(.maxBodyBytes)
        maxUploadBytes = try positiveInt(.maxUploadBytes)
        sendRate = try positiveInt(.sendRate)
        sqlDir = text(.sqlDir)!
        tokenTTLSeconds = try positiveInt(.tokenTTLSeconds)
        tokenMaxAgeSeconds = try positiveInt(.tokenMaxAgeSeconds)
        loginWindowSeconds = try positiveInt(.loginWindowSeconds)
        loginMaxFailures = try positiveInt(.loginMaxFailures)
        loginMaxFailuresPerAddress = try positiveInt(.loginMaxFailuresPerAddress)
        let hashSlots = try nonNegativeInt(.passwordHashConcurrency)
        // 0: the pool's share of the cores (cores ÷ processes, rounded up), so the whole pool hashes on at most every core.
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        passwordHashConcurrency = hashSlots > 0 ? hashSlots : max(1, (cores + processes - 1) / processes)
        passwordHashWaitMS = try nonNegativeInt(.passwordHashWaitMS)
        commonPasswordsPath = text(.commonPasswords)!
        let cache = text(.statementCache) ?? "256"
        guard let cacheSize = Int(cache), cacheSize >= 0, cacheSize <= 100_000 else {
            throw .invalid(.statementCache, "must be an integer from 0 to 100000", got: cache)
        }
        statementCache = cacheSize
    }

    /// Throws one error naming every listed variable that is unset (defaults count as set).
    public func require(_ keys: Key...) throws(ConfigError) { try require(keys) }

    public func require(_ keys: [Key]) throws(ConfigError) {
        // Either Fernet variable satisfies both (MEDSYNC_FERNET_KEYS: its first key encrypts).
        let missing = keys.filter { values[$0.rawValue] == nil && $0.defaultValue == nil && !(($0 == .fernetKey || $0 == .fernetKeys) && fernetKey != nil) }
        if !missing.isEmpty { throw .missing(missing) }
    }

    /// The effective text of a variable (a secret's real value), or `missing_variable` naming it.
    public func string(_ key: Key) throws(ConfigError) -> String {
        if key == .fernetKey, let first = fernetKey { return first.value }
        guard let v = values[key.rawValue] ?? key.defaultValue else { throw .missing([key]) }
        return v
    }

    /// One line per variable, secrets shown as `<redacted>` — safe for a start-up log.
    public var description: String {
        Key.allCases.map { "\($0.rawValue)=\(printable($0))" }.joined(separator: "\n")
    }

    /// `dump` and debuggers see the same redacted view, never the raw values.
    public var customMirror: Mirror {
        Mirror(self, children: Key.allCases.map { (label: $0.rawValue, value: printable($0)) }, displayStyle: .struct)
    }

    private func printable(_ key: Key) -> String {
        if key == .listen { return listen }
        guard let v = values[key.rawValue] ?? key.defaultValue else { return "(unset)" }
        return key.isSecret ? Secret(v).description : v
    }
}

/// `.env` files: `KEY=VALUE` lines, `#` comments and blank lines ignored, optional `export `,
/// values optionally in single quotes (literal) or double quotes (`\"`, `\\`, `\n` escapes);
/// an unquoted value ends at ` #`.
enum DotEnv {
    static func parse(_ text: String, path: String) throws(ConfigError) -> [String: String] {
        var out: [String: String] = [:]
        var lineNumber = 0
        // isNewline splits on \n, \r\n (one Character in Swift) and \r alike.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = rawLine
            line = line.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).drop { $0 == " " } }
            func fail(_ why: String) -> ConfigError {
                // Never echo the line: it may hold a secret.
                ConfigError(code: ConfigError.invalidEnvFileCode, message: "\(path) line \(lineNumber): \(why)", variables: [])
            }
            guard let eq = line.firstIndex(of: "=") else { throw fail("expected KEY=VALUE") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic),
                key.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) })
            else { throw fail("invalid variable name") }
            var value = line[line.index(after: eq)...].drop { $0 == " " || $0 == "\t" }
            if value.hasPrefix("\"") {
                var result = ""
                var i = value.index(after: value.startIndex)
                var closed = false
                while i < value.endIndex {
                    let c = value[i]
                    if c == "\\", value.index(after: i) < value.endIndex {
                        let n = value[value.index(after: i)]
                        switch n {
                        case "n": result.append("\n")
                        case "t": result.append("\t")
                        default: result.append(n)
                        }
                        i = value.index(i, offsetBy: 2)
                        continue
                    }
                    if c == "\"" { closed = true; i = value.index(after: i); break }
                    result.append(c)
                    i = value.index(after: i)
                }
                guard closed else { throw fail("unterminated double quote in \(key)") }
                let rest = value[i...].trimmingCharacters(in: .whitespaces)
                guard rest.isEmpty || rest.hasPrefix("#") else { throw fail("text after the closing quote of \(key)") }
                out[key] = result
            } else if value.hasPrefix("'") {
                let body = value.dropFirst()
                guard let close = body.firstIndex(of: "'") else { throw fail("unterminated single quote in \(key)") }
                let rest = body[body.index(after: close)...].trimmingCharacters(in: .whitespaces)
                guard rest.isEmpty || rest.hasPrefix("#") else { throw fail("text after the closing quote of \(key)") }
                out[key] = String(body[..<close])
            } else {
                if let hash = value.range(of: " #") ?? value.range(of: "\t#") { value = value[..<hash.lowerBound] }
                out[key] = value.trimmingCharacters(in: .whitespaces)
            }
        }
        return out
    }
}
