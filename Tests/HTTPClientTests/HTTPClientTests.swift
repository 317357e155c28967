import Foundation
import Testing
import TestSupport
import HTTPClient

/// What Helpers/echo_server.py's /echo answers.
private struct Echo: Decodable {
    let method: String
    let path: String
    let query: [[String]]
    let headers: [String: String]
    let body: String
    let form: [[String]]?
    let client_port: Int
}

private func startServer() throws -> PythonServer {
    try PythonServer(script: domainTestHelper("echo_server.py"))
}

@Suite struct HTTPClientTests {
    @Test func getReturnsStatusHeadersAndBody() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let response = try client.send(HTTPRequest(url: "\(server.baseURL)/echo?a=1&b=x%20y", headers: [("X-Custom", "hello")]))
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        let echo = try response.decodeJSON(Echo.self)
        #expect(echo.method == "GET")
        #expect(echo.path == "/echo")
        #expect(echo.query == [["a", "1"], ["b", "x y"]])
        #expect(echo.headers["x-custom"] == "hello")
        #expect(echo.headers["expect"] == nil)
        #expect(echo.body == "")
    }

    @Test func postFormKeepsOrderRepeatsUnicodeAndReservedCharacters() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let pairs = [
            ("To", "whatsapp:+14155550100"),
            ("Body", "Olá, 1+1=2 & ça va? 100% ✅"),
            ("MediaUrl", "https://example.com/a.jpg?x=1&y=2"),
            ("MediaUrl", "https://example.com/b.jpg"),
            ("Empty", ""),
        ]
        let response = try client.send(.form(url: "\(server.baseURL)/echo", pairs: pairs))
        #expect(response.status == 200)
        let echo = try response.decodeJSON(Echo.self)
        #expect(echo.method == "POST")
        #expect(echo.headers["content-type"] == "application/x-www-form-urlencoded")
        #expect(echo.form == pairs.map { [$0.0, $0.1] })
        // The wire form: space as +, reserved bytes and UTF-8 percent-encoded.
        #expect(echo.body.hasPrefix("To=whatsapp%3A%2B14155550100&Body=Ol%C3%A1%2C+1%2B1%3D2+%26+%C3%A7a+va%3F+100%25+%E2%9C%85&"))
    }

    @Test func formEncodingMatchesPythonsUrlencode() throws {
        let pairs = [("a b", "c+d&e=f/g~h_i.j-k*"), ("ü", "€")]
        #expect(HTTPRequest.formEncode(pairs) == "a+b=c%2Bd%26e%3Df%2Fg~h_i.j-k%2A&%C3%BC=%E2%82%AC")
    }

    @Test func postJSONBody() throws {
        struct Payload: Codable, Equatable { let name: String; let count: Int; let tags: [String] }
        let server = try startServer()
        let client = try HTTPClient()
        let payload = Payload(name: "Zoë \"quoted\" /slash", count: 3, tags: ["a", "b"])
        let response = try client.send(try .json(url: "\(server.baseURL)/echo", body: payload))
        #expect(response.status == 200)
        let echo = try response.decodeJSON(Echo.self)
        #expect(echo.headers["content-type"] == "application/json")
        let roundTrip = try JSONDecoder().decode(Payload.self, from: Data(echo.body.utf8))
        #expect(roundTrip == payload)

        let raw = try client.send(.json(url: "\(server.baseURL)/echo", body: #"{"k":[1,2]}"#))
        #expect(try raw.decodeJSON(Echo.self).body == #"{"k":[1,2]}"#)
    }

    @Test func largeBodyIsSentWithoutExpectContinue() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let big = String(repeating: "x", count: 200_000)
        let response = try client.send(.form(url: "\(server.baseURL)/echo", pairs: [("big", big)]))
        let echo = try response.decodeJSON(Echo.self)
        #expect(echo.form == [["big", big]])
        #expect(echo.headers["expect"] == nil)
    }

    @Test func basicAuthHeader() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let response = try client.send(.form(
            url: "\(server.baseURL)/echo", pairs: [("a", "b")], basicAuth: ("AC123", "s3cr:et")))
        let echo = try response.decodeJSON(Echo.self)
        let expected = "Basic " + Data("AC123:s3cr:et".utf8).base64EncodedString()
        #expect(echo.headers["authorization"] == expected)

        let without = try client.send(HTTPRequest(url: "\(server.baseURL)/echo"))
        #expect(try without.decodeJSON(Echo.self).headers["authorization"] == nil)
    }

    @Test func otherMethods() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let put = try client.send(HTTPRequest(method: "PUT", url: "\(server.baseURL)/echo", body: Array("p".utf8)))
        #expect(try put.decodeJSON(Echo.self).method == "PUT")
        #expect(try put.decodeJSON(Echo.self).body == "p")
        // No Content-Type is invented for a raw body (curl would label it a form).
        #expect(try put.decodeJSON(Echo.self).headers["content-type"] == nil)
        let delete = try client.send(HTTPRequest(method: "DELETE", url: "\(server.baseURL)/echo"))
        #expect(try delete.decodeJSON(Echo.self).method == "DELETE")
        let head = try client.send(HTTPRequest(method: "HEAD", url: "\(server.baseURL)/headers"))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
    }

    @Test func responseHeadersInOrderWithRepeats() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let response = try client.send(HTTPRequest(url: "\(server.baseURL)/headers"))
        #expect(response.status == 200)
        #expect(response.header("X-TEST") == "one")
        #expect(response.headerValues("set-cookie") == ["a=1", "b=2"])
        #expect(response.header("Content-Length") == "7")
        #expect(response.text == "headers")
    }

    @Test(arguments: [400, 401, 404, 429, 500, 503])
    func errorStatusesAreResponsesNotErrors(status: Int) throws {
        let server = try startServer()
        let client = try HTTPClient()
        let response = try client.send(.form(url: "\(server.baseURL)/status/\(status)", pairs: [("x", "1")]))
        #expect(response.status == status)
        #expect(response.text == "status \(status)")
    }

    @Test func slowEndpointTimesOut() throws {
        let server = try startServer()
        let client = try HTTPClient(connectTimeoutMS: 2000, timeoutMS: 30_000)
        // The per-request timeout overrides the client's 30 s.
        #expect {
            try client.send(HTTPRequest(url: "\(server.baseURL)/slow?ms=3000", timeoutMS: 300))
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .timeout && error.message.contains("curl_easy_perform")
                && error.message.contains("/slow") && !error.message.contains("ms=3000")
        }
        // The same handle works again afterwards.
        let ok = try client.send(HTTPRequest(url: "\(server.baseURL)/slow?ms=10"))
        #expect(ok.text == "slow")
    }

    @Test func closedPortIsAConnectError() throws {
        let port = try closedLocalPort()
        let client = try HTTPClient(connectTimeoutMS: 2000, timeoutMS: 5000)
        #expect {
            try client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/x"))
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .connect && error.message.contains("curl_easy_perform")
        }
    }

    @Test func unresolvableHostIsAConnectError() throws {
        let client = try HTTPClient(connectTimeoutMS: 2000, timeoutMS: 5000)
        #expect {
            try client.send(HTTPRequest(url: "http://no-such-host.invalid/x"))
        } throws: { error in
            (error as? HTTPClientError)?.code == .connect
        }
    }

    @Test func unsupportedSchemeIsATransportError() throws {
        let client = try HTTPClient()
        #expect {
            try client.send(HTTPRequest(url: "file:///etc/passwd"))
        } throws: { error in
            (error as? HTTPClientError)?.code == .transport
        }
    }

    @Test func handleIsReusedSoTheConnectionIsKeptAlive() throws {
        let server = try startServer()
        let client = try HTTPClient()
        let first = try client.send(HTTPRequest(url: "\(server.baseURL)/echo")).decodeJSON(Echo.self)
        let second = try client.send(.form(url: "\(server.baseURL)/echo", pairs: [("a", "1")])).decodeJSON(Echo.self)
        let third = try client.send(HTTPRequest(url: "\(server.baseURL)/echo")).decodeJSON(Echo.self)
        // Same client-side port: one TCP connection served all three requests.
        #expect(first.client_port == second.client_port)
        #expect(second.client_port == third.client_port)
        // Options do not leak from one request to the next (reset between requests).
        #expect(third.method == "GET")
        #expect(third.headers["content-type"] == nil)
    }

    @Test func urlInErrorsHasNoQueryOrCredentials() throws {
        let port = try closedLocalPort()
        let client = try HTTPClient()
        do {
            _ = try client.send(HTTPRequest(url: "http://user:pw@127.0.0.1:\(port)/p?token=secret"))
            Issue.record("expected an error")
        } catch {
            #expect(!error.message.contains("secret"))
            #expect(!error.message.contains("pw"))
            #expect(error.message.contains("127.0.0.1:\(port)/p"))
        }
    }
}

