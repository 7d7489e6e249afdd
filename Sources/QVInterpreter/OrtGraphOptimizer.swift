import QVGraph
import QVKernels

/// What onnxruntime's CPU graph optimizer (ORT_ENABLE_EXTENDED and ORT_ENABLE_ALL, x86) does to a
/// quantized graph, as far as it changes numbers. Derived from its rules, not by calling it:
///
/// 1. **int8 → uint8 activations** (`QDQS8ToU8Transformer`): a QuantizeLinear with an int8 zero
///    point whose only consumer is a DequantizeLinear with the same zero point (scales are not
///    compared) gets uint8 with zero point + 128, on both. The real values are unchanged; the integers are the
///    old ones + 128, which sends the fused products below through u8×s8 kernels.
/// 2. **QDQ group fusion** (`QDQSelectorActionTransformer`): DQ(x), DQ(w)[, DQ(int32 bias)] →
///    Conv/MatMul/Gemm → Q becomes QLinearConv / QLinearMatMul / com.microsoft QGemm, integer
///    accumulation then one float32 requantization; DQ(a), DQ(b) → Add/Mul → Q becomes
///    com.microsoft QLinearAdd/QLinearMul; DQ → Sigmoid | LeakyRelu | AveragePool |
///    GlobalAveragePool | Softmax → Q becomes the com.microsoft QLinear op of the same name. On x86 the products need a uint8 activation (int8 is
///    not fused); each DQ must feed only that node, and the node only that Q. A Conv's bias DQ
///    must say what QLinearConv assumes (``convBiasFits(_:x:w:bias:)``); a Gemm's is not checked.
///
/// A Relu before a Q whose zero point is its type's minimum is removed first (ReluQuantFusion), so
/// DQ → Conv → Relu → Q fuses too. What it leaves out changes no number: the NHWC layout and
/// Transposes around QLinearConv (with the Q → DQ pairs they bring), the dropped Q/DQ around
/// MaxPool/Reshape/Flatten. Float operators it keeps run in a different summation order from the
/// one qverify reproduces (NCHWc kernels); quantized values after them can differ at near-ties.
public enum OrtGraphOptimizer {
    public struct Result {
        public var model: Model
        /// One line per rewrite, e.g. "QLinearConv 'conv1' ← DQ, DQ, DQ → Conv → Q 'conv1_Scaling'".
        public var log: [String]
    }

    public static func optimize(_ model: Model) throws -> Result {
        var m = model
        var log: [String] = []
        try quantizeWeightsAndBiases(&m.graph, log: &log)
        try foldConstantQuantizers(&m, log: &log)
        try uniqueDequantizers(&m.graph, log: &log)
        try removeReluBeforeQuantize(&m.graph, log: &log)
        try rewriteS8ToU8(&m.graph, log: &log)
        try fuseGroups(&m, log: &log)
        return Result(model: m, log: log)
    }

    // MARK: - 0. Constant folding and one DQ per consumer (ORT_ENABLE_BASIC: no number changes)

