import QVGraph

public enum TargetFormat: String, Sendable, Codable, CaseIterable {
    /// QuantizeLinear/DequantizeLinear around float ops.
    case qdq
    /// QLinearConv, com.microsoft QGemm, QLinearAdd, …; ops without a QOP form stay in QDQ form.
    case qop
}

public enum WeightStorage: String, Sendable, Codable, CaseIterable {
    /// Weights folded to integer initializers (Aidge's own quantizer run once, at conversion).
    case int8
    /// Float weights kept, quantized at run time by a QuantizeLinear (as Aidge's own recipe does).
    case runtime
}

/// The integer type of weights in a QDQ conversion.
public enum WeightType: String, Sendable, Codable, CaseIterable {
    /// int8 weights: what Aidge computes with. onnxruntime on x86 without VNNI multiplies its
    /// uint8 activations (after its int8→uint8 rewrite at ORT_ENABLE_EXTENDED/ALL) by them with
    /// vpmaddubsw, whose int16 pair sums can saturate.
    case int8
    /// The same integers stored as uint8 with zero point + 128: the products are u8×u8, which every
    /// x86 kernel computes exactly, so the model gives the same numbers on every host and level.
    case uint8
}

/// How tensors narrower than 8 bits (Aidge's 4-bit quantizers) are written.
public enum NarrowTypes: String, Sendable, Codable, CaseIterable {
    /// int8/uint8 tensors and an integer-domain Clip to the 4-bit range after each QuantizeLinear.
    /// Any opset; onnxruntime runs it correctly with every optimization level.
    case clip
    /// INT4/UINT4 tensors (opset ≥ 21). Valid ONNX, but onnxruntime 1.32's graph optimizer fuses
    /// int4 DequantizeLinear→Conv→QuantizeLinear into a QLinearConv it cannot run correctly.
    case int4
}

public struct ConvertOptions: Sendable, Codable, Equatable {
    public var format: TargetFormat
    public var opset: Int64 = 21
    public var inputScale: Double? = nil
    public var weights: WeightStorage = .int8
    public var narrow: NarrowTypes = .clip
    public var weightType: WeightType = .int8
    /// Real steps of a folded export that the file does not carry (from the user's steps file).
    public var knownSteps = KnownSteps()

    public init(
        format: TargetFormat, opset: Int64 = 21, inputScale: Double? = nil, weights: WeightStorage = .int8,
        narrow: NarrowTypes = .clip,
        weightType: WeightType = .int8, knownSteps: KnownSteps = KnownSteps()
    ) {
        self.knownSteps = knownSteps
        self.format = format
        self.opset = opset
        self.inputScale = inputScale
        self.weights = weights
        self.narrow = narrow
        self.weightType = weightType
    }

    /// The ONNX type a quantized tensor is written with, and the Clip range it then needs.
    public func written(_ t: DType) -> (dtype: DType, clip: ClosedRange<Int64>?) {
        guard narrow == .clip else { return (t, nil) }
        switch t {
        case .int4, .int2: return (.int8, t.integerRange)
        case .uint4, .uint2: return (.uint8, t.integerRange)
        default: return (t, nil)
        }
    }
}

/// The result of a conversion: the ONNX model and how it was made.
public struct Conversion: Sendable {
    public var model: Model
    public var plan: QuantPlan
    public var firings: [RuleFiring]
}

/// Converts Aidge-form models (folded or unfolded exports) to QDQ or QOP ONNX.
public enum Recipe {
    public static let version = "0.1.0"

