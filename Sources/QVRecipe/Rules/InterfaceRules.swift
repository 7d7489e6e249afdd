import QVGraph

enum InterfaceRules {
    /// x (real) → QuantizeLinear(x, input_step) → consumers  (folded export: Aidge fed integers)
    static let quantizeFoldedInput = RewriteRule(
        name: "quantize-folded-input",
        identity: "consumers(x_int) -> consumers(QuantizeLinear(x_real, s_in))",
        changesInterface: true,
        match: { ctx, i -> (input: String, q: QuantInfo, quantized: String)? in
            let n = ctx.graph.nodes[i]
            // The QuantizeLinear this rule adds is the only node left reading the real input.
            guard n.opType != "QuantizeLinear",
                let input = n.inputs.first(where: { name in ctx.plan.quantizedInputs[name] != nil }),
                let q = ctx.plan.quantizedInputs[input], let quantized = ctx.plan.quantizedInputNames[input]
            else { return nil }
            return (input, q, quantized)
        }
    ) { ctx, _, m, names in
        let (input, q, quantized) = m
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.renameTensors = [input: quantized]
        b.quantize(input, into: quantized, q, name: names.fresh("\(input)_quantize"))
        return b.patch
    }

    /// Quantizer_rescale(x_q, 1/sf, zp: float) -> DequantizeLinear(x_q, sf) (+ zp)   (Aidge's float
    /// islands: the `<op>_PrevScaling` quantizer before an op it leaves in float multiplies the
    /// integers by sf in float32 and adds zp, unrounded; DequantizeLinear computes the same
    /// product). The float op and the quantizer after it stay as they are: both are ONNX.
    static let rescaleToDequantize = RewriteRule(
        name: "rescale-to-dequantize",
        identity: "Quantizer_rescale(x_q, 1/sf, zp: float) -> DequantizeLinear(x_q, sf, 0) + zp",
        match: { ctx, i -> (xq: QuantInfo, sf: Float, zp: Float)? in
            let n = ctx.graph.nodes[i]
            guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == .rescale,
                let xq = ctx.plan.tensors[n.inputs[0]], ctx.dtype(n.inputs[0])?.isInteger == true,
                let s = n.quantizerScale.flatMap({ ctx.graph.initializer($0) })?.asDoubles()?.first,
                let z = n.quantizerZeroPoint.flatMap({ ctx.graph.initializer($0) })?.asDoubles()?.first
            else { return nil }
            // Aidge's sf as the interpreter recovers it from the exported 1/sf (see KernelContext).
            return (xq, Float(1 / s), Float(z))
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        var raw = m.xq
        raw.zeroPoint = 0  // Aidge multiplies the stored integers as they are
        let product = m.zp == 0 ? n.outputs[0] : names.fresh("\(n.outputs[0])_product")
        let s = b.scale("\(n.name)_sf", m.sf)
        let z = b.zeroPoint("\(n.name)_zero_point", raw)
        b.node("DequantizeLinear", n.name, [n.inputs[0], s, z], [product])
        if m.zp != 0 {
            let zc = b.scale("\(n.name)_offset", m.zp)
            b.node("Add", "\(n.name)_offset", [product, zc], [n.outputs[0]])
        }
        return b.patch
    }

    /// integer graph output y → DequantizeLinear(y) named y, so the model returns real values
    static let dequantizeOutputs = RewriteRule(
        name: "dequantize-graph-output",
        identity: "output y_int -> output DequantizeLinear(y_int, s_y)",
        changesInterface: true,
        match: { ctx, i -> (out: String, q: QuantInfo)? in
            let n = ctx.graph.nodes[i]
            guard n.opType != "DequantizeLinear",
                let out = n.outputs.first(where: { o in ctx.graph.outputs.contains { $0.name == o } }),
                let q = ctx.plan.tensors[out], let dt = ctx.dtype(out), dt.isInteger
            else { return nil }
            return (out, q)
        }
    ) { ctx, _, m, names in
        let (out, q) = m
        var b = PatchBuilder(names: names, options: ctx.options)
        let renamed = names.fresh("\(out)_quantized")
        b.patch.renameTensors = [out: renamed]
        let s = b.scale("\(out)_scale", Float(q.step))
        let z = b.zeroPoint("\(out)_zero_point", q)
        b.node("DequantizeLinear", "\(out)_dequantize", [renamed, s, z], [out])
        let decl = ctx.graph.outputs.first { $0.name == out }!
        b.patch.graphOutputs[out] = ValueInfo(name: out, dtype: .float, shape: decl.shape)
        return b.patch
    }
}
