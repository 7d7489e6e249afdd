import QVGraph
import QVQuant

/// Where a tensor sits in a network, independent of names and of how quantization is spelled:
/// the n-th compute op of a kind (conv, fc, add; or the input), then the transparent ops and
/// requantizations applied since. Aidge quantizer ↔ QuantizeLinear; Conv + quantizers ↔
/// DQ→Conv→Q ↔ QLinearConv; Relu on int8 ↔ DQ→Relu→Q all get the same signature.
public struct Signature: Hashable, Sendable, Codable, CustomStringConvertible {
    public var kind: String
    public var index: Int
    public var chain: [String]
    public var description: String { "\(kind)#\(index)" + chain.map { "→\($0)" }.joined() }
}

/// One comparable tensor of a graph: the latest tensor with a given signature.
public struct Point: Sendable {
    public var tensor: String
    public var node: String
    public var opType: String
    public var signature: Signature
    /// How integers map to real values here (nil for float tensors).
    public var quant: QuantInfo?
}

/// A graph reduced to its comparable points, in topological order.
public struct GraphView: Sendable {
    public var model: Model
    public var kind: ModelKind
    public var plan: QuantPlan?
    public var points: [Point]
    /// Compute ops by signature kind/index: node name, bias initializer (if any).
    public var computeOps: [Signature: (node: String, opType: String, bias: String?)] = [:]

    static let computeKinds: [String: String] = [
        "Conv": "conv", "QLinearConv": "conv", "ConvInteger": "conv",
        "Gemm": "fc", "QGemm": "fc", "MatMul": "fc", "QLinearMatMul": "fc", "MatMulInteger": "fc",
        "Add": "add", "QLinearAdd": "add", "Sub": "sub", "Mul": "mul", "QLinearMul": "mul",
    ]
    static let passThrough: Set<String> = ["DequantizeLinear", "Clip", "Cast", "Identity"]
    /// Chain steps that mix many elements into one (a value built from them is a new value).
    static let reductions: Set<String> = [
        "ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "AveragePool", "MaxPool", "GlobalMaxPool",
        "Softmax",
        "LogSoftmax", "LayerNormalization",
    ]
    /// Ops whose output is never negative, and ops that keep a non-negative input non-negative: a
    /// quantizer clamping at zero after them computes no Relu.
    static let nonNegativeOps: Set<String> = [
        "Relu", "Sigmoid", "QLinearSigmoid", "Softmax", "QLinearSoftmax", "Sqrt", "Abs", "Exp", "HardSigmoid",
    ]
    static let keepsNonNegative: Set<String> = [
        "ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "QLinearGlobalAveragePool", "AveragePool",
        "QLinearAveragePool", "MaxPool", "NhwcMaxPool", "GlobalMaxPool", "Reshape", "Transpose", "Flatten", "Squeeze",
        "Unsqueeze", "DequantizeLinear", "QuantizeLinear", "Identity", "Cast", "Resize", "Split",
    ]
    /// Operators named by the function they compute, for signatures.
    static let functionName: [String: String] = [
        "QLinearGlobalAveragePool": "GlobalAveragePool", "QLinearAveragePool": "AveragePool",
        "NhwcMaxPool": "MaxPool", "QLinearLeakyRelu": "LeakyRelu", "QLinearSigmoid": "Sigmoid",
    ]

