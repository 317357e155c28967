import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The senders' PostgreSQL store: the claim trigger (0018) keeps a number with the workspace that
/// holds it, the slot trigger (0001) caps active senders, and a Fernet rewrite only replaces the
/// token that was read.
@Suite(.needsStack) struct SenderStoreTests {
    func sender(_ ws: Int64, _ phone: String) -> NewSender {
        NewSender(workspaceID: ws, phoneNumber: phone, displayName: "", subaccountSID: "AC" + String(repeating: "2", count: 32),
                  subaccountTokenEncrypted: "tok-\(phone)", phoneNumberSID: nil)
    }

    func entry(_ ws: Int64, _ action: String) -> AuditEntry {
        AuditEntry(workspaceID: ws, userID: nil, action: action, targetType: "sender", targetID: nil)
    }

    @Test func aKeptNumberStaysWithItsWorkspaceUntilReleased() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).senders
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        let b = try Workspaces.create(conn, name: "B", timezone: "UTC").id
        guard case .inserted(let first) = try store.insert(sender(a, "+14155550100"), maxActive: 3, audit: { _ in entry(a, "sender.link") }) else {
            Issue.record("not inserted"); return
        }
        #expect(first.isPrimary && first.slot == 1)
        #expect(try store.insert(sender(a, "+14155550100"), maxActive: 3, audit: { _ in entry(a, "x") }) == .alreadyLinked)
        #expect(try store.numbersTaken(workspaceID: a) == 1)
        guard case .deactivated(let off) = try store.deactivate(workspaceID: a, id: first.id, audit: { _ in entry(a, "sender.deactivate") }) else {
            Issue.record("not deactivated"); return
        }
        #expect(!off.isActive && off.deactivatedAt != nil)
        // B cannot take the number A kept (the claim trigger), nor see it held as anything but a number.
        #expect(try store.insert(sender(b, "+14155550100"), maxActive: 3, audit: { _ in entry(b, "x") }) == .heldElsewhere)
        #expect(try store.heldNumbers(["+14155550100", "+14155550199"]) == ["+14155550100"])
        #expect(try store.deactivate(workspaceID: a, id: first.id, audit: { _ in entry(a, "x") }) == .alreadyInactive(off, numberKept: true))
        guard case .reactivated(let back) = try store.reactivate(workspaceID: a, phone: "+14155550100", name: "Back", maxActive: 3,
                                                                 audit: { _ in entry(a, "sender.reactivate") }) else {
            Issue.record("not reactivated"); return
        }
        #expect(back.id == first.id && back.displayName == "Back" && back.isActive)
        _ = try store.deactivate(workspaceID: a, id: first.id, audit: { _ in entry(a, "x") })
        try store.releaseClaim(workspaceID: a, phone: "+14155550100", audit: entry(a, "sender.release"))
        #expect(try store.reactivate(workspaceID: a, phone: "+14155550100", name: "", maxActive: 3, audit: { _ in entry(a, "x") }) == .notHeld)
        guard case .inserted = try store.insert(sender(b, "+14155550100"), maxActive: 3, audit: { _ in entry(b, "sender.link") }) else {
            Issue.record("B could not link the released number"); return
        }
        #expect(try conn.query("SELECT action FROM audit_log ORDER BY id").map { $0.string("action") ?? "" }
                == ["sender.link", "sender.deactivate", "sender.reactivate", "x", "sender.release", "sender.link"])
    }

    @Test func theFourthActiveSenderIsRefusedAndThePrimaryMoves() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).senders
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        var ids: [Int64] = []
        for n in 0..<3 {
            guard case .inserted(let s) = try store.insert(sender(a, "+1415555020\(n)"), maxActive: 3, audit: { _ in entry(a, "x") }) else {
                Issue.record("not inserted"); return
            }
            ids.append(s.id)
        }
        #expect(try store.insert(sender(a, "+14155550209"), maxActive: 3, audit: { _ in entry(a, "x") }) == .noFreeSlot)
        guard case .primary(let p) = try store.makePrimary(workspaceID: a, id: ids[2], audit: { _ in entry(a, "x") }) else {
            Issue.record("not primary"); return
        }
        #expect(p.isPrimary)
        _ = try store.deactivate(workspaceID: a, id: ids[2], audit: { _ in entry(a, "x") })
        #expect(try store.list(workspaceID: a).filter(\.isPrimary).map(\.id) == [ids[0]])
        #expect(try store.makePrimary(workspaceID: a, id: ids[2], audit: { _ in entry(a, "x") }) == .inactive)
        #expect(try store.makePrimary(workspaceID: a, id: 9999, audit: { _ in entry(a, "x") }) == .notFound)
    }

    @Test func aFernetRewriteReplacesOnlyTheTokenThatWasRead() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).senders
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        _ = try store.insert(sender(a, "+14155550300"), maxActive: 3, audit: { _ in entry(a, "x") })
        try store.addSubaccount(workspaceID: a, sid: "AC" + String(repeating: "1", count: 32), authTokenEncrypted: "sub-token")
        let tokens = try store.fernetTokens(.senderToken, after: 0, limit: 10)
        #expect(tokens.map(\.token) == ["tok-+14155550300"])
        let id = try #require(tokens.first?.id)
        #expect(try store.rewriteFernetTokens(.senderToken, [FernetRewrite(id: id, old: "stale", new: "n1")]) == 0)
        #expect(try store.rewriteFernetTokens(.senderToken, [FernetRewrite(id: id, old: "tok-+14155550300", new: "n2")]) == 1)
        #expect(try store.fernetTokens(.senderToken, after: 0, limit: 10).map(\.token) == ["n2"])
        #expect(try store.fernetTokens(.subaccountToken, after: 0, limit: 10).map(\.token) == ["sub-token"])
        #expect(try store.openSubaccount(workspaceID: a)?.authTokenEncrypted == "sub-token")
    }
}
