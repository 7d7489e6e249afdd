import QVGraph

enum ConstantRules {
    /// Quantizer(x, zp: float 0) -> QuantizeLinear(x, zp: int8|int32)   (fake_quantize exports)
    static let fakeQuantizerToInteger = RewriteRule(
        name: "fake-quantizer-to-integer",
        identity: "Quantizer(x, zp: float) -> QuantizeLinear(x, zp: int8 | int32 for biases)",
        widens: true
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        guard n.opType == "QuantizeLinear", ctx.plan.fakeQuantizers.contains(n.name), n.inputs.count > 2,
              ctx.graph.initializer(n.inputs[2])?.dtype.isFloatingPoint == true, let q = ctx.plan.tensors[n.outputs[0]] else { return nil }
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        let z = b.constant("\(n.name)_zero_point_integer", Tensor(dtype: q.dtype, shape: [], storage: .i32([Int32(q.zeroPoint)])))
        b.patch.add.append(Node(name: n.name, opType: "QuantizeLinear", inputs: [n.inputs[0], n.inputs[1], z], outputs: n.outputs, attributes: n.attributes))
        return b.patch
    }

    /// W: float const holding integers -> W: int8 (bias: int32)   (folded fake_quantize exports)
    static let fakeConstantToInteger = RewriteRule(
        name: "fake-constant-to-integer",
        identity: "Conv|Gemm(x, W: float ints, b: float ints) -> Conv|Gemm(x, W: int8, b: int32)",
        widens: true
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        let targets = n.inputs.filter { name in ctx.plan.fakeConstantTypes[name] != nil && ctx.graph.initializer(name)?.dtype.isFloatingPoint == true }
        guard !targets.isEmpty else { return nil }
        var p = Patch()
        for name in targets {
            let t = ctx.graph.initializer(name)!
            let dt = ctx.plan.fakeConstantTypes[name]!
            p.setInitializers.append((name, Tensor(t.asDoubles()!.map { Int32($0) }, shape: t.shape, dtype: dt)))
        }
        return p
    }

    /// Quantizer(x, zp: int4) -> Clip(QuantizeLinear(x, zp: int8), -8, 7)   (--narrow clip)
    static let widenNarrowQuantizer = RewriteRule(
        name: "widen-narrow-quantizer",
        identity: "Quantizer(x, zp: int4|uint4) -> Clip(QuantizeLinear(x, zp: int8|uint8), lo, hi)",
        widens: true
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        // Quantizers on accumulators and requantizers are replaced by other rules, which add the Clip themselves.
        let kind = ctx.plan.quantizerKinds[n.name]
        guard n.opType == "QuantizeLinear", kind == .input || (kind == .weight && ctx.options.weights == .runtime),
              n.inputs.count > 2, let zp = ctx.graph.initializer(n.inputs[2]),
              case let (wide, clip?) = ctx.options.written(zp.dtype) else { return nil }
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        var z = zp
        z.dtype = wide
        let zname = b.constant("\(n.name)_zero_point_widened", z)
        let unclipped = names.fresh("\(n.outputs[0])_unclipped")
        b.patch.add.append(Node(name: n.name, opType: "QuantizeLinear", inputs: [n.inputs[0], n.inputs[1], zname], outputs: [unclipped], attributes: n.attributes))
        b.clipInteger(unclipped, into: n.outputs[0], wide, clip, name: "\(n.name)_clip")
        return b.patch
    }

    /// QuantizeLinear(float W) → W_int8 initializer  (Aidge weight quantizer, computed once)
    static let foldWeightQuantizer = RewriteRule(
        name: "fold-weight-quantizer",
        identity: "QuantizeLinear(W: float const) -> const int W_q = aidge_quantize(W)",
        widens: true
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == .weight, ctx.options.weights == .int8,
              let w = ctx.graph.initializer(n.inputs[0]), let s = ctx.graph.initializer(n.inputs[1]) else { return nil }
        var p = Patch()
        p.remove = [i]
        p.setInitializers = [(n.outputs[0], try aidgeQuantizeConstant(w, scale: s, zeroPoint: n.inputs.count > 2 ? ctx.graph.initializer(n.inputs[2]) : nil, options: ctx.options))]
        return p
    }

    /// QuantizeLinear(float b, int32 zp) → b_int initializer  (computed, never zeroed)
    static let foldBiasQuantizer = RewriteRule(
        name: "fold-bias-quantizer",
        identity: "QuantizeLinear(b: float const, zp: int32) -> const int b_q = aidge_quantize(b)"
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == .bias,
              let b = ctx.graph.initializer(n.inputs[0]), let s = ctx.graph.initializer(n.inputs[1]) else { return nil }
        var p = Patch()
        p.remove = [i]
        p.setInitializers = [(n.outputs[0], try aidgeQuantizeConstant(b, scale: s, zeroPoint: n.inputs.count > 2 ? ctx.graph.initializer(n.inputs[2]) : nil, options: ConvertOptions(format: ctx.options.format, narrow: .int4)))]
        return p
    }
}
