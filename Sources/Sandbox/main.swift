import Domain
import Foundation

// medsync-sandbox: Twilio's and Gemini's REST APIs plus the patient's phone, on the project's FastCGI layer.
let environment = ProcessInfo.processInfo.environment
let app = SandboxApp(environment: environment)
print("medsync-sandbox (FastCGI adapter pending): \(app.router.routes.count) routes")
