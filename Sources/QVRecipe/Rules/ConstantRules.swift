import QVGraph

enum ConstantRules {
    /// Quantizer(x, zp: float 0) -> QuantizeLinear(x, zp: int8|int32)   (fake_quantize exports)
    static let fakeQuantizerToInteger = RewriteRule(
        name: "fake-quantizer-to-integer",
        identity: "Quantizer(x, zp: float) -> QuantizeLinear(x, zp: int8 | int32 for biases)",
        match: { ctx, i -> QuantInfo? in
            let n = ctx.graph.nodes[i]
            guard n.opType == "QuantizeLinear", ctx.plan.fakeQuantizers.contains(n.name),
                n.quantizerZeroPoint.flatMap({ ctx.graph.initializer($0) })?.dtype.isFloatingPoint == true
            else { return nil }
            return ctx.plan.tensors[n.outputs[0]]
        }
    ) { ctx, i, q, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        b.patch.retypes = [n.outputs[0]]  // float-valued integers → the plan's integer type
        let z = b.constant(
            "\(n.name)_zero_point_integer", Tensor(dtype: q.dtype, shape: [], storage: .i32([Int32(q.zeroPoint)])))
        b.patch.add.append(
            Node(
                name: n.name, opType: "QuantizeLinear", inputs: [n.inputs[0], n.inputs[1], z], outputs: n.outputs,
                attributes: n.attributes))
        return b.patch
    }

    /// W: float const holding integers -> W: int8 (bias: int32)   (folded fake_quantize exports)
    static let fakeConstantToInteger = RewriteRule(
        name: "fake-constant-to-integer",
        identity: "Conv|Gemm(x, W: float ints, b: float ints) -> Conv|Gemm(x, W: int8, b: int32)",
        match: { ctx, i -> [String]? in
            let targets = ctx.graph.nodes[i].inputs.filter { name in
                ctx.plan.fakeConstantTypes[name] != nil && ctx.graph.initializer(name)?.dtype.isFloatingPoint == true
            }
            return targets.isEmpty ? nil : targets
        }
    ) { ctx, _, targets, _ in
        var p = Patch()
        for name in targets {
            let t = ctx.graph.initializer(name)!
            let dt = ctx.plan.fakeConstantTypes[name]!
            p.setInitializers.append((name, Tensor(t.asDoubles()!.map { Int32($0) }, shape: t.shape, dtype: dt)))
        }
        p.retypes = Set(targets)
        return p
    }

    /// Reshape|Split|Squeeze|Unsqueeze|Pad(x, s: FLOAT integers) -> op(x, s: INT64)   (Aidge's exporter
    /// writes shapes, split sizes, axes and pads as FLOAT tensors, which ONNX does not allow)
    static let floatShapeToInt64 = RewriteRule(
        name: "float-shape-to-int64",
        identity: "Reshape|Split|Squeeze|Unsqueeze|Pad(x, s: float integers) -> op(x, s: int64)",
        match: { ctx, i -> [String]? in
            let n = ctx.graph.nodes[i]
            let slots: [Int] =
                switch n.opType {
                case "Reshape", "Split", "Squeeze", "Unsqueeze": [1]
                case "Pad": [1, 3]
                default: []
                }
            let targets = slots.filter { $0 < n.inputs.count }.map { n.inputs[$0] }.filter { name in
                !name.isEmpty && ctx.graph.initializer(name)?.floatHeldIntegers() != nil
            }
            return targets.isEmpty ? nil : targets
        }
    ) { ctx, _, targets, _ in
        var p = Patch()
        for name in targets {
            let t = ctx.graph.initializer(name)!
            p.setInitializers.append((name, Tensor(int64s: t.floatHeldIntegers()!, shape: t.shape)))
        }
        p.retypes = Set(targets)
        return p
    }

