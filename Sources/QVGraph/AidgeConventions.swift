/// Conventions of Aidge 0.10.1's quantized exports that more than one stage reads.
public enum AidgeConventions {
    /// The ops Aidge's PTQ leaves in float (`isNotQuantized`), with a rescaling quantizer before
    /// them (named `<node>_PrevScaling`) and a rounding one after.
    public static let floatOps: Set<String> = ["Sigmoid", "Tanh"]

    /// Whether an Aidge-form quantizer with a float zero point is the rescaling one Aidge puts
    /// before an op it leaves in float (Mul by sf, Add zp, Clip to ±FLT_MAX, no rounding): its
    /// name says so, or every consumer is such an op.
    public static func rescalesIntoFloatOp(_ n: Node, _ g: Graph, _ index: GraphIndex) -> Bool {
        guard n.opType == "QuantizeLinear" else { return false }
        if n.name.hasSuffix("_PrevScaling") { return true }
        let consumers = index.consumers[n.outputs[0]] ?? []
        return !consumers.isEmpty && consumers.allSatisfy { floatOps.contains(g.nodes[$0].opType) }
    }

    /// The slope Aidge's integer LeakyReLU multiplies by: its CPU kernel is templated on the data
    /// type and casts α to it first (C++ truncation: 0.1 becomes 0, so the op computes Relu).
    /// Checked against Aidge's own int32 kernel (Reference/aidge_ops).
    public static func integerSlope(_ alpha: Float) -> Int64 { Int64(alpha.rounded(.towardZero)) }
}