@Suite(.serialized) struct HTTPClientWorkGateTests {
    /// A worker thread waiting on Twilio or Gemini must not keep a place of the process's WorkGate
    /// (medsync-fcgi: MEDSYNC_ACTIVE_WORKERS), or slow model answers would stop every webhook behind them.
    @Test func aRequestInFlightGivesUpItsPlace() throws {
        let server = try startServer()
        let gate = WorkGate()   // as medsync-fcgi hands WorkGate.shared to its workers' clients
        gate.configure(limit: 1)
        defer { gate.configure(limit: 0) }
        final class Order: @unchecked Sendable {
            let lock = NSLock()
            var events: [String] = []
            func add(_ e: String) { lock.lock(); events.append(e); lock.unlock() }
            var all: [String] { lock.lock(); defer { lock.unlock() }; return events }
        }
        let order = Order()
        let url = "\(server.baseURL)/slow?ms=1500"
        let slow = Thread {
            gate.inside {
                order.add("slow in")
                let client = try? HTTPClient(connectTimeoutMS: 2000, timeoutMS: 10_000, remoteWait: gate)
                _ = try? client?.send(HTTPRequest(url: url))
                order.add("slow done")
            }
        }
        slow.start()
        let start = ContinuousClock.now
        while !(order.all == ["slow in"] && gate.state.active == 0) && ContinuousClock.now - start < .seconds(5) { usleep(1000) }
        #expect(gate.state.active == 0, "the place was given up while the request was in flight")
        let quick = Thread { gate.inside { order.add("quick") } }
        quick.start()
        while order.all.count < 3 && ContinuousClock.now - start < .seconds(10) { usleep(1000) }
        #expect(order.all == ["slow in", "quick", "slow done"])
        while gate.state.active != 0 && ContinuousClock.now - start < .seconds(10) { usleep(1000) }   // "slow done" is written just before it leaves
        #expect(gate.state.active == 0 && gate.state.waiting == 0)
    }
}