    /// Quantizer(x, zp: int4) -> Clip(QuantizeLinear(x, zp: int8), -8, 7)   (--narrow clip)
    static let widenNarrowQuantizer = RewriteRule(
        name: "widen-narrow-quantizer",
        identity: "Quantizer(x, zp: int4|uint4) -> Clip(QuantizeLinear(x, zp: int8|uint8), lo, hi)",
        match: { ctx, i -> (zp: Tensor, wide: DType, clip: ClosedRange<Int64>)? in
            let n = ctx.graph.nodes[i]
            // Quantizers on accumulators and requantizers are replaced by other rules, which add the Clip themselves.
            let kind = ctx.plan.quantizerKinds[n.name]
            guard n.opType == "QuantizeLinear",
                kind == .input || kind == .floatExit || (kind == .weight && ctx.options.weights == .runtime),
                let zp = n.quantizerZeroPoint.flatMap({ ctx.graph.initializer($0) }),
                case let (wide, clip?) = ctx.options.written(zp.dtype)
            else { return nil }
            return (zp, wide, clip)
        }
    ) { ctx, i, m, names in
        let n = ctx.graph.nodes[i]
        var b = PatchBuilder(names: names, options: ctx.options)
        b.patch.remove = [i]
        b.patch.retypes = [n.outputs[0]]
        var z = m.zp
        z.dtype = m.wide
        let zname = b.constant("\(n.name)_zero_point_widened", z)
        let unclipped = names.fresh("\(n.outputs[0])_unclipped")
        b.patch.add.append(
            Node(
                name: n.name, opType: "QuantizeLinear", inputs: [n.inputs[0], n.inputs[1], zname], outputs: [unclipped],
                attributes: n.attributes))
        b.clipInteger(unclipped, into: n.outputs[0], m.wide, m.clip, name: "\(n.name)_clip")
        return b.patch
    }

    /// A quantizer of a constant: the constant, its scale and zero point.
    struct ConstantQuantizer: Sendable {
        var value: Tensor, scale: Tensor, zeroPoint: Tensor?
        init?(_ ctx: RewriteContext, _ n: Node, kind: QuantPlan.QuantizerKind) {
            guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == kind,
                let v = ctx.graph.initializer(n.inputs[0]),
                let s = n.quantizerScale.flatMap({ ctx.graph.initializer($0) })
            else { return nil }
            value = v
            scale = s
            zeroPoint = n.quantizerZeroPoint.flatMap { ctx.graph.initializer($0) }
        }
    }

    /// QuantizeLinear(float W) → W_int8 initializer  (Aidge weight quantizer, computed once)
    static let foldWeightQuantizer = RewriteRule(
        name: "fold-weight-quantizer",
        identity: "QuantizeLinear(W: float const) -> const int W_q = aidge_quantize(W)",
        match: { ctx, i in
            ctx.options.weights == .int8 ? ConstantQuantizer(ctx, ctx.graph.nodes[i], kind: .weight) : nil
        }
    ) { ctx, i, q, _ in
        let n = ctx.graph.nodes[i]
        var p = Patch()
        p.remove = [i]
        p.setInitializers = [
            (
                n.outputs[0],
                try aidgeQuantizeConstant(q.value, scale: q.scale, zeroPoint: q.zeroPoint, options: ctx.options)
            )
        ]
        p.retypes = [n.outputs[0]]  // int4 weights stored as int8 (--narrow clip)
        return p
    }

    /// QuantizeLinear(float b, int32 zp) → b_int initializer  (computed, never zeroed)
    static let foldBiasQuantizer = RewriteRule(
        name: "fold-bias-quantizer",
        identity: "QuantizeLinear(b: float const, zp: int32) -> const int b_q = aidge_quantize(b)",
        match: { ctx, i in ConstantQuantizer(ctx, ctx.graph.nodes[i], kind: .bias) }
    ) { ctx, i, q, _ in
        let n = ctx.graph.nodes[i]
        var p = Patch()
        p.remove = [i]
        p.setInitializers = [
            (
                n.outputs[0],
                try aidgeQuantizeConstant(
                    q.value, scale: q.scale, zeroPoint: q.zeroPoint,
                    options: ConvertOptions(format: ctx.options.format, narrow: .int4))
            )
        ]
        return p
    }
}
