import Domain
import Foundation
import Testing
import TestSupport

/// A notifier that records what would go to the patient (or fails as told).
final class RecordingNotifier: PatientNotifier, @unchecked Sendable {
    var sent: [OutboundRequest] = []
    var failure: (any Error)?
    func send(_ request: OutboundRequest, now: Date) throws -> (messageID: Int64, conversationID: Int64) {
        if let failure { throw failure }
        sent.append(request)
        return (Int64(100 + sent.count), 77)
    }
}

/// The appointment book's and the review's decisions on in-memory stores: which errors, which
/// entries, what the patient is told. What PostgreSQL decides (the exclusion constraint, free slots)
/// is in StoreTests/AppointmentStoreTests.
struct AppointmentUseCaseTests {
    // Tuesday 1 Dec 2026, 08:00 in Mexico City.
    let now = Date(timeIntervalSince1970: 1_796_133_600)
    let ws: Int64 = 1
    let doctor: Int64 = 10, otherDoctor: Int64 = 11, staffUser: Int64 = 12
    let patients = MemoryPatientStore()
    let store: MemoryAppointmentStore
    let notifier = RecordingNotifier()
    let ana: PatientRecord

    init() {
        store = MemoryAppointmentStore(patients: patients)
        store.addWorkspace(ws)
        store.addWorkspace(2)
        store.addMember(doctor, workspaceID: ws, name: "Dr. Ruiz")
        store.addMember(otherDoctor, workspaceID: ws, name: "Dr. Soto")
        store.addMember(staffUser, workspaceID: ws, role: "staff", name: "Front desk")
        ana = patients.add(workspaceID: ws, phone: "+5215512345678", name: "Ana", language: "es", consent: true, consentSource: "whatsapp")
    }

