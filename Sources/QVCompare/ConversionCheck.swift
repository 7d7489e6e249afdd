import QVGraph
import QVInterpreter
import QVKernels
import QVRecipe

/// Compares an Aidge-form model with a conversion of it that keeps the names of the Aidge
/// quantizers' output tensors (as `qverify convert` does), quantizer by quantizer, in steps.
public struct ConversionCheck {
    public struct QuantizerResult: Sendable {
        public var node: String
        public var tensor: String
        public var count: Int
        public var differing: Int
        public var maxSteps: Int64
        /// Differing elements whose Aidge pre-rounding value is an exact tie (only counted where
        /// the quantizer's input agreed, i.e. at the first divergence).
        public var ties: Int
        /// Differing elements where Aidge's wrapping cast and ONNX's saturation part ways
        /// (a negative value into an unsigned type: Aidge -3 → 253, ONNX → 0).
        public var wraps: Int
        public var unexplained: Int
        public var isFirstDivergence: Bool
    }

    public var quantizers: [QuantizerResult] = []
    /// Graph output, in steps of the final quantizer.
    public var outputDiffering = 0
    public var outputCount = 0
    public var outputMaxSteps: Int64 = 0
    public var firstDivergence: QuantizerResult? { quantizers.first { $0.isFirstDivergence } }
    /// True when the outputs agree, or every difference starts at a quantizer whose differing
    /// elements are all half-up vs half-even ties or wrap-vs-saturate casts.
    public var explained: Bool { outputDiffering == 0 || (firstDivergence.map { $0.unexplained == 0 && $0.ties + $0.wraps > 0 } ?? false) }

    /// `realInputs`: one real-valued sample per entry. Folded sources get Aidge's integer input
    /// (round half up of x / step), conversions the real values.
    public init(source: Model, converted: Model, plan: QuantPlan, realInputs: [[String: Tensor]]) throws {
        let a = try Interpreter(model: source, semantics: .aidge)
        let b = try Interpreter(model: converted, semantics: .onnx)
        let g = source.graph
        let order = try g.topologicalOrder()
        let quantizerNodes = order.map { g.nodes[$0] }.filter { $0.opType == "QuantizeLinear" && plan.quantizerKinds[$0.name].map { [.activation, .requantize, .input].contains($0) } == true }
        var perNode: [String: (count: Int, diff: Int, maxd: Int64, ties: Int, wraps: Int, unexpl: Int, first: Bool)] = [:]
        var firstSeen: String? = nil
        let outName = g.outputs[0].name
        for sample in realInputs {
            var aIn: [String: Tensor] = [:]
            for (k, v) in sample { aIn[k] = plan.quantizedInputs[k].map { Self.aidgeInput(v, $0) } ?? v }
            let ra = try a.run(aIn, keepIntermediates: true)
            let rb = try b.run(sample, keepIntermediates: true)
            for q in quantizerNodes {
                let t = q.outputs[0]
                guard let ta = ra.intermediates[t], let tb = rb.intermediates[t], let va = Self.integers(ta), let vb = Self.integers(tb), va.count == vb.count else { continue }
                var e = perNode[q.name] ?? (0, 0, 0, 0, 0, 0, false)
                e.count += va.count
                let differs = (0..<va.count).filter { va[$0] != vb[$0] }
                e.diff += differs.count
                for i in differs { e.maxd = max(e.maxd, abs(va[i] - vb[i])) }
                if !differs.isEmpty && (firstSeen == nil || firstSeen == q.name) {
                    firstSeen = q.name
                    e.first = true
                    let rule = g.initializer(q.inputs[1]).flatMap(TieRule.init(scale:))
                    let pre = ra.intermediates[q.inputs[0]]?.asDoubles() ?? aIn[q.inputs[0]]?.asDoubles()
                    let r = tb.dtype.integerRange ?? DType.int8.integerRange!
                    let half = Int64(1) << ((tb.dtype.isInteger ? tb.dtype.bitWidth : 8) - 1)
                    for i in differs {
                        if let rule, let pre, rule.isTie(pre[i]), abs(va[i] - vb[i]) == 1 {
                            e.ties += 1
                        } else if r.lowerBound == 0, vb[i] == 0, va[i] >= half {
                            e.wraps += 1
                        } else {
                            e.unexpl += 1
                        }
                    }
                }
                perNode[q.name] = e
            }
            if let ya = ra.outputs[outName].flatMap(Self.integers), let yb = rb.outputs[outName]?.asDoubles(), let step = plan.tensors[outName]?.step {
                outputCount += ya.count
                for i in 0..<ya.count {
                    let s = clampedSteps((yb[i] / Double(Float(step))).rounded(.toNearestOrEven))
                    if s != ya[i] { outputDiffering += 1; outputMaxSteps = max(outputMaxSteps, abs(s - ya[i])) }
                }
            }
        }
        quantizers = quantizerNodes.compactMap { q in
            perNode[q.name].map { QuantizerResult(node: q.name, tensor: q.outputs[0], count: $0.count, differing: $0.diff, maxSteps: $0.maxd, ties: $0.ties, wraps: $0.wraps, unexplained: $0.unexpl, isFirstDivergence: $0.first) }
        }
    }

    /// Integer values of a tensor: integer types as they are, float tensors holding integers
    /// (Aidge's fake-quantized values) converted; nil otherwise.
    static func integers(_ t: Tensor) -> [Int64]? {
        if t.dtype.isInteger { return t.asInt64s() }
        guard let d = t.asDoubles(), d.allSatisfy({ $0 == $0.rounded(.towardZero) && abs($0) < 9e15 }) else { return nil }
        return d.map { Int64($0) }
    }

    /// Aidge's integer input for a folded graph: round half up of x / step, computed as
    /// floor(x · (1/step) + 0.5) in float32, clipped to the type.
    public static func aidgeInput(_ x: Tensor, _ q: QuantInfo) -> Tensor {
        let m = Float(1 / q.step)
        let r = q.dtype.integerRange!
        let v = (x.floats ?? []).map { Int32(min(max(Int64(RoundingRule.halfUp.round($0 * m)), r.lowerBound), r.upperBound)) }
        return Tensor(v, shape: x.shape, dtype: q.dtype)
    }
}

/// A step count as Int64 that cannot trap: NaN and values beyond ±2^62 (a degenerate scale)
/// become ±2^62, so differences of two of them still fit.
func clampedSteps(_ d: Double) -> Int64 {
    let limit = 4.611686018427387904e18
    guard !d.isNaN else { return Int64(1) << 62 }
    return Int64(Swift.max(-limit, Swift.min(limit, d)))
}
