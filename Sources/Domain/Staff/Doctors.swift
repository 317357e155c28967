import Foundation

/// Doctors (members with the doctor or admin_doctor role), their weekly availability and time off
/// (local times in the clinic's timezone), and their free slots: what the bot offers comes from
/// exactly these (`FreeSlots`).
public enum Doctors {
    public static func list(_ store: some AppointmentStore, workspaceID: Int64) throws -> [DoctorRecord] {
        try store.doctors(workspaceID: workspaceID)
    }

    /// The doctor `id` of the workspace; 404 for anyone else (another workspace's user, a staff member).
    static func require(_ store: some AppointmentStore, workspaceID: Int64, id: Int64) throws {
        guard try store.isDoctor(workspaceID: workspaceID, userID: id) else {
            throw AppError(.notFound, "There is no doctor \(id) in this workspace.")
        }
    }

    // MARK: availability

    public struct TimeOff: Sendable, Codable, Equatable {
        /// Local date ("2026-12-24", from the start of that day) or date and time ("2026-12-24T09:00").
        public var from: String
        /// Local date (up to the end of that day) or date and time.
        public var to: String
        public var reason: String?
        public init(from: String, to: String, reason: String?) {
            self.from = from
            self.to = to
            self.reason = reason
        }
    }

    public struct Availability: Sendable, Codable, Equatable {
        public var weekly: [DoctorWeeklyRange]
        public var timeOff: [TimeOff]
        enum CodingKeys: String, CodingKey { case weekly, timeOff = "time_off" }
        public init(weekly: [DoctorWeeklyRange], timeOff: [TimeOff]) {
            self.weekly = weekly
            self.timeOff = timeOff
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            weekly = try c.decode([DoctorWeeklyRange].self, forKey: .weekly)
            timeOff = try c.decodeIfPresent([TimeOff].self, forKey: .timeOff) ?? []
        }
    }

    public struct AvailabilityView: Sendable, Encodable {
        public let doctorID: Int64
        public let timezone: String
        public let weekly: [DoctorWeeklyRange]
        public let timeOff: [DoctorTimeOff]
        enum CodingKeys: String, CodingKey { case timezone, weekly, doctorID = "doctor_id", timeOff = "time_off" }
    }

    public static func availability(_ store: some AppointmentStore, workspaceID: Int64, doctorID: Int64) throws -> AvailabilityView {
        try require(store, workspaceID: workspaceID, id: doctorID)
        let tz = try store.timezone(workspaceID: workspaceID)
        let (weekly, off) = try store.availability(workspaceID: workspaceID, doctorID: doctorID, timezone: tz)
        return AvailabilityView(doctorID: doctorID, timezone: tz, weekly: weekly, timeOff: off)
    }

