import Domain
import Foundation
import Testing
import MedsyncConfig
import Postgres

private func tempFile(_ contents: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-env-\(UUID().uuidString)").path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private let validFernetKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

@Suite struct ConfigTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let c = try Config.load(environment: [:], dotEnvPath: nil)
        #expect(c.twilioAPIBaseURL == "https://api.twilio.com")
        #expect(c.geminiAPIBaseURL == "https://generativelanguage.googleapis.com")
        #expect(c.geminiModel == "gemini-2.5-flash")
        #expect(c.geminiTimeoutMS == 8000)
        #expect(c.listen == "/run/medsync/fcgi.sock")
        #expect(c.workers == 16)
        #expect(c.maxBodyBytes == 1_048_576)
        #expect(c.sendRate == 80)
        #expect(c.sqlDir == "sql")
        #expect(c.statementCache == 256)
        #expect(c.allowedOrigins == [])
        #expect(c.databaseURL == nil)
        #expect(c.twilioAccountSID == nil)
        #expect(c.fernetKey == nil)
        #expect(c.processes == ProcessInfo.processInfo.activeProcessorCount)
        #expect(c.maxRequests == 100_000)
        #expect(c.requestTimeout == 15)
        #expect(c.databaseSession == DatabaseSession(connectTimeoutS: 5, statementTimeoutMS: 15000, idleInTransactionTimeoutMS: 30000))
    }

    @Test func workerPoolAndDatabaseLimitsAreRead() throws {
        let c = try Config.load(environment: [
            "MEDSYNC_PROCESSES": "3", "MEDSYNC_MAX_REQUESTS": "0", "MEDSYNC_REQUEST_TIMEOUT": "2",
            "MEDSYNC_DB_CONNECT_TIMEOUT_S": "7", "MEDSYNC_DB_STATEMENT_TIMEOUT_MS": "0", "MEDSYNC_DB_IDLE_TX_TIMEOUT_MS": "1500",
        ], dotEnvPath: nil)
        #expect(c.processes == 3)
        #expect(c.maxRequests == 0)
        #expect(c.requestTimeout == 2)
        #expect(c.databaseSession == DatabaseSession(connectTimeoutS: 7, statementTimeoutMS: 0, idleInTransactionTimeoutMS: 1500))
    }

    @Test func readsEveryVariableFromTheEnvironment() throws {
        let env = [
            "DATABASE_URL": "postgresql://app:pw@/medsync?host=/run/pg",
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "tok",
            "TWILIO_WEBHOOK_BASE_URL": "https://app.example.com/",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:18081",
            "GEMINI_API_KEY": "gk",
            "GEMINI_API_BASE_URL": "http://127.0.0.1:18081/gemini",
            "GEMINI_MODEL": "gemini-x",
            "GEMINI_TIMEOUT_MS": "250",
            "MEDSYNC_FERNET_KEY": validFernetKey,
            "ALLOWED_ORIGINS": " https://app.example.com/ , http://localhost:5173,,",
            "MEDSYNC_LISTEN": "127.0.0.1:9000",
            "MEDSYNC_FCGI_ALLOWED_PEERS": " 10.0.0.5, 10.0.0.6,",
            "MEDSYNC_WORKERS": "4",
            "MEDSYNC_MAX_BODY_BYTES": "2048",
            "MEDSYNC_SEND_RATE": "10",
            "MEDSYNC_SQL_DIR": "/opt/medsync/sql",
            "MEDSYNC_PG_STATEMENT_CACHE": "0",
        ]
        let c = try Config.load(environment: env, dotEnvPath: nil, requiring: Config.Key.allCases)
        #expect(c.databaseURL?.value == "postgresql://app:pw@/medsync?host=/run/pg")
        #expect(c.twilioAccountSID == "AC123")
        #expect(c.fcgiAllowedPeers == ["10.0.0.5", "10.0.0.6"])
        #expect(c.twilioAuthToken?.value == "tok")
        #expect(c.twilioWebhookBaseURL == "https://app.example.com")
        #expect(c.twilioAPIBaseURL == "http://127.0.0.1:18081")
        #expect(c.geminiAPIKey?.value == "gk")
        #expect(c.geminiAPIBaseURL == "http://127.0.0.1:18081/gemini")
        #expect(c.geminiModel == "gemini-x")
        #expect(c.geminiTimeoutMS == 250)
        #expect(c.fernetKey?.value == validFernetKey)
        #expect(c.allowedOrigins == ["https://app.example.com", "http://localhost:5173"])
        #expect(c.listen == "127.0.0.1:9000")
        #expect(c.workers == 4)
        #expect(c.maxBodyBytes == 2048)
        #expect(c.sendRate == 10)
        #expect(c.sqlDir == "/opt/medsync/sql")
        #expect(c.statementCache == 0)
        #expect(try c.string(.twilioAuthToken) == "tok")
    }

    @Test func emptyListenMeansSocketActivation() throws {
        #expect(try Config.load(environment: ["MEDSYNC_LISTEN": ""], dotEnvPath: nil).listen == "")
    }

    @Test func dotEnvFileWithCommentsQuotesAndEnvironmentPrecedence() throws {
        let path = try tempFile("""
            # MedSync development settings
            DATABASE_URL="host=/tmp/pg dbname=medsync"   # trailing comment
            export TWILIO_ACCOUNT_SID=AC999
            TWILIO_AUTH_TOKEN='from-dotenv'

              GEMINI_MODEL = gemini-dev # comment after an unquoted value
            GEMINI_API_KEY="a \\"quoted\\" # not a comment"
            MEDSYNC_WORKERS=8\r
            ALLOWED_ORIGINS=https://a.example,https://b.example
            UNRELATED=ignored
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try Config.load(environment: ["TWILIO_AUTH_TOKEN": "from-env", "PATH": "/bin"], dotEnvPath: path)
        #expect(c.databaseURL?.value == "host=/tmp/pg dbname=medsync")
        #expect(c.twilioAccountSID == "AC999")
        #expect(c.twilioAuthToken?.value == "from-env")  // the environment wins
        #expect(c.geminiModel == "gemini-dev")
        #expect(c.geminiAPIKey?.value == #"a "quoted" # not a comment"#)
        #expect(c.workers == 8)
        #expect(c.allowedOrigins == ["https://a.example", "https://b.example"])
    }

    @Test func missingDotEnvFileIsFine() throws {
        let c = try Config.load(environment: ["TWILIO_ACCOUNT_SID": "AC1"], dotEnvPath: "/nonexistent/.env")
        #expect(c.twilioAccountSID == "AC1")
    }

    @Test func malformedDotEnvNamesTheLineNotTheValue() throws {
        let path = try tempFile("OK=1\nTWILIO_AUTH_TOKEN=\"sekrit-unterminated\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try Config.load(environment: [:], dotEnvPath: path)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.code == "invalid_env_file" && e.message.contains("line 2") && !e.message.contains("sekrit")
        }
        let noEquals = try tempFile("JUST_A_WORD\n")
        defer { try? FileManager.default.removeItem(atPath: noEquals) }
        #expect(throws: ConfigError.self) { try Config.load(environment: [:], dotEnvPath: noEquals) }
    }

    @Test func requireNamesEveryMissingVariable() throws {
        let c = try Config.load(environment: ["TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": ""], dotEnvPath: nil)
        #expect {
            try c.require(.databaseURL, .twilioAccountSID, .twilioAuthToken, .geminiModel)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.code == "missing_variable" && e.variables == ["DATABASE_URL", "TWILIO_AUTH_TOKEN"]
                && e.message.contains("DATABASE_URL") && e.message.contains("TWILIO_AUTH_TOKEN")
                && !e.message.contains("TWILIO_ACCOUNT_SID") && !e.message.contains("GEMINI_MODEL")
        }
        #expect(throws: ConfigError.self) {
            try Config.load(environment: [:], dotEnvPath: nil, requiring: [.databaseURL])
        }
        #expect(throws: ConfigError.self) { try c.string(.geminiAPIKey) }
        try c.require(.twilioAccountSID, .workers)  // a default counts as set
    }

    @Test(arguments: [
        ("MEDSYNC_WORKERS", "sixteen"), ("MEDSYNC_WORKERS", "0"), ("MEDSYNC_WORKERS", "-2"),
        ("MEDSYNC_PROCESSES", "0"), ("MEDSYNC_MAX_REQUESTS", "-1"), ("MEDSYNC_REQUEST_TIMEOUT", "1.5"),
        ("MEDSYNC_DB_CONNECT_TIMEOUT_S", "0"), ("MEDSYNC_DB_STATEMENT_TIMEOUT_MS", "15s"), ("MEDSYNC_DB_IDLE_TX_TIMEOUT_MS", "-5"),
        ("MEDSYNC_MAX_BODY_BYTES", "1MB"), ("MEDSYNC_SEND_RATE", "1.5"), ("GEMINI_TIMEOUT_MS", "8s"),
        ("TWILIO_API_BASE_URL", "api.twilio.com"), ("GEMINI_API_BASE_URL", "ftp://x"),
        ("TWILIO_WEBHOOK_BASE_URL", "not a url"), ("ALLOWED_ORIGINS", "https://ok.example,nope"),
        ("MEDSYNC_PG_STATEMENT_CACHE", "-1"), ("MEDSYNC_PG_STATEMENT_CACHE", "many"),
        ("MEDSYNC_FCGI_ALLOWED_PEERS", "nginx.internal"), ("MEDSYNC_FCGI_ALLOWED_PEERS", "10.0.0.5,::1"),
    ])
    func malformedValuesNameTheVariable(name: String, value: String) {
        #expect {
            try Config.load(environment: [name: value], dotEnvPath: nil)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.code == "invalid_value" && e.variables == [name] && e.message.hasPrefix(name)
        }
    }

    @Test(arguments: [
        "too-short-but-secret", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e", /* 31 bytes */
        "cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=", /* not urlsafe */
        "Y3dfMHg2ODlScEktanRSUjdvRThoX2VRc0tJbXZKYXBMZVNiWHB3RjRlNGFh", /* 45 bytes */
    ])
    func badFernetKeyIsNamedButNeverShown(key: String) {
        #expect {
            try Config.load(environment: ["MEDSYNC_FERNET_KEY": key], dotEnvPath: nil)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.code == "invalid_value" && e.message.contains("MEDSYNC_FERNET_KEY") && !e.message.contains(key)
                && !"\(e)".contains(key)
        }
    }

    @Test func secretsAreRedactedEverywhere() throws {
        let c = try Config.load(
            environment: ["TWILIO_AUTH_TOKEN": "tok-SECRET", "DATABASE_URL": "postgresql://u:pw-SECRET@h/db",
                          "GEMINI_API_KEY": "gk-SECRET", "MEDSYNC_FERNET_KEY": validFernetKey, "TWILIO_ACCOUNT_SID": "AC42"],
            dotEnvPath: nil)
        let token = try #require(c.twilioAuthToken)
        #expect(token.description == "<redacted>")
        #expect(token.debugDescription == "<redacted>")
        #expect("\(token)" == "<redacted>")
        #expect(String(reflecting: token) == "<redacted>")
        var dumped = ""
        dump(c, to: &dumped)
        let printed = [c.description, "\(c)", String(reflecting: c), dumped]
        for text in printed {
            #expect(!text.contains("SECRET"))
            #expect(!text.contains(validFernetKey))
        }
        #expect(c.description.contains("TWILIO_ACCOUNT_SID=AC42"))
        #expect(c.description.contains("TWILIO_AUTH_TOKEN=<redacted>"))
        #expect(c.description.contains("GEMINI_API_KEY=<redacted>"))
    }
}
