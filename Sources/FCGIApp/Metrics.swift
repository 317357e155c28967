import Domain
import FastCGI
import Foundation
import MedsyncCrypto
import Postgres

/// Prometheus metrics of every process of the pool (requests by route and status, latency histogram,
/// kept in memory the master and its children share: MetricsStore) plus, at
/// scrape time, counts from PostgreSQL (messages by direction and status, Twilio errors by code,
/// inbound webhooks). `GET /metrics` answers only loopback clients or `Authorization: Bearer
/// $MEDSYNC_METRICS_TOKEN`.
final class Metrics: @unchecked Sendable {
    static let shared = Metrics()
    static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Key: Hashable { let method: String; let route: String; let status: Int }
    private let lock = NSLock()
    /// Counts of every process of the pool (MetricsStore); a store of its own until `share` is called.
    private var store = MetricsStore(childSlots: 1, buckets: Metrics.buckets.count)
    private var slot = 0

    /// In the master, before the first fork: one store for `processes` children and those retired.
    func share(processes: Int) {
        lock.lock()
        store = MetricsStore(childSlots: processes, buckets: Metrics.buckets.count)
        lock.unlock()
    }

    /// In a child: the slot its counts go to.
    func use(slot: Int) {
        lock.lock()
        self.slot = slot
        lock.unlock()
    }

    /// In the master, once the child of `slot` has exited.
    func retire(slot: Int) { store.retire(slot: slot) }

    /// Methods kept as labels; any other method a client sends is counted as "other", so the label
    /// set stays bounded whatever arrives.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    static func methodLabel(_ method: String) -> String {
        let upper = method.uppercased()
        return knownMethods.contains(upper) ? upper : "other"
    }

    func observe(method: String, route: String, status: Int, seconds: Double) {
        let method = Metrics.methodLabel(method)
        lock.lock()
        defer { lock.unlock() }
        store.record(slot: slot, key: "\(method)\t\(route)\t\(status)", seconds: seconds, bucketLimits: Metrics.buckets)
    }

    func render() -> String {
        lock.lock()
        let totals = store.totals()
        lock.unlock()
        var requests: [Key: Int] = [:]
        var latency: [String: (counts: [Int], sum: Double, count: Int)] = [:]
        for (key, t) in totals {
            let parts = key.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 3, let status = Int(parts[2]) else { continue }
            requests[Key(method: String(parts[0]), route: String(parts[1]), status: status), default: 0] += Int(t.count)
            var h = latency[String(parts[1])] ?? (Array(repeating: 0, count: Metrics.buckets.count), 0, 0)
            for i in 0..<h.counts.count { h.counts[i] += Int(t.buckets[i]) }
            h.sum += t.sum
            h.count += Int(t.count)
            latency[String(parts[1])] = h
        }
        var out = "# HELP medsync_http_requests_total HTTP requests answered, by route pattern and status.\n"
        out += "# TYPE medsync_http_requests_total counter\n"
        for (k, v) in requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out += "medsync_http_requests_total{method=\"\(Metrics.esc(k.method))\",route=\"\(Metrics.esc(k.route))\",status=\"\(k.status)\"} \(v)\n"
        }
        out += "# HELP medsync_http_request_duration_seconds Time to answer a request, by route pattern.\n"
        out += "# TYPE medsync_http_request_duration_seconds histogram\n"
        for (route, h) in latency.sorted(by: { $0.key < $1.key }) {
            for (i, b) in Metrics.buckets.enumerated() {
                out += "medsync_http_request_duration_seconds_bucket{route=\"\(Metrics.esc(route))\",le=\"\(b)\"} \(h.counts[i])\n"
            }
            out += "medsync_http_request_duration_seconds_bucket{route=\"\(Metrics.esc(route))\",le=\"+Inf\"} \(h.count)\n"
            out += "medsync_http_request_duration_seconds_sum{route=\"\(Metrics.esc(route))\"} \(h.sum)\n"
            out += "medsync_http_request_duration_seconds_count{route=\"\(Metrics.esc(route))\"} \(h.count)\n"
        }
        return out
    }

    /// Counts kept in PostgreSQL (the same for every process).
    static func database(_ conn: PGConnection) throws -> String {
        var out = "# HELP medsync_messages Messages stored, by direction and status.\n# TYPE medsync_messages gauge\n"
        for r in try conn.query("SELECT direction, status, sum(n) AS n FROM medsync_message_counts() GROUP BY 1, 2 ORDER BY 1, 2") {
            out += "medsync_messages{direction=\"\(esc(try r.decode(String?.self, "direction") ?? ""))\",status=\"\(esc(try r.decode(String?.self, "status") ?? ""))\"} \(try r.decode(Int?.self, "n") ?? 0)\n"
        }
        out += "# HELP medsync_twilio_errors Outbound messages Twilio failed, by Twilio error code.\n# TYPE medsync_twilio_errors gauge\n"
        for r in try conn.query("""
            SELECT error_code, sum(n) AS n FROM medsync_message_counts() WHERE direction = 'outbound' AND error_code IS NOT NULL GROUP BY 1 ORDER BY 1
            """) {
            out += "medsync_twilio_errors{code=\"\(try r.decode(Int?.self, "error_code") ?? 0)\"} \(try r.decode(Int?.self, "n") ?? 0)\n"
        }
        out += "# HELP medsync_webhooks_inbound Inbound WhatsApp webhooks stored (one per MessageSid).\n# TYPE medsync_webhooks_inbound gauge\n"
        let inbound = try conn.query("SELECT COALESCE(sum(n), 0) AS n FROM medsync_message_counts() WHERE direction = 'inbound'").first?.decode(Int?.self, "n") ?? 0
        out += "medsync_webhooks_inbound \(inbound)\n"
        return out
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static let token: String? = ProcessInfo.processInfo.environment["MEDSYNC_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }

    static func isLoopback(_ address: String) -> Bool {
        address == "127.0.0.1" || address == "::1" || address.hasPrefix("127.") || address == "::ffff:127.0.0.1"
    }
}

extension Router {
    /// The route pattern a path matches (a bounded label for metrics), or "unmatched".
    func routeLabel(for path: String) -> String {
        let parts = Router.split(path)
        let matches = routes.filter { Router.match($0.segments, parts) != nil }
        return matches.max(by: { Router.lessSpecific($0, $1) })?.pattern ?? "unmatched"
    }

    /// `handle` with the request counted and timed in `Metrics.shared` (main.swift calls this).
    func handleMeasured(_ request: Request, _ app: AppContext) -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let (response, label) = dispatch(request, app)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        Metrics.shared.observe(method: request.method, route: label, status: response.status, seconds: seconds)
        return response
    }
}

@Sendable func metricsEndpoint(_ request: Request, _ ctx: RequestContext) throws -> Response {
    // Our nginx sets X-Forwarded-For to the client's address (replacing any the client sent).
    var allowed = Metrics.isLoopback(request.remoteAddress) && request.header("x-forwarded-for").map(Metrics.isLoopback) ?? true
    if let token = Metrics.token, let auth = request.header("authorization"), auth.hasPrefix("Bearer ") {
        allowed = allowed || Crypto.constantTimeEqual(Array(auth.dropFirst(7).utf8), Array(token.utf8))
    }
    guard allowed else { throw AppError(.forbidden, "Metrics are served to loopback clients or with the metrics token only.") }
    let body = Metrics.shared.render() + (try Metrics.database(ctx.db()))
    return .text(200, body, contentType: "text/plain; version=0.0.4; charset=utf-8")
}
