import Foundation
import QVGraph

/// Little-endian `raw_data` encoding of every element type (sub-byte types packed low bits first).
public enum RawCodec {
    public static func byteCount(_ dtype: DType, _ count: Int) -> Int {
        dtype == .string ? 0 : (count * dtype.bitWidth + 7) / 8
    }

    public static func decode(_ raw: [UInt8], dtype: DType, count: Int) throws -> Storage {
        guard dtype != .string else { throw QVError.badInput("STRING tensors cannot use raw_data") }
        guard raw.count == byteCount(dtype, count) else {
            throw QVError.badInput(
                "\(dtype.name) needs \(byteCount(dtype, count)) bytes for \(count) elements, has \(raw.count)")
        }
        func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
            raw.withUnsafeBytes { b in
                (0..<count).map {
                    T(littleEndian: b.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))
                }
            }
        }
        switch dtype {
        case .float:
            #if _endian(little)
            // Little-endian host: the bytes are the floats (one copy, no per-element loads).
            return .f32(
                [Float].uninitialized(count) { buf, n in
                    raw.withUnsafeBytes { b in UnsafeMutableRawBufferPointer(buf).copyMemory(from: b) }
                    n = count
                })
            #else
            return .f32(load(UInt32.self).map { Float(bitPattern: $0) })
            #endif
        case .double: return .f64(load(UInt64.self).map { Double(bitPattern: $0) })
        case .int64: return .i64(load(Int64.self))
        case .uint32: return .i64(load(UInt32.self).map { Int64($0) })
        case .uint64: return .u64(load(UInt64.self))
        case .int32: return .i32(load(Int32.self))
        case .int16: return .i32(load(Int16.self).map { Int32($0) })
        case .uint16, .float16, .bfloat16: return .i32(load(UInt16.self).map { Int32($0) })
        case .int8: return .i32(raw.map { Int32(Int8(bitPattern: $0)) })
        case .uint8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            return .i32(raw.map { Int32($0) })
        case .bool:
            if let bad = raw.first(where: { $0 > 1 }) { throw QVError.badInput("BOOL tensor holds byte \(bad)") }
            return .i32(raw.map { Int32($0) })
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            let bits = dtype.bitWidth
            let perByte = 8 / bits
            let mask = (1 << bits) - 1
            let signed = dtype == .int4 || dtype == .int2
            return .i32(
                (0..<count).map { i in
                    let v = (Int(raw[i / perByte]) >> ((i % perByte) * bits)) & mask
                    return Int32(signed && v >= (1 << (bits - 1)) ? v - (1 << bits) : v)
                })
        case .complex64, .complex128: return .bytes(raw)
        case .string, .undefined: throw QVError.badInput("\(dtype.name) has no raw encoding")
        }
    }

    public static func encode(_ t: Tensor) -> [UInt8] {
        func store<T: FixedWidthInteger>(_ v: [T]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: v.count * MemoryLayout<T>.size)
            out.withUnsafeMutableBytes { b in
                for (i, x) in v.enumerated() {
                    b.storeBytes(of: x.littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
                }
            }
            return out
        }
        switch (t.dtype, t.storage) {
        case (.float, .f32(let a)): return store(a.map(\.bitPattern))
        case (.double, .f64(let a)): return store(a.map(\.bitPattern))
        case (.int64, .i64(let a)): return store(a)
        case (.uint32, .i64(let a)): return store(a.map { UInt32(truncatingIfNeeded: $0) })
        case (.uint64, .u64(let a)): return store(a)
        case (.int32, .i32(let a)): return store(a)
        case (.int16, .i32(let a)): return store(a.map { Int16(truncatingIfNeeded: $0) })
        case (.uint16, .i32(let a)), (.float16, .i32(let a)), (.bfloat16, .i32(let a)):
            return store(a.map { UInt16(truncatingIfNeeded: $0) })
        case (.int4, .i32(let a)), (.uint4, .i32(let a)), (.float4e2m1, .i32(let a)), (.int2, .i32(let a)),
            (.uint2, .i32(let a)):
            let bits = t.dtype.bitWidth
            let perByte = 8 / bits
            var out = [UInt8](repeating: 0, count: (a.count + perByte - 1) / perByte)
            for (i, v) in a.enumerated() {
                out[i / perByte] |= UInt8((Int(v) & ((1 << bits) - 1)) << ((i % perByte) * bits))
            }
            return out
        case (_, .i32(let a)): return a.map { UInt8(truncatingIfNeeded: $0) }
        case (_, .bytes(let b)): return b
        default: preconditionFailure("cannot raw-encode \(t.dtype) from \(t.storage.kind)")
        }
    }
}