    /// Every rule, in the order the driver tries them.
    public static func rules(for format: TargetFormat) -> [RewriteRule] {
        // Constants first: every later rule sees integer weights and biases.
        var r = [
            ConstantRules.fakeQuantizerToInteger,
            ConstantRules.fakeConstantToInteger,
            ConstantRules.floatShapeToInt64,
            ConstantRules.widenNarrowQuantizer,
            ConstantRules.foldWeightQuantizer,
            ConstantRules.foldBiasQuantizer,
            InterfaceRules.quantizeFoldedInput,
            InterfaceRules.rescaleToDequantize,
        ]
        if format == .qop {
            // QOperator forms where onnxruntime has them; the QDQ rules below take the rest.
            r += [
                AffineRules.affineToQOp,
                ElementwiseRules.sumToQOp,
                ElementwiseRules.globalAveragePoolToQOp,
            ]
        }
        r += [
            AffineRules.affineToQDQ,
            ElementwiseRules.sumToQDQ,
            ElementwiseRules.requantizeToQDQ,
            ElementwiseRules.transparentToQDQ,
            ElementwiseRules.concatToQDQ,
            InterfaceRules.dequantizeOutputs,
        ]
        return r
    }

    public static func convert(
        _ source: Model, sourceBytes: [UInt8]? = nil, options: ConvertOptions
    ) throws -> Conversion {
        guard options.opset >= 13 else {
            throw QVError.badInput("--opset \(options.opset): qverify writes opset 13 or later")
        }
        let summary = try ModelSummary(source)
        guard summary.kind == .aidgeForm else {
            throw QVError.badInput(
                "not an Aidge-form model (it is \(summary.kind.rawValue)); convert takes Aidge's quantized exports")
        }
        let plan = try QuantPlan(model: source, inputScale: options.inputScale, known: options.knownSteps)
        if options.narrow == .int4 && plan.tensors.values.contains(where: { [.int4, .uint4].contains($0.dtype) })
            && options.opset < 21
        {
            throw QVError.badInput("4-bit tensors need opset 21 or later (asked for \(options.opset))")
        }
        var g = source.graph
        g.valueInfo = []  // Aidge's value_info carries the integer Conv dtypes; rebuilt by consumers.
        let (rewritten, firings) = try RewriteDriver(rules: rules(for: options.format)).run(
            g, plan: plan, options: options)
        var out = source
        out.graph = try finalize(
            options.weightType == .uint8 ? try unsignedWeights(rewritten, format: options.format) : rewritten)
        out.irVersion = 10
        var opsets = [OpsetImport(domain: "", version: options.opset)]
        if out.graph.nodes.contains(where: { $0.normalizedDomain == "com.microsoft" }) {
            opsets.append(OpsetImport(domain: "com.microsoft", version: 1))
        }
        out.opsetImports = opsets
        out.producerName = "qverify"
        out.producerVersion = Recipe.version
        let counts = Dictionary(grouping: firings, by: \.rule).mapValues(\.count)
        var meta = source.metadata.filter { !$0.key.hasPrefix("qverify.") }
        meta += [
            KeyValue("qverify.version", Recipe.version),
            KeyValue(
                "qverify.source_producer",
                [source.producerName, source.producerVersion].compactMap { $0 }.joined(separator: " ")),
            KeyValue("qverify.source_form", plan.form.rawValue),
            KeyValue(
                "qverify.options",
                "format=\(options.format.rawValue) opset=\(options.opset) weights=\(options.weights.rawValue) narrow=\(options.narrow.rawValue)"
                    + (options.weightType == .uint8 ? " weight_type=uint8" : "")
                    + (options.inputScale.map { " input_scale=\($0)" } ?? "")
                    + (options.knownSteps.isEmpty
                        ? ""
                        : " steps=given(\(options.knownSteps.inputs.count) inputs, \(options.knownSteps.weights.count) weights)")
            ),
            KeyValue("qverify.rules", counts.keys.sorted().map { "\($0)×\(counts[$0]!)" }.joined(separator: ", ")),
        ]
        if let b = sourceBytes { meta.append(KeyValue("qverify.source_sha256", SHA256.hex(b))) }
        if !plan.notes.isEmpty { meta.append(KeyValue("qverify.assumptions", plan.notes.joined(separator: "; "))) }
        out.metadata = meta
        try verifyOnnx(out)
        return Conversion(model: out, plan: plan, firings: firings)
    }

