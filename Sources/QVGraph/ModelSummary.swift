/// What a model is, for `qverify inspect` and for choosing semantics.
public enum ModelKind: String, Codable, Sendable {
    /// Aidge's quantized export: integer Conv/Gemm, int32/float zero points, INT32 scales. Not valid ONNX.
    case aidgeForm = "aidge-form"
    /// QuantizeLinear/DequantizeLinear around float ops.
    case qdq
    /// Quantized operators (QLinearConv, QLinearMatMul, com.microsoft QGemm, …).
    case qop
    /// No quantization at all.
    case float
}

/// A stable, documented description of a model (the JSON of `qverify inspect --json`).
public struct ModelSummary: Codable, Sendable, Equatable {
    public struct IOEntry: Codable, Sendable, Equatable {
        public var name: String
        public var dtype: String
        /// Dimensions as numbers, or strings for symbolic/unknown ones.
        public var shape: [String]?
    }
    public struct InitializerEntry: Codable, Sendable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
    }
    public struct Opset: Codable, Sendable, Equatable {
        public var domain: String
        public var version: Int64
    }
    /// Schema version of this JSON; bumped on any incompatible change.
    public var schema: Int = 1
    public var producer: String
    public var irVersion: Int64?
    public var opsets: [Opset]
    public var inputs: [IOEntry]
    public var outputs: [IOEntry]
    public var nodeCount: Int
    /// Op type (prefixed "domain::" outside the default domain) → count, sorted by op type.
    public var opCounts: [String: Int]
    public var initializers: [InitializerEntry]
    public var kind: ModelKind
    /// For Aidge-form models: "folded" (integer weights, integer input) or "unfolded"
    /// (float weights quantized by QuantizeLinear); nil otherwise.
    public var aidgeExportForm: String?
    /// Why the model is not valid ONNX, one counted line per reason (empty if it is).
    public var invalidFeatures: [String]
    /// The sentence `inspect` prints, e.g. "Aidge-form (not valid ONNX): 2 integer Conv, …".
    public var verdict: String

    public init(_ model: Model) throws {
        let g = model.graph
        producer = [model.producerName, model.producerVersion].compactMap { $0 }.filter { !$0.isEmpty }.joined(
            separator: " ")
        irVersion = model.irVersion
        opsets = model.opsetImports.map { Opset(domain: $0.domain, version: $0.version) }
        func io(_ v: ValueInfo) -> IOEntry {
            let dt: String =
                switch v.type {
                case .tensor(let e?, _, _): DType(onnx: e)?.shortName ?? "type#\(e)"
                case .tensor(nil, _, _): "?"
                case .other: "non-tensor"
                case .none: "?"
                }
            return IOEntry(name: v.name, dtype: dt, shape: v.shape?.map(\.description))
        }
        inputs = g.runtimeInputs.map(io)
        outputs = g.outputs.map(io)
        nodeCount = g.nodes.count
        var counts: [String: Int] = [:]
        for n in g.nodes {
            counts[n.normalizedDomain.isEmpty ? n.opType : "\(n.normalizedDomain)::\(n.opType)", default: 0] += 1
        }
        opCounts = counts
        initializers = g.initializers.map {
            InitializerEntry(name: $0.name, dtype: $0.tensor.dtype.shortName, shape: $0.tensor.shape)
        }

        let inference = try ShapeInference(g)
        var reasons: [String: Int] = [:]
        var order: [String] = []
        func note(_ r: String) {
            if reasons[r] == nil { order.append(r) }
            reasons[r, default: 0] += 1
        }
        for e in inference.exceptions {
            let op = e.rule.contains("Conv") ? "Conv" : e.rule.contains("Gemm") ? "Gemm" : "MatMul"
            note("integer \(op)")
        }
        var hasQDQ = false, hasQOP = false
        for n in g.nodes {
            let isQ = n.opType == "QuantizeLinear", isDQ = n.opType == "DequantizeLinear"
            if isQ || isDQ {
                hasQDQ = true
                let scale = n.inputs.count > 1 ? inference.facts[n.inputs[1]]?.dtype : nil
                let zp = n.inputs.count > 2 && !n.inputs[2].isEmpty ? inference.facts[n.inputs[2]]?.dtype : nil
                if let s = scale, !s.isFloatingPoint { note("\(n.opType) with \(s.name) scale") }
                if let z = zp, z.isFloatingPoint { note("\(n.opType) with float zero point") }
                if isQ, zp == .int32 { note("QuantizeLinear with int32 zero point") }
            }
            if n.opType.hasPrefix("QLinear") || n.opType == "QGemm" || n.opType == "ConvInteger"
                || n.opType == "MatMulInteger"
            {
                hasQOP = true
            }
        }
        invalidFeatures = order.map { "\(reasons[$0]!) \($0)" }
        // Aidge's quantized exports compute on integers or only quantize (no DequantizeLinear);
        // an invalid graph that dequantizes into float compute is a QDQ/QOP model with defects
        // (e.g. Aidge's set_to_qdq on a fake_quantize graph: float zero points).
        let dequantizes = counts["DequantizeLinear"] != nil
        let suffix = invalidFeatures.isEmpty ? "" : " (not valid ONNX: " + invalidFeatures.joined(separator: ", ") + ")"
        if !invalidFeatures.isEmpty && (!inference.exceptions.isEmpty || !dequantizes) {
            kind = .aidgeForm
            let quantizedInput = g.nodes.contains { n in
                n.opType == "QuantizeLinear" && g.runtimeInputs.contains { $0.name == n.inputs.first }
            }
            // Aidge's folded export has no input quantizer (it is fed integers); the unfolded one has InputRescaling.
            aidgeExportForm = quantizedInput ? "unfolded" : "folded"
            verdict = "Aidge-form, \(aidgeExportForm!) (not valid ONNX): " + invalidFeatures.joined(separator: ", ")
        } else if hasQOP {
            kind = .qop
            let q = counts.filter {
                $0.key.contains("QLinear") || $0.key.hasSuffix("QGemm") || $0.key.hasSuffix("Integer")
            }
            verdict =
                "QOP: " + q.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                + (hasQDQ ? " (with QuantizeLinear/DequantizeLinear around the rest)" : "") + suffix
        } else if hasQDQ {
            kind = .qdq
            verdict =
                "QDQ: \(counts["QuantizeLinear"] ?? 0) QuantizeLinear, \(counts["DequantizeLinear"] ?? 0) DequantizeLinear"
                + suffix
        } else {
            kind = .float
            verdict = "float: no quantization"
        }
    }
}
