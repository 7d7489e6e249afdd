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

    static func infer(_ n: Node, _ ins: [TensorFact?], graph: Graph, exceptions: inout [InferenceException]) throws -> [TensorFact] {
        let x = ins.first ?? nil
        let same = [TensorFact(dtype: x?.dtype, shape: x?.shape)]
        func int(_ name: String) -> Int? { if case .int(let v) = n.attribute(name) { Int(v) } else { nil } }
        func ints(_ name: String) -> [Int]? { if case .ints(let v) = n.attribute(name) { v.map { Int($0) } } else { nil } }
        func constInts(_ k: Int) -> [Int]? {
            guard k < n.inputs.count, let t = graph.initializer(n.inputs[k]) else { return nil }
            return t.asInt64s()?.map { Int($0) }
        }
        func accumulatorType(_ data: DType?, _ weight: DType?) -> DType? {
            if let d = data, let w = weight, d.isInteger || w.isInteger {
                exceptions.append(InferenceException(node: n.name, rule: "Aidge-form: \(n.opType) on \(d)×\(w) accumulates in int32"))
                return .int32
            }
            return data ?? weight
        }
        switch (n.normalizedDomain, n.opType) {
        case ("", "Relu"), ("", "LeakyRelu"), ("", "Sigmoid"), ("", "Tanh"), ("", "Softmax"), ("", "Round"),
             ("", "Clip"), ("", "Identity"), ("", "BatchNormalization"), ("", "Neg"), ("", "Abs"), ("", "Sign"), ("", "Exp"),
             ("", "Sqrt"), ("", "Floor"), ("", "Ceil"), ("", "Dropout"), ("", "HardSigmoid"), ("", "HardSwish"),
             ("", "Erf"), ("", "LogSoftmax"):
            return same
        case ("", "Add"), ("", "Sub"), ("", "Mul"), ("", "Div"), ("", "Pow"), ("", "Max"), ("", "Min"), ("", "BitShift"):
            let shapes = ins.map { $0?.shape }
            let shape = shapes.contains { $0 == nil } ? nil : try broadcast(shapes.map { $0! })
            return [TensorFact(dtype: x?.dtype, shape: shape)]
        case ("", "Equal"), ("", "Less"), ("", "Greater"):
            let s = (ins.count == 2 && ins[0]?.shape != nil && ins[1]?.shape != nil) ? try broadcast([ins[0]!.shape!, ins[1]!.shape!]) : nil
            return [TensorFact(dtype: .bool, shape: s)]
        case ("", "Cast"):
            guard let to = int("to"), let dt = DType(onnx: Int32(to)) else { throw QVError.badInput("Cast needs a valid 'to'") }
            return [TensorFact(dtype: dt, shape: x?.shape)]
        case ("", "QuantizeLinear"):
            let zp = ins.count > 2 ? ins[2] : nil
            var dt = zp?.dtype
            if dt == nil, let od = int("output_dtype"), od != 0 { dt = DType(onnx: Int32(od)) }
            return [TensorFact(dtype: dt ?? .uint8, shape: x?.shape)]
        case ("", "DequantizeLinear"):
            let s = ins.count > 1 ? ins[1]?.dtype : nil
            return [TensorFact(dtype: (s?.isFloatingPoint ?? false) ? s : .float, shape: x?.shape)]
        case ("", "Conv"), ("", "ConvInteger"):
            let w = ins.count > 1 ? ins[1] : nil
            if n.opType == "Conv", ins.count > 2, let b = ins[2]?.shape, let ws = w?.shape, !ws.isEmpty, b != [ws[0]] {
                throw QVError.badInput("bias of shape \(b) does not match \(ws[0]) output channels")
            }
            let dt: DType? = n.opType == "ConvInteger" ? .int32 : accumulatorType(x?.dtype, w?.dtype)
            return [TensorFact(dtype: dt, shape: try convShape(n, x?.shape, w?.shape))]
        case ("", "QLinearConv"):
            let w = ins.count > 3 ? ins[3] : nil
            if ins.count > 8, let b = ins[8]?.shape, let ws = w?.shape, !ws.isEmpty, b != [ws[0]] {
                throw QVError.badInput("bias of shape \(b) does not match \(ws[0]) output channels")
            }
            let y = ins.count > 7 ? ins[7] : nil
            return [TensorFact(dtype: y?.dtype ?? x?.dtype, shape: try convShape(n, x?.shape, w?.shape))]
        case ("", "MaxPool"), ("", "AveragePool"), ("", "LpPool"), ("com.microsoft", "QLinearAveragePool"):
            let s = try poolShape(n, x?.shape)
            return [TensorFact(dtype: x?.dtype, shape: s), TensorFact(dtype: .int64, shape: s)]
        case ("", "GlobalAveragePool"), ("", "GlobalMaxPool"), ("com.microsoft", "QLinearGlobalAveragePool"):
            guard let s = x?.shape else { return same }
            let channelsLast = int("channels_last") == 1
            return [TensorFact(dtype: x?.dtype, shape: s.enumerated().map { (i, d) in
                channelsLast ? (i == 0 || i == s.count - 1 ? d : 1) : (i < 2 ? d : 1) })]
        case ("", "Gemm"):
            let b = ins.count > 1 ? ins[1] : nil
            let dt = accumulatorType(x?.dtype, b?.dtype)
            guard let a = x?.shape, let bs = b?.shape, a.count == 2, bs.count == 2 else { return [TensorFact(dtype: dt, shape: nil)] }
            let m = int("transA") == 1 ? a[1] : a[0]
            let k1 = int("transA") == 1 ? a[0] : a[1]
            let k2 = int("transB") == 1 ? bs[1] : bs[0]
            let nn = int("transB") == 1 ? bs[0] : bs[1]
            guard k1 == k2 else { throw QVError.badInput("Gemm inner dimensions differ: A \(a) vs B \(bs)") }
            if ins.count > 2, let c = ins[2]?.shape {
                let c2 = Array(repeating: 1, count: max(0, 2 - c.count)) + c
                guard c2.count == 2, c2[0] == 1 || c2[0] == m, c2[1] == 1 || c2[1] == nn else {
                    throw QVError.badInput("bias C of shape \(c) does not broadcast to [\(m), \(nn)]")
                }
            }
            return [TensorFact(dtype: dt, shape: [m, nn])]
        case ("com.microsoft", "QGemm"):
            let b = ins.count > 3 ? ins[3]?.shape : nil
            let y = ins.count > 8 ? ins[8] : nil
            guard let a = x?.shape, let bs = b, a.count == 2, bs.count == 2 else { return [TensorFact(dtype: y?.dtype ?? .float, shape: nil)] }
            let m = int("transA") == 1 ? a[1] : a[0]
            let nn = int("transB") == 1 ? bs[0] : bs[1]
            return [TensorFact(dtype: y?.dtype ?? .float, shape: [m, nn])]
        case ("", "MatMul"), ("", "MatMulInteger"), ("", "QLinearMatMul"):
            let bIndex = n.opType == "QLinearMatMul" ? 3 : 1
            let b = ins.count > bIndex ? ins[bIndex] : nil
            let dt: DType? = switch n.opType {
            case "MatMul": accumulatorType(x?.dtype, b?.dtype)
            case "MatMulInteger": .int32
            default: ins.count > 7 ? ins[7]?.dtype : nil
            }
            guard let a = x?.shape, let bs = b?.shape else { return [TensorFact(dtype: dt, shape: nil)] }
            return [TensorFact(dtype: dt, shape: try matmulShape(a, bs))]
        case ("", "Flatten"):
            guard let s = x?.shape else { return same }
            let axis = try Self.axis(int("axis") ?? 1, rank: s.count + 1, "Flatten axis")
            return [TensorFact(dtype: x?.dtype, shape: [s[..<axis].reduce(1, *), s[axis...].reduce(1, *)])]
        case ("", "Reshape"):
            guard let target = constInts(1), let s = x?.shape else { return [TensorFact(dtype: x?.dtype, shape: nil)] }
            return [TensorFact(dtype: x?.dtype, shape: try reshape(s, target, allowZero: int("allowzero") == 1))]
        case ("", "Transpose"):
            guard let s = x?.shape else { return same }
            let perm = ints("perm") ?? Array((0..<s.count).reversed())
            guard perm.sorted() == Array(0..<s.count) else { throw QVError.badInput("Transpose perm \(perm) does not fit rank \(s.count)") }
            return [TensorFact(dtype: x?.dtype, shape: perm.map { s[$0] })]
        case ("", "Squeeze"):
            guard let s = x?.shape else { return same }
            let axes = try (ints("axes") ?? constInts(1))?.map { try Self.axis($0, rank: s.count, "Squeeze axis") }
            return [TensorFact(dtype: x?.dtype, shape: s.enumerated().filter { (i, d) in axes.map { !$0.contains(i) } ?? (d != 1) }.map(\.1))]
        case ("", "Unsqueeze"):
            guard let s = x?.shape, let axes0 = ints("axes") ?? constInts(1) else { return [TensorFact(dtype: x?.dtype, shape: nil)] }
            let r = s.count + axes0.count
            let axes = Set(try axes0.map { try Self.axis($0, rank: r, "Unsqueeze axis") })
            var out: [Int] = []
            var it = s.makeIterator()
            for i in 0..<r { out.append(axes.contains(i) ? 1 : it.next() ?? 1) }
            return [TensorFact(dtype: x?.dtype, shape: out)]
        case ("", "Concat"), ("com.microsoft", "QLinearConcat"):
            let tensors = n.opType == "Concat" ? ins : stride(from: 2, to: ins.count, by: 3).map { ins[$0] }
            guard let shapes = tensors.map({ $0?.shape }) as? [[Int]], let first = shapes.first else { return [TensorFact(dtype: x?.dtype, shape: nil)] }
            let axis = try Self.axis(int("axis") ?? 0, rank: first.count, "Concat axis")
            guard shapes.allSatisfy({ $0.count == first.count }) else { throw QVError.badInput("Concat inputs of different ranks: \(shapes)") }
            var out = first
            out[axis] = shapes.map { $0[axis] }.reduce(0, +)
            let dt = n.opType == "Concat" ? x?.dtype : ins.count > 1 ? ins[1]?.dtype : nil
            return [TensorFact(dtype: n.opType == "Concat" ? dt : (ins.count > 1 ? ins[1]?.dtype : nil), shape: out)]
        case ("", "Pad"):
            guard let s = x?.shape, let pads = ints("pads") ?? constInts(1), pads.count == 2 * s.count else { return [TensorFact(dtype: x?.dtype, shape: nil)] }
            return [TensorFact(dtype: x?.dtype, shape: s.indices.map { s[$0] + pads[$0] + pads[$0 + s.count] })]
        case ("", "Shape"):
            return [TensorFact(dtype: .int64, shape: x?.shape.map { [$0.count] })]
        case ("", "Gather"):
            let idx = ins.count > 1 ? ins[1]?.shape : nil
            guard let s = x?.shape, let ix = idx else { return [TensorFact(dtype: x?.dtype, shape: nil)] }
            let axis = try Self.axis(int("axis") ?? 0, rank: s.count, "Gather axis")
            return [TensorFact(dtype: x?.dtype, shape: Array(s[..<axis]) + ix + Array(s[(axis + 1)...]))]
        case ("", "Constant"):
            if case .tensor(let t) = n.attribute("value") { return [TensorFact(dtype: t.dtype, shape: t.shape)] }
            if case .float = n.attribute("value_float") { return [TensorFact(dtype: .float, shape: [])] }
            if case .int = n.attribute("value_int") { return [TensorFact(dtype: .int64, shape: [])] }
            if case .ints(let v) = n.attribute("value_ints") { return [TensorFact(dtype: .int64, shape: [v.count])] }
            if case .floats(let v) = n.attribute("value_floats") { return [TensorFact(dtype: .float, shape: [v.count])] }
            return [TensorFact(dtype: nil, shape: nil)]
        case ("com.microsoft", "QLinearAdd"), ("com.microsoft", "QLinearMul"):
            let b = ins.count > 3 ? ins[3]?.shape : nil
            let s = (x?.shape != nil && b != nil) ? try broadcast([x!.shape!, b!]) : nil
            return [TensorFact(dtype: ins.count > 7 ? ins[7]?.dtype ?? x?.dtype : x?.dtype, shape: s)]
        case ("com.microsoft", "QLinearLeakyRelu"), ("com.microsoft", "QLinearSigmoid"):
            return [TensorFact(dtype: ins.count > 4 ? ins[4]?.dtype ?? x?.dtype : x?.dtype, shape: x?.shape)]
        default:
            return n.outputs.map { _ in TensorFact(dtype: nil, shape: nil) }
        }
    }


    /// An axis normalized into 0..<rank; a bad input error otherwise.
    public static func axis(_ a: Int, rank: Int, _ what: String = "axis") throws -> Int {
        let n = a < 0 ? a + rank : a
        guard n >= 0 && n < max(rank, 1) else { throw QVError.badInput("\(what) \(a) is out of range for rank \(rank)") }
        return n
    }

    /// Numpy-style multidirectional broadcasting.
    public static func broadcast(_ shapes: [[Int]]) throws -> [Int] {
        let r = shapes.map(\.count).max() ?? 0
        var out = Array(repeating: 1, count: r)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let j = r - s.count + i
                if out[j] == 1 { out[j] = d } else if d != 1 && d != out[j] {
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
        guard a2[a2.count - 1] == b2[b2.count - 2] else { throw QVError.badInput("MatMul inner dimensions differ: \(a) × \(b)") }
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
        func ints(_ name: String) -> [Int]? { if case .ints(let v) = n.attribute(name) { v.map { Int($0) } } else { nil } }
        let strides = ints("strides") ?? Array(repeating: 1, count: r)
        let dil = ints("dilations") ?? Array(repeating: 1, count: r)
        var pads = ints("pads") ?? Array(repeating: 0, count: 2 * r)
        var autoPad = "NOTSET"
        if case .string(let s) = n.attribute("auto_pad") { autoPad = String(decoding: s, as: UTF8.self) }
        let ceilMode: Bool = if case .int(let c) = n.attribute("ceil_mode") { c == 1 } else { false }
        guard strides.count == r, dil.count == r, pads.count == 2 * r, input.count == r else {
            throw QVError.badInput("strides/dilations/pads do not match the \(r)-d kernel")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dil.allSatisfy({ $0 >= 1 }), kernel.allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 }) else {
            throw QVError.badInput("invalid window: kernel \(kernel), strides \(strides), dilations \(dil), pads \(pads) (strides, dilations and kernel must be ≥ 1, pads ≥ 0)")
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

    static func poolShape(_ n: Node, _ x: [Int]?) throws -> [Int]? {
        guard let x, x.count >= 3 else { return nil }
        guard case .ints(let k) = n.attribute("kernel_shape") else { throw QVError.badInput("pooling needs kernel_shape") }
        let (out, _) = try windowOutput(n, input: Array(x[2...]), kernel: k.map { Int($0) })
        return [x[0], x[1]] + out
    }
}
