import QVGraph

/// An Aidge integer Add/Sub/Mul of two quantized tensors and the quantizer on its int32 result.
struct SumMatch: Sendable {
    var op: Int, quantizer: Int
    var a: String, b: String
    var aq: QuantInfo, bq: QuantInfo, sumq: QuantInfo, yq: QuantInfo
    var output: String

    init?(_ ctx: RewriteContext, _ i: Int) {
        let n = ctx.graph.nodes[i]
        guard ["Add", "Sub", "Mul"].contains(n.opType), n.inputs.count == 2,
            let aq = ctx.plan.tensors[n.inputs[0]], let bq = ctx.plan.tensors[n.inputs[1]],
            let sq = ctx.plan.tensors[n.outputs[0]],
            ctx.dtype(n.inputs[0])?.isInteger == true, ctx.dtype(n.inputs[1])?.isInteger == true,
            let q = ctx.soleQuantizer(after: n.outputs[0])
        else { return nil }
        op = i; quantizer = q.index; a = n.inputs[0]; b = n.inputs[1]
        self.aq = aq; self.bq = bq; sumq = sq; self.yq = q.quant; output = q.output
    }
}

enum ElementwiseRules {
    /// Q(Add(a_q, b_q)) -> QuantizeLinear(Add(DQ(a_q), DQ(b_q)), s_y)   (residual connections;
    /// Mul: squeeze-excite gates)
    static let sumToQDQ = RewriteRule(
        name: "sum-to-qdq",
        identity: "Quantizer(Add|Sub|Mul(a_q, b_q)) -> QuantizeLinear(Add|Sub|Mul(DQ(a_q), DQ(b_q)), s_y)",
        match: { ctx, i in SumMatch(ctx, i) }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [m.op, m.quantizer]
        b.patch.retypes = [m.output]
        let af = b.dequantize(m.a, m.aq, base: "\(n.name)_a_dequantize")
        let bf = b.dequantize(m.b, m.bq, base: "\(n.name)_b_dequantize")
        b.floatOp(n, inputs: [af, bf], quantizeInto: m.output, m.yq, quantizerName: ctx.graph.nodes[m.quantizer].name)
        return b.patch
    }

