import Foundation
import Synchronization

/// Where `Metrics` keeps its request counters and latency histograms: memory shared by the master
/// and its children (an anonymous `MAP_SHARED` mapping made before the first fork), so that
/// `/metrics`, whichever child answers it, counts the requests of every child.
///
/// One slot per child (`ProcessPool` slots) plus one for children that have exited: each child's
/// threads write only their own slot (under that process's lock); when a child exits the master adds
/// its slot into the "retired" slot and clears it for the replacement, so counters never go back.
/// Readers sum every slot without a lock: every number is an aligned 8-byte word (no torn reads) and
/// a key is written before its count, so a reader sees an entry whole or not at all. A scrape that
/// runs exactly while the master folds a slot may count that child's requests twice, once.
///
/// An entry is one (method, route, status) key: 128 bytes of key text, then count, sum of seconds and
/// one counter per histogram bucket. 1024 entries per slot; a full slot drops new keys.
///
/// Why not swift-prometheus (measured in bench/README.md "Metrics"): its registry is
/// per process, so a scrape would see one child's requests and counters would drop at each recycle;
/// correct totals would still need these shared slots, and its observation cost 5.3 µs per request
/// (counters kept) against 1.8–2.4 µs here, for the same RSS.
final class MetricsStore: @unchecked Sendable {
    static let keyBytes = 128
    static let entryBytes = 256
    static let entriesPerSlot = 1024
    static let slotBytes = entryBytes * entriesPerSlot

    private let base: UnsafeMutableRawPointer
    let slots: Int
    let buckets: Int

    /// `childSlots` slots for children plus the retired slot; `buckets` histogram buckets.
    init(childSlots: Int, buckets: Int) {
        precondition(16 + 8 * buckets + MetricsStore.keyBytes <= MetricsStore.entryBytes)
        slots = childSlots + 1
        self.buckets = buckets
        let bytes = slots * MetricsStore.slotBytes
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            // Start-up only, before any request: without memory there is nothing to serve with.
            fatalError("medsync-fcgi: cannot map \(bytes) bytes for metrics: \(String(cString: strerror(errno)))")
        }
        base = mapped  // zero-filled by the kernel
    }

    deinit { munmap(base, slots * MetricsStore.slotBytes) }

    var retiredSlot: Int { slots - 1 }

    /// Adds one request to `slot` (the caller holds its process's lock).
    func record(slot: Int, key: String, seconds: Double, bucketLimits: [Double]) {
        guard let entry = entry(slot: slot, key: key, create: true) else { return }
        entry.storeBytes(of: entry.load(fromByteOffset: Self.countOffset, as: Int64.self) + 1, toByteOffset: Self.countOffset, as: Int64.self)
        entry.storeBytes(of: entry.load(fromByteOffset: Self.sumOffset, as: Double.self) + seconds, toByteOffset: Self.sumOffset, as: Double.self)
        for (i, limit) in bucketLimits.enumerated() where seconds <= limit {
            let offset = Self.bucketOffset + 8 * i
            entry.storeBytes(of: entry.load(fromByteOffset: offset, as: Int64.self) + 1, toByteOffset: offset, as: Int64.self)
        }
    }

    /// Every key with its totals over all slots.
    func totals() -> [String: (count: Int64, sum: Double, buckets: [Int64])] {
        var out: [String: (count: Int64, sum: Double, buckets: [Int64])] = [:]
        for slot in 0..<slots {
            forEachEntry(slot: slot) { key, count, sum, buckets in
                var t = out[key] ?? (0, 0, Array(repeating: 0, count: self.buckets))
                t.count += count
                t.sum += sum
                for i in 0..<buckets.count { t.buckets[i] += buckets[i] }
                out[key] = t
            }
        }
        return out
    }

    /// In the master, after the child of `slot` exited: keep its counts in the retired slot, clear it.
    func retire(slot: Int) {
        guard slot >= 0, slot < retiredSlot else { return }
        forEachEntry(slot: slot) { key, count, sum, buckets in
            guard let entry = self.entry(slot: self.retiredSlot, key: key, create: true) else { return }
            entry.storeBytes(of: entry.load(fromByteOffset: Self.countOffset, as: Int64.self) + count, toByteOffset: Self.countOffset, as: Int64.self)
            entry.storeBytes(of: entry.load(fromByteOffset: Self.sumOffset, as: Double.self) + sum, toByteOffset: Self.sumOffset, as: Double.self)
            for (i, n) in buckets.enumerated() {
                let offset = Self.bucketOffset + 8 * i
                entry.storeBytes(of: entry.load(fromByteOffset: offset, as: Int64.self) + n, toByteOffset: offset, as: Int64.self)
            }
        }
        (base + slot * Self.slotBytes).initializeMemory(as: UInt8.self, repeating: 0, count: Self.slotBytes)
    }

    // MARK: entries

    static let countOffset = keyBytes
    static let sumOffset = keyBytes + 8
    static let bucketOffset = keyBytes + 16

    private func forEachEntry(slot: Int, _ body: (String, Int64, Double, [Int64]) -> Void) {
        let start = base + slot * Self.slotBytes
        for i in 0..<Self.entriesPerSlot {
            let entry = start + i * Self.entryBytes
            let count = entry.load(fromByteOffset: Self.countOffset, as: Int64.self)
            guard count > 0 else { continue }
            atomicMemoryFence(ordering: .acquiring)
            let key = String(decoding: UnsafeRawBufferPointer(start: entry, count: Self.keyBytes).prefix { $0 != 0 }, as: UTF8.self)
            let sum = entry.load(fromByteOffset: Self.sumOffset, as: Double.self)
            let buckets = (0..<self.buckets).map { entry.load(fromByteOffset: Self.bucketOffset + 8 * $0, as: Int64.self) }
            body(key, count, sum, buckets)
        }
    }

    /// The entry of `key` in `slot` (linear probing from its FNV-1a hash); nil when the slot is full.
    private func entry(slot: Int, key: String, create: Bool) -> UnsafeMutableRawPointer? {
        let bytes = Array(key.utf8.prefix(Self.keyBytes - 1))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let start = base + slot * Self.slotBytes
        for probe in 0..<Self.entriesPerSlot {
            let entry = start + Int((hash &+ UInt64(probe)) % UInt64(Self.entriesPerSlot)) * Self.entryBytes
            if entry.load(as: UInt8.self) == 0 {
                guard create else { return nil }
                bytes.withUnsafeBytes { if let from = $0.baseAddress { entry.copyMemory(from: from, byteCount: $0.count) } }
                // The key is complete before any count that makes readers look at it.
                atomicMemoryFence(ordering: .releasing)
                return entry
            }
            if UnsafeRawBufferPointer(start: entry, count: bytes.count).elementsEqual(bytes),
               entry.load(fromByteOffset: bytes.count, as: UInt8.self) == 0 {
                return entry
            }
        }
        return nil
    }
}
