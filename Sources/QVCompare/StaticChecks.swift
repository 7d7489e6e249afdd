import QVGraph
import QVQuant
import QVInterpreter

/// Checks that need no inputs: what an ONNX toolchain or onnxruntime will do with the file, and
/// what Aidge's exporter or recipe is known to get wrong. Each finding names its node.
public enum StaticChecks {
    public static func run(_ model: Model, label: String, reference: GraphView? = nil) throws -> [Finding] {
        let g = model.graph
        let index = try GraphIndex(g)
        let summary = try ModelSummary(model)
        var f: [Finding] = []
        func add(_ s: Severity, _ code: String, _ node: String, _ msg: String) {
            f.append(Finding(s, code, node: node, model: label, msg))
        }
        func producer(_ t: String) -> Node? { index.producer[t].map { g.nodes[$0] } }
        let inference = try ShapeInference(g)
        let selfView = reference == nil ? nil : try GraphView(model)

        if summary.kind == .aidgeForm {
            add(
                .warning, "not-valid-onnx", "",
                "Aidge-form export, not valid ONNX: \(summary.invalidFeatures.joined(separator: ", ")); onnx.checker and onnxruntime refuse it"
            )
        }
        for e in inference.exceptions { add(.info, "integer-accumulation", e.node, e.rule) }
        if summary.kind != .aidgeForm { f += dtypeFindings(g, index, inference, label: label) }

        // Quantizer parameters ONNX does not allow.
        for n in g.nodes where n.opType == "QuantizeLinear" || n.opType == "DequantizeLinear" {
            let scale = n.quantizerScale.flatMap { g.initializer($0) }
            let zp = n.quantizerZeroPoint.flatMap { g.initializer($0) }
            if let z = zp, z.dtype.isFloatingPoint {
                add(
                    .error, "float-zero-point", n.name,
                    "\(n.opType) has a \(z.dtype) zero point (Aidge fake_quantize export); ONNX requires an integer zero point, so the integer type and range are lost"
                )
            }
            if n.opType == "QuantizeLinear", let z = zp, z.dtype == .int32 {
                add(
                    .error, "int32-zero-point", n.name,
                    "QuantizeLinear outputs int32 (an Aidge bias quantizer); ONNX QuantizeLinear has no int32 output: fold the bias to an int32 initializer"
                )
            }
            if let s = scale, !s.dtype.isFloatingPoint {
                add(
                    .error, "integer-scale", n.name,
                    "\(n.opType) has an \(s.dtype.name) scale (Aidge bit-shift quantizer, scale \(s.asInt64s()?.first ?? 0)); ONNX requires a float scale"
                )
            }
            if summary.kind == .aidgeForm, n.opType == "QuantizeLinear", let z = zp, let r = z.dtype.integerRange,
                r.lowerBound == 0,
                let src = n.inputs.first, g.initializer(src) == nil, inference.facts[src]?.dtype?.isInteger == true
            {
                add(
                    .error, "unsigned-wraps-negatives", n.name,
                    "quantizer tagged \(z.dtype) but Aidge clips to the signed range and casts with wrap-around: negative values become large positive ones (-3 → \(Int(r.upperBound) + 1 - 3)); ONNX saturates them to 0"
                )
            }
        }
        // Q → DQ pairs must agree.
        for n in g.nodes where n.opType == "DequantizeLinear" {
            guard let p = producer(n.inputs[0]), p.opType == "QuantizeLinear" else { continue }
            let sq = p.quantizerScale.flatMap { g.initializer($0)?.asDoubles() },
                sd = n.quantizerScale.flatMap { g.initializer($0)?.asDoubles() }
            let zq = p.quantizerZeroPoint.map { g.initializer($0)?.asInt64s() } ?? [0],
                zd = n.quantizerZeroPoint.map { g.initializer($0)?.asInt64s() } ?? [0]
            if let sq, let sd, sq != sd {
                // Differences of float32 rounding (Aidge's 1/sf) change a real value by ~1e-7 of it,
                // far below half a step: info; anything larger rescales real values: error.
                let rel = zip(sq, sd).map { abs($0 - $1) / max(abs($0), 1e-30) }.max() ?? 0
                if rel < 1e-6 {
                    add(
                        .info, "qdq-scale-mismatch", n.name,
                        "DequantizeLinear scale \(sd.first ?? 0) differs from its QuantizeLinear '\(p.name)' scale \(sq.first ?? 0) by float32 rounding only (relative \(String(format: "%.1e", rel))): real values move by far less than a step"
                    )
                } else {
                    add(
                        .error, "qdq-scale-mismatch", n.name,
                        "DequantizeLinear scale \(sd.first ?? 0) differs from its QuantizeLinear '\(p.name)' scale \(sq.first ?? 0): real values change by ×\((sd.first ?? 0) / (sq.first ?? 1))"
                    )
                }
            }
            if let zq, let zd, zq != zd {
                add(
                    .error, "qdq-zero-point-mismatch", n.name,
                    "DequantizeLinear zero point \(zd.first ?? 0) differs from its QuantizeLinear '\(p.name)' zero point \(zq.first ?? 0)"
                )
            }
        }
        // Biases: int32 with scale x_scale · w_scale, and not all zero.
        for n in g.nodes {
            switch n.opType {
            case "Conv", "Gemm":
                guard let b = n.biasInput.flatMap(producer), b.opType == "DequantizeLinear" else { continue }
                if let bq = g.initializer(b.inputs[0]), bq.dtype == .int32,
                    bq.asInt64s()?.allSatisfy({ $0 == 0 }) == true
                {
                    try biasZero(n.name, reference: reference, candidate: selfView, add: add)
                }
                // The bias step must be x_scale · w_scale; find both scales through the float inputs.
                func scaleOf(_ t: String) -> [Float]? { OnnxQuantParameters.dequantizedScale(of: t, g, index) }
                guard let sx = scaleOf(n.inputs[0]), let sw = scaleOf(n.inputs[1]),
                    let sb = b.quantizerScale.flatMap({ g.initializer($0)?.floats })
                else { continue }
                // What onnxruntime's optimizer (ORT_ENABLE_*) does with such a group: it fuses a Gemm
                // and keeps only the int32 values; a Conv only within its tolerance.
                let convFuses =
                    n.opType == "Conv"
                    && {
                        guard let xq = producer(n.inputs[0]), let wq = producer(n.inputs[1]),
                            xq.opType == "DequantizeLinear", wq.opType == "DequantizeLinear"
                        else { return false }
                        return OrtGraphOptimizer.convBiasFits(g, x: xq, w: wq, bias: b)
                    }()
                let fused =
                    n.opType == "Gemm" || convFuses
                    ? "onnxruntime's optimizer (ORT_ENABLE_*) fuses this \(n.opType) and drops the bias scale and zero point, so the numbers it deploys differ from the model's"
                    : "onnxruntime's optimizer (ORT_ENABLE_*) keeps this Conv in float, as the model says"
                for c in 0..<sb.count {
                    let expected = sx[0] * sw[sw.count == 1 ? 0 : min(c, sw.count - 1)]
                    if abs(sb[c] - expected) > 1e-6 * abs(expected) {
                        add(
                            .error, "bias-scale-mismatch", n.name,
                            "bias scale \(sb[c]) ≠ x_scale·w_scale = \(expected) (channel \(c)): the bias is off by ×\(sb[c] / expected); \(fused)"
                        )
                        break
                    }
                }
                if b.inputs.count > 2, let z = g.initializer(b.inputs[2])?.asInt64s(), z.contains(where: { $0 != 0 }) {
                    add(
                        .error, "bias-zero-point-nonzero", n.name,
                        "the bias DequantizeLinear has zero point \(z.first { $0 != 0 }!) (QLinearConv/QGemm assume 0): "
                            + fused)
                }
            case "QLinearConv", "QGemm":
                if let bq = n.biasInput.flatMap({ g.initializer($0) }) {
                    if bq.dtype != .int32 {
                        add(
                            .error, "bias-not-int32", n.name,
                            "\(n.opType) bias is \(bq.dtype); it must be int32 with scale x_scale·w_scale")
                    }
                    if bq.asInt64s()?.allSatisfy({ $0 == 0 }) == true {
                        try biasZero(n.name, reference: reference, candidate: selfView, add: add)
                    }
                }
                if n.opType == "QLinearConv", let z = n.input("w_zero_point").flatMap({ g.initializer($0) }),
                    z.count > 1
                {
                    add(
                        .error, "per-channel-zero-point", n.name,
                        "QLinearConv with \(z.count) per-channel weight zero points: onnxruntime requires a scalar w_zero_point"
                    )
                }
                let xz = n.input(n.opType == "QLinearConv" ? "x_zero_point" : "a_zero_point").flatMap {
                    g.initializer($0)?.dtype
                }
                let yz = n.input("y_zero_point").flatMap { g.initializer($0)?.dtype }
                if let xz, let yz, xz != yz {
                    add(
                        .error, "mixed-int8-uint8", n.name,
                        "\(n.opType) reads \(xz) and writes \(yz): onnxruntime implements only matching input/output types"
                    )
                }
            default: break
            }
        }
        // Mixed signedness feeding one float op through DequantizeLinear.
        for n in g.nodes where ["Add", "Sub", "Mul", "Concat"].contains(n.opType) {
            let types = Set(
                n.inputs.compactMap { producer($0) }.filter { $0.opType == "DequantizeLinear" }.compactMap {
                    inference.facts[$0.inputs[0]]?.dtype
                })
            if types.contains(.int8) && types.contains(.uint8) {
                add(.warning, "mixed-int8-uint8", n.name, "\(n.opType) combines int8 and uint8 quantized inputs")
            }
        }
        // What onnxruntime 1.32 runs.
        if let v = model.opset(), v > 25 {
            add(
                .error, "opset-unsupported", "",
                "default-domain opset \(v): onnxruntime 1.32 cannot run it (QuantizeLinear(\(v)) is not implemented); export with opset ≤ 25"
            )
        }
        if g.nodes.contains(where: { $0.normalizedDomain == "com.microsoft" }) && model.opset("com.microsoft") == nil {
            add(.error, "missing-opset-import", "", "com.microsoft ops used without importing the com.microsoft domain")
        }
        for n in g.nodes where n.opType == "DequantizeLinear" {
            if [.int4, .uint4].contains(inference.facts[n.inputs[0]]?.dtype),
                let c = index.consumers[n.outputs[0]]?.first, ["Conv", "Gemm", "MatMul"].contains(g.nodes[c].opType)
            {
                add(
                    .warning, "int4-qdq-fusion", g.nodes[c].name,
                    "int4 DequantizeLinear → \(g.nodes[c].opType): onnxruntime 1.32's optimizer fuses this into a QLinear op that mis-handles int4 (wrong results or an invalid graph with optimizations on); qverify convert --narrow clip avoids it"
                )
                break
            }
        }
        return f
    }

