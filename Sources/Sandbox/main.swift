import Foundation
import HTTPClient
import MedsyncLog

// medsync-sandbox: Twilio's and Gemini's REST APIs plus the patient's phone, on the project's FastCGI
// layer, for development and tests (see SandboxApp for its environment).
MedsyncLogging.bootstrap(program: "medsync-sandbox", environment: ProcessInfo.processInfo.environment)
HTTPClient.globalInit()
let app = SandboxApp(environment: ProcessInfo.processInfo.environment)
print("medsync-sandbox: FastCGI on \(app.listen.isEmpty ? "fd 3 (socket activation)" : app.listen), \(app.workers) workers; "
      + "master account \(app.sandbox.seed.masterSid); senders \(app.sandbox.seed.numbers.joined(separator: ", ")) → \(app.sandbox.seed.smsURL)")
do {
    try app.serve()
} catch {
    FileHandle.standardError.write(Data("medsync-sandbox: \(error)\n".utf8))
    exit(1)
}
