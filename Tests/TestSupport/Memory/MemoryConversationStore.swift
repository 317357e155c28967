import Domain
import Foundation
import MedsyncLog
import Store

/// The webhooks' conversations in memory, for the inbound use case's tests without PostgreSQL: the
/// rows the recording and answering statements read and write (workspaces, senders, patients,
/// conversations, messages, appointments) and the doctors' weekly hours, for the free slots
/// `PGAppointmentStore.freeSlots` computes from them (`freeSlots`). It answers as `PGConversationStore` does with
/// no transaction open; what only PostgreSQL shows (races, the one transaction of the hot path, plans,
/// row-level security) is in StoreTests.
public final class MemoryConversationStore: ConversationStore, @unchecked Sendable {
    public struct Workspace: Sendable {
        public var id: Int64
        public var clinicName: String
        public var clinicInfo: String
        public var timezone: String
        /// Members who see patients (doctor, admin_doctor).
        public var doctors: Set<Int64>
    }
    public struct Sender: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var phone: String
        public var isActive: Bool
        public var subaccountSID: String?
        public var subaccountTokenEnc: String?
    }
    public struct Patient: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var phone: String
        public var name: String?
        public var consentWhatsapp: Bool
        public var consentSource: String?
        public var preferredLanguage: Language?
    }
    public struct Conversation: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var patientID: Int64
        public var senderID: Int64
        public var state: ConversationState = .bot
        public var pendingIntent: String?
        public var unreadCount = 0
        public var lastInboundAt: Date?
        public var lastMessageAt: Date?
    }
    public struct Message: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var conversationID: Int64
        public var direction: String
        public var body: String
        public var mediaJSON: String = "[]"
        public var twilioSID: String?
        public var status: String
        public var inReplyTo: Int64?
        public var errorCode: Int?
        public var errorMessage: String?
        public var createdAt: Date
    }
    public struct Appointment: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var patientID: Int64
        public var doctorID: Int64
        public var startsAt: Date
        public var endsAt: Date
        public var status: String
        public var sourceMessageID: Int64?
    }
    /// A doctor's weekly hours (`doctor_availability`): `weekday` 0 = Sunday, minutes after local midnight.
    public struct Hours: Sendable {
        public var workspaceID: Int64
        public var doctorID: Int64
        public var weekday: Int
        public var start: Int
        public var end: Int
        public var slotMinutes: Int

        public init(workspaceID: Int64, doctorID: Int64, weekday: Int, start: Int, end: Int, slotMinutes: Int) {
            self.workspaceID = workspaceID
            self.doctorID = doctorID
            self.weekday = weekday
            self.start = start
            self.end = end
            self.slotMinutes = slotMinutes
        }
    }

    public var workspaces: [Workspace] = []
    public var senders: [Sender] = []
    public var patients: [Patient] = []
    public var conversations: [Conversation] = []
    public var messages: [Message] = []
    public var appointments: [Appointment] = []
    public var hours: [Hours] = []
    /// The database's clock (`now()`): when rows are written.
    public var clock: () -> Date = Date.init
    private var serial: Int64 = 0

    public init() {}

    public func nextID() -> Int64 {
        serial += 1
        return serial
    }

    // MARK: seeding

    @discardableResult
    public func addWorkspace(clinicName: String, clinicInfo: String = "", timezone: String) -> Int64 {
        let id = nextID()
        workspaces.append(Workspace(id: id, clinicName: clinicName, clinicInfo: clinicInfo, timezone: timezone, doctors: []))
        return id
    }

    @discardableResult
    public func addSender(workspaceID: Int64, phone: String, isActive: Bool = true, subaccountSID: String? = nil, tokenEnc: String? = nil) -> Int64 {
        let id = nextID()
        senders.append(Sender(id: id, workspaceID: workspaceID, phone: phone, isActive: isActive, subaccountSID: subaccountSID, subaccountTokenEnc: tokenEnc))
        return id
    }

    /// A patient recorded by staff (no language unless given), optionally with a conversation with `senderID`.
    @discardableResult
    public func addPatient(workspaceID: Int64, phone: String, name: String?, conversationWith senderID: Int64? = nil) -> Int64 {
        let id = nextID()
        patients.append(Patient(id: id, workspaceID: workspaceID, phone: phone, name: name, consentWhatsapp: true, consentSource: nil, preferredLanguage: nil))
        if let senderID { conversations.append(Conversation(id: nextID(), workspaceID: workspaceID, patientID: id, senderID: senderID)) }
        return id
    }

    // MARK: ConversationStore

    public func sender(phone: String) throws -> SenderRoute? {
        senderRow(phone: phone).map(route)
    }

    public func routeAgain() -> Bool { false }

    public func receive<T>(_ m: IncomingMessage, log: Logger, answer: (Recording) throws -> T) throws -> T {
        let now = clock()
        guard let s = senderRow(phone: m.to) else { return try answer(.unknownSender) }
        guard s.isActive else { return try answer(.disabledSender) }
        let ws = s.workspaceID
        if messages.contains(where: { $0.twilioSID == m.sid && $0.workspaceID != ws }) { return try answer(.elsewhere) }
        let profile = m.profileName.isEmpty ? nil : m.profileName
        let p: Int
        if let i = patients.firstIndex(where: { $0.workspaceID == ws && $0.phone == m.from }) {
            if patients[i].name == nil, let profile { patients[i].name = profile }
            p = i
        } else {
            patients.append(Patient(id: nextID(), workspaceID: ws, phone: m.from, name: profile, consentWhatsapp: true,
                                    consentSource: "whatsapp", preferredLanguage: m.newPatientLanguage()))
            p = patients.count - 1
        }
        let patient = patients[p]
        let c: Int
        if let i = conversations.firstIndex(where: { $0.patientID == patient.id && $0.senderID == s.id }) {
            c = i
        } else {
            conversations.append(Conversation(id: nextID(), workspaceID: ws, patientID: patient.id, senderID: s.id))
            c = conversations.count - 1
        }
        var messageID: Int64 = 0
        let isNew = !messages.contains { $0.twilioSID == m.sid }
        if isNew {
            messageID = nextID()
            messages.append(Message(id: messageID, workspaceID: ws, conversationID: conversations[c].id, direction: "inbound", body: m.text,
                                    mediaJSON: m.mediaJSON, twilioSID: m.sid, status: "received", createdAt: now))
            conversations[c].lastInboundAt = now
            conversations[c].lastMessageAt = now
            conversations[c].unreadCount += 1
        }
        let conversation = conversations[c]
        let r = RecordedMessage(sender: route(s), patientID: patient.id, conversationID: conversation.id, messageID: messageID, isNew: isNew,
                                patientLanguage: patient.preferredLanguage, state: conversation.state, pendingIntent: conversation.pendingIntent)
        return try answer(.recorded(r, Turn(self, r, sid: m.sid, now: now)))
    }

    public func subaccountToken(accountSID: String?, from: String?) throws -> SubaccountCredential? {
        let s = senders.first { $0.subaccountTokenEnc != nil && (($0.subaccountSID != nil && $0.subaccountSID == accountSID) || $0.phone == from) }
        return s.flatMap { s in s.subaccountTokenEnc.map { SubaccountCredential(sid: s.subaccountSID, tokenEnc: $0) } }
    }

    static let rank = ["queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5, "undelivered": 5]

    public func updateStatus(sid: String, status: String, errorCode: Int?, errorMessage: String?, account: String,
                             masterAccountSID: String) throws -> (found: Bool, status: String?) {
        guard let i = messages.firstIndex(where: { $0.twilioSID == sid }),
              let c = conversations.first(where: { $0.id == messages[i].conversationID }),
              let s = senders.first(where: { $0.id == c.senderID }), (s.subaccountSID ?? masterAccountSID) == account else { return (false, nil) }
        let final = status == "failed" || status == "undelivered"
        let current = messages[i].status
        // Forward only; failed and undelivered are final (the schema's trigger).
        if (MemoryConversationStore.rank[current] ?? 0) < 5, (MemoryConversationStore.rank[status] ?? 0) > (MemoryConversationStore.rank[current] ?? 0) {
            messages[i].status = status
            if final {
                messages[i].errorCode = errorCode ?? messages[i].errorCode
                if errorCode != nil { messages[i].errorMessage = errorMessage }
            }
        }
        return (true, messages[i].status)
    }

    // MARK: free slots

    /// The free slots `PGAppointmentStore.freeSlots` finds in these rows: the doctors' weekly hours on the next
    /// `days` local days, strictly after `from`, minus every live appointment, earliest first.
    public func freeSlots(workspaceID: Int64, from: Date, days: Int, limit: Int) -> [Slot] {
        guard let w = workspaces.first(where: { $0.id == workspaceID }) else { return [] }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: w.timezone) ?? TimeZone(identifier: "UTC")!
        let today = cal.startOfDay(for: from)
        var out: [Slot] = []
        for offset in 0..<max(days, 1) {
            guard let day = cal.date(byAdding: .day, value: offset, to: today) else { continue }
            let weekday = cal.component(.weekday, from: day) - 1
            for h in hours where h.workspaceID == workspaceID && h.weekday == weekday {
                var start = h.start
                while start + h.slotMinutes <= h.end {
                    let parts = cal.dateComponents([.year, .month, .day], from: day)
                    var local = DateComponents(year: parts.year, month: parts.month, day: parts.day, hour: start / 60, minute: start % 60)
                    local.timeZone = cal.timeZone
                    if let s = cal.date(from: local) {
                        let e = s.addingTimeInterval(TimeInterval(h.slotMinutes * 60))
                        let busy = appointments.contains { $0.doctorID == h.doctorID && $0.status != "cancelled" && $0.startsAt < e && $0.endsAt > s }
                        if s > from, !busy { out.append(Slot(doctorUserID: h.doctorID, startsAt: s, endsAt: e)) }
                    }
                    start += h.slotMinutes
                }
            }
        }
        out.sort { ($0.startsAt, $0.doctorUserID) < ($1.startsAt, $1.doctorUserID) }
        return Array(out.prefix(limit))
    }

    // MARK: rows

    func senderRow(phone: String) -> Sender? {
        senders.filter { $0.phone == phone }.max { ($0.isActive ? 1 : 0, $0.id) < ($1.isActive ? 1 : 0, $1.id) }
    }

    func route(_ s: Sender) -> SenderRoute {
        let w = workspaces.first { $0.id == s.workspaceID }
        return SenderRoute(senderID: s.id, workspaceID: s.workspaceID, phone: s.phone, isActive: s.isActive, subaccountSID: s.subaccountSID,
                           subaccountTokenEnc: s.subaccountTokenEnc, timezone: w?.timezone ?? "UTC", clinicName: w?.clinicName ?? "the clinic",
                           clinicInfo: w?.clinicInfo ?? "")
    }

    /// One recorded message being answered.
    final class Turn: ConversationTurn {
        let store: MemoryConversationStore
        var r: RecordedMessage
        let sid: String
        let now: Date

        init(_ store: MemoryConversationStore, _ r: RecordedMessage, sid: String, now: Date) {
            self.store = store
            self.r = r
            self.sid = sid
            self.now = now
        }

        func storedReply() throws -> StoredReply {
            guard let m = store.messages.first(where: { $0.twilioSID == sid && $0.workspaceID == r.sender.workspaceID }) else {
                return StoredReply(messageID: nil, reply: nil)
            }
            r.messageID = m.id
            return StoredReply(messageID: m.id, reply: store.messages.first { $0.inReplyTo == m.id && $0.workspaceID == m.workspaceID }?.body)
        }

        func settle() throws {}

        private func reply(_ body: String) throws {
            if store.messages.contains(where: { $0.inReplyTo == r.messageID }) { throw MessageAlreadyAnswered() }
            store.messages.append(Message(id: store.nextID(), workspaceID: r.sender.workspaceID, conversationID: r.conversationID, direction: "outbound",
                                          body: body, status: "sent", inReplyTo: r.messageID, createdAt: now))
        }

        private var conversation: Int? { store.conversations.firstIndex { $0.id == r.conversationID } }
        private var patient: Int? { store.patients.firstIndex { $0.id == r.patientID } }

        func write(_ d: ReplyWrite) throws {
            if let body = d.reply { try reply(body) }
            if let p = patient, r.patientLanguage != d.language || d.consent != nil {
                store.patients[p].preferredLanguage = d.language
                if let consent = d.consent {
                    store.patients[p].consentWhatsapp = consent
                    store.patients[p].consentSource = "whatsapp"
                }
            }
            if let c = conversation {
                store.conversations[c].pendingIntent = d.offerJSON
                store.conversations[c].lastMessageAt = now
                if d.handoff { store.conversations[c].state = .handoff }
            }
        }

        func book(_ b: SlotBooking) throws -> BookingResult {
            let ws = r.sender.workspaceID
            guard store.workspaces.first(where: { $0.id == ws })?.doctors.contains(b.doctorID) == true else { return .doctorGone }
            if store.appointments.contains(where: { $0.doctorID == b.doctorID && $0.status != "cancelled" && $0.startsAt < b.endsAt && $0.endsAt > b.startsAt }) {
                return .taken
            }
            try reply(b.reply)
            let id = store.nextID()
            store.appointments.append(Appointment(id: id, workspaceID: ws, patientID: r.patientID, doctorID: b.doctorID, startsAt: b.startsAt,
                                                  endsAt: b.endsAt, status: "pending_review", sourceMessageID: r.messageID))
            if let replaced = b.replaces, let i = store.appointments.firstIndex(where: {
                $0.id == replaced && $0.workspaceID == ws && $0.patientID == r.patientID && $0.status != "cancelled"
            }) {
                store.appointments[i].status = "cancelled"
            }
            if let c = conversation {
                store.conversations[c].pendingIntent = nil
                store.conversations[c].lastMessageAt = now
            }
            if let p = patient, r.patientLanguage != b.language { store.patients[p].preferredLanguage = b.language }
            return .booked(appointmentID: id)
        }

        func cancelNext(after now: Date, answer: (Date?) -> ReplyWrite) throws {
            let next = nextIndex(after: now)
            let before = store.appointments
            if let next { store.appointments[next].status = "cancelled" }
            do {
                try write(answer(next.map { store.appointments[$0].startsAt }))
            } catch {
                store.appointments = before
                throw error
            }
        }

        private func nextIndex(after now: Date) -> Int? {
            store.appointments.indices
                .filter { store.appointments[$0].workspaceID == r.sender.workspaceID && store.appointments[$0].patientID == r.patientID
                    && store.appointments[$0].status != "cancelled" && store.appointments[$0].startsAt > now }
                .min { store.appointments[$0].startsAt < store.appointments[$1].startsAt }
        }

        func nextAppointment(after now: Date) throws -> UpcomingAppointment? {
            nextIndex(after: now).map { UpcomingAppointment(id: store.appointments[$0].id, startsAt: store.appointments[$0].startsAt) }
        }

        func history() throws -> [HistoryLine] {
            store.messages.filter { $0.conversationID == r.conversationID && !$0.body.isEmpty }.suffix(8)
                .map { HistoryLine(isInbound: $0.direction == "inbound", body: $0.body) }
        }
    }
}