    /// Aidge-form exports Aidge 0.10.1's CPU backend cannot run: it has no int8 kernel for
    /// LeakyReLU, Softmax or BatchNorm, and an unfolded export with a Concat fails its dtype check.
    /// No Aidge run then confirms the reference's numbers; qverify computes them from Aidge's
    /// kernel sources (and Reference/aidge_ops where Aidge runs another integer type).
    public static func aidgeUnconfirmed(_ model: Model, label: String) throws -> [Finding] {
        let summary = try ModelSummary(model)
        guard summary.kind == .aidgeForm else { return [] }
        let g = model.graph
        let inference = try ShapeInference(g)
        var why: [(node: String, text: String)] = []
        for n in g.nodes {
            let integer = n.inputs.first.flatMap { inference.facts[$0]?.dtype }?.isInteger == true
            switch n.opType {
            case "LeakyRelu", "Softmax", "BatchNormalization":
                if integer { why.append((n.name, "\(n.opType) on integers at '\(n.name)'")) }
            case "Concat" where summary.aidgeExportForm == "unfolded":
                why.append((n.name, "Concat at '\(n.name)' of the unfolded export"))
            default: break
            }
        }
        guard let first = why.first else { return [] }
        let more = why.count > 3 ? " and \(why.count - 3) more" : ""
        return [
            Finding(
                .warning, "aidge-unconfirmed", node: first.node, model: label,
                "Aidge 0.10.1's CPU backend cannot run this export (\(why.prefix(3).map(\.text).joined(separator: ", "))\(more)): no Aidge run confirms the reference's numbers; qverify computes them as Aidge's kernel sources define them"
            )
        ]
    }

