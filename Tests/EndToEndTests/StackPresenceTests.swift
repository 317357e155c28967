import Foundation
import HTTPClient
import Postgres
import Testing
import TestSupport

/// Under `make test` (scripts/test sets MEDSYNC_TEST_ENV) every `.needsStack` test runs; this one makes
/// a run whose stack is missing fail instead of passing on the tests that need none.
@Suite(.needsStack) struct StackPresenceTests {
    @Test func theStackMakeTestStartedAnswers() throws {
        let env = try StackEnvironment.shared()
        // The app through nginx, with its database.
        let health = try httpGet("\(try env.appURL)/api/health")
        #expect(health.status == 200, "\(health.text)")
        #expect(try JSONDecoder().decode([String: String].self, from: Data(health.body))["database"] == "ok", "\(health.text)")
        // The sandbox answers (a refusal: no credentials; httpGet throws when nothing listens).
        let sandbox = try httpGet("\(try env.sandboxURL)/2010-04-01/Accounts.json")
        #expect((400..<500).contains(sandbox.status), "\(sandbox.status) \(sandbox.text)")
        // The admin connection the fresh test databases are made with.
        let admin = try PGConnection(try TestDatabase.adminURL)
        #expect(admin.backendPID != nil)
    }
}