    /// onnxruntime's WeightBiasQuantization (ORT_ENABLE_BASIC and up): a Conv, ConvTranspose or Gemm
    /// whose data comes from a per-tensor DequantizeLinear and whose output reaches a
    /// QuantizeLinear alone (through Relu or Clip at most) gets its float weight initializer
    /// quantized to int8 — per tensor, scale (max − min)/255 and zero point −128 − min/scale
    /// rounded half to even, over the range widened to hold 0 — behind a Q → DQ pair, and its
    /// float bias initializer replaced by DQ(Cast int32(Round(bias / (x_scale · w_scale)))).
    /// The weights and bias then carry that quantization's error: quantize_static's QOperator
    /// models leave ConvTranspose float there, and onnxruntime at any level above DISABLE_ALL
    /// runs it on these weights. The new nodes run as written (onnxruntime constant-folds them
    /// with the same kernels).
    static func quantizeWeightsAndBiases(_ g: inout Graph, log: inout [String]) throws {
        let index = try GraphIndex(g)
        func producer(_ t: String) -> Node? { index.producer[t].map { g.nodes[$0] } }
        func isScalar(_ name: String) -> Bool {
            guard let t = g.initializer(name) else { return false }
            return t.rank == 0 || (t.rank == 1 && t.shape[0] == 1)
        }
        /// The output reaches one QuantizeLinear, through single-reader Relu or Clip nodes only.
        func reachesQuantizer(_ start: Node) -> Bool {
            var current = start
            while true {
                guard current.outputs.count == 1, let users = index.consumers[current.outputs[0]], users.count == 1
                else { return false }
                let next = g.nodes[users[0]]
                if next.opType == "QuantizeLinear" { return true }
                guard next.opType == "Relu" || next.opType == "Clip" else { return false }
                current = next
            }
        }
        for ti in index.topologicalOrder {
            let t = g.nodes[ti]
            guard t.normalizedDomain.isEmpty, ["Conv", "ConvTranspose", "Gemm"].contains(t.opType), t.inputs.count >= 2,
                let d0 = producer(t.inputs[0]), d0.opType == "DequantizeLinear", d0.inputs.count >= 2,
                isScalar(d0.inputs[1]), reachesQuantizer(t)
            else { continue }
            let dq1 = producer(t.inputs[1]).flatMap { $0.opType == "DequantizeLinear" ? $0 : nil }
            let weight = g.initializer(t.inputs[1])
            guard dq1 != nil || weight?.dtype == .float else { continue }
            let biasName = t.inputs.count >= 3 && !t.inputs[2].isEmpty ? t.inputs[2] : nil
            var biasSize: Int? = nil
            if let biasName {
                guard let b = g.initializer(biasName), b.rank == 1 else { continue }
                biasSize = b.shape[0]
            }
            if dq1 != nil && biasSize == nil { continue }
            var perTensor = true
            if let dq1, dq1.inputs.count >= 2, !isScalar(dq1.inputs[1]) {
                perTensor = false
                guard let s = g.initializer(dq1.inputs[1]), s.rank == 1, s.shape[0] == biasSize,
                    dq1.int("block_size", default: 0) == 0
                else { continue }
                let rank = g.initializer(dq1.inputs[0])?.rank ?? 0
                var axis = dq1.int("axis", default: 1)
                if axis < 0 { axis += rank }
                let expected = t.opType == "Gemm" ? (t.int("transB", default: 0) == 0 ? 1 : 0) : 0
                guard axis == expected else { continue }
            }
            var node = t
            let wScale: String
            if let dq1 {
                wScale = dq1.inputs[1]
            } else {
                let (scale, zero) = weightQuantization(weight!.floats!)
                wScale = "\(t.name)_weight_scale"
                let zp = "\(t.name)_weight_zp", wq = "\(t.name)_weight_q", wdq = "\(t.name)_weight_dq"
                g.setInitializer(wScale, Tensor([scale], shape: []))
                g.setInitializer(zp, Tensor([Int32(zero)], shape: [], dtype: .int8))
                g.nodes.append(
                    Node(name: wq, opType: "QuantizeLinear", inputs: [t.inputs[1], wScale, zp], outputs: [wq]))
                g.nodes.append(Node(name: wdq, opType: "DequantizeLinear", inputs: [wq, wScale, zp], outputs: [wdq]))
                node.inputs[1] = wdq
            }
            if let biasName {
                let p = "\(t.name)_bias"
                g.nodes.append(
                    Node(name: "\(p)_scale", opType: "Mul", inputs: [d0.inputs[1], wScale], outputs: ["\(p)_scale"]))
                g.nodes.append(
                    Node(name: "\(p)_div", opType: "Div", inputs: [biasName, "\(p)_scale"], outputs: ["\(p)_div"]))
                g.nodes.append(Node(name: "\(p)_round", opType: "Round", inputs: ["\(p)_div"], outputs: ["\(p)_round"]))
                g.nodes.append(
                    Node(
                        name: "\(p)_int32", opType: "Cast", inputs: ["\(p)_round"], outputs: ["\(p)_int32"],
                        attributes: [Attribute(name: "to", value: .int(Int64(DType.int32.rawValue)))]))
                g.nodes.append(
                    Node(
                        name: "\(p)_dq", opType: "DequantizeLinear", inputs: ["\(p)_int32", "\(p)_scale"],
                        outputs: ["\(p)_dq"], attributes: perTensor ? [] : [Attribute(name: "axis", value: .int(0))]))
                node.inputs[2] = "\(p)_dq"
            }
            g.nodes[ti] = node
            log.append(
                "\(t.opType) '\(t.name)': \(dq1 == nil ? "float weights quantized to int8" : "weights already quantized")\(biasName == nil ? "" : ", bias to int32") (WeightBiasQuantization)"
            )
        }
        // The new Q/DQ and bias nodes were appended: put them before their readers.
        if g.nodes.count != index.topologicalOrder.count {
            g.nodes = try GraphIndex(g).topologicalOrder.map { g.nodes[$0] }
        }
    }

