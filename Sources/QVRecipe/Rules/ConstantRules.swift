import QVGraph

enum ConstantRules {
    /// QuantizeLinear(float W) → W_int8 initializer  (Aidge weight quantizer, computed once)
    static let foldWeightQuantizer = RewriteRule(
        name: "fold-weight-quantizer",
        identity: "QuantizeLinear(W: float const) -> const int W_q = aidge_quantize(W)"
    ) { ctx, i, names in
        let n = ctx.graph.nodes[i]
        guard n.opType == "QuantizeLinear", ctx.plan.quantizerKinds[n.name] == .weight, ctx.options.weights == .int8,
              let w = ctx.graph.initializer(n.inputs[0]), let s = ctx.graph.initializer(n.inputs[1]) else { return nil }
        var p = Patch()
        p.remove = [i]
        p.setInitializers = [(n.outputs[0], try aidgeQuantizeConstant(w, scale: s, zeroPoint: n.inputs.count > 2 ? ctx.graph.initializer(n.inputs[2]) : nil))]
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
        p.setInitializers = [(n.outputs[0], try aidgeQuantizeConstant(b, scale: s, zeroPoint: n.inputs.count > 2 ? ctx.graph.initializer(n.inputs[2]) : nil))]
        return p
    }
}