    /// `knownSteps`: real steps of a folded Aidge export that the file does not carry.
    public init(_ model: Model, knownSteps: KnownSteps = KnownSteps()) throws {
        let g = model.graph
        let kind = try ModelSummary(model).kind
        let plan = kind == .aidgeForm ? try QuantPlan(model: model, known: knownSteps) : nil
        var computeOps: [Signature: (node: String, opType: String, bias: String?)] = [:]
        let index = try GraphIndex(g)
        let facts = try ShapeInference(g).facts
        var constant = Set(g.initializerOrder)
        var sig: [String: Signature] = [:]
        var counters: [String: Int] = [:]
        for (k, i) in g.runtimeInputs.enumerated() { sig[i.name] = Signature(kind: "input", index: k, chain: []) }
        var latest: [Signature: Point] = [:]
        var order: [Signature] = []
        let onnxQuant = kind == .aidgeForm ? [:] : OnnxQuantParameters.byTensor(g, index)
        func record(_ tensor: String, _ node: Node, _ s: Signature) {
            let q: QuantInfo? = plan?.tensors[tensor] ?? onnxQuant[tensor]
            let isInt = facts[tensor]?.dtype?.isInteger == true || q != nil
            // Float tensors are points only in graphs with no quantization at all (float models).
            guard isInt || kind == .float else { return }
            if latest[s] == nil { order.append(s) }
            latest[s] = Point(tensor: tensor, node: node.name, opType: node.opType, signature: s, quant: q)
        }
        if let plan {
            for (name, _) in plan.quantizedInputs {
                if let s = sig[name] {
                    latest[s] = Point(tensor: name, node: "", opType: "input", signature: s, quant: plan.tensors[name]);
                    order.append(s)
                }
            }
        }
        // Tensors known never to be negative (by the ops that make them).
        var nonNegative = Set<String>()
        for i in Self.structuralOrder(g, index) {
            let n = g.nodes[i]
            let dataInputs = n.inputs.filter { !$0.isEmpty && !constant.contains($0) }
            if dataInputs.isEmpty {
                constant.formUnion(n.outputs)
                continue
            }
            guard let out = n.outputs.first, !out.isEmpty else { continue }
            let constantsNonNegative = n.inputs.filter { constant.contains($0) }.allSatisfy {
                Self.constantNonNegative($0, g, index)
            }
            if Self.nonNegativeOps.contains(n.opType) || Self.squares(n, g)
                || (Self.keepsNonNegative.contains(n.opType) && nonNegative.contains(dataInputs[0]))
                || (["Add", "Mul"].contains(n.opType) && dataInputs.allSatisfy { nonNegative.contains($0) }
                    && constantsNonNegative)
            {
                nonNegative.formUnion(n.outputs)
            }
            let upstream = dataInputs.compactMap { sig[$0] }.first
            // y ± f(y) with f elementwise (a rounding offset: sign(y)·step/4N) is y moved within a
            // step, not a new compute op: it keeps the point's signature. With a reduction in f
            // (x − mean(x), normalizations) it is a new value and gets its own signature.
            let inputSigs = dataInputs.compactMap { sig[$0] }
            if n.opType == "Add" || n.opType == "Sub", dataInputs.count >= 2, inputSigs.count == dataInputs.count,
                let base = inputSigs.min(by: { $0.chain.count < $1.chain.count }),
                inputSigs.allSatisfy({
                    $0.kind == base.kind && $0.index == base.index
                        && Array($0.chain.prefix(base.chain.count)) == base.chain
                        && $0.chain.dropFirst(base.chain.count).allSatisfy { !Self.reductions.contains($0) }
                })
            {
                sig[out] = base
                continue
            }
            if let kindName = Self.computeKinds[n.opType],
                dataInputs.count >= (["Add", "QLinearAdd", "Sub", "Mul", "QLinearMul"].contains(n.opType) ? 2 : 1)
            {
                counters[kindName, default: 0] += 1
                // A QLinear op whose output zero point is its type's minimum also computes a Relu.
                let s = Signature(
                    kind: kindName, index: counters[kindName]!, chain: Self.clampsAtZero(n, g, index) ? ["Relu"] : [])
                sig[out] = s
                computeOps[s] = (n.name, n.opType, n.biasInput)
                record(out, n, s)
            } else if n.opType == "QuantizeLinear", var s = upstream {
                // A quantizer on an already-quantized value (directly, or through a DequantizeLinear) requantizes.
                let src = dataInputs[0]
                let producer = index.producer[src].map { g.nodes[$0] }
                let onQuantized =
                    producer?.opType == "DequantizeLinear"
                    || (facts[src]?.dtype?.isInteger == true
                        && producer.map { Self.computeKinds[$0.opType] == nil } ?? false)
                // Aidge's rescaling into an op it leaves in float (x·sf, unrounded) is no requantization:
                // the conversion writes it as a DequantizeLinear.
                let rescale =
                    n.quantizerZeroPoint.flatMap({ g.initializer($0) })?.dtype.isFloatingPoint == true
                    && AidgeConventions.rescalesIntoFloatOp(n, g, index)
                if onQuantized && !rescale { s.chain.append("requant") }
                // (Not on the graph input, nor on a value that is never negative: there is no Relu to
                // fold, only a non-negative input.)
                if s.kind != "input", !nonNegative.contains(src), Self.clampsAtZero(n, g, index),
                    !s.chain.contains("Relu"), !s.chain.contains("Clip")
                {
                    s.chain.append("Relu")
                }
                sig[out] = s
                record(out, n, s)
            } else if n.opType == "Clip", var s = upstream, Self.clipsAtZero(n, g), !s.chain.contains("Relu") {
                // Clip(0, hi) on real values (ReLU6) is a Relu point; its upper bound is what the
                // quantizer after it saturates anyway.
                s.chain.append("Relu")
                sig[out] = s
                record(out, n, s)
            } else if Self.passThrough.contains(n.opType), let s = upstream {
                sig[out] = s
                if n.opType != "DequantizeLinear" { record(out, n, s) }
            } else if var s = upstream {
                // A QLinear op computes the same function as the float op it stands for.
                s.chain.append(Self.functionName[n.opType] ?? n.opType)
                sig[out] = s
                record(out, n, s)
            }
        }
        self.model = model
        self.kind = kind
        self.plan = plan
        self.computeOps = computeOps
        self.points = order.compactMap { latest[$0] }
    }

