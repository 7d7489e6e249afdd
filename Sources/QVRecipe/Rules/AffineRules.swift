import QVGraph

/// An Aidge integer Conv/Gemm/MatMul and the quantizer that rescales its int32 accumulator.
struct AffineMatch: Sendable {
    var op: Int
    var quantizer: Int
    var x: String, w: String, b: String?
    var xq: QuantInfo, wq: QuantInfo, yq: QuantInfo
    var output: String

    init?(_ ctx: RewriteContext, _ i: Int) {
        let n = ctx.graph.nodes[i]
        guard ["Conv", "Gemm", "MatMul"].contains(n.opType), n.normalizedDomain.isEmpty,
            let xq = ctx.plan.tensors[n.inputs[0]], let wq = ctx.plan.tensors[n.inputs[1]],
            ctx.dtype(n.inputs[0])?.isInteger == true,
            let q = ctx.soleQuantizer(after: n.outputs[0])
        else { return nil }
        op = i; quantizer = q.index
        x = n.inputs[0]; w = n.inputs[1]
        b = n.inputs.count > 2 && !n.inputs[2].isEmpty ? n.inputs[2] : nil
        self.xq = xq; self.wq = wq; self.yq = q.quant
        output = q.output
    }

    var xScale: Float { Float(xq.step) }
    var wScale: Float { Float(wq.step) }
    /// ONNX defines the int32 bias step as x_scale · w_scale (float32 product).
    var biasScale: Float { xScale * wScale }

    /// The bias as int32 with step x_scale · w_scale: Aidge's integers, requantized
    /// (round half to even) only if its own step differs: round(b · b_step / (x_scale · w_scale)).
    func bias(_ ctx: RewriteContext) throws -> Tensor? {
        guard let b else { return nil }
        guard let t = ctx.graph.initializer(b), let v = t.asInt64s(), let bq = ctx.plan.tensors[b] else {
            throw QVError.unsupported("bias '\(b)' is not a constant integer tensor after folding")
        }
        let same = Float(bq.step) == biasScale
        let values =
            same
            ? v.map(Double.init)
            : v.map { (Double($0 - bq.zeroPoint) * bq.step / Double(biasScale)).rounded(.toNearestOrEven) }
        // NaN (a zero or infinite step) fails this test too.
        if let bad = values.first(where: { !($0 >= Double(Int32.min) && $0 <= Double(Int32.max)) }) {
            throw QVError.unsupported("bias value \(bad) does not fit int32 at step x_scale·w_scale = \(biasScale)")
        }
        return Tensor(dtype: .int32, shape: t.shape, storage: .i32(values.map { Int32($0) }))
    }
}

enum AffineRules {
    /// Q(Conv(x_q, w_q, b_q)) -> Q(Conv(DQ(x_q), DQ(w_q), DQ(b_q32)), s_y)
    static let affineToQDQ = RewriteRule(
        name: "affine-to-qdq",
        identity: "Quantizer(Conv|Gemm|MatMul(x_q, w_q, b_q)) -> QuantizeLinear(Op(DQ(x_q), DQ(w_q), DQ(b_q32)), s_y)",
        match: { ctx, i in AffineMatch(ctx, i) }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [m.op, m.quantizer]
        b.patch.retypes = [m.output]  // an int4 quantizer's output written as int8 (--narrow clip)
        let xf = b.dequantize(m.x, m.xq, base: "\(n.name)_input_dequantize")
        let wf = b.dequantize(m.w, m.wq, base: "\(n.name)_weight_dequantize")
        var inputs = [xf, wf]
        if let bias = try m.bias(ctx) {
            let bname = b.constant("\(n.name)_bias_quantized", bias)
            let bf = b.dequantize(
                bname, QuantInfo(dtype: .int32, step: Double(m.biasScale)), base: "\(n.name)_bias_dequantize",
                scale: m.biasScale)
            inputs.append(bf)
        }
        b.floatOp(n, inputs: inputs, quantizeInto: m.output, m.yq, quantizerName: ctx.graph.nodes[m.quantizer].name)
        return b.patch
    }

