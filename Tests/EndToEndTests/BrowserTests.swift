import Foundation
import TestSupport
import Testing

/// The staff web inbox in real Chromium: `Tests/Browser` (pytest + Selenium, headless Debian
/// chromium) against the stack `make test` started. Each module makes its own clinic, so the suite
/// runs beside the others. A failure prints pytest's report.
@Suite("Web inbox in Chromium (Tests/Browser)", .needsStack)
struct BrowserTests {
    @Test("sign in, live conversations, replies and ticks, templates, handoff, pending, bundles, settings, roles, 360 px")
    func browserSuite() throws {
        let env = try requiredEnvironment("MEDSYNC_TEST_ENV")
        let r = try runCommand([pythonExecutable, "-m", "pytest", "Tests/Browser", "-q", "-p", "no:cacheprovider"],
                               environment: ["MEDSYNC_TEST_ENV": env, "PYTHONDONTWRITEBYTECODE": "1"])
        #expect(r.status == 0, "pytest Tests/Browser exited \(r.status):\n\(r.stdout.suffix(12_000))\n\(r.stderr.suffix(4_000))")
    }
}
