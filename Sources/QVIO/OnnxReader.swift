import COnnxProto
import Foundation
import QVGraph

/// Reads ONNX model files into the IR through libprotobuf-c.
public enum OnnxFile {
    /// Largest tensor qverify will materialize (elements); larger declared sizes are refused
    /// before anything is allocated.
    public static let maxElements = 1 << 31

    /// Loads and validates a model. Errors are one line and start with the file's path.
    public static func load(_ path: String, validate: Bool = true) throws -> Model {
        try loadWithBytes(path, validate: validate).model
    }

    /// `load`, also returning the file's bytes (for its checksum) from the same read.
    public static func loadWithBytes(_ path: String, validate: Bool = true) throws -> (model: Model, bytes: [UInt8]) {
        try withContext(path) {
            let url = URL(fileURLWithPath: path)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw QVError.badInput("no such file")
            }
            guard !isDir.boolValue else { throw QVError.badInput("is a directory, not an ONNX file") }
            // POSIX reads: Data(contentsOf:) leaks its buffer for an empty file on Linux (LeakSanitizer).
            guard let bytes = readFileBytes(path) else { throw QVError.badInput("cannot read the file") }
            let model = try decode(bytes, baseDirectory: url.deletingLastPathComponent().path)
            if validate { try ModelValidator.validate(model) }
            return (model, bytes)
        }
    }

    /// Decodes serialized ModelProto bytes. `baseDirectory` resolves external data.
    public static func decode(_ bytes: [UInt8], baseDirectory: String? = nil) throws -> Model {
        guard !bytes.isEmpty else { throw QVError.badInput("empty file (0 bytes), not an ONNX model") }
        guard let mp = bytes.withUnsafeBufferPointer({ qv_model_unpack($0.count, $0.baseAddress) }) else {
            throw QVError.badInput(
                "not a valid ONNX protobuf (\(bytes.count) bytes): truncated, corrupt or not a model")
        }
        defer { qv_message_free(UnsafeMutableRawPointer(mp).assumingMemoryBound(to: ProtobufCMessage.self)) }
        let reader = ProtoReader(baseDirectory: baseDirectory)
        return try reader.model(mp.pointee)
    }
}

/// Walks an unpacked protobuf-c ModelProto and builds IR values.
struct ProtoReader {
    let baseDirectory: String?
    let budget = ExternalBudget()

    func model(_ m: Onnx__ModelProto) throws -> Model {
        guard let g = m.graph else { throw QVError.badInput("not an ONNX model: ModelProto has no graph") }
        return Model(
            irVersion: m.has_ir_version != 0 ? m.ir_version : nil,
            opsetImports: buffer(m.opset_import, m.n_opset_import).map {
                OpsetImport(domain: str($0.pointee.domain) ?? "", version: $0.pointee.version)
            },
            producerName: str(m.producer_name), producerVersion: str(m.producer_version),
            domain: str(m.domain), modelVersion: m.has_model_version != 0 ? m.model_version : nil,
            docString: str(m.doc_string), graph: try graph(g.pointee),
            metadata: keyValues(m.metadata_props, m.n_metadata_props),
            functions: buffer(m.functions, m.n_functions).map { opaque($0) })
    }