    /// Q(Add|Mul(a_q, b_q)) -> com.microsoft QLinearAdd|QLinearMul(a_q, s_a, z_a, b_q, s_b, z_b, s_y, z_y)
    static let sumToQOp = RewriteRule(
        name: "sum-to-qlinearadd",
        identity: "Quantizer(Add|Mul(a_q, b_q)) -> QLinearAdd|QLinearMul(a_q, s_a, z_a, b_q, s_b, z_b, s_y, z_y)",
        match: { ctx, i -> SumMatch? in
            guard ctx.options.format == .qop, let m = SumMatch(ctx, i),
                ["Add", "Mul"].contains(ctx.graph.nodes[i].opType),
                [.int8, .uint8].contains(m.yq.dtype), m.aq.dtype == m.yq.dtype, m.bq.dtype == m.yq.dtype
            else { return nil }
            return m
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [m.op, m.quantizer]
        b.patch.retypes = [m.output]
        let ins = [
            m.a, b.scale("\(n.name)_a_scale", Float(m.aq.step)), b.zeroPoint("\(n.name)_a_zero_point", m.aq),
            m.b, b.scale("\(n.name)_b_scale", Float(m.bq.step)), b.zeroPoint("\(n.name)_b_zero_point", m.bq),
            b.scale("\(n.name)_y_scale", Float(m.yq.step)), b.zeroPoint("\(n.name)_y_zero_point", m.yq),
        ]
        b.patch.add.append(
            Node(
                name: names.fresh("\(n.name)_quant"), opType: "QLinear" + n.opType, domain: "com.microsoft",
                inputs: ins,
                outputs: [m.output]))
        return b.patch
    }

    /// GlobalAveragePool(x_q) -> com.microsoft QLinearGlobalAveragePool(x_q, s, z, s, z)   (QOP, 8-bit,
    /// odd windows: an even one can hold exact ties, which take the QDQ form in transparentToQDQ)
    static let globalAveragePoolToQOp = RewriteRule(
        name: "global-average-pool-to-qlinear",
        identity: "GlobalAveragePool(x_q) -> QLinearGlobalAveragePool(x_q, s_x, z_x, s_x, z_x)",
        match: { ctx, i -> (xq: QuantInfo, yq: QuantInfo)? in
            let n = ctx.graph.nodes[i]
            guard ctx.options.format == .qop, n.opType == "GlobalAveragePool", let xq = ctx.plan.tensors[n.inputs[0]],
                ctx.dtype(n.inputs[0])?.isInteger == true, let yq = ctx.plan.tensors[n.outputs[0]],
                [.int8, .uint8].contains(ctx.options.written(xq.dtype).dtype),
                ctx.options.written(xq.dtype).clip == nil,
                let count = ctx.averagedCount(n.inputs[0]), count % 2 == 1
            else { return nil }  // odd window: no exact tie
            return (xq, yq)
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i], xq = m.xq, yq = m.yq
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        b.patch.retypes = [n.outputs[0]]
        let ins = [
            n.inputs[0], b.scale("\(n.name)_x_scale", Float(xq.step)), b.zeroPoint("\(n.name)_x_zero_point", xq),
            b.scale("\(n.name)_y_scale", Float(yq.step)), b.zeroPoint("\(n.name)_y_zero_point", yq),
        ]
        b.patch.add.append(
            Node(
                name: names.fresh("\(n.name)_quant"), opType: "QLinearGlobalAveragePool", domain: "com.microsoft",
                inputs: ins,
                outputs: n.outputs, attributes: [Attribute(name: "channels_last", value: .int(0))]))
        return b.patch
    }

    /// Quantizer(x_q) -> QuantizeLinear(DQ(x_q), s_x · scale)   (Aidge requantizers, e.g. residual `_Res`)
    static let requantizeToQDQ = RewriteRule(
        name: "requantize-to-qdq",
        identity: "Quantizer(x_q) -> QuantizeLinear(DequantizeLinear(x_q, s_x), s_y)",
        match: { ctx, i -> (xq: QuantInfo, yq: QuantInfo)? in
            let n = ctx.graph.nodes[i]
            guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == .requantize,
                let xq = ctx.plan.tensors[n.inputs[0]], let yq = ctx.plan.tensors[n.outputs[0]],
                ctx.dtype(n.inputs[0])?.isInteger == true
            else { return nil }
            return (xq, yq)
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i], xq = m.xq, yq = m.yq
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        b.patch.retypes = [n.outputs[0]]
        let xf = b.dequantize(n.inputs[0], xq, base: "\(n.name)_dequantize")
        b.quantize(xf, into: n.outputs[0], yq, name: n.name)
        return b.patch
    }

    /// Concat(a_q, b_q, …) -> QuantizeLinear(Concat(DQ(a_q), DQ(b_q), …), s_y)   (QDQ; QOP keeps the
    /// integer Concat, which ONNX defines on 8-bit tensors). Each input is dequantized with the
    /// output's step, so every integer passes through as Aidge passes it, also where the inputs'
    /// steps differ (the plan notes that).
    static let concatToQDQ = RewriteRule(
        name: "concat-to-qdq",
        identity: "Concat(a_q, b_q, …) -> QuantizeLinear(Concat(DQ(a_q, s_y), DQ(b_q, s_y), …), s_y)",
        match: { ctx, i -> QuantInfo? in
            let n = ctx.graph.nodes[i]
            guard n.opType == "Concat", let yq = ctx.plan.tensors[n.outputs[0]],
                n.inputs.allSatisfy({ ctx.plan.tensors[$0] != nil && ctx.dtype($0)?.isInteger == true })
            else { return nil }
            if ctx.options.format == .qop, [.int8, .uint8].contains(ctx.options.written(yq.dtype).dtype) { return nil }
            return yq
        }
    ) { ctx, i, yq, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        b.patch.retypes = [n.outputs[0]]
        var op = n
        op.inputs = n.inputs.enumerated().map { k, x in b.dequantize(x, yq, base: "\(n.name)_\(k)_dequantize") }
        op.outputs = [names.fresh("\(n.outputs[0])_float")]
        b.patch.add.append(op)
        b.quantize(op.outputs[0], into: n.outputs[0], yq, name: names.fresh("\(n.name)_quantize"))
        return b.patch
    }

    /// op(x_q) -> QuantizeLinear(op(DequantizeLinear(x_q)), same scale and type)   (QDQ format)
    static let transparentToQDQ = RewriteRule(
        name: "transparent-to-qdq",
        identity:
            "Relu|MaxPool|Split|Resize(nearest)|LeakyRelu|…(x_q) -> QuantizeLinear(op(DequantizeLinear(x_q, s)), s)  (QDQ; QOP only off 8-bit)",
        match: { ctx, i -> (xq: QuantInfo, yq: QuantInfo)? in
            let n = ctx.graph.nodes[i]
            let averaging = QuantPlan.averagingOps.contains(n.opType)
            let requantized = QuantPlan.requantizedOps.contains(n.opType)
            guard QuantPlan.isTransparent(n) || averaging || requantized,
                let xq = ctx.plan.tensors[n.inputs[0]], ctx.dtype(n.inputs[0])?.isInteger == true,
                let yq = ctx.plan.tensors[n.outputs[0]]
            else { return nil }
            if requantized { return (xq, yq) }  // ONNX defines LeakyRelu on floats only: QDQ form in both formats
            // QOP keeps these ops on 8-bit integers where ONNX defines them (Relu: int8 only, opset ≥ 14);
            // an average has an exact QLinear form only over an odd window (globalAveragePoolToQOp).
            let written = ctx.options.written(xq.dtype).dtype
            let integerOK =
                averaging
                ? n.opType == "GlobalAveragePool" && [.int8, .uint8].contains(written)
                    && (ctx.averagedCount(n.inputs[0]).map { $0 % 2 == 1 } ?? false)
                : n.opType == "Relu" ? written == .int8 && ctx.options.opset >= 14 : [.int8, .uint8].contains(written)
            if ctx.options.format == .qop, integerOK { return nil }
            return (xq, yq)
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i], xq = m.xq, yq = m.yq
        let averaging = QuantPlan.averagingOps.contains(n.opType)
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        let quantized = QuantPlan.quantizedOutputs(n)
        b.patch.retypes = Set(quantized)
        let xf = b.dequantize(n.inputs[0], xq, base: "\(n.name)_dequantize")
        var op = n
        op.inputs[0] = xf
        var floats: [String: String] = [:]
        for (k, o) in n.outputs.enumerated() where quantized.contains(o) {
            floats[o] = names.fresh("\(o)_float")
            op.outputs[k] = floats[o]!
        }
        b.patch.add.append(op)
        for o in quantized.dropFirst() {
            b.quantize(floats[o]!, into: o, yq, name: names.fresh("\(n.name)_\(o)_quantize"))
        }
        let yf = floats[n.outputs[0]]!
        var rounded = yf
        // An AveragePool's windows hold up to kh·kw values (fewer at the borders without
        // count_include_pad), so any of them can be even: the offset for the largest serves all.
        let window = n.opType == "AveragePool" ? (n.ints("kernel_shape") ?? []).reduce(1, *) : nil
        if averaging, let count = window ?? ctx.averagedCount(n.inputs[0]), window != nil || count % 2 == 0,
            count <= 128
        {
            // Aidge rounds the mean of N integers half away from zero, QuantizeLinear half to even.
            // Means are multiples of 1/N steps, so y + sign(y)·step/(4N) moves only exact ties (to
            // Aidge's side) and no other value across a rounding boundary (nor does it for any count
            // below N); the float mean's error stays far below step/(4N) for N ≤ 128.
            let sign = names.fresh("\(n.outputs[0])_sign"), offset = names.fresh("\(n.outputs[0])_tie_offset")
            rounded = names.fresh("\(n.outputs[0])_half_away")
            let c = b.scale("\(n.name)_tie_step", Float(yq.step / Double(4 * count)))
            b.patch.add.append(Node(name: names.fresh("\(n.name)_sign"), opType: "Sign", inputs: [yf], outputs: [sign]))
            b.patch.add.append(
                Node(name: names.fresh("\(n.name)_tie_offset"), opType: "Mul", inputs: [sign, c], outputs: [offset]))
            b.patch.add.append(
                Node(name: names.fresh("\(n.name)_half_away"), opType: "Add", inputs: [yf, offset], outputs: [rounded]))
        }
        b.quantize(rounded, into: n.outputs[0], yq, name: names.fresh("\(n.name)_quantize"))
        return b.patch
    }
}
