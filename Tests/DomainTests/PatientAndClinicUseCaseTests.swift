import Domain
import Foundation
import Testing
import TestSupport

/// Patients' and the clinic's settings' use cases on in-memory stores: validation, conflicts, the
/// consent rule, audit entries. PostgreSQL's side is in StoreTests.
struct PatientAndClinicUseCaseTests {
    let ws: Int64 = 1
    var actor: StaffActor { StaffActor(userID: 5, workspaceID: ws, role: .owner) }

    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
    }

    @Test func createNormalizesChecksAndRefusesASecondPatientWithThePhone() throws {
        let store = MemoryPatientStore()
        let ana = try Patients.create(store, actor: actor, .init(phone: " +52 1 55 1234-5678 ", name: "  Ana ", preferredLanguage: "es", consentWhatsapp: true))
        #expect(ana.phone == "+5215512345678" && ana.name == "Ana" && ana.consentWhatsapp && ana.consentSource == "staff")
        #expect(store.audit.entries.map(\.action) == ["patient.create"])
        #expect(store.audit.entries.first?.details == ["consent_whatsapp": "true"] && store.audit.entries.first?.targetID == String(ana.id))
        #expect(code { try Patients.create(store, actor: actor, .init(phone: "+5215512345678")) } == "patient_exists")
        #expect(code { try Patients.create(store, actor: actor, .init(phone: "12345")) } == "validation_failed")
        #expect(code { try Patients.create(store, actor: actor, .init(phone: "+14155550100", preferredLanguage: "fr")) } == "validation_failed")
        #expect(code { try Patients.create(store, actor: actor, .init(phone: "+14155550100", name: String(repeating: "a", count: 201))) } == "validation_failed")
        // Another workspace may have the same number.
        _ = try Patients.create(store, actor: StaffActor(userID: 6, workspaceID: 2, role: .owner), .init(phone: "+5215512345678"))
        #expect(store.audit.entries.count == 2)
    }

    @Test func listPagesNewestFirstAndSearchesNameOrDigits() throws {
        let store = MemoryPatientStore()
        for i in 0..<5 { store.add(workspaceID: ws, phone: "+1415555010\(i)", name: i % 2 == 0 ? "Ana \(i)" : "Bob \(i)") }
        store.add(workspaceID: 2, phone: "+14155550109", name: "Ana elsewhere")
        let first = try Patients.list(store, workspaceID: ws, search: nil, cursor: nil, limit: 2)
        #expect(first.items.map(\.name) == ["Ana 4", "Bob 3"])
        let second = try Patients.list(store, workspaceID: ws, search: nil, cursor: first.nextCursor, limit: 2)
        #expect(second.items.map(\.name) == ["Ana 2", "Bob 1"])
        let last = try Patients.list(store, workspaceID: ws, search: nil, cursor: second.nextCursor, limit: 2)
        #expect(last.items.map(\.name) == ["Ana 0"] && last.nextCursor == nil)
        #expect(try Patients.list(store, workspaceID: ws, search: " ana ", cursor: nil, limit: 50).items.map(\.name) == ["Ana 4", "Ana 2", "Ana 0"])
        #expect(try Patients.list(store, workspaceID: ws, search: "0103", cursor: nil, limit: 50).items.map(\.name) == ["Bob 3"])
        #expect(code { try Patients.list(store, workspaceID: ws, search: nil, cursor: "x", limit: 50) } == "validation_failed")
    }

    @Test func aStopOptOutIsTurnedBackOnOnlyWithAConfirmation() throws {
        let store = MemoryPatientStore()
        let p = store.add(workspaceID: ws, phone: "+14155550100", name: "Ana", language: "es", consent: false, consentSource: "whatsapp")
        #expect(p.optedOut)
        #expect(code { try Patients.update(store, actor: actor, id: p.id, .init(consentWhatsapp: true)) } == "consent_confirmation_required")
        #expect(store.audit.entries.isEmpty)
        let renamed = try Patients.update(store, actor: actor, id: p.id, .init(name: .some(nil), preferredLanguage: .some("en")))
        #expect(renamed.name == nil && renamed.preferredLanguage == "en" && renamed.optedOut)
        #expect(store.audit.entries.last?.action == "patient.update" && store.audit.entries.last?.details == ["fields": "name,preferred_language"])
        let back = try Patients.update(store, actor: actor, id: p.id, .init(consentWhatsapp: true, consentConfirmed: true))
        #expect(back.consentWhatsapp && back.consentSource == "staff" && !back.optedOut)
        #expect(store.audit.entries.last?.action == "patient.consent" && store.audit.entries.last?.details == ["fields": "", "consent_whatsapp": "true"])
        #expect(code { try Patients.update(store, actor: StaffActor(userID: 6, workspaceID: 2, role: .owner), id: p.id, .init(name: "X")) } == "not_found")
        #expect(code { try Patients.get(store, workspaceID: 2, id: p.id) } == "not_found")
        store.conversations[p.id] = [3]
        #expect(try Patients.get(store, workspaceID: ws, id: p.id).conversationIDs == [3])
    }

    @Test func theProfileIsCheckedAndItsChangedFieldsAudited() throws {
        let store = MemoryClinicStore()
        store.add(workspaceID: ws, name: "Sol")
        let view = try ClinicProfile.put(store, actor: actor, .init(clinicName: " Clínica Sol ", address: .some("  "), phone: .some("+52 55 1234 5678"),
                                                                   timezone: "America/Mexico_City", defaultLanguage: "en"))
        #expect(view.clinicName == "Clínica Sol" && view.address == nil && view.phone == "+525512345678" && view.timezone == "America/Mexico_City")
        #expect(store.audit.entries.last?.details == ["fields": "clinic_name,address,phone,timezone,default_language"])
        #expect(code { try ClinicProfile.put(store, actor: actor, .init(timezone: "Mars/Olympus_Mons")) } == "invalid_timezone")
        #expect(code { try ClinicProfile.put(store, actor: actor, .init(clinicName: " ")) } == "validation_failed")
        #expect(code { try ClinicProfile.put(store, actor: actor, .init(phone: .some("call us"))) } == "validation_failed")
        #expect(code { try ClinicProfile.put(store, actor: actor, .init(defaultLanguage: "fr")) } == "validation_failed")
        #expect(code { try ClinicProfile.put(store, actor: actor, .init(clinicInfo: .some(String(repeating: "i", count: 2001)))) } == "validation_failed")
        #expect(store.audit.entries.count == 1)
        #expect(try ClinicProfile.get(store, workspaceID: ws) == view)
        #expect(code { try ClinicProfile.get(store, workspaceID: 9) } == "not_found")
    }

    @Test func contentSidsAreCheckedSetAndRemoved() throws {
        let store = MemoryClinicStore()
        store.add(workspaceID: ws, name: "Sol")
        let sid = "HX" + String(repeating: "a1", count: 16)
        #expect(try ContentSids.put(store, actor: actor, templateKey: "appt_confirmed", .init(values: ["en": sid])) == ["en": sid])
        #expect(store.audit.entries.last?.details == ["template_id": "appt_confirmed", "en": sid])
        #expect(try ContentSids.put(store, actor: actor, templateKey: "appt_confirmed", .init(values: ["en": nil])) == [:])
        #expect(store.audit.entries.last?.details["en"] == "removed")
        #expect(code { try ContentSids.put(store, actor: actor, templateKey: "nope", .init(values: ["en": sid])) } == "unknown_template")
        #expect(code { try ContentSids.put(store, actor: actor, templateKey: "appt_confirmed", .init(values: ["fr": sid])) } == "validation_failed")
        #expect(code { try ContentSids.put(store, actor: actor, templateKey: "appt_confirmed", .init(values: ["en": "HX123"])) } == "validation_failed")
        #expect(code { try ContentSids.put(store, actor: actor, templateKey: "appt_confirmed", .init(values: [:])) } == "validation_failed")
        #expect(store.audit.entries.count == 2)
    }

    @Test func reminderSettingsStartFromTheDefaultsAndAreChecked() throws {
        let store = MemoryClinicStore()
        store.add(workspaceID: ws, name: "Sol")
        #expect(try ReminderSettings.get(store, workspaceID: ws) == .defaults)
        let on = try ReminderSettings.put(store, actor: actor, .init(enabled: true, hoursBefore: 48))
        #expect(on.enabled && on.hoursBefore == 48 && on.templateKey == ReminderSettings.defaultTemplateKey && on.language == "es")
        #expect(store.audit.entries.last?.details == ["enabled": "true", "hours_before": "48", "template_key": "reminder_default", "language": "es"])
        #expect(code { try ReminderSettings.put(store, actor: actor, .init(hoursBefore: 73)) } == "validation_failed")
        #expect(code { try ReminderSettings.put(store, actor: actor, .init(templateKey: "custom")) } == "validation_failed")
        #expect(code { try ReminderSettings.put(store, actor: actor, .init(customMessage: "Hi {name}")) } == "validation_failed")
        #expect(try ReminderSettings.get(store, workspaceID: ws) == on)
        #expect(store.audit.entries.count == 1)
    }
}