    /// Input types each operator's schema allows (the inputs qverify's models use), by input slot.
    static let schemaTypes: [String: [Int: Set<DType>]] = {
        let floats: Set<DType> = [.float, .float16, .bfloat16, .double]
        let quantized: Set<DType> = [.int8, .uint8, .int16, .uint16, .int32, .int4, .uint4]
        let eight: Set<DType> = [.int8, .uint8]
        return [
            "DequantizeLinear": [0: quantized],
            "QuantizeLinear": [0: floats.union([.int32])],
            "QLinearConv": [0: eight, 3: eight],
            "QLinearMatMul": [0: eight, 3: eight],
            "Conv": [0: floats, 1: floats],
            "Gemm": [
                0: floats.union([.int32, .int64, .uint32, .uint64]),
                1: floats.union([.int32, .int64, .uint32, .uint64]),
            ],
            "MatMul": [
                0: floats.union([.int32, .int64, .uint32, .uint64]),
                1: floats.union([.int32, .int64, .uint32, .uint64]),
            ],
            "Relu": [0: floats.union([.int8, .int16, .int32, .int64])],
            "Sigmoid": [0: floats], "Softmax": [0: floats],
            "GlobalAveragePool": [0: floats], "AveragePool": [0: floats],
            "MaxPool": [0: floats.union([.int8, .uint8])],
        ]
    }()

