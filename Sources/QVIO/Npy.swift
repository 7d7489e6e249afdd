import COnnxProto
import Foundation
import QVGraph
import ZIPFoundation

/// NumPy `.npy` (format 1.0–3.0, C order, little-endian) and `.npz` (zip of `.npy`) files.
public enum Npy {
    static let descrs: [(String, DType)] = [
        ("f4", .float), ("f8", .double), ("i1", .int8), ("u1", .uint8), ("i2", .int16), ("u2", .uint16),
        ("i4", .int32), ("u4", .uint32), ("i8", .int64), ("u8", .uint64), ("b1", .bool), ("f2", .float16),
    ]

    /// Reads a `.npy` file; errors start with the path.
    public static func load(_ path: String) throws -> Tensor {
        try withContext(path) {
            guard let d = readFileBytes(path).map({ Data($0) }) else { throw QVError.badInput("cannot read file") }
            return try decode(Array(d))
        }
    }

    public static func decode(_ b: [UInt8]) throws -> Tensor {
        guard b.count >= 10, b[0] == 0x93, Array(b[1...5]) == Array("NUMPY".utf8) else {
            throw QVError.badInput("not a .npy file (bad magic)")
        }
        let major = b[6]
        let headerLen: Int, start: Int
        switch major {
        case 1: headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw QVError.badInput("truncated .npy header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw QVError.badInput(".npy format version \(major) is not supported")
        }
        guard start + headerLen <= b.count else { throw QVError.badInput("truncated .npy header") }
        let header = String(decoding: b[start..<start + headerLen], as: UTF8.self)
        guard let descr = field(header, "descr"), let fortran = field(header, "fortran_order"),
            let shapeText = field(header, "shape")
        else {
            throw QVError.badInput("malformed .npy header: \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard fortran == "False" else { throw QVError.unsupported("Fortran-order .npy arrays are not supported") }
        let code = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        guard code.first != ">" || code.hasSuffix("1") else {
            throw QVError.unsupported("big-endian .npy dtype \(code)")
        }
        let bare = code.hasPrefix("<") || code.hasPrefix("|") || code.hasPrefix("=") ? String(code.dropFirst()) : code
        guard let dtype = descrs.first(where: { $0.0 == bare })?.1 else {
            throw QVError.unsupported(".npy dtype \(code) is not supported")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = try dims.map { s -> Int in
            guard let v = Int(s), v >= 0 else { throw QVError.badInput("bad .npy shape \(shapeText)") }
            return v
        }
        guard let count = Tensor.elementCount(shape), count <= OnnxFile.maxElements else {
            throw QVError.badInput(".npy shape \(shape) is too large")
        }
        let need = count * dtype.bitWidth / 8
        let dataStart = start + headerLen
        guard b.count - dataStart == need else {
            throw QVError.badInput(
                ".npy data has \(b.count - dataStart) bytes, shape \(shape) of \(code) needs \(need)")
        }
        return Tensor(
            dtype: dtype, shape: shape, storage: try RawCodec.decode(Array(b[dataStart...]), dtype: dtype, count: count)
        )
    }

    /// A `.npy` file (or a stored `.npy` member of a `.npz`, at `offset`, `length` bytes) read
    /// lazily along axis 0: the header is parsed once, each slice is read from disk when asked
    /// for, so memory does not grow with the number of samples or the file's size.
    public final class Reader {
        public let path: String
        /// How errors name the array: the path, or the archive and entry.
        let label: String
        public let dtype: DType
        public let shape: [Int]
        let dataOffset: UInt64
        let handle: FileHandle

        public init(_ path: String, offset: UInt64 = 0, length: UInt64? = nil, describedAs name: String? = nil) throws {
            self.path = path
            let label = name ?? path
            self.label = label
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw QVError.badInput("\(path): cannot read file")
            }
            handle = h
            try h.seek(toOffset: offset)
            let head = Array(try h.read(upToCount: Int(min(65536, length ?? 65536))) ?? Data())
            // Decode the header by decoding a zero-length view of it.
            guard head.count >= 10, head[0] == 0x93, Array(head[1...5]) == Array("NUMPY".utf8) else {
                throw QVError.badInput("\(label): not a .npy file (bad magic)")
            }
            let start = head[6] == 1 ? 10 : 12
            guard head.count >= start else { throw QVError.badInput("\(label): truncated .npy header") }
            let len =
                head[6] == 1
                ? Int(head[8]) | Int(head[9]) << 8
                : Int(head[8]) | Int(head[9]) << 8 | Int(head[10]) << 16 | Int(head[11]) << 24
            guard start + len <= head.count else { throw QVError.badInput("\(label): truncated .npy header") }
            // Reuse the full decoder on the header alone with a fake zero-row shape to validate fields.
            let headerText = String(decoding: head[start..<start + len], as: UTF8.self)
            guard let descr = Npy.field(headerText, "descr"), Npy.field(headerText, "fortran_order") == "False",
                let shapeText = Npy.field(headerText, "shape")
            else { throw QVError.badInput("\(label): malformed .npy header") }
            let code = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            let bare =
                code.hasPrefix("<") || code.hasPrefix("|") || code.hasPrefix("=") ? String(code.dropFirst()) : code
            guard let dt = Npy.descrs.first(where: { $0.0 == bare })?.1 else {
                throw QVError.unsupported("\(label): .npy dtype \(code) is not supported")
            }
            let dims = try shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                .map { s -> Int in
                    guard let v = Int(s), v >= 0 else { throw QVError.badInput("\(label): bad .npy shape") }; return v
                }
            dtype = dt
            shape = dims
            dataOffset = offset + UInt64(start + len)
            let end = length.map { offset + $0 } ?? ((try? h.seekToEnd()) ?? 0)
            guard let elements = Tensor.elementCount(dims), elements <= Int.max / 8 else {
                throw QVError.badInput("\(label): .npy shape \(dims) is too large")
            }
            let need = UInt64(elements * dt.bitWidth / 8)
            guard end >= dataOffset, end - dataOffset == need else {
                throw QVError.badInput(
                    "\(label): .npy data has \(Int64(end) - Int64(dataOffset)) bytes, shape \(dims) of \(code) needs \(need)"
                )
            }
        }

        deinit { try? handle.close() }

        /// Slice `i` along axis 0.
        public func slice(_ i: Int) throws -> Tensor {
            try read(Array(shape.dropFirst()), at: i)
        }

        /// The whole array.
        public func all() throws -> Tensor { try read(shape, at: 0) }

        /// The `i`-th block of `inner`'s element count, shaped `inner`.
        func read(_ inner: [Int], at i: Int) throws -> Tensor {
            let count = inner.reduce(1, *)
            let bytes = count * dtype.bitWidth / 8
            #if _endian(little)
            if dtype == .float {
                // The file's bytes are the floats: read them straight into the tensor (pread, no
                // intermediate Data/Array copies).
                var failed = false
                let values = [Float].uninitialized(count) { buf, n in
                    let raw = UnsafeMutableRawPointer(buf.baseAddress!)
                    var done = 0
                    while done < bytes {
                        let r = pread(
                            handle.fileDescriptor, raw + done, bytes - done, off_t(dataOffset) + off_t(i * bytes + done)
                        )
                        if r <= 0 { failed = true; break }
                        done += r
                    }
                    n = failed ? 0 : count
                }
                guard !failed else { throw QVError.badInput("\(label): truncated data at slice \(i)") }
                return Tensor(dtype: .float, shape: inner, storage: .f32(values))
            }
            #endif
            try handle.seek(toOffset: dataOffset + UInt64(i * bytes))
            let d = Array(try handle.read(upToCount: bytes) ?? Data())
            guard d.count == bytes else { throw QVError.badInput("\(label): truncated data at slice \(i)") }
            return Tensor(dtype: dtype, shape: inner, storage: try RawCodec.decode(d, dtype: dtype, count: count))
        }
    }

    /// The value of `'key': value` in a header dict (value up to the next top-level comma).
    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var out = ""
        for c in header[r.upperBound...] {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if (c == "," && depth == 0) || (c == "}" && depth == 0) { break }
            out.append(c)
            if depth < 0 { return nil }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// Encodes a tensor as `.npy` 1.0. int4/uint4 are written widened to int8/uint8.
    public static func encode(_ t: Tensor) -> [UInt8] {
        var t = t
        switch t.dtype {
        case .int4, .int2: t.dtype = .int8
        case .uint4, .uint2: t.dtype = .uint8
        default: break
        }
        guard let code = descrs.first(where: { $0.1 == t.dtype })?.0 else {
            preconditionFailure("no .npy dtype for \(t.dtype)")
        }
        let order = code.hasSuffix("1") ? "|" : "<"
        let shape =
            t.shape.isEmpty
            ? "()"
            : t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(order)\(code)', 'fortran_order': False, 'shape': \(shape), }"
        let pad = 64 - (10 + header.utf8.count + 1) % 64
        header += String(repeating: " ", count: pad % 64) + "\n"
        let n = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Array(header.utf8)
            + RawCodec.encode(t)
    }

    public static func save(_ t: Tensor, to path: String) throws {
        try withContext(path) {
            do { try Data(encode(t)).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw QVError.badInput("cannot write: \(error.localizedDescription)")
            }
        }
    }

    // MARK: .npz

    /// Reads every array of a `.npz`, keyed by name without the `.npy` suffix, in archive order.
    public static func loadArchive(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        try withContext(path) {
            // ZIPFoundation's URL initializer leaks the path's file system representation on Linux
            // (32 bytes per archive opened; its in-memory archive leaks the whole buffer instead):
            // found by fuzzing, suppressed for LeakSanitizer in scripts/lsan.supp.
            let archive: Archive
            do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
                throw QVError.badInput("not a readable .npz (zip) archive")
            }
            var out: [(String, Tensor)] = []
            for entry in archive where entry.type == .file {
                var data = Data()
                do { _ = try archive.extract(entry, skipCRC32: false) { data.append($0) } } catch {
                    throw QVError.badInput("entry '\(entry.path)' is corrupt")
                }
                let name = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
                out.append((name, try withContext("entry '\(entry.path)'") { try decode(Array(data)) }))
            }
            return out
        }
    }

    /// 1980-01-01 00:00 local time, the earliest date a ZIP entry can record.
    static let zipEpoch: Date = {
        var c = DateComponents()
        (c.year, c.month, c.day) = (1980, 1, 1)
        return Calendar.current.date(from: c) ?? Date(timeIntervalSince1970: 315_532_800)
    }()

    /// Writes a `.npz` (stored, uncompressed) atomically and reproducibly (fixed entry dates).
    public static func saveArchive(_ items: [(name: String, tensor: Tensor)], to path: String) throws {
        try withContext(path) {
            let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
            try? FileManager.default.removeItem(atPath: tmp)
            do {
                // The archive closes its file when it goes out of scope, before the rename.
                try {
                    let archive = try Archive(url: URL(fileURLWithPath: tmp), accessMode: .create)
                    for (name, t) in items {
                        let bytes = Data(encode(t))
                        // A fixed date (the ZIP epoch, local time): the same tensors give the same bytes.
                        try archive.addEntry(
                            with: name + ".npy", type: .file, uncompressedSize: Int64(bytes.count),
                            modificationDate: zipEpoch, compressionMethod: .none
                        ) { pos, size in
                            bytes.subdata(in: Int(pos)..<Int(pos) + size)
                        }
                    }
                }()
                // rename(2) replaces an existing file atomically (Foundation's replaceItemAt on
                // Linux failed every other run with "file doesn't exist").
                guard rename(tmp, path) == 0 else {
                    throw QVError.badInput("cannot move into place: \(String(cString: strerror(errno)))")
                }
            } catch {
                try? FileManager.default.removeItem(atPath: tmp)
                throw QVError.badInput("cannot write .npz: \(error)")
            }
        }
    }
}

extension OnnxFile {
    /// Decodes a serialized TensorProto (an ONNX backend-test `input_K.pb`); returns its name too.
    public static func decodeTensor(_ bytes: [UInt8]) throws -> (name: String, tensor: Tensor) {
        guard
            let m = bytes.withUnsafeBufferPointer({
                qv_message_unpack(qv_descriptor_tensor_proto(), $0.count, $0.baseAddress)
            })
        else {
            throw QVError.badInput("not a valid TensorProto")
        }
        defer { qv_message_free(m) }
        let t = UnsafeMutableRawPointer(m).assumingMemoryBound(to: Onnx__TensorProto.self)
        let reader = ProtoReader(baseDirectory: nil)
        return (reader.str(t.pointee.name) ?? "", try reader.tensor(t.pointee))
    }

    public static func loadTensor(_ path: String) throws -> (name: String, tensor: Tensor) {
        try withContext(path) {
            guard let d = readFileBytes(path).map({ Data($0) }) else { throw QVError.badInput("cannot read file") }
            return try decodeTensor(Array(d))
        }
    }
}
