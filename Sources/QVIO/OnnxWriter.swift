import COnnxProto
import Foundation
import QVGraph

extension OnnxFile {
    /// Serializes a model to ModelProto bytes. Tensors keep the encoding they were read with
    /// (raw, typed field or external); computed tensors are written as raw_data.
    public static func encode(_ model: Model) throws -> [UInt8] {
        let arena = Arena()
        defer { arena.freeAll() }
        let mp = try ProtoWriter(arena: arena).model(model)
        return packMessage(UnsafeRawPointer(mp).assumingMemoryBound(to: ProtobufCMessage.self))
    }

    /// Writes a model atomically (temporary file, then rename). External tensors are written
    /// inline, so the saved file stands alone.
    public static func save(_ model: Model, to path: String) throws {
        try withContext(path) {
            let bytes = try encode(model.inliningExternalData())
            do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw QVError.badInput("cannot write: \(error.localizedDescription)")
            }
        }
    }
}

extension Model {
    /// The same model with every external tensor turned into raw_data, so the file stands alone.
    public func inliningExternalData() -> Model {
        var m = self
        m.graph.initializers = m.graph.initializers.map { (n, t) in
            var t = t
            if case .external = t.origin?.encoding { t.origin?.encoding = .raw }
            return (n, t)
        }
        return m
    }
}

/// Owns every C allocation made while building a message tree; freed after packing.
final class Arena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var unpacked: [UnsafeMutablePointer<ProtobufCMessage>] = []

    func new<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        p.initialize(from: values, count: values.count)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }
    func cString(_ s: String?) -> UnsafeMutablePointer<CChar>? {
        guard let s else { return nil }
        return array(Array(s.utf8CString))
    }
    func binary(_ b: [UInt8]) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: b.count, data: array(b))
    }
    /// Unpacks serialized bytes into a message protobuf-c owns; freed with the arena.
    func unpack<T>(
        _ bytes: [UInt8], _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, as: T.Type
    ) throws -> UnsafeMutablePointer<T> {
        guard let m = bytes.withUnsafeBufferPointer({ qv_message_unpack(descriptor, $0.count, $0.baseAddress) }) else {
            throw QVError.internalError("stored \(String(cString: descriptor.pointee.name)) bytes do not decode")
        }
        unpacked.append(m)
        return UnsafeMutableRawPointer(m).assumingMemoryBound(to: T.self)
    }
    func freeAll() {
        blocks.forEach { $0.deallocate() }
        unpacked.forEach { qv_message_free($0) }
        blocks = []
        unpacked = []
    }
}

struct ProtoWriter {
    let arena: Arena

