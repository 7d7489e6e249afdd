import Foundation
import QVGraph

/// The members of a zip archive (a `.npz`) as its central directory lists them: enough to read a
/// stored (uncompressed) member in place, slice by slice, without extracting it. ZIP64 sizes and
/// offsets included (numpy writes every member with ZIP64 fields). Anything malformed is a
/// `badInput` error naming the archive.
public struct ZipDirectory {
    public struct Member {
        public var name: String
        /// 0 stored, 8 deflated.
        public var method: UInt16
        public var compressedSize: UInt64
        public var size: UInt64
        /// Where the member's bytes start in the file (after its local header).
        public var dataOffset: UInt64
    }

    public let members: [Member]

    public init(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw QVError.badInput("\(path): cannot read file") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QVError.badInput("\(path): cannot read file") }
        let fileSize = UInt64(st.st_size)
        func bytes(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
            guard offset <= fileSize, UInt64(count) <= fileSize - offset else {
                throw QVError.badInput("\(path): truncated zip archive")
            }
            var b = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let r = b.withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
                guard r > 0 else { throw QVError.badInput("\(path): truncated zip archive") }
                done += r
            }
            return b
        }
        func u16(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(b[i]) | UInt64(b[i + 1]) << 8 }
        func u32(_ b: [UInt8], _ i: Int) -> UInt64 { u16(b, i) | u16(b, i + 2) << 16 }
        func u64(_ b: [UInt8], _ i: Int) -> UInt64 { u32(b, i) | u32(b, i + 4) << 32 }

        // End of central directory: the last "PK\u{5}\u{6}" within the final 64 KiB + 22 bytes.
        let tailSize = Int(min(fileSize, 65_557))
        let tail = try bytes(fileSize - UInt64(tailSize), tailSize)
        guard tailSize >= 22,
            let e = stride(from: tailSize - 22, through: 0, by: -1).first(where: { u32(tail, $0) == 0x0605_4B50 })
        else {
            throw QVError.badInput("\(path): not a zip archive (no end of central directory)")
        }
        var count = u16(tail, e + 10), dirSize = u32(tail, e + 12), dirOffset = u32(tail, e + 16)
        if count == 0xFFFF || dirSize == 0xFFFF_FFFF || dirOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
            let locatorAt = fileSize - UInt64(tailSize) + UInt64(e)
            guard locatorAt >= 20 else { throw QVError.badInput("\(path): malformed ZIP64 archive") }
            let locator = try bytes(locatorAt - 20, 20)
            guard u32(locator, 0) == 0x0706_4B50 else { throw QVError.badInput("\(path): malformed ZIP64 archive") }
            let end64 = try bytes(u64(locator, 8), 56)
            guard u32(end64, 0) == 0x0606_4B50 else { throw QVError.badInput("\(path): malformed ZIP64 archive") }
            (count, dirSize, dirOffset) = (u64(end64, 32), u64(end64, 40), u64(end64, 48))
        }
        guard dirSize <= 1 << 30, count <= dirSize / 46 else {
            throw QVError.badInput("\(path): malformed zip central directory")
        }
        let dir = try bytes(dirOffset, Int(dirSize))
        var members: [Member] = []
        var at = 0
        for _ in 0..<count {
            guard at + 46 <= dir.count, u32(dir, at) == 0x0201_4B50 else {
                throw QVError.badInput("\(path): malformed zip central directory")
            }
            let nameLength = Int(u16(dir, at + 28)), extraLength = Int(u16(dir, at + 30)),
                commentLength = Int(u16(dir, at + 32))
            guard at + 46 + nameLength + extraLength + commentLength <= dir.count else {
                throw QVError.badInput("\(path): malformed zip central directory")
            }
            var compressed = u32(dir, at + 20), size = u32(dir, at + 24), header = u32(dir, at + 42)
            // ZIP64 extra field (id 1): the 8-byte values of the fields saturated above, in order.
            var x = at + 46 + nameLength
            while x + 4 <= at + 46 + nameLength + extraLength {
                let id = u16(dir, x), length = Int(u16(dir, x + 2))
                if id == 1 {
                    var v = x + 4
                    func next() throws -> UInt64 {
                        guard v + 8 <= x + 4 + length else {
                            throw QVError.badInput("\(path): malformed ZIP64 extra field")
                        }
                        defer { v += 8 }
                        return u64(dir, v)
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if header == 0xFFFF_FFFF { header = try next() }
                }
                x += 4 + length
            }
            let local = try bytes(header, 30)
            guard u32(local, 0) == 0x0403_4B50 else { throw QVError.badInput("\(path): malformed zip local header") }
            let dataOffset = header + 30 + u16(local, 26) + u16(local, 28)
            guard dataOffset <= fileSize, compressed <= fileSize - dataOffset else {
                throw QVError.badInput("\(path): truncated zip archive")
            }
            members.append(
                Member(
                    name: String(decoding: dir[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self),
                    method: UInt16(u16(dir, at + 10)),
                    compressedSize: compressed, size: size, dataOffset: dataOffset))
            at += 46 + nameLength + extraLength + commentLength
        }
        self.members = members
    }
}