    /// An affine match onnxruntime has a QLinear kernel for.
    struct QOpMatch: Sendable {
        var affine: AffineMatch
        var yt: DType
        var yclip: ClosedRange<Int64>?
    }

    /// Q(Conv(x_q, w_q, b_q)) -> QLinearConv(x_q, s_x, z_x, w_q, s_w, z_w, s_y, z_y, b_q32)
    /// Q(Gemm(x_q, w_q, b_q)) -> com.microsoft QGemm(...)   Q(MatMul(a, b)) -> QLinearMatMul(...)
    static let affineToQOp = RewriteRule(
        name: "affine-to-qop",
        identity: "Quantizer(Conv|Gemm|MatMul(x_q, w_q, b_q)) -> QLinearConv|QGemm|QLinearMatMul",
        match: { ctx, i -> QOpMatch? in
            guard ctx.options.format == .qop, let m = AffineMatch(ctx, i) else { return nil }
            let eight: Set<DType> = [.int8, .uint8]
            // onnxruntime's kernels: x and y of one 8-bit type, weights int8 (or uint8 with uint8 x).
            // Narrower types written as 8-bit (--narrow clip) qualify; the result is clipped after.
            let xt = ctx.options.written(m.xq.dtype).dtype, wt = ctx.options.written(m.wq.dtype).dtype
            let (yt, yclip) = ctx.options.written(m.yq.dtype)
            guard eight.contains(xt), xt == yt, eight.contains(wt), !(xt == .int8 && wt == .uint8) else { return nil }
            let n = ctx.graph.nodes[i]
            if n.opType == "Gemm" && (n.float("beta", default: 1) != 1 || n.int("transA", default: 0) != 0) {
                return nil
            }
            if n.opType == "MatMul" && m.b != nil { return nil }  // QLinearMatMul has no bias
            return QOpMatch(affine: m, yt: yt, yclip: yclip)
        }
    ) { ctx, i, q, names in
        let m = q.affine, n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [m.op, m.quantizer]
        b.patch.retypes = [m.output]
        let xs = b.scale("\(n.name)_x_scale", m.xScale), xz = b.zeroPoint("\(n.name)_x_zero_point", m.xq)
        let ws = b.scale("\(n.name)_w_scale", m.wScale), wz = b.zeroPoint("\(n.name)_w_zero_point", m.wq)
        let ys = b.scale("\(n.name)_y_scale", Float(m.yq.step)), yz = b.zeroPoint("\(n.name)_y_zero_point", m.yq)
        let bias = try m.bias(ctx).map { b.constant("\(n.name)_bias_quantized", $0) }
        let qname = names.fresh("\(n.name)_quant")
        let output = q.yclip == nil ? m.output : names.fresh("\(m.output)_unclipped")
        switch n.opType {
        case "Conv":
            let attrs = n.attributes
            b.patch.add.append(
                Node(
                    name: qname, opType: "QLinearConv",
                    inputs: [m.x, xs, xz, m.w, ws, wz, ys, yz] + (bias.map { [$0] } ?? []),
                    outputs: [output], attributes: attrs))
        case "Gemm":
            let attrs = n.attributes.filter { ["transB", "alpha"].contains($0.name) }
            b.patch.add.append(
                Node(
                    name: qname, opType: "QGemm", domain: "com.microsoft",
                    inputs: [m.x, xs, xz, m.w, ws, wz, bias ?? "", ys, yz], outputs: [output], attributes: attrs))
        default:
            b.patch.add.append(
                Node(
                    name: qname, opType: "QLinearMatMul", inputs: [m.x, xs, xz, m.w, ws, wz, ys, yz], outputs: [output])
            )
        }
        if let yclip = q.yclip { b.clipInteger(output, into: m.output, q.yt, yclip, name: "\(n.name)_clip") }
        return b.patch
    }
}