    var staff: StaffActor { StaffActor(userID: staffUser, workspaceID: ws, role: .staff) }
    func hours(_ h: Double) -> Date { now.addingTimeInterval(h * 3600) }

    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
    }

    @Test func bookTakesTheDoctorsSlotLengthAndTheConstraintDecidesATakenTime() throws {
        // Tuesday (2) slots of 45 minutes.
        store.weekly[doctor] = [DoctorWeeklyRange(weekday: 2, start: "09:00", end: "13:00", slotMinutes: 45)]
        let out = try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: doctor, startsAt: hours(1), reason: "  Checkup "), now: now)
        #expect(out.appointment.status == "confirmed")
        #expect(out.appointment.endsAt == hours(1.75))
        #expect(out.appointment.reason == "Checkup")
        #expect(out.appointment.doctorName == "Dr. Ruiz")
        #expect(out.notification == nil && notifier.sent.isEmpty)
        #expect(patients.audit.entries.map(\.action) == ["appointment.create"])
        #expect(patients.audit.entries.last?.details == ["doctor_id": String(doctor), "patient_id": String(ana.id)])

        let again = { try AppointmentBook.book(self.store, notifier: self.notifier, actor: self.staff, .init(patientID: self.ana.id, doctorID: self.doctor, startsAt: self.hours(1.5)), now: self.now) }
        #expect(code(again) == "slot_taken")
        #expect(code { try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: staffUser, startsAt: hours(1)), now: now) } == "doctor_not_found")
        #expect(code { try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: 999, doctorID: doctor, startsAt: hours(1)), now: now) } == "patient_not_found")
        #expect(code { try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: doctor, startsAt: hours(1), endsAt: hours(14)), now: now) } == "validation_failed")
        #expect(code { try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: doctor, startsAt: hours(30), reason: String(repeating: "x", count: 501)), now: now) } == "validation_failed")
        // Another doctor at the same time is fine; 30 minutes without a range that weekday.
        let other = try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: otherDoctor, startsAt: hours(1)), now: now)
        #expect(other.appointment.endsAt == hours(1.5))
        #expect(patients.audit.entries.count == 2)
    }

    @Test func bookWithANoticeSendsTheConfirmationTemplateInThePatientsLanguage() throws {
        let out = try AppointmentBook.book(store, notifier: notifier, actor: staff, .init(patientID: ana.id, doctorID: doctor, startsAt: hours(25), notify: true), now: now)
        #expect(out.notification?.sent == true && out.notification?.messageID == 101)
        let request = try #require(notifier.sent.first)
        #expect(request.patientID == ana.id && request.sentByUserID == staffUser)
        guard case .template(let key, let language, let v) = request.content else { Issue.record("not a template"); return }
        #expect(key == "appt_confirmed" && language == "es")
        #expect(v["when"] == "mañana a las 9:00" && v["doctor_name"] == "Dr. Ruiz" && v["clinic_name"] == "Clínica Sol" && v["date"] == "2026-12-02")
    }

    @Test func cancelOnceThenAlreadyCancelledAndAFailedNoticeLeavesTheCancellation() throws {
        let id = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(2), status: "confirmed")
        notifier.failure = AppError(.noConsent, "no consent")
        let out = try AppointmentBook.cancel(store, notifier: notifier, actor: staff, id: id, notify: true, now: now)
        #expect(out.appointment.status == "cancelled")
        #expect(out.notification?.sent == false && out.notification?.error?["code"] == "no_consent")
        #expect(code { try AppointmentBook.cancel(store, notifier: notifier, actor: staff, id: id, notify: false, now: now) } == "appointment_cancelled")
        #expect(code { try AppointmentBook.cancel(store, notifier: notifier, actor: StaffActor(userID: 1, workspaceID: 2, role: .owner), id: id, notify: false, now: now) } == "not_found")
        #expect(patients.audit.entries.map(\.action) == ["appointment.cancel"])
    }

    @Test func rescheduleKeepsTheLengthRefusesATakenOrCancelledOneAndTellsThePatient() throws {
        let id = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(2), minutes: 45, status: "confirmed")
        store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(5), status: "confirmed")
        let moved = try AppointmentBook.reschedule(store, notifier: notifier, actor: staff, id: id, startsAt: hours(26), endsAt: nil, notify: true, now: now)
        #expect(moved.appointment.startsAt == hours(26) && moved.appointment.endsAt == hours(26.75))
        guard case .freeform(let text) = notifier.sent.first?.content else { Issue.record("no notice"); return }
        #expect(text == "Hola Ana, su cita con Dr. Ruiz se cambió para mañana a las 10:00. Responda a este mensaje si no le conviene.")
        #expect(patients.audit.entries.last?.action == "appointment.reschedule")
        #expect(code { try AppointmentBook.reschedule(store, notifier: notifier, actor: staff, id: id, startsAt: hours(4.5), endsAt: nil, notify: false, now: now) } == "slot_taken")
        #expect(code { try AppointmentBook.reschedule(store, notifier: notifier, actor: staff, id: id, startsAt: hours(4), endsAt: hours(3), notify: false, now: now) } == "validation_failed")
        _ = try AppointmentBook.cancel(store, notifier: notifier, actor: staff, id: id, notify: false, now: now)
        #expect(code { try AppointmentBook.reschedule(store, notifier: notifier, actor: staff, id: id, startsAt: hours(30), endsAt: nil, notify: false, now: now) } == "appointment_cancelled")
        #expect(code { try AppointmentBook.reschedule(store, notifier: notifier, actor: staff, id: 999, startsAt: hours(30), endsAt: nil, notify: false, now: now) } == "not_found")
    }

    @Test func listChecksItsFiltersAndStartsFromNow() throws {
        let past = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(-24))
        let next = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(3), status: "confirmed")
        #expect(try AppointmentBook.list(store, workspaceID: ws, .init(), now: now).map(\.id) == [next])
        #expect(try AppointmentBook.list(store, workspaceID: ws, .init(from: hours(-48)), now: now).map(\.id) == [past, next])
        #expect(try AppointmentBook.list(store, workspaceID: ws, .init(to: hours(0)), now: now).map(\.id) == [past])
        #expect(code { try AppointmentBook.list(store, workspaceID: ws, .init(status: "done"), now: now) } == "validation_failed")
        #expect(code { try AppointmentBook.list(store, workspaceID: ws, .init(from: hours(2), to: hours(1)), now: now) } == "validation_failed")
        #expect(try StaffAppointments.pending(store, workspaceID: ws).map(\.id) == [past])
    }

    @Test func acceptConfirmsOnceAndSendsTheConfirmation() throws {
        let id = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: hours(25))
        let out = try StaffAppointments.accept(store, notifier: notifier, actor: staff, id: id, now: now)
        #expect(out.appointment.status == "confirmed" && out.notification.sent)
        guard case .template(let key, _, _) = notifier.sent.first?.content else { Issue.record("no template"); return }
        #expect(key == "appt_confirmed")
        #expect(code { try StaffAppointments.reject(store, notifier: notifier, actor: staff, id: id, now: now) } == "appointment_not_pending")
        #expect(code { try StaffAppointments.accept(store, notifier: notifier, actor: staff, id: 999, now: now) } == "not_found")
        #expect(patients.audit.entries.map(\.action) == ["appointment.accept"])
    }

    @Test func rejectOffersTheDeclinedOfferCountOfFreeTimesTheSameDoctorsFirstAndKeepsTheOffer() throws {
        let declined = hours(25)
        let id = store.addAppointment(workspaceID: ws, patientID: ana.id, doctorID: doctor, startsAt: declined)
        // The declined time itself comes back free (the appointment is cancelled): never offered again.
        store.slots = [Slot(doctorUserID: otherDoctor, startsAt: hours(24), endsAt: hours(24.5))]
            + (0..<6).map { Slot(doctorUserID: doctor, startsAt: hours(25 + Double($0) * 0.5), endsAt: hours(25.5 + Double($0) * 0.5)) }
        let out = try StaffAppointments.reject(store, notifier: notifier, actor: staff, id: id, now: now)
        #expect(out.appointment.status == "cancelled" && out.notification.sent)
        let offer = try #require(PendingOffer.parse(store.pendingOffers[77]))
        #expect(offer.slots.count == OfferPolicy.declinedOfferCount)
        #expect(offer.slots.allSatisfy { $0.doctorID == doctor && $0.slot.startsAt != declined })
        #expect(offer.slots.first?.slot.startsAt == hours(25.5))
        guard case .freeform(let text) = notifier.sent.first?.content else { Issue.record("no notice"); return }
        #expect(text.hasPrefix("Lo sentimos, la clínica no pudo confirmar tu cita de mañana a las 9:00. Horarios disponibles:\n1. mañana a las 9:30"))
        #expect(patients.audit.entries.map(\.action) == ["appointment.reject"])
    }

    @Test func availabilityIsCheckedAndOnlyAdminsOrTheDoctorChangeIt() throws {
        let own = StaffActor(userID: doctor, workspaceID: ws, role: .doctor)
        let colleague = StaffActor(userID: otherDoctor, workspaceID: ws, role: .doctor)
        let body = Doctors.Availability(weekly: [.init(weekday: 1, start: "09:00", end: "12:00", slotMinutes: 30), .init(weekday: 1, start: "14:00", end: "24:00", slotMinutes: nil)],
                                        timeOff: [.init(from: "2026-12-24", to: "2026-12-25", reason: " Holidays ")])
        let view = try Doctors.putAvailability(store, actor: own, doctorID: doctor, body)
        #expect(view.weekly.map(\.end) == ["12:00", "24:00"] && view.timezone == "America/Mexico_City")
        #expect(store.timeOff[doctor] == [.init(from: "2026-12-24 00:00", to: "2026-12-26 00:00", reason: "Holidays")])
        #expect(patients.audit.entries.last?.details == ["weekly": "2", "time_off": "1"])
        #expect(code { try Doctors.putAvailability(store, actor: colleague, doctorID: doctor, body) } == "forbidden")
        #expect(code { try Doctors.putAvailability(store, actor: own, doctorID: staffUser, body) } == "not_found")
        let overlapping = Doctors.Availability(weekly: [.init(weekday: 1, start: "09:00", end: "12:00", slotMinutes: 30), .init(weekday: 1, start: "11:00", end: "13:00", slotMinutes: 30)], timeOff: [])
        #expect(code { try Doctors.putAvailability(store, actor: own, doctorID: doctor, overlapping) } == "validation_failed")
        let noSlot = Doctors.Availability(weekly: [.init(weekday: 1, start: "09:00", end: "09:20", slotMinutes: 30)], timeOff: [])
        #expect(code { try Doctors.putAvailability(store, actor: own, doctorID: doctor, noSlot) } == "validation_failed")
        let badDate = Doctors.Availability(weekly: [], timeOff: [.init(from: "2026-02-30", to: "2026-03-01", reason: nil)])
        #expect(code { try Doctors.putAvailability(store, actor: own, doctorID: doctor, badDate) } == "validation_failed")
        #expect(patients.audit.entries.count == 1)
        #expect(try Doctors.list(store, workspaceID: ws).map(\.id) == [doctor, otherDoctor])
    }

    @Test func freeSlotsOfOneDoctorInTheClinicsLocalTimeWithinTheStaffLimits() throws {
        store.slots = [Slot(doctorUserID: doctor, startsAt: hours(1), endsAt: hours(1.5)), Slot(doctorUserID: otherDoctor, startsAt: hours(1), endsAt: hours(1.5))]
        let view = try Doctors.freeSlots(store, workspaceID: ws, doctorID: doctor, from: now, days: OfferPolicy.staffDefaultDays)
        #expect(view.items.map { "\($0.date) \($0.time)" } == ["2026-12-01 09:00"])
        #expect(code { try Doctors.freeSlots(store, workspaceID: ws, doctorID: doctor, from: now, days: OfferPolicy.staffMaxDays + 1) } == "validation_failed")
        #expect(code { try Doctors.freeSlots(store, workspaceID: ws, doctorID: doctor, from: now, days: 0) } == "validation_failed")
        #expect(code { try Doctors.freeSlots(store, workspaceID: ws, doctorID: staffUser, from: now, days: 1) } == "not_found")
    }
}