    func model(_ m: Model) throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        var p = qv_init_model_proto()
        if let v = m.irVersion { p.has_ir_version = 1; p.ir_version = v }
        let opsets = m.opsetImports.map { o -> UnsafeMutablePointer<Onnx__OperatorSetIdProto>? in
            var op = qv_init_operator_set_id_proto()
            op.domain = arena.cString(o.domain)
            op.has_version = 1
            op.version = o.version
            return arena.new(op)
        }
        p.n_opset_import = opsets.count
        p.opset_import = arena.array(opsets)
        p.producer_name = arena.cString(m.producerName)
        p.producer_version = arena.cString(m.producerVersion)
        p.domain = arena.cString(m.domain)
        if let v = m.modelVersion { p.has_model_version = 1; p.model_version = v }
        p.doc_string = arena.cString(m.docString)
        p.graph = try graph(m.graph)
        (p.n_metadata_props, p.metadata_props) = keyValues(m.metadata)
        let fns = try m.functions.map {
            Optional(try arena.unpack($0.bytes, qv_descriptor_function_proto(), as: Onnx__FunctionProto.self))
        }
        p.n_functions = fns.count
        p.functions = arena.array(fns)
        return arena.new(p)
    }

    func graph(_ g: Graph) throws -> UnsafeMutablePointer<Onnx__GraphProto> {
        var p = qv_init_graph_proto()
        let nodes = try g.nodes.map { Optional(try node($0)) }
        p.n_node = nodes.count
        p.node = arena.array(nodes)
        p.name = arena.cString(g.name)
        let inits = g.initializers.map { Optional(tensor($0.tensor, name: $0.name)) }
        p.n_initializer = inits.count
        p.initializer = arena.array(inits)
        let sparse = try g.sparseInitializers.map {
            Optional(try arena.unpack($0.bytes, qv_descriptor_sparse_tensor_proto(), as: Onnx__SparseTensorProto.self))
        }
        p.n_sparse_initializer = sparse.count
        p.sparse_initializer = arena.array(sparse)
        p.doc_string = arena.cString(g.docString)
        (p.n_input, p.input) = try valueInfos(g.inputs)
        (p.n_output, p.output) = try valueInfos(g.outputs)
        (p.n_value_info, p.value_info) = try valueInfos(g.valueInfo)
        let ann = try g.quantizationAnnotations.map {
            Optional(try arena.unpack($0.bytes, qv_descriptor_tensor_annotation(), as: Onnx__TensorAnnotation.self))
        }
        p.n_quantization_annotation = ann.count
        p.quantization_annotation = arena.array(ann)
        (p.n_metadata_props, p.metadata_props) = keyValues(g.metadata)
        return arena.new(p)
    }

    func node(_ n: Node) throws -> UnsafeMutablePointer<Onnx__NodeProto> {
        var p = qv_init_node_proto()
        (p.n_input, p.input) = strings(n.inputs)
        (p.n_output, p.output) = strings(n.outputs)
        p.name = n.hasName || !n.name.isEmpty ? arena.cString(n.name) : nil
        p.op_type = arena.cString(n.opType)
        p.domain = n.hasDomain || !n.domain.isEmpty ? arena.cString(n.domain) : nil
        p.overload = arena.cString(n.overload)
        let attrs = try n.attributes.map { Optional(try attribute($0)) }
        p.n_attribute = attrs.count
        p.attribute = arena.array(attrs)
        p.doc_string = arena.cString(n.docString)
        (p.n_metadata_props, p.metadata_props) = keyValues(n.metadata)
        return arena.new(p)
    }

    func attribute(_ a: Attribute) throws -> UnsafeMutablePointer<Onnx__AttributeProto> {
        var p = qv_init_attribute_proto()
        p.name = arena.cString(a.name)
        p.doc_string = arena.cString(a.docString)
        p.has_type = 1
        func setType(_ t: Int32) { p.type = Onnx__AttributeProto__AttributeType(rawValue: UInt32(bitPattern: t)) }
        switch a.value {
        case .float(let f): setType(1); p.has_f = 1; p.f = f
        case .int(let i): setType(2); p.has_i = 1; p.i = i
        case .string(let s): setType(3); p.has_s = 1; p.s = arena.binary(s)
        case .tensor(let t): setType(4); p.t = tensor(t, name: nil)
        case .graph(let g): setType(5); p.g = try graph(g)
        case .floats(let f): setType(6); p.n_floats = f.count; p.floats = arena.array(f)
        case .ints(let i): setType(7); p.n_ints = i.count; p.ints = arena.array(i)
        case .strings(let s): setType(8); p.n_strings = s.count; p.strings = arena.array(s.map(arena.binary))
        case .tensors(let ts):
            setType(9); p.n_tensors = ts.count; p.tensors = arena.array(ts.map { Optional(tensor($0, name: nil)) })
        case .graphs(let gs):
            setType(10); p.n_graphs = gs.count; p.graphs = arena.array(try gs.map { Optional(try graph($0)) })
        case .reference(let t, let r): setType(t); p.ref_attr_name = arena.cString(r)
        case .other(let t, let o):
            setType(t)
            switch t {
            case 11:
                p.sparse_tensor = try arena.unpack(
                    o.bytes, qv_descriptor_sparse_tensor_proto(), as: Onnx__SparseTensorProto.self)
            case 13: p.tp = try arena.unpack(o.bytes, qv_descriptor_type_proto(), as: Onnx__TypeProto.self)
            case 12:
                let items = try splitLengthPrefixed(o.bytes).map {
                    Optional(
                        try arena.unpack($0, qv_descriptor_sparse_tensor_proto(), as: Onnx__SparseTensorProto.self))
                }
                p.n_sparse_tensors = items.count; p.sparse_tensors = arena.array(items)
            case 14:
                let items = try splitLengthPrefixed(o.bytes).map {
                    Optional(try arena.unpack($0, qv_descriptor_type_proto(), as: Onnx__TypeProto.self))
                }
                p.n_type_protos = items.count; p.type_protos = arena.array(items)
            default: throw QVError.internalError("attribute '\(a.name)' has unknown type \(t)")
            }
        }
        return arena.new(p)
    }

    func valueInfos(
        _ vs: [ValueInfo]
    ) throws -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__ValueInfoProto>?>?) {
        let items = try vs.map { v -> UnsafeMutablePointer<Onnx__ValueInfoProto>? in
            var p = qv_init_value_info_proto()
            p.name = arena.cString(v.name)
            p.doc_string = arena.cString(v.docString)
            (p.n_metadata_props, p.metadata_props) = keyValues(v.metadata)
            switch v.type {
            case .none: break
            case .other(let o):
                let tp = try arena.unpack(o.bytes, qv_descriptor_type_proto(), as: Onnx__TypeProto.self)
                tp.pointee.denotation = arena.cString(v.typeDenotation)
                p.type = tp
            case .tensor(let elem, let shape, let denotations):
                var tt = qv_init_type_proto_tensor()
                if let e = elem { tt.has_elem_type = 1; tt.elem_type = e }
                if let shape {
                    var sp = qv_init_tensor_shape_proto()
                    let dims = shape.enumerated().map {
                        (i, d) -> UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension>? in
                        var dp = qv_init_tensor_shape_proto_dimension()
                        switch d {
                        case .value(let x):
                            dp.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                            dp.dim_value = Int64(x)
                        case .param(let s):
                            dp.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                            dp.dim_param = arena.cString(s)
                        case .unknown: break
                        }
                        if i < denotations.count { dp.denotation = arena.cString(denotations[i]) }
                        return arena.new(dp)
                    }
                    sp.n_dim = dims.count
                    sp.dim = arena.array(dims)
                    tt.shape = arena.new(sp)
                }
                var tp = qv_init_type_proto()
                tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
                tp.tensor_type = arena.new(tt)
                tp.denotation = arena.cString(v.typeDenotation)
                p.type = arena.new(tp)
            }
            return arena.new(p)
        }
        return (items.count, arena.array(items))
    }

    func tensor(_ t: Tensor, name: String?) -> UnsafeMutablePointer<Onnx__TensorProto> {
        var p = qv_init_tensor_proto()
        p.n_dims = t.shape.count
        p.dims = arena.array(t.shape.map { Int64($0) })
        p.has_data_type = 1
        p.data_type = t.dtype.rawValue
        p.name = arena.cString(name)
        p.doc_string = arena.cString(t.origin?.docString)
        (p.n_metadata_props, p.metadata_props) = keyValues(t.origin?.metadata ?? [])
        switch t.origin?.encoding ?? .raw {
        case .external(let entries):
            p.has_data_location = 1
            p.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
            (p.n_external_data, p.external_data) = keyValues(entries)
        case .raw where t.dtype != .string:
            p.has_raw_data = 1
            p.raw_data = arena.binary(RawCodec.encode(t))
        case .raw, .typed:
            setTypedData(&p, t)
        }
        return arena.new(p)
    }

    func setTypedData(_ p: inout Onnx__TensorProto, _ t: Tensor) {
        switch (t.dtype, t.storage) {
        case (.float, .f32(let a)): p.n_float_data = a.count; p.float_data = arena.array(a)
        case (.double, .f64(let a)): p.n_double_data = a.count; p.double_data = arena.array(a)
        case (.int64, .i64(let a)): p.n_int64_data = a.count; p.int64_data = arena.array(a)
        case (.uint32, .i64(let a)): p.n_uint64_data = a.count; p.uint64_data = arena.array(a.map { UInt64($0) })
        case (.uint64, .u64(let a)): p.n_uint64_data = a.count; p.uint64_data = arena.array(a)
        case (.string, .strings(let s)): p.n_string_data = s.count; p.string_data = arena.array(s.map(arena.binary))
        case (.complex64, .bytes(let b)):
            let f = b.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            p.n_float_data = f.count; p.float_data = arena.array(f)
        case (.complex128, .bytes(let b)):
            let f = b.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            p.n_double_data = f.count; p.double_data = arena.array(f)
        case (.int4, _), (.uint4, _), (.float4e2m1, _), (.int2, _), (.uint2, _):
            let packed = RawCodec.encode(t).map { Int32($0) }
            p.n_int32_data = packed.count; p.int32_data = arena.array(packed)
        case (_, .i32(let a)): p.n_int32_data = a.count; p.int32_data = arena.array(a)
        default: p.has_raw_data = 1; p.raw_data = arena.binary(RawCodec.encode(t))
        }
    }

    func keyValues(
        _ kvs: [KeyValue]
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?) {
        let items = kvs.map { kv -> UnsafeMutablePointer<Onnx__StringStringEntryProto>? in
            var e = qv_init_string_string_entry_proto()
            e.key = arena.cString(kv.key)
            e.value = arena.cString(kv.value)
            return arena.new(e)
        }
        return (items.count, arena.array(items))
    }

    func strings(_ s: [String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        (s.count, arena.array(s.map { arena.cString($0) }))
    }
}

/// Splits the length-prefixed list written by `ProtoReader.packList`.
func splitLengthPrefixed(_ bytes: [UInt8]) throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    var i = 0
    while i < bytes.count {
        var n = 0, shift = 0
        while true {
            guard i < bytes.count, shift < 63 else { throw QVError.internalError("bad length prefix") }
            let b = bytes[i]; i += 1
            n |= Int(b & 0x7F) << shift
            shift += 7
            if b & 0x80 == 0 { break }
        }
        guard i + n <= bytes.count else { throw QVError.internalError("bad length prefix") }
        out.append(Array(bytes[i..<i + n]))
        i += n
    }
    return out
}