    /// Every int8 weight initializer read by a DequantizeLinear that feeds a Conv/Gemm/MatMul weight
    /// becomes uint8 w + 128 with zero point(s) + 128: the same real values and the same integer
    /// products, computed u8×u8 by onnxruntime. QDQ only: QLinearConv with int8 activations takes
    /// int8 weights (and s8×s8 is already exact on x86).
    static func unsignedWeights(_ g: Graph, format: TargetFormat) throws -> Graph {
        guard format == .qdq else {
            throw QVError.badInput(
                "--weight-type uint8 applies to QDQ conversions (the QOP form's int8 products are exact on x86)")
        }
        var g = g
        let index = try GraphIndex(g)
        for (i, n) in g.nodes.enumerated() where n.opType == "DequantizeLinear" {
            guard let w = g.initializer(n.inputs[0]), w.dtype == .int8, n.inputs.count > 2,
                let z = g.initializer(n.inputs[2]), z.dtype == .int8,
                let readers = index.consumers[n.outputs[0]], !readers.isEmpty,
                readers.allSatisfy({
                    ["Conv", "Gemm", "MatMul"].contains(g.nodes[$0].opType)
                        && g.nodes[$0].inputs.firstIndex(of: n.outputs[0]) == 1
                })
            else { continue }
            let shifted = { (t: Tensor) -> Tensor in
                Tensor(t.asInt64s()!.map { Int32($0 + 128) }, shape: t.shape, dtype: .uint8)
            }
            let wName = "\(n.inputs[0])_uint8", zName = "\(n.inputs[2])_uint8"
            g.setInitializer(wName, shifted(w))
            g.setInitializer(zName, shifted(z))
            g.nodes[i].inputs[0] = wName
            g.nodes[i].inputs[2] = zName
        }
        return g
    }

    /// Drops initializers nothing reads any more and checks nothing Aidge-specific is left.
    static func finalize(_ g: Graph) throws -> Graph {
        var g = g
        let used = Set(g.nodes.flatMap(\.inputs))
        let outputs = Set(g.outputs.map(\.name))
        g.initializers = g.initializers.filter { used.contains($0.name) || outputs.contains($0.name) }
        g.inputs = g.inputs.filter { g.initializer($0.name) == nil || used.contains($0.name) }
        return g
    }

    /// The conversion must be plain ONNX: no integer Conv/Gemm/Add left, float scales, integer zero points.
    static func verifyOnnx(_ m: Model) throws {
        let inf = try ShapeInference(m.graph)
        if let e = inf.exceptions.first {
            throw QVError.unsupported(
                "node '\(e.node)' is still Aidge-form after conversion (\(e.rule)); no rule could place it")
        }
        for n in m.graph.nodes {
            switch n.opType {
            case "QuantizeLinear", "DequantizeLinear":
                let s = inf.facts[n.inputs[1]]?.dtype
                guard s == .float else {
                    throw QVError.unsupported("\(n.label()) keeps a \(s?.shortName ?? "?") scale")
                }
                if n.inputs.count > 2, let z = inf.facts[n.inputs[2]]?.dtype {
                    let allowed: Set<DType> =
                        n.opType == "QuantizeLinear"
                        ? [.int8, .uint8, .int16, .uint16, .int4, .uint4]
                        : [.int8, .uint8, .int16, .uint16, .int4, .uint4, .int32]
                    guard allowed.contains(z) else {
                        throw QVError.unsupported("\(n.label()) has a \(z) zero point, which ONNX does not allow there")
                    }
                }
            case "Add", "Sub", "Conv", "Gemm", "MatMul":
                if let d = inf.facts[n.outputs[0]]?.dtype, d.isInteger, ["Conv", "Gemm", "MatMul"].contains(n.opType) {
                    throw QVError.unsupported("\(n.label()) still computes on integers")
                }
            default: break
            }
        }
    }
}
