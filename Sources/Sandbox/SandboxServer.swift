import FastCGI
import Foundation
import HTTPClient

extension SandboxApp {
    /// Serves the sandbox on the project's FastCGI layer. Each worker thread owns one HTTP client (for
    /// the webhooks and callbacks it posts while handling a control call).
    func serve() throws {
        let server = FastCGIServer(listen: listen, workers: workers, maxBodyBytes: maxBodyBytes)
        let router = self.router
        try server.run {
            let http: HTTPClient
            do {
                http = try HTTPClient(connectTimeoutMS: 5000, timeoutMS: 30000)
            } catch {
                fatalError("medsync-sandbox: cannot create a curl handle: \(error)")
            }
            return { request in
                let response = router.handle(SandboxRequest(request), http: http)
                return Response(status: response.status, headers: response.headers, body: response.body)
            }
        }
    }
}

extension SandboxRequest {
    init(_ request: Request) {
        self.init(method: request.method, path: request.path, query: request.query, headers: request.headers, body: request.body)
    }
}
