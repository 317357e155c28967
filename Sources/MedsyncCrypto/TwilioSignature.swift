/// Twilio's `X-Twilio-Signature`: base64(HMAC-SHA1(authToken, url + params)), where params are
/// concatenated name+value, sorted by name, and for a repeated name its distinct values sorted —
/// exactly as Twilio's SDKs (`RequestValidator`) compute it. Sorting is by code point (as Python's
/// `sorted` does), not by Swift's Unicode-canonical `String` ordering.
public enum TwilioSignature {
    public static func compute(authToken: String, url: String, params: [(String, String)]) -> String {
        sign(key: Array(authToken.utf8), url: url, signedParams: signedParams(params))
    }

    /// The params as they are signed: name+value of each distinct pair, sorted by name, then value.
    /// (The same order as grouping the values by name, sorting each group and dropping repeats.)
    /// UTF-8 byte order is code-point order.
    static func signedParams(_ params: [(String, String)]) -> [UInt8] {
        let pairs = params.map { (name: Array($0.0.utf8), value: Array($0.1.utf8)) }.sorted {
            $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name)
        }
        var data: [UInt8] = []
        data.reserveCapacity(pairs.reduce(0) { $0 + $1.name.count + $1.value.count })
        var previous: (name: [UInt8], value: [UInt8])? = nil
        for pair in pairs where previous.map({ $0.name != pair.name || $0.value != pair.value }) ?? true {
            data += pair.name
            data += pair.value
            previous = pair
        }
        return data
    }

    static func sign(key: [UInt8], url: String, signedParams: [UInt8]) -> String {
        Base64.encode(Crypto.hmacSHA1(key: key, data: Array(url.utf8) + signedParams))
    }

    /// True when `signature` matches `url` as given, or `url` with its scheme's default port added
    /// or removed (`:443` for https, `:80` for http) — Twilio may sign either form. Constant-time compare.
    public static func isValid(signature: String, authToken: String, url: String, params: [(String, String)]) -> Bool {
        let given = Array(signature.utf8)
        let key = Array(authToken.utf8)
        let tail = signedParams(params)
        var valid = false
        // Evaluate every candidate (no early exit) so timing does not say which form matched.
        for candidate in urlVariants(url) {
            let expected = Array(sign(key: key, url: candidate, signedParams: tail).utf8)
            if Crypto.constantTimeEqual(expected, given) { valid = true }
        }
        return valid
    }

    /// The url as given, then with the default port toggled (if the scheme is http or https).
    static func urlVariants(_ url: String) -> [String] {
        asciiURLVariants(url) ?? unicodeURLVariants(url)
    }

    /// `urlVariants` on Characters, for any URL.
    static func unicodeURLVariants(_ url: String) -> [String] {
        guard let schemeEnd = url.range(of: "://") else { return [url] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let defaultPort: String
        switch scheme {
        case "https": defaultPort = "443"
        case "http": defaultPort = "80"
        default: return [url]
        }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        let prefix = url[..<schemeEnd.upperBound]
        // host part starts after any userinfo; its port follows the last ':' outside an IPv6 literal.
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostPort = authority[hostStart...]
        let userinfo = authority[..<hostStart]
        var host = hostPort
        var port: Substring? = nil
        if let colon = hostPort.lastIndex(of: ":"), !hostPort[colon...].contains("]") {
            host = hostPort[..<colon]
            port = hostPort[hostPort.index(after: colon)...]
        }
        let other: String
        if let port {
            guard port == defaultPort else { return [url] }
            other = String(prefix + userinfo + host + tail)
        } else {
            other = String(prefix + userinfo + host) + ":" + defaultPort + String(tail)
        }
        return [url, other]
    }

    /// `urlVariants` of an ASCII URL (every URL Twilio signs), on its bytes: one Character is one
    /// byte there, so the same cuts; nil for any other URL (a combining mark can join a "/" or ":"
    /// into a longer Character, which the String code above does not cut at).
    static func asciiURLVariants(_ url: String) -> [String]? {
        let u = Array(url.utf8)
        guard u.allSatisfy({ $0 < 0x80 }) else { return nil }
        let slash = UInt8(ascii: "/"), colon = UInt8(ascii: ":")
        guard let schemeEnd = u.indices.first(where: { $0 + 2 < u.count && u[$0] == colon && u[$0 + 1] == slash && u[$0 + 2] == slash }) else {
            return [url]
        }
        let scheme = u[..<schemeEnd].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        let defaultPort: [UInt8]
        switch scheme {
        case Array("https".utf8): defaultPort = Array("443".utf8)
        case Array("http".utf8): defaultPort = Array("80".utf8)
        default: return [url]
        }
        let authorityStart = schemeEnd + 3
        let authorityEnd = u[authorityStart...].firstIndex { $0 == slash || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? u.endIndex
        let hostStart = u[authorityStart..<authorityEnd].lastIndex(of: UInt8(ascii: "@")).map { $0 + 1 } ?? authorityStart
        var other: [UInt8]
        if let colonAt = u[hostStart..<authorityEnd].lastIndex(of: colon), !u[colonAt..<authorityEnd].contains(UInt8(ascii: "]")) {
            guard u[(colonAt + 1)..<authorityEnd].elementsEqual(defaultPort) else { return [url] }
            other = Array(u[..<colonAt])
        } else {
            other = Array(u[..<authorityEnd])
            other.append(colon)
            other += defaultPort
        }
        other += u[authorityEnd...]
        return [url, String(decoding: other, as: UTF8.self)]
    }
}
