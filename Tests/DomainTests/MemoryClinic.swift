import Domain
import MedsyncLog
import Foundation
import TestSupport
import Gemini

/// A clinic in memory: workspace (Mexico City), one doctor available every day 09:00–12:00 in
/// 30-minute slots, one active sender — `InboundClinic`'s rows, without PostgreSQL. Used by the
/// Inbound*Tests suites.
struct MemoryClinic {
    let store = MemoryConversationStore()
    let workspaceID: Int64
    let doctorID: Int64
    let sender: SenderRoute
    static let now = InboundClinic.now

    init(senderPhone: String = "+15550001000", availability: [(String, String)] = [("09:00", "12:00")], weekdays: [Int] = Array(0...6)) {
        workspaceID = store.addWorkspace(clinicName: "Clínica Sol", clinicInfo: "General practice", timezone: InboundClinic.timezone)
        doctorID = store.nextID()
        store.workspaces[0].doctors.insert(doctorID)
        func minutes(_ hhmm: String) -> Int {
            let parts = hhmm.split(separator: ":").compactMap { Int($0) }
            return parts[0] * 60 + parts[1]
        }
        for day in weekdays {
            for (start, end) in availability {
                store.hours.append(.init(workspaceID: workspaceID, doctorID: doctorID, weekday: day, start: minutes(start), end: minutes(end), slotMinutes: 30))
            }
        }
        store.addSender(workspaceID: workspaceID, phone: senderPhone)
        sender = try! store.sender(phone: senderPhone)!
    }

    func service(now: Date = MemoryClinic.now, gemini: GeminiClient? = nil, log: Logger = .discarding) -> InboundService {
        let store = self.store
        return InboundService(store: store, freeSlots: { store.freeSlots(workspaceID: $0, from: $1, days: $2, limit: $3) },
                              gemini: gemini, log: log, now: { now })
    }

    @discardableResult
    func send(_ from: String, _ body: String, sid: String? = nil, now: Date = MemoryClinic.now) throws -> InboundOutcome {
        let p = sid.map { InboundClinic.params(from: from, body: body, sid: $0) } ?? InboundClinic.params(from: from, body: body)
        return try service(now: now).handle(InboundWebhook(form: p))
    }

    // The rows, as the tests read them.
    var patients: [MemoryConversationStore.Patient] { store.patients }
    var conversations: [MemoryConversationStore.Conversation] { store.conversations }
    var messages: [MemoryConversationStore.Message] { store.messages }
    var appointments: [MemoryConversationStore.Appointment] { store.appointments }
    func patient(_ phone: String) -> MemoryConversationStore.Patient? { store.patients.first { $0.phone == phone } }
}
