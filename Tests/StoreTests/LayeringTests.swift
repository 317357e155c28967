import Foundation
import Testing
import TestSupport

/// Where SQL may live (Sources/Store/README.md): every statement is in a store, so Domain's use
/// cases neither import the PostgreSQL layer nor hold a connection, and the app's route handlers
/// reach the database only through `ctx.stores`.
@Suite struct LayeringTests {
    static func swiftFiles(_ dir: String) throws -> [(String, String)] {
        let root = "\(projectRoot)/\(dir)"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return try walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
            .map { ("\(dir)/\($0)", try String(contentsOfFile: "\(root)/\($0)", encoding: .utf8)) }
    }

    @Test func domainHoldsNoSQL() throws {
        let files = try Self.swiftFiles("Sources/Domain")
        #expect(files.count > 40)
        let offenders = files.filter { _, text in
            text.contains("import Postgres") || text.contains("PGConnection") || text.contains("PGRow") || text.contains("PGQuery")
        }.map(\.0)
        #expect(offenders == [], "Domain files that reach PostgreSQL directly: \(offenders)")
    }

    @Test func routeHandlersUseTheStores() throws {
        let files = try Self.swiftFiles("Sources/FCGIApp/Routes")
        #expect(files.count > 10)
        let offenders = files.filter { _, text in text.contains(".query(") || text.contains(".execute(") }.map(\.0)
        #expect(offenders == [], "route files that run SQL: \(offenders)")
    }
}
