/// What inference knows about a tensor: element type and concrete shape, each possibly unknown.
public struct TensorFact: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType?
    public var shape: [Int]?
    public init(dtype: DType?, shape: [Int]?) {
        self.dtype = dtype
        self.shape = shape
    }
    public var description: String {
        "\(dtype?.shortName ?? "?")\(shape.map { "\($0)" } ?? "[?]")"
    }
}

/// A place where inference applied a rule that ONNX does not have (Aidge-form graphs).
public struct InferenceException: Sendable, Equatable {
    public var node: String
    public var rule: String
}

/// Dtype and shape inference for the ops qverify runs, in ONNX semantics with one explicit
/// extension for Aidge-form graphs: Conv/Gemm/MatMul whose data or weight input is an integer
/// tensor accumulate in int32 (ONNX would reject the node). Every use of that extension is
/// recorded in ``exceptions``, never applied silently.
public struct ShapeInference: Sendable {
    public private(set) var facts: [String: TensorFact] = [:]
    public private(set) var exceptions: [InferenceException] = []
    /// Nodes whose outputs could not be inferred (unknown op or unknown input facts).
    public private(set) var unresolved: [String] = []

    public init(_ graph: Graph, inputFacts: [String: TensorFact] = [:]) throws {
        for (n, t) in graph.initializers { facts[n] = TensorFact(dtype: t.dtype, shape: t.shape) }
        for v in graph.inputs where facts[v.name] == nil {
            facts[v.name] = inputFacts[v.name] ?? TensorFact(dtype: v.dtype, shape: v.concreteShape)
        }
        let index = try GraphIndex(graph)
        for i in index.topologicalOrder {
            let node = graph.nodes[i]
            let ins = node.inputs.map { $0.isEmpty ? nil : facts[$0] }
            let outs = try withContext("node \(node.label(index: i))") {
                try Self.infer(node, ins, graph: graph, exceptions: &exceptions)
            }
            if outs.allSatisfy({ $0.dtype == nil && $0.shape == nil }) { unresolved.append(node.label(index: i)) }
            for (o, f) in zip(node.outputs, outs) where !o.isEmpty { facts[o] = f }
        }
    }

    /// The node's output facts by its op's rule (`Ops/`); unknown for an op qverify does not know.
    static func infer(
        _ n: Node, _ ins: [TensorFact?], graph: Graph, exceptions: inout [InferenceException]
    ) throws -> [TensorFact] {
        guard let spec = n.spec else { return n.outputs.map { _ in TensorFact(dtype: nil, shape: nil) } }
        var context = InferenceContext(node: n, inputs: ins, graph: graph, spec: spec)
        let facts = try spec.infer(&context)
        exceptions += context.exceptions
        return facts
    }

    /// An axis normalized into 0..<rank; a bad input error otherwise.
    public static func axis(_ a: Int, rank: Int, _ what: String = "axis") throws -> Int {
        let n = a < 0 ? a + rank : a
        guard n >= 0 && n < max(rank, 1) else {
            throw QVError.badInput("\(what) \(a) is out of range for rank \(rank)")
        }
        return n
    }