    /// "09:00" → minutes after midnight (0 ... 1440); nil when not HH:MM.
    static func minutes(_ s: String) -> Int? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), parts.allSatisfy({ $0.allSatisfy(\.isASCII) }),
              (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }

    /// A local date or date-time as PostgreSQL `timestamp` text, or nil when it is neither.
    /// A date alone is the start of that day (`endOfDay`: the start of the next day).
    static func localTimestamp(_ s: String, endOfDay: Bool) -> String? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard t.utf8.count <= 19, t.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        let datePart = String(t.prefix(10))
        let d = datePart.split(separator: "-", omittingEmptySubsequences: false)
        guard d.count == 3, d[0].count == 4, d[1].count == 2, d[2].count == 2,
              let y = Int(d[0]), let mo = Int(d[1]), let day = Int(d[2]), (1900...2200).contains(y) else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        guard let date = cal.date(from: DateComponents(year: y, month: mo, day: day)),
              cal.component(.month, from: date) == mo, cal.component(.day, from: date) == day else { return nil }
        if t.count == 10 {
            guard endOfDay else { return datePart + " 00:00" }
            guard let next = cal.date(byAdding: .day, value: 1, to: date) else { return nil }
            let c = cal.dateComponents([.year, .month, .day], from: next)
            return String(format: "%04d-%02d-%02d 00:00", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        }
        let rest = t.dropFirst(10)
        guard rest.first == "T" || rest.first == " " else { return nil }
        let clock = String(rest.dropFirst().prefix(5))
        guard rest.count == 6 || (rest.count == 9 && rest.dropFirst(6).first == ":"), let m = minutes(clock), m < 1440 else { return nil }
        return datePart + " " + clock
    }

    /// Replaces the doctor's weekly availability and time off. Owner and admin doctor set anyone's;
    /// a doctor sets their own. Ranges must lie within a day, hold at least one slot and not overlap.
    public static func putAvailability(_ store: some AppointmentStore, actor: StaffActor, doctorID: Int64, _ a: Availability) throws -> AvailabilityView {
        try require(store, workspaceID: actor.workspaceID, id: doctorID)
        guard actor.role.isAdmin || actor.userID == doctorID else {
            throw AppError(.forbidden, "Only the owner, an admin doctor or the doctor themselves can change a doctor's availability.")
        }
        guard a.weekly.count <= 100 else { throw AppError.validation("weekly", "at most 100 ranges.") }
        guard a.timeOff.count <= 200 else { throw AppError.validation("time_off", "at most 200 entries.") }
        var ranges: [(weekday: Int, start: Int, end: Int, slot: Int, index: Int)] = []
        for (i, w) in a.weekly.enumerated() {
            let f = "weekly[\(i)]"
            guard (0...6).contains(w.weekday) else { throw AppError.validation("\(f).weekday", "0 (Sunday) to 6 (Saturday).") }
            guard let s = minutes(w.start), s < 1440 else { throw AppError.validation("\(f).start", "a local time HH:MM, 00:00 to 23:59.") }
            guard let e = minutes(w.end) else { throw AppError.validation("\(f).end", "a local time HH:MM, up to 24:00.") }
            guard e > s else { throw AppError.validation("\(f).end", "must be after start.") }
            let slot = w.slotMinutes ?? 30
            guard (5...720).contains(slot) else { throw AppError.validation("\(f).slot_minutes", "5 to 720 minutes.") }
            guard e - s >= slot else { throw AppError.validation("\(f).slot_minutes", "the range \(w.start)–\(w.end) holds no \(slot)-minute slot.") }
            if let other = ranges.first(where: { $0.weekday == w.weekday && $0.start < e && s < $0.end }) {
                throw AppError.validation(f, "overlaps weekly[\(other.index)] on the same weekday.")
            }
            ranges.append((w.weekday, s, e, slot, i))
        }
        var off: [DoctorAvailabilityRows.Off] = []
        for (i, t) in a.timeOff.enumerated() {
            let f = "time_off[\(i)]"
            guard let from = localTimestamp(t.from, endOfDay: false) else {
                throw AppError.validation("\(f).from", "a local date YYYY-MM-DD or date and time YYYY-MM-DDTHH:MM.")
            }
            guard let to = localTimestamp(t.to, endOfDay: true) else {
                throw AppError.validation("\(f).to", "a local date YYYY-MM-DD or date and time YYYY-MM-DDTHH:MM.")
            }
            guard to > from else { throw AppError.validation("\(f).to", "must be after from.") }
            let reason = t.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (reason?.count ?? 0) <= 200 else { throw AppError.validation("\(f).reason", "at most 200 characters.") }
            off.append(.init(from: from, to: to, reason: reason?.isEmpty == true ? nil : reason))
        }
        try store.replaceAvailability(workspaceID: actor.workspaceID, doctorID: doctorID,
                                      DoctorAvailabilityRows(weekly: ranges.map { .init(weekday: $0.weekday, start: $0.start, end: $0.end, slot: $0.slot) },
                                                             timeOff: off),
                                      audit: actor.audit("doctor.availability", "doctor", String(doctorID),
                                                         ["weekly": String(ranges.count), "time_off": String(off.count)]))
        return try availability(store, workspaceID: actor.workspaceID, doctorID: doctorID)
    }

    // MARK: free slots

    public struct FreeSlotView: Sendable, Encodable {
        public let startsAt: Date
        public let endsAt: Date
        /// Local date and time in the clinic's timezone ("2026-12-03", "09:00").
        public let date: String
        public let time: String
        enum CodingKeys: String, CodingKey { case date, time, startsAt = "starts_at", endsAt = "ends_at" }
    }

    public struct FreeSlotsView: Sendable, Encodable {
        public let doctorID: Int64
        public let timezone: String
        public let items: [FreeSlotView]
        enum CodingKeys: String, CodingKey { case timezone, items, doctorID = "doctor_id" }
    }

    /// The doctor's free slots from `from` (default now) over `days` local days (1 to
    /// `OfferPolicy.staffMaxDays`), as the bot offers them.
    public static func freeSlots(_ store: some AppointmentStore, workspaceID: Int64, doctorID: Int64, from: Date, days: Int) throws -> FreeSlotsView {
        try require(store, workspaceID: workspaceID, id: doctorID)
        guard (1...OfferPolicy.staffMaxDays).contains(days) else { throw AppError.validation("days", "1 to \(OfferPolicy.staffMaxDays).") }
        let tz = try store.timezone(workspaceID: workspaceID)
        let slots = try store.freeSlots(workspaceID: workspaceID, from: from, days: days, limit: OfferPolicy.staffSlotLimit, doctorID: doctorID)
        return FreeSlotsView(doctorID: doctorID, timezone: tz, items: slots.map { s in
            let p = LocalTime.parts(s.startsAt, timeZone: tz)
            return FreeSlotView(startsAt: s.startsAt, endsAt: s.endsAt, date: String(format: "%04d-%02d-%02d", p.year, p.month, p.day),
                                time: String(format: "%02d:%02d", p.hour, p.minute))
        })
    }
}
