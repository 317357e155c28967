import Foundation

/// Free appointment slots: doctors' weekly availability (local to the workspace's timezone) cut
/// into `slot_minutes` pieces, minus every non-cancelled appointment and every time off that
/// overlaps, strictly after `from` — computed by the appointment store (`AppointmentStore.freeSlots`);
/// here, how an offer is picked from them.
public enum FreeSlots {
    /// A short, varied offer: the first free slot of each distinct start time, at most `count`.
    public static func offer(_ slots: [Slot], count: Int) -> [Slot] {
        var seen = Set<Date>()
        var out: [Slot] = []
        for s in slots where !seen.contains(s.startsAt) {
            seen.insert(s.startsAt)
            out.append(s)
            if out.count == count { break }
        }
        return out
    }
}
