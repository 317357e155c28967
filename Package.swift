// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MedSync",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "medsync-fcgi", targets: ["FCGIApp"]),
        .executable(name: "medsync-jobs", targets: ["Jobs"]),
        .executable(name: "medsync-sandbox", targets: ["Sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // One system-library target per C library, found by pkg-config.
        .systemLibrary(name: "CFCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Bundle uploads: an .xlsx is a zip of XML parts, read by FileFormats' ZipArchive with zlib and
        // Foundation's XMLParser (CSV has a bounded parser of our own).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Linux calls Swift cannot make directly (variadic prctl) for the worker pool; headers only.
        .systemLibrary(name: "CLinux"),

        // The one log handler of every binary (swift-log): one line per event on stderr, with level and
        // metadata, no lock (the FastCGI master forks).
        .target(name: "MedsyncLog", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // The FastCGI layer the app and the sandbox share: worker threads, the process pool (master and
        // children), Request/Response, body parsers.
        .target(name: "FastCGI", dependencies: ["CFCGI", "CLinux", "MedsyncLog"]),
        // The layers under Domain, each a target that links only its own C library (see README,
        // "Layout"): crypto (OpenSSL), configuration, the curl HTTP client, PostgreSQL (libpq), and
        // the Twilio and Gemini clients on the HTTP client.
        .target(name: "MedsyncCrypto", dependencies: ["COpenSSL"]),
        .target(name: "MedsyncConfig", dependencies: ["MedsyncCrypto"]),
        .target(name: "HTTPClient", dependencies: ["CCurl"]),
        .target(name: "Postgres", dependencies: ["CLibPQ", "MedsyncCrypto", "MedsyncConfig"]),
        .target(name: "Twilio", dependencies: ["HTTPClient", "MedsyncConfig"]),
        .target(name: "Gemini", dependencies: ["HTTPClient", "MedsyncConfig"]),
        // Every SQL statement, grouped by aggregate (Sources/Store/README.md): each store is a protocol
        // the use cases call and its PostgreSQL implementation, which owns its transactions; the
        // records they return and the error catalogue live here too.
        .target(name: "Store", dependencies: ["Postgres", "MedsyncCrypto", "MedsyncLog"]),
        // File formats of uploads, pure and bounded: the CSV parser, the XLSX reader and its zip
        // archive (zlib); what a refusal is (FileFormatError), not how the API answers it.
        .target(name: "FileFormats", dependencies: ["CZlib"]),
        // The use cases both binaries share: decisions and orchestration against the stores'
        // protocols; knows nothing of FastCGI.
        .target(name: "Domain", dependencies: [
            "Store", "FileFormats", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Twilio", "Gemini",
            "MedsyncLog",
        ]),

        // The OpenAPI document is one JSON file, compiled into the binary.
        .executableTarget(name: "FCGIApp", dependencies: ["FastCGI", "Domain", "MedsyncLog", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", "Gemini"], resources: [.embedInCode("OpenAPI/openapi.json")]),
        .executableTarget(
            name: "Jobs",
            dependencies: ["Domain", "MedsyncLog", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The sandbox links no PostgreSQL (DeploymentFilesTests checks it).
        .executableTarget(name: "Sandbox", dependencies: ["FastCGI", "HTTPClient", "MedsyncCrypto", "MedsyncLog"]),

        // Shared by the test targets: fresh databases, the running stack's settings, process helpers.
        .target(name: "TestSupport", dependencies: ["Domain", "Store", "MedsyncLog", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", "Twilio", "Gemini"], path: "Tests/TestSupport"),
        .testTarget(name: "MedsyncLogTests", dependencies: ["MedsyncLog", "TestSupport"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"]),
        // One test target per layer (README, "Layout"); tests that need the stack are `.needsStack`.
        .testTarget(name: "CryptoTests", dependencies: ["MedsyncCrypto", "TestSupport"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "TestSupport"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "MedsyncCrypto", "MedsyncConfig", "TestSupport"]),
        .testTarget(name: "TwilioTests", dependencies: ["Twilio", "HTTPClient", "TestSupport"]),
        .testTarget(name: "GeminiTests", dependencies: ["Gemini", "HTTPClient", "Domain", "TestSupport"]),  // BotAnswer: the schema and the answers Gemini must give
        .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "TestSupport"]),
        // The PostgreSQL stores against a real server (the use cases' tests run on TestSupport's
        // in-memory stores instead).
        .testTarget(name: "StoreTests", dependencies: ["Store", "Domain", "Postgres", "MedsyncCrypto", "MedsyncConfig", "TestSupport"]),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "MedsyncLog", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", "Twilio", "Gemini", "TestSupport"], exclude: ["Helpers"]),
        .testTarget(name: "FCGIAppTests", dependencies: ["FCGIApp", "FastCGI", "Domain", "MedsyncLog", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", "Twilio", "Gemini", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Domain", "MedsyncCrypto", "MedsyncConfig", "HTTPClient", "Postgres", "Twilio", "Gemini", "TestSupport"]),
    ]
)

// libFuzzer targets (Fuzz/<Target>/), only when MEDSYNC_FUZZ is set: they have no `main` of their own
// (libFuzzer's is linked by `-sanitize=fuzzer`), so an ordinary build must not see them. scripts/fuzz
// builds them in .build-fuzz with `-sanitize=fuzzer,address`; see Fuzz/README.md.
if Context.environment["MEDSYNC_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"))
    for name in ["FuzzForm", "FuzzMultipart", "FuzzCSV", "FuzzXLSX", "FuzzJSON", "FuzzSignatureURL", "FuzzPendingOffer"] {
        package.products.append(.executable(name: name, targets: [name]))
        package.targets.append(.executableTarget(name: name, dependencies: ["FastCGI", "Domain", "FileFormats", "MedsyncCrypto", "FuzzSupport"], path: "Fuzz/\(name)"))
    }
}