    func graph(_ g: Onnx__GraphProto) throws -> Graph {
        let inits = try buffer(g.initializer, g.n_initializer).enumerated().map { (i, t) in
            let name = str(t.pointee.name) ?? ""
            return (
                name: name,
                tensor: try withContext("initializer '\(name.isEmpty ? "#\(i)" : name)'") { try tensor(t.pointee) }
            )
        }
        let nodes = try buffer(g.node, g.n_node).enumerated().map { (i, n) in try node(n.pointee, index: i) }
        return Graph(
            name: str(g.name) ?? "", nodes: nodes,
            inputs: try buffer(g.input, g.n_input).map { try valueInfo($0.pointee) },
            outputs: try buffer(g.output, g.n_output).map { try valueInfo($0.pointee) },
            valueInfo: try buffer(g.value_info, g.n_value_info).map { try valueInfo($0.pointee) },
            initializers: inits, docString: str(g.doc_string),
            metadata: keyValues(g.metadata_props, g.n_metadata_props),
            sparseInitializers: buffer(g.sparse_initializer, g.n_sparse_initializer).map { opaque($0) },
            quantizationAnnotations: buffer(g.quantization_annotation, g.n_quantization_annotation).map { opaque($0) })
    }

    func node(_ n: Onnx__NodeProto, index: Int) throws -> Node {
        let opType = str(n.op_type) ?? ""
        let name = str(n.name)
        let label = name.map { "node \(opType) '\($0)'" } ?? "node \(opType) #\(index)"
        return try withContext(label) {
            guard !opType.isEmpty else { throw QVError.badInput("node has no op_type") }
            let attrs = try buffer(n.attribute, n.n_attribute).map { a in
                try withContext("attribute '\(str(a.pointee.name) ?? "")'") { try attribute(a.pointee) }
            }
            return Node(
                name: name ?? "", opType: opType, domain: str(n.domain) ?? "",
                inputs: strings(n.input, n.n_input), outputs: strings(n.output, n.n_output),
                attributes: attrs, overload: str(n.overload), docString: str(n.doc_string),
                metadata: keyValues(n.metadata_props, n.n_metadata_props),
                hasName: name != nil, hasDomain: n.domain != nil)
        }
    }

    func attribute(_ a: Onnx__AttributeProto) throws -> Attribute {
        let name = str(a.name) ?? ""
        let type = a.has_type != 0 ? Int32(bitPattern: a.type.rawValue) : inferAttributeType(a)
        if let ref = str(a.ref_attr_name) {
            return Attribute(name: name, value: .reference(type: type, ref), docString: str(a.doc_string))
        }
        let value: AttributeValue
        switch type {
        case 1: value = .float(a.f)
        case 2: value = .int(a.i)
        case 3: value = .string(bytes(a.s))
        case 4:
            guard let t = a.t else { throw QVError.badInput("TENSOR attribute without a tensor") }
            value = .tensor(try tensor(t.pointee))
        case 5:
            guard let g = a.g else { throw QVError.badInput("GRAPH attribute without a graph") }
            value = .graph(try graph(g.pointee))
        case 6: value = .floats(Array(UnsafeBufferPointer(start: a.floats, count: a.n_floats)))
        case 7: value = .ints(Array(UnsafeBufferPointer(start: a.ints, count: a.n_ints)))
        case 8: value = .strings(UnsafeBufferPointer(start: a.strings, count: a.n_strings).map(bytes))
        case 9: value = .tensors(try buffer(a.tensors, a.n_tensors).map { try tensor($0.pointee) })
        case 10: value = .graphs(try buffer(a.graphs, a.n_graphs).map { try graph($0.pointee) })
        case 11:
            guard let s = a.sparse_tensor else { throw QVError.badInput("SPARSE_TENSOR attribute without a value") }
            value = .other(type: type, opaque(s))
        case 12: value = .other(type: type, OpaqueProto(packList(buffer(a.sparse_tensors, a.n_sparse_tensors))))
        case 13:
            guard let tp = a.tp else { throw QVError.badInput("TYPE_PROTO attribute without a value") }
            value = .other(type: type, opaque(tp))
        case 14: value = .other(type: type, OpaqueProto(packList(buffer(a.type_protos, a.n_type_protos))))
        default: throw QVError.badInput("unknown attribute type \(type)")
        }
        return Attribute(name: name, value: value, docString: str(a.doc_string))
    }

    /// IR < 3 files may omit `type`; infer it from the field that is set.
    func inferAttributeType(_ a: Onnx__AttributeProto) -> Int32 {
        if a.has_f != 0 { return 1 }
        if a.has_i != 0 { return 2 }
        if a.has_s != 0 { return 3 }
        if a.t != nil { return 4 }
        if a.g != nil { return 5 }
        if a.n_floats > 0 { return 6 }
        if a.n_ints > 0 { return 7 }
        if a.n_strings > 0 { return 8 }
        if a.n_tensors > 0 { return 9 }
        if a.n_graphs > 0 { return 10 }
        return 0
    }

    func valueInfo(_ v: Onnx__ValueInfoProto) throws -> ValueInfo {
        let name = str(v.name) ?? ""
        var type = ValueInfo.TypeInfo.none
        var denotation: String? = nil
        if let tp = v.type {
            denotation = str(tp.pointee.denotation)
            if tp.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, let tt = tp.pointee.tensor_type {
                let elem: Int32? = tt.pointee.has_elem_type != 0 ? tt.pointee.elem_type : nil
                if let e = elem, DType(onnx: e) == nil {
                    throw QVError.badInput("value '\(name)' has unknown element type number \(e)")
                }
                var dims: [Dim]? = nil
                var den: [String?] = []
                if let s = tt.pointee.shape {
                    dims = buffer(s.pointee.dim, s.pointee.n_dim).map { d in
                        switch d.pointee.value_case {
                        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: .value(Int(d.pointee.dim_value))
                        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                            .param(str(d.pointee.dim_param) ?? "")
                        default: .unknown
                        }
                    }
                    den = buffer(s.pointee.dim, s.pointee.n_dim).map { str($0.pointee.denotation) }
                }
                type = .tensor(elemType: elem, shape: dims, shapeDenotations: den)
            } else {
                type = .other(opaque(tp))
            }
        }
        return ValueInfo(
            name: name, type: type, typeDenotation: denotation, docString: str(v.doc_string),
            metadata: keyValues(v.metadata_props, v.n_metadata_props))
    }

    // MARK: tensors

    func tensor(_ t: Onnx__TensorProto) throws -> Tensor {
        guard t.has_data_type != 0 else { throw QVError.badInput("tensor has no data_type") }
        guard let dtype = DType(onnx: t.data_type), dtype != .undefined else {
            throw QVError.badInput("unknown element type number \(t.data_type)")
        }
        if t.segment != nil { throw QVError.unsupported("segmented tensors are not supported") }
        let dims = Array(UnsafeBufferPointer(start: t.dims, count: t.n_dims))
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(OnnxFile.maxElements) }) else {
            throw QVError.badInput("invalid dims \(dims)")
        }
        let shape = dims.map { Int($0) }
        guard let count = Tensor.elementCount(shape), count <= OnnxFile.maxElements else {
            throw QVError.badInput("dims \(dims) describe more than 2^31 elements")
        }
        var origin = TensorOrigin(
            encoding: .typed, docString: str(t.doc_string),
            metadata: keyValues(t.metadata_props, t.n_metadata_props))
        let storage: Storage
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            let entries = keyValues(t.external_data, t.n_external_data)
            origin.encoding = .external(entries)
            let raw = try ExternalData.read(
                entries, baseDirectory: baseDirectory,
                expectedBytes: RawCodec.byteCount(dtype, count), budget: budget)
            storage = try RawCodec.decode(raw, dtype: dtype, count: count)
        } else if t.has_raw_data != 0 {
            origin.encoding = .raw
            let raw = UnsafeBufferPointer(start: t.raw_data.data, count: t.raw_data.len)
            guard raw.count == RawCodec.byteCount(dtype, count) else {
                throw QVError.badInput(
                    "\(dtype.name) tensor of shape \(shape) needs \(RawCodec.byteCount(dtype, count)) bytes of raw_data, has \(raw.count)"
                )
            }
            storage = try RawCodec.decode(Array(raw), dtype: dtype, count: count)
        } else {
            storage = try typedStorage(t, dtype: dtype, count: count, shape: shape)
        }
        return Tensor(dtype: dtype, shape: shape, storage: storage, origin: origin)
    }

    func typedStorage(_ t: Onnx__TensorProto, dtype: DType, count: Int, shape: [Int]) throws -> Storage {
        func check(_ n: Int, _ field: String, expected: Int) throws {
            guard n == expected else {
                throw QVError.badInput(
                    "\(dtype.name) tensor of shape \(shape) has \(expected) elements but \(n) values in \(field)")
            }
        }
        switch dtype {
        case .float:
            try check(t.n_float_data, "float_data", expected: count)
            return .f32(Array(UnsafeBufferPointer(start: t.float_data, count: count)))
        case .double:
            try check(t.n_double_data, "double_data", expected: count)
            return .f64(Array(UnsafeBufferPointer(start: t.double_data, count: count)))
        case .int64:
            try check(t.n_int64_data, "int64_data", expected: count)
            return .i64(Array(UnsafeBufferPointer(start: t.int64_data, count: count)))
        case .uint32:
            try check(t.n_uint64_data, "uint64_data", expected: count)
            return .i64(UnsafeBufferPointer(start: t.uint64_data, count: count).map { Int64($0 & 0xFFFF_FFFF) })
        case .uint64:
            try check(t.n_uint64_data, "uint64_data", expected: count)
            return .u64(Array(UnsafeBufferPointer(start: t.uint64_data, count: count)))
        case .string:
            try check(t.n_string_data, "string_data", expected: count)
            return .strings(UnsafeBufferPointer(start: t.string_data, count: count).map(bytes))
        case .complex64:
            try check(t.n_float_data, "float_data", expected: 2 * count)
            let f = Array(UnsafeBufferPointer(start: t.float_data, count: 2 * count))
            return .bytes(f.withUnsafeBytes { Array($0) })
        case .complex128:
            try check(t.n_double_data, "double_data", expected: 2 * count)
            let f = Array(UnsafeBufferPointer(start: t.double_data, count: 2 * count))
            return .bytes(f.withUnsafeBytes { Array($0) })
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            // Sub-byte types put one packed byte per int32_data entry.
            let perByte = 8 / dtype.bitWidth
            let nBytes = (count + perByte - 1) / perByte
            try check(t.n_int32_data, "int32_data (packed bytes)", expected: nBytes)
            let packed = UnsafeBufferPointer(start: t.int32_data, count: nBytes).map { UInt8(truncatingIfNeeded: $0) }
            return try RawCodec.decode(packed, dtype: dtype, count: count)
        default:
            try check(t.n_int32_data, "int32_data", expected: count)
            let v = Array(UnsafeBufferPointer(start: t.int32_data, count: count))
            if let r = dtype.integerRange, let bad = v.first(where: { !r.contains(Int64($0)) }) {
                throw QVError.badInput("\(dtype.name) tensor holds \(bad), outside \(r)")
            }
            return .i32(v)
        }
    }

    // MARK: C helpers

    func str(_ p: UnsafeMutablePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
    func bytes(_ b: ProtobufCBinaryData) -> [UInt8] { Array(UnsafeBufferPointer(start: b.data, count: b.len)) }
    func buffer<T>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ n: Int) -> [UnsafeMutablePointer<T>] {
        guard let p else { return [] }
        return (0..<n).compactMap { p[$0] }
    }
    func strings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
        guard let p else { return [] }
        return (0..<n).map { p[$0].map { String(cString: $0) } ?? "" }
    }
    func keyValues(
        _ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?, _ n: Int
    ) -> [KeyValue] {
        buffer(p, n).map { KeyValue(str($0.pointee.key) ?? "", str($0.pointee.value) ?? "") }
    }
    func opaque<T>(_ p: UnsafeMutablePointer<T>) -> OpaqueProto {
        OpaqueProto(packMessage(UnsafeMutableRawPointer(p).assumingMemoryBound(to: ProtobufCMessage.self)))
    }
    /// Several messages of one type, each length-prefixed (for repeated opaque fields).
    func packList<T>(_ ps: [UnsafeMutablePointer<T>]) -> [UInt8] {
        var out: [UInt8] = []
        for p in ps {
            let b = packMessage(UnsafeMutableRawPointer(p).assumingMemoryBound(to: ProtobufCMessage.self))
            var n = b.count
            repeat {
                out.append(UInt8(n & 0x7F) | (n > 0x7F ? 0x80 : 0))
                n >>= 7
            } while n > 0
            out += b
        }
        return out
    }
}

func packMessage(_ m: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
    let size = protobuf_c_message_get_packed_size(m)
    var out = [UInt8](repeating: 0, count: size)
    out.withUnsafeMutableBufferPointer { _ = protobuf_c_message_pack(m, $0.baseAddress) }
    return out
}