    /// True when a quantizing node's output zero point is its type's minimum (uint8 with zero point
    /// 0, int8 with −128; a QuantizeLinear without one is uint8, zero point 0): every negative real
    /// value saturates to 0, so the node computes a Relu too — which is how onnxruntime's
    /// quantize_static writes Conv+Relu. Aligning by function pairs it with a float Relu.
    static func clampsAtZero(_ n: Node, _ g: Graph, _ index: GraphIndex) -> Bool {
        // A Relu or Clip still follows (directly, or behind a DequantizeLinear): nothing was folded.
        let readers = (index.consumers[n.outputs[0]] ?? []).map { g.nodes[$0] }
        let next =
            readers
            + readers.filter { $0.opType == "DequantizeLinear" }.flatMap { d in
                (index.consumers[d.outputs[0]] ?? []).map { g.nodes[$0] }
            }
        if next.contains(where: { $0.opType == "Relu" || $0.opType == "Clip" }) { return false }
        // The output's zero point, by the op's input name; an op without one clamps nothing.
        let zpName: String
        switch (n.normalizedDomain, n.opType) {
        case ("", "QuantizeLinear"), ("", "QLinearConv"), ("", "QLinearMatMul"), ("com.microsoft", "QGemm"):
            zpName = "y_zero_point"
        case ("com.microsoft", "QLinearAdd"): zpName = "C_zero_point"
        default: return false
        }
        if n.opType == "QGemm", n.input("y_scale") == nil { return false }  // float output
        guard let zpTensor = n.input(zpName) else {
            return n.opType == "QuantizeLinear" && n.attribute("output_dtype") == nil
        }
        guard let z = g.initializer(zpTensor), let v = z.asInt64s(), let lo = z.dtype.integerRange?.lowerBound else {
            return false
        }
        return v.allSatisfy { $0 == lo } && lo != Int64.min
    }

    /// A constant with no negative value: an initializer, or a DequantizeLinear of one (q ≥ zero
    /// point, scale > 0).
    static func constantNonNegative(_ name: String, _ g: Graph, _ index: GraphIndex) -> Bool {
        if let t = g.initializer(name) { return t.asDoubles()?.allSatisfy { $0 >= 0 } ?? false }
        guard let p = index.producer[name].map({ g.nodes[$0] }), p.opType == "DequantizeLinear",
            let q = g.initializer(p.inputs[0])?.asDoubles(),
            let scale = p.inputs.count > 1 ? g.initializer(p.inputs[1])?.asDoubles() : nil
        else { return false }
        let zero = p.inputs.count > 2 ? g.initializer(p.inputs[2])?.asDoubles() ?? [0] : [0]
        return scale.allSatisfy { $0 > 0 } && zero.count == 1 && q.allSatisfy { $0 >= zero[0] }
    }

    /// Pow with a constant even integer exponent (x², the variance of a normalization).
    static func squares(_ n: Node, _ g: Graph) -> Bool {
        guard n.opType == "Pow", n.inputs.count > 1, let e = g.initializer(n.inputs[1])?.asDoubles(), !e.isEmpty
        else { return false }
        // A finite multiple of 2 (NaN and ±∞ leave a NaN remainder).
        return e.allSatisfy { $0.truncatingRemainder(dividingBy: 2) == 0 }
    }

    /// A Clip on real values whose lower bound is 0 (ReLU6 and the like).
    static func clipsAtZero(_ n: Node, _ g: Graph) -> Bool {
        if let lo = n.input("min").flatMap({ g.initializer($0) }) {
            return lo.dtype.isFloatingPoint && lo.asDoubles()?.first == 0
        }
        if case .float(let lo) = n.attribute("min") { return lo == 0 }
        return false
    }

    /// A topological order fixed by the graph's structure alone: a post-order walk from the graph
    /// outputs (in order) through each node's inputs (in slot order). Two graphs that compute the
    /// same function through the same wiring get the same order, however their node lists are
    /// sorted — so the n-th conv is the same conv on both sides even when parallel branches (a
    /// downsample skip and the main path) are scheduled the other way round. Nodes no output
    /// reaches follow in topological order.
    static func structuralOrder(_ g: Graph, _ index: GraphIndex) -> [Int] {
        var order: [Int] = [], state = [UInt8](repeating: 0, count: g.nodes.count)  // 0 new, 1 open, 2 done
        for o in g.outputs {
            guard let root = index.producer[o.name], state[root] == 0 else { continue }
            // Iterative DFS: (node, next input slot).
            var stack: [(Int, Int)] = [(root, 0)]
            state[root] = 1
            while let (n, slot) = stack.last {
                let inputs = g.nodes[n].inputs
                if slot < inputs.count {
                    stack[stack.count - 1].1 += 1
                    if !inputs[slot].isEmpty, let p = index.producer[inputs[slot]], state[p] == 0 {
                        state[p] = 1
                        stack.append((p, 0))
                    }
                } else {
                    state[n] = 2
                    order.append(n)
                    stack.removeLast()
                }
            }
        }
        for i in index.topologicalOrder where state[i] == 0 { order.append(i) }
        return order
    }
}
