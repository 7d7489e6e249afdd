import QVGraph

/// Where the real meaning of a valid-ONNX graph's integers is written: per tensor, the scale and
/// zero point of the op that makes it, carried through ops that only move integers.
public enum OnnxQuantParameters {
    /// Scale and zero point of every integer tensor of a QDQ/QOP graph, from the op that makes it
    /// (QuantizeLinear, QLinear*, QGemm) and carried through ops that only move integers.
    public static func byTensor(_ g: Graph, _ index: GraphIndex) -> [String: QuantInfo] {
        var q: [String: QuantInfo] = [:]
        func info(_ scale: String, _ zp: String?, fallback: DType) -> QuantInfo? {
            guard let s = g.initializer(scale)?.asDoubles()?.first else { return nil }
            let z = zp.flatMap { $0.isEmpty ? nil : g.initializer($0) }
            return QuantInfo(dtype: z?.dtype ?? fallback, step: s, zeroPoint: z?.asInt64s()?.first ?? 0)
        }
        for i in index.topologicalOrder {
            let n = g.nodes[i]
            guard let out = n.outputs.first else { continue }
            func input(_ name: String) -> String? { n.input(name) }
            switch (n.normalizedDomain, n.opType) {
            case ("", "QuantizeLinear"):
                if let s = input("y_scale"), var qi = info(s, input("y_zero_point"), fallback: .uint8) {
                    if input("y_zero_point") == nil, case .int(let od) = n.attribute("output_dtype"),
                        let t = DType(onnx: Int32(od))
                    {
                        qi.dtype = t
                    }
                    q[out] = qi
                }
            case ("", "QLinearConv"), ("", "QLinearMatMul"), ("com.microsoft", "QGemm"):
                if let s = input("y_scale") { q[out] = info(s, input("y_zero_point"), fallback: .uint8) }
            case ("com.microsoft", "QLinearAdd"), ("com.microsoft", "QLinearMul"):
                if let s = input("C_scale") { q[out] = info(s, input("C_zero_point"), fallback: .uint8) }
            case ("com.microsoft", "QLinearGlobalAveragePool"), ("com.microsoft", "QLinearAveragePool"):
                if let s = input("y_scale") { q[out] = info(s, input("y_zero_point"), fallback: .uint8) }
            case ("com.microsoft", "QLinearLeakyRelu"), ("com.microsoft", "QLinearSigmoid"):
                if let s = input("Y_scale") { q[out] = info(s, input("Y_zero_point"), fallback: .uint8) }
            default:
                if let src = n.inputs.first, !src.isEmpty, let qi = q[src], n.opType != "DequantizeLinear" {
                    q[out] = qi
                }
            }
        }
        return q
    }

    /// The scale (per tensor or per channel) behind a float tensor of a QDQ graph: that of the
    /// DequantizeLinear that makes it, through ops that only move values
    /// (``QuantPlan/isTransparent(_:)``, the same in both forms); nil when none does.
    public static func dequantizedScale(of tensor: String, _ g: Graph, _ index: GraphIndex) -> [Float]? {
        var cur = tensor
        while let i = index.producer[cur] {
            let p = g.nodes[i]
            if p.opType == "DequantizeLinear" { return p.quantizerScale.flatMap { g.initializer($0)?.floats } }
            guard QuantPlan.isTransparent(p), let src = p.inputs.first else { return nil }
            cur = src
        }
        return nil
    }
}
