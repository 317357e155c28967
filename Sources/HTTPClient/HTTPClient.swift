@preconcurrency import CCurl

/// What a client does around its wait on the network, given by the application that owns the thread
/// (medsync-fcgi hands its `WorkGate`, so a worker waiting on Twilio or Gemini gives its place for
/// local work up meanwhile). The client knows nothing else of the application's admission control.
public protocol RemoteWaitHook: Sendable {
    /// Runs `body`, a blocking wait on a remote server.
    func outside<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T
}

/// A blocking HTTP client on one libcurl easy handle.
///
/// Not `Sendable`: one client per thread (each FastCGI worker makes its own in `makeHandler`).
/// The easy handle is reused between requests (`curl_easy_reset` keeps its connection cache),
/// so consecutive requests to the same host share a kept-alive connection.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer  // CURL is `typedef void CURL`
    /// curl writes its human explanation of a failure here (CURLOPT_ERRORBUFFER); lives as long as the handle.
    private let errorBuffer: UnsafeMutablePointer<CChar>
    public let connectTimeoutMS: Int
    public let timeoutMS: Int
    /// A response body larger than this aborts the transfer with `.transport`.
    public let maxResponseBytes: Int
    /// Wraps each transfer (nil: nothing around it).
    private let remoteWait: (any RemoteWaitHook)?

    /// Calls `curl_global_init` exactly once per process. Call it in `main` before starting threads;
    /// `init` calls it too, so forgetting it is safe (the once-guard is thread-safe).
    public static func globalInit() {
        _ = globalInitDone
    }

    private static let globalInitDone: Bool = {
        let rc = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        precondition(rc == CURLE_OK, "curl_global_init failed: \(String(cString: curl_easy_strerror(rc)))")
        return true
    }()

    public init(connectTimeoutMS: Int = 5000, timeoutMS: Int = 15000, maxResponseBytes: Int = 16 << 20,
                remoteWait: (any RemoteWaitHook)? = nil) throws(HTTPClientError) {
        HTTPClient.globalInit()
        guard let h = curl_easy_init() else {
            throw .transport("curl_easy_init returned NULL")
        }
        handle = h
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        self.connectTimeoutMS = connectTimeoutMS
        self.timeoutMS = timeoutMS
        self.maxResponseBytes = maxResponseBytes
        self.remoteWait = remoteWait
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Performs the request. Any status (including 4xx/5xx) is a response; only a failure to get
    /// one (timeout, refused connection, TLS, ...) throws.
    public func send(_ request: HTTPRequest) throws(HTTPClientError) -> HTTPResponse {
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let sink = ResponseSink(maxBodyBytes: maxResponseBytes)
        let headerList = CurlHeaderList()

        try setopt(CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorBuffer))
        try setopt(CURLOPT_URL, request.url)
        try setopt(CURLOPT_PROTOCOLS_STR, "http,https")
        // Worker threads must not receive SIGALRM from curl's resolver timeouts.
        try setopt(CURLOPT_NOSIGNAL, 1)
        try setopt(CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMS)
        try setopt(CURLOPT_TIMEOUT_MS, request.timeoutMS ?? timeoutMS)
        try setopt(CURLOPT_FOLLOWLOCATION, 0)

        if let (user, password) = request.basicAuth {
            try setopt(CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC; its cast macro is not imported into Swift
            try setopt(CURLOPT_USERNAME, user)
            try setopt(CURLOPT_PASSWORD, password)
        }

        for (name, value) in request.headers {
            try headerList.append("\(name): \(value)")
        }
        // curl would otherwise send `Expect: 100-continue` for bodies over 1 KiB and wait for the server.
        try headerList.append("Expect:")
        // curl labels every CURLOPT_POSTFIELDS body as a form unless told otherwise; send only what the caller set.
        if !request.headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            try headerList.append("Content-Type:")
        }
        try setopt(CURLOPT_HTTPHEADER, slist: headerList.list)

        let method = request.method.uppercased()
        switch method {
        case "GET" where request.body.isEmpty:
            try setopt(CURLOPT_HTTPGET, 1)
        case "HEAD":
            try setopt(CURLOPT_NOBODY, 1)
        default:
            if method != "POST" {
                try setopt(CURLOPT_CUSTOMREQUEST, method)
            }
        }

        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        try setopt(CURLOPT_WRITEFUNCTION, callback: { data, size, count, userdata in
            let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
            return sink.appendBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
        })
        try setopt(CURLOPT_WRITEDATA, UnsafeRawPointer(sinkPointer))
        try setopt(CURLOPT_HEADERFUNCTION, callback: { data, size, count, userdata in
            let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
            sink.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        })
        try setopt(CURLOPT_HEADERDATA, UnsafeRawPointer(sinkPointer))

        // The body buffer, the header list and the sink must outlive curl_easy_perform.
        let code: CURLcode = try withExtendedLifetime((sink, headerList)) { () throws(HTTPClientError) -> CURLcode in
            if method == "GET" && request.body.isEmpty || method == "HEAD" {
                return perform()
            }
            return try request.body.withUnsafeBufferPointer { (body) throws(HTTPClientError) -> CURLcode in
                try setopt(CURLOPT_POSTFIELDSIZE_LARGE, off: curl_off_t(body.count))
                // curl reads the body from this pointer during perform; "" keeps it non-NULL when empty.
                if let base = body.baseAddress {
                    try setopt(CURLOPT_POSTFIELDS, UnsafeRawPointer(base))
                } else {
                    try setopt(CURLOPT_COPYPOSTFIELDS, "")
                }
                return perform()
            }
        }
        if code != CURLE_OK {
            throw failure("curl_easy_perform", code, url: request.url)
        }

        var status = 0
        let rc = medsync_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if rc != CURLE_OK { throw failure("curl_easy_getinfo(RESPONSE_CODE)", rc, url: request.url) }
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    /// The transfer itself, inside the remote-wait hook.
    private func perform() -> CURLcode {
        guard let remoteWait else { return curl_easy_perform(handle) }
        return remoteWait.outside { curl_easy_perform(handle) }
    }

    // MARK: - curl calls, each failure turned into an HTTPClientError naming the call

    private func failure(_ call: String, _ code: CURLcode, url: String? = nil) -> HTTPClientError {
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        // Only scheme://host[:port]/path: a query string could carry credentials.
        let target = url.map { " (\(HTTPClient.redactedURL($0)))" } ?? ""
        let message = "\(call) failed\(target): \(detail) [CURLcode \(code.rawValue)]"
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return .timeout(message)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .connect(message)
        default: return .transport(message)
        }
    }

    public static func redactedURL(_ url: String) -> String {
        var s = Substring(url)
        if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<q] }
        // Drop user:password@ if present.
        if let scheme = s.range(of: "://") {
            let rest = s[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
                s = s[..<scheme.upperBound] + rest[rest.index(after: at)...]
            }
        }
        return String(s)
    }

    private func check(_ name: String, _ code: CURLcode) throws(HTTPClientError) {
        if code != CURLE_OK { throw failure("curl_easy_setopt(\(name))", code) }
    }

    private func setopt(_ option: CURLoption, _ value: Int) throws(HTTPClientError) {
        try check("\(option.rawValue)", medsync_curl_setopt_long(handle, option, value))
    }

    private func setopt(_ option: CURLoption, _ value: String) throws(HTTPClientError) {
        // libcurl copies string options (since 7.17), so the temporary C string may die after the call.
        try check("\(option.rawValue)", medsync_curl_setopt_str(handle, option, value))
    }

    private func setopt(_ option: CURLoption, _ value: UnsafeRawPointer?) throws(HTTPClientError) {
        try check("\(option.rawValue)", medsync_curl_setopt_ptr(handle, option, value))
    }

    private func setopt(_ option: CURLoption, slist: UnsafeMutablePointer<curl_slist>?) throws(HTTPClientError) {
        try check("\(option.rawValue)", medsync_curl_setopt_slist(handle, option, slist))
    }

    private func setopt(_ option: CURLoption, off: curl_off_t) throws(HTTPClientError) {
        try check("\(option.rawValue)", medsync_curl_setopt_off(handle, option, off))
    }

    private func setopt(_ option: CURLoption, callback: medsync_curl_write_cb) throws(HTTPClientError) {
        try check("\(option.rawValue)", medsync_curl_setopt_write(handle, option, callback))
    }
}

/// Owns a `curl_slist` (request headers); freed in deinit.
private final class CurlHeaderList {
    private(set) var list: UnsafeMutablePointer<curl_slist>?

    func append(_ line: String) throws(HTTPClientError) {
        guard let next = curl_slist_append(list, line) else {
            throw .transport("curl_slist_append returned NULL")
        }
        list = next
    }

    deinit { curl_slist_free_all(list) }
}

/// Collects what curl's write callbacks deliver. Passed to C as unretained userdata; the
/// `send` call keeps it alive for the whole transfer.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    let maxBodyBytes: Int

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func appendBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard body.count + chunk.count <= maxBodyBytes else { return false }
        body.append(contentsOf: chunk)
        return true
    }

    func appendHeaderLine(_ chunk: UnsafeRawBufferPointer) {
        var line = String(decoding: chunk, as: UTF8.self)
        while line.hasSuffix("\r\n") || line.hasSuffix("\n") { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue or a redirect): only the final response's headers count.
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingSpaces()
        headers.append((name, value))
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