    /// dtype-not-allowed: a tensor whose type the consuming operator's schema does not allow (the
    /// cast bug: a Cast to float in front of a DequantizeLinear). Reported on the node that produces
    /// the tensor, with the chain of Casts that led there.
    static func dtypeFindings(_ g: Graph, _ index: GraphIndex, _ inference: ShapeInference, label: String) -> [Finding]
    {
        var out: [Finding] = []
        for n in g.nodes where n.normalizedDomain.isEmpty {
            guard let slots = schemaTypes[n.opType] else { continue }
            for (slot, allowed) in slots.sorted(by: { $0.key < $1.key })
            where slot < n.inputs.count && !n.inputs[slot].isEmpty {
                let t = n.inputs[slot]
                guard let dt = g.initializer(t)?.dtype ?? inference.facts[t]?.dtype, !allowed.contains(dt) else {
                    continue
                }
                // The chain that produced it: Casts back to the first node that is not one.
                var chain: [String] = [], cur = t, producer = "graph input '\(t)'"
                while let p = index.producer[cur].map({ g.nodes[$0] }) {
                    let pt = p.inputs.first.flatMap { g.initializer($0)?.dtype ?? inference.facts[$0]?.dtype }
                    if p.opType == "Cast" {
                        chain.append("Cast '\(p.name)' (\(pt?.shortName ?? "?") → \(dt.shortName))")
                        cur = p.inputs[0]
                        continue
                    }
                    producer = "\(p.opType) '\(p.name)' (\(inference.facts[cur]?.dtype?.shortName ?? "?"))"
                    break
                }
                let node = index.producer[t].map { g.nodes[$0].name } ?? t
                out.append(
                    Finding(
                        .error, "dtype-not-allowed", node: node, model: label,
                        "\(n.opType) '\(n.name)' reads '\(t)' as \(dt.shortName) at input \(slot), which its schema does not allow (\(allowed.map(\.shortName).sorted().joined(separator: ", "))); it comes from "
                            + (chain.isEmpty ? producer : chain.joined(separator: " ← ") + " ← " + producer)
                            + ". onnxruntime refuses to load the model; qverify compare runs it with the obvious meaning (--lenient) to show the effect"
                    ))
            }
        }
        return out
    }

    /// An all-zero int32 bias: an error if the reference model's bias for the same layer (aligned
    /// by structure) is not zero — Aidge's zero-bias bug — and a warning without a reference.
    static func biasZero(
        _ node: String, reference: GraphView?, candidate: GraphView?, add: (Severity, String, String, String) -> Void
    ) throws {
        guard let reference, let candidate,
            let sig = candidate.computeOps.first(where: { $0.value.node == node })?.key,
            let refOp = reference.computeOps[sig], let refBias = refOp.bias
        else {
            add(
                .warning, "bias-all-zero", node,
                "every int32 bias value is 0; Aidge's recipe writes all-zero biases by mistake (compare with the source model to confirm)"
            )
            return
        }
        let g = reference.model.graph
        var values = g.initializer(refBias)?.asDoubles()
        if values == nil, let p = g.nodes.first(where: { $0.outputs.contains(refBias) }),
            let src = g.initializer(p.inputs[0])
        {
            // Unfolded export: the float bias behind its quantizer, as the integers that quantizer
            // gives (a bias smaller than half its step rounds to 0: zero is then right).
            if let v = src.asDoubles(), p.opType == "QuantizeLinear",
                let scale = p.quantizerScale.flatMap({ g.initializer($0)?.asDoubles()?.first }), scale > 0
            {
                values = v.map { ($0 / scale + 0.5).rounded(.down) }  // Aidge's quantizer rounds half up
            } else {
                values = src.asDoubles()
            }
        }
        if let v = values, v.contains(where: { $0 != 0 }) {
            add(
                .error, "bias-zeroed", node,
                "every int32 bias value is 0 while the reference's bias for this layer ('\(refOp.node)', \(sig)) is not: Aidge's zero-bias bug"
            )
        } else {
            add(.info, "bias-all-zero", node, "every int32 bias value is 0, as in the reference")
        }
    }
}