    /// Numpy-style multidirectional broadcasting.
    public static func broadcast(_ shapes: [[Int]]) throws -> [Int] {
        let r = shapes.map(\.count).max() ?? 0
        var out = Array(repeating: 1, count: r)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let j = r - s.count + i
                if out[j] == 1 {
                    out[j] = d
                } else if d != 1 && d != out[j] {
                    throw QVError.badInput("shapes \(shapes) do not broadcast")
                }
            }
        }
        return out
    }

    public static func matmulShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        guard a.count >= 1, b.count >= 1 else { throw QVError.badInput("MatMul on a scalar") }
        let a2 = a.count == 1 ? [1] + a : a
        let b2 = b.count == 1 ? b + [1] : b
        guard a2[a2.count - 1] == b2[b2.count - 2] else {
            throw QVError.badInput("MatMul inner dimensions differ: \(a) × \(b)")
        }
        let batch = try broadcast([Array(a2.dropLast(2)), Array(b2.dropLast(2))])
        var out = batch + [a2[a2.count - 2], b2[b2.count - 1]]
        if a.count == 1 { out.remove(at: out.count - 2) }
        if b.count == 1 { out.removeLast() }
        return out
    }

    public static func reshape(_ s: [Int], _ target: [Int], allowZero: Bool) throws -> [Int] {
        let total = s.reduce(1, *)
        var out = target.enumerated().map { (i, d) in d == 0 && !allowZero && i < s.count ? s[i] : d }
        let known = out.filter { $0 != -1 }.reduce(1, *)
        if let k = out.firstIndex(of: -1) {
            guard known > 0, total % known == 0 else { throw QVError.badInput("cannot reshape \(s) to \(target)") }
            out[k] = total / known
        }
        guard out.reduce(1, *) == total else { throw QVError.badInput("cannot reshape \(s) to \(target)") }
        return out
    }

    /// Spatial output size shared by Conv and pooling (explicit pads or auto_pad).
    public static func windowOutput(_ n: Node, input: [Int], kernel: [Int]) throws -> (out: [Int], pads: [Int]) {
        let r = kernel.count
        func ints(_ name: String) -> [Int]? {
            if case .ints(let v) = n.attribute(name) { v.map { Int($0) } } else { nil }
        }
        let strides = ints("strides") ?? Array(repeating: 1, count: r)
        let dil = ints("dilations") ?? Array(repeating: 1, count: r)
        var pads = ints("pads") ?? Array(repeating: 0, count: 2 * r)
        var autoPad = "NOTSET"
        if case .string(let s) = n.attribute("auto_pad") { autoPad = String(decoding: s, as: UTF8.self) }
        let ceilMode: Bool = if case .int(let c) = n.attribute("ceil_mode") { c == 1 } else { false }
        guard strides.count == r, dil.count == r, pads.count == 2 * r, input.count == r else {
            throw QVError.badInput("strides/dilations/pads do not match the \(r)-d kernel")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dil.allSatisfy({ $0 >= 1 }), kernel.allSatisfy({ $0 >= 1 }),
            pads.allSatisfy({ $0 >= 0 })
        else {
            throw QVError.badInput(
                "invalid window: kernel \(kernel), strides \(strides), dilations \(dil), pads \(pads) (strides, dilations and kernel must be ≥ 1, pads ≥ 0)"
            )
        }
        var out: [Int] = []
        for i in 0..<r {
            let ek = (kernel[i] - 1) * dil[i] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let o = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (o - 1) * strides[i] + ek - input[i])
                pads[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[i + r] = total - pads[i]
                out.append(o)
            case "VALID":
                pads[i] = 0; pads[i + r] = 0
                out.append((input[i] - ek) / strides[i] + 1)
            default:
                let span = input[i] + pads[i] + pads[i + r] - ek
                var o = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1
                if ceilMode && (o - 1) * strides[i] >= input[i] + pads[i] { o -= 1 }
                out.append(o)
            }
            guard out[i] > 0 else { throw QVError.badInput("window of \(kernel) does not fit input \(input)") }
        }
        return (out, pads)
    }

    static func convShape(_ n: Node, _ x: [Int]?, _ w: [Int]?) throws -> [Int]? {
        guard let x, let w, x.count >= 3, w.count == x.count else { return nil }
        let group: Int = if case .int(let g) = n.attribute("group") { Int(g) } else { 1 }
        guard group >= 1, x[1] == w[1] * group, w[0] % group == 0 else {
            throw QVError.badInput("Conv input \(x) does not fit weights \(w) with group \(group)")
        }
        let (out, _) = try windowOutput(n, input: Array(x[2...]), kernel: Array(w[2...]))
        return [x[0], w[0]] + out
    }

    /// ConvTranspose's output sizes and pads (begin…, end…) from its attributes, as onnxruntime
    /// computes them (conv_transpose_attributes.h): with `output_shape`, the padding that reaches
    /// it; with SAME_UPPER/SAME_LOWER, the padding that makes the output input·stride. Odd total
    /// padding goes to the tail for SAME_UPPER and to the head otherwise, as ONNX says (measured
    /// on onnxruntime 1.32; older releases had it the other way round).
    public static func convTransposeWindow(_ n: Node, input: [Int], kernel: [Int]) throws -> (out: [Int], pads: [Int]) {
        let r = kernel.count
        let strides = n.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = n.ints("dilations") ?? Array(repeating: 1, count: r)
        let adj = n.ints("output_padding") ?? Array(repeating: 0, count: r)
        var pads = n.ints("pads") ?? Array(repeating: 0, count: 2 * r)
        let autoPad = n.string("auto_pad", default: "NOTSET")
        var given = n.ints("output_shape")
        if let g = given, g.count > r { given = Array(g.suffix(r)) }
        guard strides.count == r, dil.count == r, adj.count == r, pads.count == 2 * r, input.count == r,
            given == nil || given!.count == r
        else {
            throw QVError.badInput("strides/dilations/pads/output_padding/output_shape do not match the \(r)-d kernel")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dil.allSatisfy({ $0 >= 1 }), kernel.allSatisfy({ $0 >= 1 }),
            pads.allSatisfy({ $0 >= 0 }), adj.allSatisfy({ $0 >= 0 })
        else {
            throw QVError.badInput(
                "invalid ConvTranspose window: kernel \(kernel), strides \(strides), dilations \(dil), pads \(pads), output_padding \(adj)"
            )
        }
        var out: [Int] = []
        for i in 0..<r {
            let full = (input[i] - 1) * strides[i] + adj[i] + (kernel[i] - 1) * dil[i] + 1
            let target: Int? =
                given?[i] ?? (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" ? input[i] * strides[i] : nil)
            if let target {
                // Padding is never negative: an output_shape beyond the full extent gets outputs that
                // receive no product, only the bias; SAME stops at the full extent.
                let total = max(0, full - target)
                pads[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[i + r] = total - pads[i]
                out.append(given == nil ? full - total : target)
            } else {
                if autoPad == "VALID" { pads[i] = 0; pads[i + r] = 0 }
                out.append(full - pads[i] - pads[i + r])
            }
            guard out[i] > 0 else {
                throw QVError.badInput("ConvTranspose of \(kernel) over input \(input) has no output (pads \(pads))")
            }
        }
        return (out, pads)
    }

    static func convTransposeShape(_ n: Node, _ x: [Int]?, _ w: [Int]?) throws -> [Int]? {
        guard let x, let w, x.count >= 3, w.count == x.count else { return nil }
        let group: Int = if case .int(let g) = n.attribute("group") { Int(g) } else { 1 }
        guard group >= 1, x[1] == w[0], w[0] % group == 0 else {
            throw QVError.badInput("ConvTranspose input \(x) does not fit weights \(w) with group \(group)")
        }
        let (out, _) = try convTransposeWindow(n, input: Array(x[2...]), kernel: Array(w[2...]))
        return [x[0], w[1] * group] + out
    }

    static func poolShape(_ n: Node, _ x: [Int]?) throws -> [Int]? {
        guard let x, x.count >= 3 else { return nil }
        guard case .ints(let k) = n.attribute("kernel_shape") else {
            throw QVError.badInput("pooling needs kernel_shape")
        }
        let (out, _) = try windowOutput(n, input: Array(x[2...]), kernel: k.map { Int($0) })
        return [x[0], x[1]] + out
    }
}