/// How many bytes of external tensor data one model may bring into memory: half this machine's
/// physical memory (QVERIFY_MAX_EXTERNAL_BYTES overrides it). qverify holds every initializer in
/// memory, so a 2 GB+ model on a small CI runner is refused with a clear error before the read,
/// not killed by the kernel halfway through it.
final class ExternalBudget {
    private(set) var used = 0
    let limit: Int

    init() {
        if let s = ProcessInfo.processInfo.environment["QVERIFY_MAX_EXTERNAL_BYTES"], let v = Int(s), v >= 0 {
            limit = v
        } else {
            limit = Int(ProcessInfo.processInfo.physicalMemory / 2)
        }
    }

    func take(_ bytes: Int, location: String) throws {
        used += bytes
        guard used <= limit else {
            throw QVError.badInput(
                "external data '\(location)': the model's external tensors need at least \(used) bytes, more than the \(limit) qverify may hold (half this machine's memory; set QVERIFY_MAX_EXTERNAL_BYTES to change it)"
            )
        }
    }
}

/// Tensor data stored in a file beside the model (`data_location = EXTERNAL`).
enum ExternalData {
    static func read(
        _ entries: [KeyValue], baseDirectory: String?, expectedBytes: Int, budget: ExternalBudget? = nil
    ) throws -> [UInt8] {
        let info = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { _, b in b })
        guard let location = info["location"], !location.isEmpty else {
            throw QVError.badInput("external data has no location")
        }
        guard let base = baseDirectory else {
            throw QVError.badInput("external data '\(location)' needs the model's folder")
        }
        let baseURL = URL(fileURLWithPath: base).standardizedFileURL.resolvingSymlinksInPath()
        let fileURL = baseURL.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        guard !location.hasPrefix("/"), fileURL.path.hasPrefix(baseURL.path + "/") else {
            throw QVError.badInput("external data location '\(location)' is outside the model's folder; refused")
        }
        let offset = Int(info["offset"] ?? "0") ?? -1
        let length = info["length"].map { Int($0) ?? -1 } ?? expectedBytes
        guard offset >= 0, length >= 0 else {
            throw QVError.badInput("external data '\(location)' has an invalid offset or length")
        }
        guard length == expectedBytes else {
            throw QVError.badInput(
                "external data '\(location)' has length \(length), the tensor needs \(expectedBytes) bytes")
        }
        try budget?.take(length, location: location)
        guard let h = FileHandle(forReadingAtPath: fileURL.path) else {
            throw QVError.badInput("cannot open external data file '\(location)'")
        }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        guard UInt64(offset) + UInt64(length) <= size else {
            throw QVError.badInput("external data file '\(location)' has \(size) bytes, needs \(offset + length)")
        }
        try h.seek(toOffset: UInt64(offset))
        return Array(try h.read(upToCount: length) ?? Data())
    }
}

/// A whole file's bytes (nil when it cannot be read), with POSIX open/read: Foundation's
/// FileManager.contents(atPath:) and Data(contentsOf:) leak a 4 KB buffer on Linux for some files
/// (found by fuzzing under LeakSanitizer).
public func readFileBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    var done = 0
    while done < out.count {
        let r = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
        if r < 0 { return nil }
        if r == 0 { break }
        done += r
    }
    return done == out.count ? out : Array(out[..<done])
}
