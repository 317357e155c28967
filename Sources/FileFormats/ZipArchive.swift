@preconcurrency import CZlib

/// A read-only zip archive held in memory (PKWARE APPNOTE 6.3), as much as reading an .xlsx needs:
/// the central directory's entries, each stored (method 0) or deflated (method 8), extracted under a
/// byte budget. Every offset and length is checked against the data before it is used, and inflating
/// stops at the end of the entry's bytes, the budget, or an error: no input can make it trap, read
/// outside the data, or loop. (It replaces ZIPFoundation, whose in-memory archive trapped on an entry
/// offset past the data and whose inflate loop spun forever on a truncated deflate stream — both
/// found by FuzzXLSX.) Zip64, multi-disk and encrypted archives are refused: Excel writes none.
public struct ZipArchive {
    public struct Entry: Sendable {
        public let path: String
        let method: UInt16
        let flags: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    public enum ZipError: Error, Equatable {
        /// Not a zip archive, or a damaged one (the reason is for logs and tests, not for users).
        case invalid(String)
        /// Extracting would pass the byte budget.
        case overBudget
    }

    let data: [UInt8]
    public let entries: [Entry]

    public init(_ data: [UInt8]) throws(ZipError) {
        self.data = data
        // The end of central directory record: 22 bytes plus a comment of at most 65,535, at the end.
        guard data.count >= 22 else { throw .invalid("shorter than an end of central directory record") }
        var eocd = -1
        var i = data.count - 22
        let lowest = max(0, data.count - 22 - 0xFFFF)
        while i >= lowest {
            if Self.u32(data, i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw .invalid("no end of central directory record") }
        let disk = Self.u16(data, eocd + 4), cdDisk = Self.u16(data, eocd + 6)
        let count = Int(Self.u16(data, eocd + 10))
        let cdSize = Int(Self.u32(data, eocd + 12)), cdOffset = Int(Self.u32(data, eocd + 16))
        guard disk == 0, cdDisk == 0 else { throw .invalid("multi-disk archive") }
        guard count != 0xFFFF, cdSize != 0xFFFF_FFFF, cdOffset != 0xFFFF_FFFF else { throw .invalid("zip64 archive") }
        guard cdOffset <= eocd, cdSize <= eocd - cdOffset, count <= cdSize / 46 else { throw .invalid("central directory out of bounds") }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= cdOffset + cdSize, Self.u32(data, p) == 0x0201_4B50 else { throw .invalid("bad central directory entry") }
            let nameLength = Int(Self.u16(data, p + 28)), extraLength = Int(Self.u16(data, p + 30)), commentLength = Int(Self.u16(data, p + 32))
            let next = p + 46 + nameLength + extraLength + commentLength
            guard next <= cdOffset + cdSize else { throw .invalid("central directory entry out of bounds") }
            let entry = Entry(path: String(decoding: data[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self),
                              method: Self.u16(data, p + 10), flags: Self.u16(data, p + 8), crc32: Self.u32(data, p + 16),
                              compressedSize: Int(Self.u32(data, p + 20)), uncompressedSize: Int(Self.u32(data, p + 24)),
                              localHeaderOffset: Int(Self.u32(data, p + 42)))
            guard entry.compressedSize != 0xFFFF_FFFF, entry.uncompressedSize != 0xFFFF_FFFF, entry.localHeaderOffset != 0xFFFF_FFFF else {
                throw .invalid("zip64 entry")
            }
            entries.append(entry)
            p = next
        }
        self.entries = entries
    }

    /// The first entry with this path.
    public subscript(path: String) -> Entry? { entries.first { $0.path == path } }

    /// The entry's bytes, inflated; `budget` (bytes) goes down by their length, and passing it throws
    /// `overBudget` as soon as it happens. The CRC-32 and the size must match the central directory.
    public func extract(_ entry: Entry, budget: inout Int) throws(ZipError) -> [UInt8] {
        guard entry.flags & 1 == 0 else { throw .invalid("encrypted entry") }
        guard entry.uncompressedSize <= budget else { throw .overBudget }
        let h = entry.localHeaderOffset
        guard h <= data.count - 30, Self.u32(data, h) == 0x0403_4B50 else { throw .invalid("bad local header") }
        let start = h + 30 + Int(Self.u16(data, h + 26)) + Int(Self.u16(data, h + 28))
        guard start <= data.count, entry.compressedSize <= data.count - start else { throw .invalid("entry data out of bounds") }
        let input = data[start..<(start + entry.compressedSize)]
        let out: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else { throw .invalid("stored entry with two sizes") }
            out = Array(input)
            budget -= out.count
        case 8:
            out = try Self.inflate(input, budget: &budget)
        default:
            throw .invalid("compression method \(entry.method)")
        }
        guard out.count == entry.uncompressedSize else { throw .invalid("size mismatch") }
        let crc = out.withUnsafeBufferPointer { buf in
            UInt32(CZlib.crc32(0, buf.baseAddress, uInt(buf.count)))
        }
        guard crc == entry.crc32 else { throw .invalid("CRC-32 mismatch") }
        return out
    }

    /// Raw deflate (RFC 1951) of `input` to its end-of-stream marker, within `budget` bytes of output.
    public static func inflate(_ input: ArraySlice<UInt8>, budget: inout Int) throws(ZipError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .invalid("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let result: Result<Void, ZipError> = input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = uInt(inBuf.count)
            while true {
                let before = stream.avail_in
                let (rc, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (rc, outBuf.count - Int(stream.avail_out))
                }
                budget -= produced
                if budget < 0 { return .failure(.overBudget) }
                out += chunk[0..<produced]
                switch rc {
                case Z_STREAM_END: return .success(())
                case Z_OK where produced > 0 || stream.avail_in < before: continue
                case Z_OK, Z_BUF_ERROR: return .failure(.invalid("deflate stream ends early"))
                default: return .failure(.invalid("deflate stream is damaged"))
                }
            }
        }
        try result.get()
        return out
    }

    static func u16(_ d: [UInt8], _ i: Int) -> UInt16 { UInt16(d[i]) | UInt16(d[i + 1]) << 8 }
    static func u32(_ d: [UInt8], _ i: Int) -> UInt32 {
        UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16 | UInt32(d[i + 3]) << 24
    }
}