    /// onnxruntime's GetQuantizationParameter for int8 (qmath.h): the range widened to hold 0,
    /// scale (max − min)/255 (1 for an all-zero tensor), zero point −128 − min/scale clamped to
    /// [−128, 127] and rounded half to even; every operation in float32.
    static func weightQuantization(_ w: [Float]) -> (scale: Float, zero: Int8) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for v in w {
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, v)
        }
        lo = Swift.min(lo, 0)
        hi = Swift.max(hi, 0)
        let scale: Float = hi == lo ? 1 : (hi - lo) / 255
        let initial = Float(-128) - lo / scale
        return (scale, Int8(Swift.max(-128, Swift.min(127, initial)).rounded(.toNearestOrEven)))
    }

    /// A QuantizeLinear of a constant (weights quantized at run time) becomes its integer
    /// initializer, as onnxruntime's constant folding does; DequantizeLinear is never folded.
    static func foldConstantQuantizers(_ model: inout Model, log: inout [String]) throws {
        var g = model.graph
        var removed: [Int] = []
        for i in try GraphIndex(g).topologicalOrder
        where g.nodes[i].opType == "QuantizeLinear" && g.nodes[i].normalizedDomain.isEmpty {
            let n = g.nodes[i]
            let ins = n.inputs.map { $0.isEmpty ? nil : g.initializer($0) }
            guard n.inputs.enumerated().allSatisfy({ $0.element.isEmpty || ins[$0.offset] != nil }) else { continue }
            let k = try Registry.make(n, KernelContext(semantics: .onnx, opset: model.opset() ?? 21))
            let out = try k.run(ins)
            g.setInitializer(n.outputs[0], out[0])
            removed.append(i)
            log.append("constant: QuantizeLinear '\(n.name)' folded into an initializer")
        }
        for r in removed.sorted(by: >) { g.nodes.remove(at: r) }
        model.graph = g
    }

    /// A DequantizeLinear read by several nodes is copied once per reader
    /// (`EnsureUniqueDQForNodeUnit`), so each QDQ group can own its DQ.
    static func uniqueDequantizers(_ g: inout Graph, log: inout [String]) throws {
        let index = try GraphIndex(g)
        let graphOutputs = Set(g.outputs.map(\.name))
        for di in g.nodes.indices where g.nodes[di].opType == "DequantizeLinear" {
            let d = g.nodes[di]
            guard !graphOutputs.contains(d.outputs[0]), let users = index.consumers[d.outputs[0]], users.count > 1
            else { continue }
            for (k, u) in users.enumerated().dropFirst() {
                var copy = d
                copy.name = "\(d.name)_qverify_copy\(k)"
                copy.outputs = ["\(d.outputs[0])_qverify_copy\(k)"]
                g.nodes.append(copy)
                g.nodes[u].inputs = g.nodes[u].inputs.map { $0 == d.outputs[0] ? copy.outputs[0] : $0 }
            }
            log.append("one DequantizeLinear per reader: '\(d.name)' copied for \(users.count - 1) more")
        }
    }

    /// onnxruntime's ReluQuantFusion: a Relu whose only reader is a QuantizeLinear with a constant
    /// scalar zero point at its type's minimum (uint8 0, int8 −128) is removed — the Q's clamp does
    /// what it did. It changes no number by itself, but it turns DQ → Conv → Relu → Q into a group
    /// fuseGroups makes a QLinearConv of, whose integer products saturate on AVX2 hosts.
    static func removeReluBeforeQuantize(_ g: inout Graph, log: inout [String]) throws {
        let index = try GraphIndex(g)
        let graphOutputs = Set(g.outputs.map(\.name))
        var removed = Set<Int>()
        for ri in g.nodes.indices where g.nodes[ri].opType == "Relu" && g.nodes[ri].normalizedDomain.isEmpty {
            let r = g.nodes[ri]
            guard let out = r.outputs.first, !graphOutputs.contains(out), let users = index.consumers[out],
                users.count == 1
            else { continue }
            let q = g.nodes[users[0]]
            guard q.opType == "QuantizeLinear", q.normalizedDomain.isEmpty, q.inputs.count >= 3,
                let z = scalar(g, q.inputs[2]), let zv = z.asInt64s()?.first,
                (z.dtype == .uint8 && zv == 0) || (z.dtype == .int8 && zv == -128)
            else { continue }
            g.nodes[users[0]].inputs[0] = r.inputs[0]
            removed.insert(ri)
            log.append("Relu '\(r.name)' removed before QuantizeLinear '\(q.name)' (zero point at its type's minimum)")
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    // MARK: - 1. int8 → uint8 Q/DQ pairs

    static func scalar(_ g: Graph, _ name: String) -> Tensor? {
        guard !name.isEmpty, let t = g.initializer(name), t.count == 1 else { return nil }
        return t
    }

    static func rewriteS8ToU8(_ g: inout Graph, log: inout [String]) throws {
        let index = try GraphIndex(g)
        let graphOutputs = Set(g.outputs.map(\.name))
        var counter = 0
        for qi in g.nodes.indices where g.nodes[qi].opType == "QuantizeLinear" && g.nodes[qi].normalizedDomain.isEmpty {
            let q = g.nodes[qi]
            // onnxruntime's QDQ_S8_to_U8 compares the zero points only: a pair whose scales differ
            // (an Aidge rescaling's sf, an ulp off its input's step) is rewritten too.
            guard q.inputs.count >= 3, let qz = scalar(g, q.inputs[2]), qz.dtype == .int8,
                !graphOutputs.contains(q.outputs[0]), let users = index.consumers[q.outputs[0]], users.count == 1
            else { continue }
            let di = users[0]
            let d = g.nodes[di]
            guard d.opType == "DequantizeLinear", d.normalizedDomain.isEmpty, d.inputs.count >= 3,
                d.inputs[0] == q.outputs[0],
                let dz = scalar(g, d.inputs[2]), dz.dtype == .int8, dz.asInt64s() == qz.asInt64s()
            else { continue }
            let z = qz.asInt64s()![0] + 128
            let name = "qverify_ort_s8_to_u8_zp_\(counter)"
            counter += 1
            g.setInitializer(name, Tensor([Int32(z)], shape: qz.shape, dtype: .uint8))
            g.nodes[qi].inputs[2] = name
            g.nodes[di].inputs[2] = name
            log.append(
                "uint8 activation: QuantizeLinear '\(q.name)' → DequantizeLinear '\(d.name)' (zero point \(z - 128) → \(z))"
            )
        }
    }

    // MARK: - 2. QDQ groups → QLinear operators

    /// The element type of a DequantizeLinear's integer input, from its zero point (uint8 without one).
    static func dqType(_ g: Graph, _ dq: Node) -> DType {
        if dq.inputs.count >= 3, !dq.inputs[2].isEmpty, let z = g.initializer(dq.inputs[2]) { return z.dtype }
        if let t = g.initializer(dq.inputs[0]) { return t.dtype }
        return .uint8
    }

    /// onnxruntime 1.32's check before it folds a Conv's bias DQ into QLinearConv, which keeps
    /// only the int32 values: the bias zero point is absent or zero, and each channel's bias scale
    /// is within 1e-6 + 1e-2·|x_scale·w_scale| of x_scale·w_scale (float32). Otherwise the group
    /// stays DQ → Conv → Q in float. Measured against onnxruntime's optimized graphs (a channel's
    /// bias scale 4.6-6% off, 1.2e-6 absolute at scales near 2e-5, is the limit); its Gemm fusion
    /// has no such check and drops the bias scale and zero point whatever they are.
    public static func convBiasFits(_ g: Graph, x: Node, w: Node, bias: Node) -> Bool {
        if bias.inputs.count >= 3, !bias.inputs[2].isEmpty {
            guard let z = g.initializer(bias.inputs[2])?.asInt64s(), z.allSatisfy({ $0 == 0 }) else { return false }
        }
        guard let xs = g.initializer(x.inputs[1])?.floats, xs.count == 1,
            let ws = g.initializer(w.inputs[1])?.floats, let bs = g.initializer(bias.inputs[1])?.floats,
            !ws.isEmpty, !bs.isEmpty
        else { return false }
        for i in 0..<max(ws.count, bs.count) {
            let expected = xs[0] * ws[ws.count == 1 ? 0 : min(i, ws.count - 1)]
            let b = bs[bs.count == 1 ? 0 : min(i, bs.count - 1)]
            guard abs(b - expected) <= 1e-6 + 1e-2 * abs(expected) else { return false }
        }
        return true
    }

    static func fuseGroups(_ model: inout Model, log: inout [String]) throws {
        var g = model.graph
        let graphOutputs = Set(g.outputs.map(\.name))
        var usedMicrosoft = false
        var zeroCounter = 0
        // Repeats until no group is left: each fusion changes producers and consumers.
        var changed = true
        while changed {
            changed = false
            let index = try GraphIndex(g)
            func onlyConsumer(_ tensor: String, _ node: Int) -> Bool {
                !graphOutputs.contains(tensor) && (index.consumers[tensor] ?? []) == [node]
            }
            func dq(_ tensor: String, feeding node: Int) -> (Int, Node)? {
                guard let p = index.producer[tensor], g.nodes[p].opType == "DequantizeLinear",
                    g.nodes[p].normalizedDomain.isEmpty,
                    onlyConsumer(tensor, node)
                else { return nil }
                return (p, g.nodes[p])
            }
            /// scale and zero point inputs of a DQ or Q, with a zero of `type` made when absent.
            func params(_ n: Node, _ type: DType) -> [String] {
                if n.inputs.count >= 3, !n.inputs[2].isEmpty { return [n.inputs[1], n.inputs[2]] }
                let name = "qverify_ort_zero_\(zeroCounter)"
                zeroCounter += 1
                g.setInitializer(name, Tensor([0], shape: [], dtype: type))
                return [n.inputs[1], name]
            }
            for ti in index.topologicalOrder {
                let t = g.nodes[ti]
                guard t.normalizedDomain.isEmpty,
                    [
                        "Conv", "MatMul", "Gemm", "Add", "Mul", "GlobalAveragePool", "Sigmoid", "LeakyRelu",
                        "AveragePool", "Softmax",
                    ]
                    .contains(t.opType),
                    t.outputs.count == 1,
                    !graphOutputs.contains(t.outputs[0]), let users = index.consumers[t.outputs[0]], users.count == 1,
                    g.nodes[users[0]].opType == "QuantizeLinear", g.nodes[users[0]].normalizedDomain.isEmpty
                else { continue }
                let qi = users[0]
                let q = g.nodes[qi]
                let yType: DType =
                    q.inputs.count >= 3 && !q.inputs[2].isEmpty ? (g.initializer(q.inputs[2])?.dtype ?? .uint8) : .uint8
                if ["Sigmoid", "LeakyRelu", "AveragePool", "GlobalAveragePool", "Softmax"].contains(t.opType) {
                    // DQ → op → Q (one 8-bit type) becomes com.microsoft QLinear<op>: Sigmoid and LeakyRelu as a
                    // 256-entry table of the float function, AveragePool and GlobalAveragePool (NCHW) as an
                    // exact integer sum and one requantization.
                    guard let (ai, a) = dq(t.inputs[0], feeding: ti), dqType(g, a) == yType,
                        [DType.uint8, .int8].contains(yType),
                        t.opType != "AveragePool" || (t.ints("dilations") ?? []).allSatisfy({ $0 == 1 })
                    else { continue }
                    var attributes = t.attributes.filter { $0.name != "dilations" }
                    if t.opType == "GlobalAveragePool" {
                        attributes = [Attribute(name: "channels_last", value: .int(0))]
                    }
                    if t.opType == "Softmax" {
                        // QLinearSoftmax reads its axis as the Softmax version it replaces did.
                        let opset = model.opset() ?? 13
                        attributes.append(
                            Attribute(name: "opset", value: .int(opset >= 13 ? 13 : opset >= 11 ? 11 : 1)))
                    }
                    let fused = Node(
                        name: t.name, opType: "QLinear" + t.opType, domain: "com.microsoft",
                        inputs: [a.inputs[0]] + params(a, yType) + params(q, yType), outputs: [q.outputs[0]],
                        attributes: attributes)
                    usedMicrosoft = true
                    log.append("QLinear\(t.opType) '\(t.name)' ← DQ → \(t.opType) → Q '\(q.name)'")
                    g.nodes[ti] = fused
                    for r in [ai, qi].sorted(by: >) { g.nodes.remove(at: r) }
                    changed = true
                    break
                }
                guard t.inputs.count >= 2, let (ai, a) = dq(t.inputs[0], feeding: ti),
                    let (bi, b) = dq(t.inputs[1], feeding: ti)
                else { continue }
                let aType = dqType(g, a), bType = dqType(g, b)
                var removed = [ai, bi, qi]
                var fused: Node
                switch t.opType {
                case "Add", "Mul":
                    guard aType == yType, bType == yType, [DType.uint8, .int8].contains(yType) else { continue }
                    fused = Node(
                        name: t.name, opType: "QLinear" + t.opType, domain: "com.microsoft",
                        inputs: [a.inputs[0]] + params(a, aType) + [b.inputs[0]] + params(b, bType) + params(q, yType),
                        outputs: [q.outputs[0]])
                default:
                    // x86: the activation must be uint8 (int8 products are not fused); Conv and Gemm
                    // weights are a constant, MatMul's B may be an activation (attention's Q·Kᵀ).
                    guard aType == .uint8, yType == .uint8, t.opType == "MatMul" || g.initializer(b.inputs[0]) != nil,
                        [DType.uint8, .int8].contains(bType)
                    else { continue }
                    var bias: String? = nil
                    if t.inputs.count > 2, !t.inputs[2].isEmpty {
                        guard let (ci, c) = dq(t.inputs[2], feeding: ti), let ct = g.initializer(c.inputs[0]),
                            ct.dtype == .int32
                        else { continue }
                        if t.opType == "Gemm", t.float("beta", default: 1) != 1 { continue }
                        // onnxruntime fuses a Conv only when the int32 bias it keeps means what its DQ said.
                        if t.opType == "Conv", !Self.convBiasFits(g, x: a, w: b, bias: c) { continue }
                        bias = c.inputs[0]
                        removed.append(ci)
                    }
                    let x = [a.inputs[0]] + params(a, aType), w = [b.inputs[0]] + params(b, bType), y = params(q, yType)
                    switch t.opType {
                    case "Conv":
                        fused = Node(
                            name: t.name, opType: "QLinearConv", inputs: x + w + y + (bias.map { [$0] } ?? []),
                            outputs: [q.outputs[0]], attributes: t.attributes)
                    case "MatMul":
                        guard bias == nil else { continue }
                        fused = Node(name: t.name, opType: "QLinearMatMul", inputs: x + w + y, outputs: [q.outputs[0]])
                    default:
                        fused = Node(
                            name: t.name, opType: "QGemm", domain: "com.microsoft", inputs: x + w + [bias ?? ""] + y,
                            outputs: [q.outputs[0]],
                            attributes: t.attributes.filter { ["transA", "transB", "alpha"].contains($0.name) })
                    }
                }
                usedMicrosoft = usedMicrosoft || fused.domain == "com.microsoft"
                log.append("\(fused.opType) '\(t.name)' ← DQ → \(t.opType) → Q '\(q.name)'")
                g.nodes[ti] = fused
                for r in removed.sorted(by: >) { g.nodes.remove(at: r) }  // ti itself is kept: it holds the fused node
                changed = true
                break
            }
        }
        model.graph = g
        if usedMicrosoft, model.opset("com.microsoft") == nil {
            model.opsetImports.append(OpsetImport(domain: "com.microsoft", version: 1))
        }
    }
}
