import Foundation
import Testing
import TestSupport

/// Schemathesis (PyPI, in the venv `scripts/stack deps` makes) over the API's own OpenAPI document,
/// against the test stack, in a workspace of its own: `scripts/schemathesis` creates the workspace,
/// owner, token and a sender, and runs the checks not_a_server_error, status_code_conformance and
/// response_schema_conformance (a fixed seed, 12 examples per operation: about 20 s).
///
/// By hand, against `make up`'s stack or the one `make test` leaves running:
///     scripts/schemathesis .run/env
///     ST_SEED=random ST_MAX_EXAMPLES=50 scripts/schemathesis .run/test/env
@Suite("Schemathesis: the API answers what its OpenAPI document says", .needsStack)
struct SchemathesisTests {
    @Test("no server error, every status documented, every body matching its schema")
    func openAPIConformance() throws {
        let envFile = try requiredEnvironment("MEDSYNC_TEST_ENV")
        let r = try runCommand(["\(projectRoot)/scripts/schemathesis", envFile])
        #expect(r.status == 0, "schemathesis found problems (rerun: scripts/schemathesis \(envFile)):\n\(r.stdout.suffix(20_000))\n\(r.stderr.suffix(4000))")
        #expect(r.stdout.contains("passed") && !r.stdout.contains("failures"), "\(r.stdout.suffix(4000))")
    }
}
