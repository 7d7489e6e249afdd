import QVGraph

/// How one integer tensor maps to real values: real = (q − zeroPoint) · step.
public struct QuantInfo: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType
    public var step: Double
    public var zeroPoint: Int64
    /// True when `step` is qverify's assumption, not something the file states (folded weights).
    public var assumed: Bool
    /// The last folded weight whose assumed step this one scales with (nil if none).
    public var assumedFrom: String?

    public init(dtype: DType, step: Double, zeroPoint: Int64 = 0, assumed: Bool = false, assumedFrom: String? = nil) {
        self.dtype = dtype
        self.step = step
        self.zeroPoint = zeroPoint
        self.assumed = assumed
        self.assumedFrom = assumedFrom
    }
    public var description: String {
        "\(dtype) step \(step)\(zeroPoint != 0 ? " zp \(zeroPoint)" : "")\(assumed ? " (assumed)" : "")"
    }
}

/// Real steps a folded export does not carry, given by the user (the `steps` part of the
/// --aidge-scaling-factors file): the steps Aidge's own unfolded export writes for the same
/// quantization. With them, the converted model's real values are Aidge's, not assumptions.
public struct KnownSteps: Sendable, Codable, Equatable {
    /// The step of each runtime input, by position.
    public var inputs: [Double]
    /// The step of each Conv/Gemm/MatMul's weights, by that node's name (the same in both exports).
    public var weights: [String: Double]

    public init(inputs: [Double] = [], weights: [String: Double] = [:]) {
        self.inputs = inputs
        self.weights = weights
    }

    public var isEmpty: Bool { inputs.isEmpty && weights.isEmpty }
}

/// Which Aidge export a model is.
public enum AidgeExportForm: String, Sendable, Codable {
    /// Default options: integer weights and biases, no input quantizer; the input is fed as integers.
    case folded
    /// `rescale_inputs=True, fold_graph=False`: float weights and biases behind QuantizeLinear, an InputRescaling
    /// quantizer.
    case unfolded
}

/// The real-valued meaning of every integer tensor of an Aidge-form graph, derived from the
/// exported quantizers: each Aidge Quantizer multiplies by sf and the exporter writes scale
/// 1/sf, so a quantizer maps a tensor of step s to one of step s · scale (s · 2^shift for an
/// INT32 bit-shift scale); Conv/Gemm accumulators have step x_step · w_step.
public struct QuantPlan: Sendable {
    public var form: AidgeExportForm
    public var tensors: [String: QuantInfo] = [:]
    /// Real-valued graph inputs that the folded graph consumes as integers, with their quantization.
    public var quantizedInputs: [String: QuantInfo] = [:]
    /// For each of those inputs, the name of the integer tensor the converted graph quantizes it into.
    public var quantizedInputNames: [String: String] = [:]
    /// Aidge quantizer nodes (QuantizeLinear) by name, with the kind of tensor they act on.
    public var quantizerKinds: [String: QuantizerKind] = [:]
    /// Human-readable notes on assumptions (folded weight steps, input scale convention).
    public var notes: [String] = []
    /// Steps chosen for folded weights (whose real step the file does not keep).
    public var weightSteps: [String: Double] = [:]
    /// Steps the user gave for what the file does not keep.
    public var knownSteps = KnownSteps()

    /// Tensors whose real step qverify assumed because the file does not record it (a folded
    /// export's input without --input-scale, and its weights), with the step assumed.
    public var assumedSteps: [(tensor: String, step: Double)] {
        quantizedInputs.filter { $0.value.assumed }.map { ($0.key, $0.value.step) }.sorted { $0.0 < $1.0 }
            + weightSteps.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
    /// The order in which folded weights were met (topological), for choosing which to rescale.
    var weightOrder: [String: Int] = [:]
    /// Fake-quantize quantizers (float zero point), whose integer type qverify assumes.
    public var fakeQuantizers: Set<String> = []
    /// Float-typed integer constants of a folded fake_quantize export, with the integer type assumed.
    public var fakeConstantTypes: [String: DType] = [:]
    var hasFakeQuantizers = false

    /// A float constant whose values are integers in the signed `bits`-bit range (fake_quantize folding).
    func fakeConstants(_ t: Tensor, bits: Int) -> Bool {
        guard hasFakeQuantizers, let v = t.asDoubles() else { return false }
        let lim = Double((Int64(1) << (bits - 1)))
        return v.allSatisfy { $0 == $0.rounded(.towardZero) && $0 >= -lim && $0 < lim }
    }

    public enum QuantizerKind: String, Sendable {
        case weight, bias, input, activation, requantize
        /// Aidge's rescaling quantizer into an op it leaves in float (`<op>_PrevScaling`: x · sf, no rounding).
        case rescale
        /// The quantizer after such an op: float values into integers, as an input quantizer.
        case floatExit
    }
    /// Float tensors of Aidge's float islands: from a rescaling quantizer (``QuantizerKind/rescale``)
    /// through the ops Aidge leaves in float, up to the quantizers after them.
    public var floatIsland: Set<String> = []

    /// Ops that move or select integers without changing their scale.
    public static let transparentOps: Set<String> = [
        "Relu", "MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Pad", "Split",
    ]
    /// Whether `n` only moves or selects integers (``transparentOps``, and a nearest-neighbour
    /// Resize, which copies input elements; other modes interpolate).
    public static func isTransparent(_ n: Node) -> Bool {
        transparentOps.contains(n.opType) || (n.opType == "Resize" && n.string("mode", default: "nearest") == "nearest")
    }
    /// The outputs of a transparent or averaging op that carry its input's quantization (all of a
    /// Split's; MaxPool's Indices are not).
    public static func quantizedOutputs(_ n: Node) -> [String] {
        (n.opType == "Split" ? n.outputs : [n.outputs[0]]).filter { !$0.isEmpty }
    }
    /// Ops Aidge's PTQ leaves on integers whose integer kernel does not compute what the float op
    /// means: the conversion computes the op on the real value at the same step (DQ → op → Q)
    /// and the plan says how Aidge's arithmetic differs. LeakyRelu: Aidge casts the slope to the
    /// integer type (0 for |α| < 1), so its graph computes Relu.
    public static let requantizedOps: Set<String> = ["LeakyRelu"]
    /// Ops that keep their input's scale and type but round (Aidge: the mean of integers, rounded
    /// half away from zero): the same QuantInfo on both sides, and ties to report.
    public static let averagingOps: Set<String> = ["GlobalAveragePool", "AveragePool"]

    /// Analyses an Aidge-form graph. `inputScale` overrides the folded input's step (else the
    /// `known` one, else 1/(2^(n−1)−1), Aidge's convention, with n the activation width); `known`
    /// weight steps replace the folded weights' assumed ones.
    public init(model: Model, inputScale: Double? = nil, known: KnownSteps = KnownSteps()) throws {
        // Folded weights have no step in the file. Start from 1/(2^(n−1)−1) and, where a
        // residual Add needs both branches on one step, solve for the weight step and redo.
        var overrides: [String: Double] = [:]
        for _ in 0..<max(32, 4 * model.graph.nodes.count) {
            do {
                self = try QuantPlan(model: model, inputScale: inputScale, known: known, weightSteps: overrides)
                return
            } catch let r as RescaleWeight {
                overrides[r.weight] = r.step
            }
        }
        throw QVError.unsupported("could not find consistent steps for the folded weights")
    }

    struct RescaleWeight: Error {
        var weight: String
        var step: Double
    }

    init(model: Model, inputScale: Double?, known: KnownSteps, weightSteps overrides: [String: Double]) throws {
        let g = model.graph
        weightSteps = overrides
        knownSteps = known
        let index = try GraphIndex(g)
        let quantizesInput = g.nodes.contains { n in
            n.opType == "QuantizeLinear" && g.runtimeInputs.contains { $0.name == n.inputs.first }
        }
        form = quantizesInput ? .unfolded : .folded
        // Activation width: the first quantizer (in order) on a non-initializer tensor.
        hasFakeQuantizers = g.nodes.contains { n in
            n.opType == "QuantizeLinear"
                && n.quantizerZeroPoint.flatMap({ g.initializer($0) })?.dtype.isFloatingPoint == true
        }
        let firstActivation = index.topologicalOrder.lazy.map { g.nodes[$0] }.first { n in
            n.opType == "QuantizeLinear" && g.initializer(n.inputs[0]) == nil && n.quantizerZeroPoint != nil
        }
        // (A fake_quantize export's float zero point means Aidge's default int8.)
        let actType =
            firstActivation.flatMap { $0.quantizerZeroPoint.flatMap { g.initializer($0)?.dtype } }.map {
                $0.isFloatingPoint ? DType.int8 : $0
            }
            ?? .int8
        if form == .folded {
            let bits = actType.bitWidth
            let convention = 1 / Double((1 << (bits - 1)) - 1)
            let taken = Set(g.nodes.flatMap { $0.inputs + $0.outputs }).union(g.initializerOrder).union(
                g.inputs.map(\.name))
            if !known.inputs.isEmpty, known.inputs.count != g.runtimeInputs.count {
                throw QVError.badInput(
                    "the steps file gives \(known.inputs.count) input step(s) for \(g.runtimeInputs.count) input(s)")
            }
            for (k, i) in g.runtimeInputs.enumerated() {
                let given = inputScale ?? (known.inputs.isEmpty ? nil : known.inputs[k])
                let q = QuantInfo(dtype: actType, step: given ?? convention, assumed: given == nil)
                quantizedInputs[i.name] = q
                tensors[i.name] = q
                var name = "\(i.name)_quantized", k = 1
                while taken.contains(name) { name = "\(i.name)_quantized_\(k)"; k += 1 }
                quantizedInputNames[i.name] = name
                tensors[name] = q
            }
            notes.append(
                inputScale != nil
                    ? "folded export: input step \(inputScale!) from --input-scale"
                    : !known.inputs.isEmpty
                        ? "folded export: input step(s) \(known.inputs) from the steps file"
                        : "folded export: input step 1/\(Int(1 / convention)) by Aidge's convention (round_half_up(x·\(Int(1 / convention))) is fed as \(actType)); give the real one with --input-scale or a steps file"
            )
        }
        for i in index.topologicalOrder {
            let n = g.nodes[i]
            try withContext("node \(n.label(index: i))") { try visit(n, g, index) }
        }
        if !fakeQuantizers.isEmpty {
            notes.append(
                "fake_quantize export: \(fakeQuantizers.count) quantizers have float zero points; assumed Aidge's default int8 (int32 for biases)"
            )
        }
        let unused = Set(known.weights.keys).subtracting(g.nodes.map(\.name))
        if let name = unused.sorted().first {
            throw QVError.badInput("the steps file names weights of '\(name)', which is not a node of this model")
        }
        for (w, step) in weightSteps.sorted(by: { $0.key < $1.key }) {
            let derived = overrides[w] != nil
            notes.append(
                "folded export: weight '\(w)' step \(derived ? "solved so a residual Add, a Concat or a float op's rescaling meets it" : "assumed") \(step) (the file keeps only integers)"
            )
        }
    }

    mutating func visit(_ n: Node, _ g: Graph, _ index: GraphIndex) throws {
        func info(_ name: String) -> QuantInfo? {
            if let t = tensors[name] { return t }
            return nil
        }
        let intInputs = n.inputs.filter { !$0.isEmpty && info($0) != nil }
        if n.opType != "QuantizeLinear", let f = n.inputs.first(where: { floatIsland.contains($0) }) {
            // An op Aidge computes in float, on a float island.
            guard intInputs.isEmpty else {
                throw QVError.unsupported(
                    "\(n.opType) reads Aidge's float tensor '\(f)' and the quantized '\(intInputs[0])'")
            }
            floatIsland.formUnion(n.outputs.filter { !$0.isEmpty })
            return
        }
        switch n.opType {
        case "QuantizeLinear":
            guard let scale = n.quantizerScale.flatMap({ g.initializer($0) }) else {
                throw QVError.unsupported("the quantizer's scale is not a constant")
            }
            let zp = n.quantizerZeroPoint.flatMap { g.initializer($0) }
            if n.quantizerZeroPoint != nil, zp == nil {
                throw QVError.unsupported("the quantizer's zero point is not a constant")
            }
            if let z = zp, z.dtype.isFloatingPoint, let xi = info(n.inputs[0]),
                AidgeConventions.rescalesIntoFloatOp(n, g, index)
            {
                // x_q · sf (+ zp), unrounded, into an op Aidge leaves in float.
                guard scale.count == 1, let s = scale.asDoubles()?.first, s > 0, s.isFinite else {
                    throw QVError.unsupported("rescaling quantizer with a per-channel or non-positive scale")
                }
                quantizerKinds[n.name] = .rescale
                floatIsland.insert(n.outputs[0])
                // Aidge rescales to real values: sf is its input's step, which a folded export's
                // assumed weight steps must meet.
                let sf = 1 / s
                if abs(sf - xi.step) > 1e-6 * sf, let w = xi.assumedFrom, let ws = weightSteps[w] {
                    throw RescaleWeight(weight: w, step: ws * sf / xi.step)
                }
                if abs(sf - xi.step) > 1e-3 * xi.step {
                    notes.append(
                        "'\(n.name)' multiplies by \(sf), not by its input's step \(xi.step): the float op after it sees \(sf / xi.step)× the real values, in Aidge as in the conversion"
                    )
                }
                return
            }
            guard scale.count == 1 else {
                throw QVError.unsupported("per-channel quantizer scales (channel_wise) are not supported yet")
            }
            let feedsBias = (index.consumers[n.outputs[0]] ?? []).contains { c in
                let m = g.nodes[c]
                return ["Conv", "Gemm"].contains(m.opType) && m.biasInput == n.outputs[0]
            }
            var outType = zp?.dtype ?? .uint8
            if let z = zp, z.dtype.isFloatingPoint {
                // fake_quantize: float-valued integers; the export drops the integer type. Aidge's
                // default precision is int8 (int32 for biases), which is what its CPU backend clips to.
                guard z.asDoubles()?.allSatisfy({ $0 == $0.rounded(.towardZero) && abs($0) < 2_147_483_648 }) == true
                else {
                    throw QVError.unsupported("float zero point that is not an int32 integer")
                }
                outType = feedsBias ? .int32 : .int8
                fakeQuantizers.insert(n.name)
            }
            let zpv =
                try zp.map { z in z.dtype.isFloatingPoint ? Int64(z.asDoubles()![0]) : try zeroPointValue(z) } ?? 0
            let factor: Double
            if scale.dtype.isInteger {
                let v = scale.asInt64s()![0]
                guard v > 0, v & (v - 1) == 0 else {
                    throw QVError.unsupported("integer scale \(v) is not a power of two (bit-shift quantizer)")
                }
                factor = Double(v)
            } else {
                guard let f = scale.asDoubles()?.first, f > 0, f.isFinite else {
                    throw QVError.badInput("quantizer scale must be positive and finite")
                }
                factor = Double(Float(f))
            }
            let x = n.inputs[0]
            if let t = g.initializer(x), t.dtype.isFloatingPoint {
                let kind: QuantizerKind = feedsBias || outType == .int32 || outType == .int16 ? .bias : .weight
                tensors[n.outputs[0]] = QuantInfo(dtype: outType, step: factor, zeroPoint: zpv)
                quantizerKinds[n.name] = kind
            } else if let xi = info(x) {
                tensors[n.outputs[0]] = QuantInfo(
                    dtype: outType, step: xi.step * factor, zeroPoint: zpv, assumed: xi.assumed,
                    assumedFrom: xi.assumedFrom)
                quantizerKinds[n.name] = xi.dtype == .int32 ? .activation : .requantize
            } else if g.runtimeInputs.contains(where: { $0.name == x }) {
                tensors[n.outputs[0]] = QuantInfo(dtype: outType, step: factor, zeroPoint: zpv)
                quantizerKinds[n.name] = .input
            } else if floatIsland.contains(x) {
                tensors[n.outputs[0]] = QuantInfo(dtype: outType, step: factor, zeroPoint: zpv)
                quantizerKinds[n.name] = .floatExit
            } else {
                throw QVError.unsupported(
                    "quantizer on '\(x)', a float tensor computed in the graph: qverify expects Aidge quantizers on weights, biases, the input or integer tensors"
                )
            }
        case "Conv", "Gemm", "MatMul":
            guard
                intInputs.contains(n.inputs[0]) || g.initializer(n.inputs[1])?.dtype.isInteger == true
                    || info(n.inputs[1]) != nil
            else { return }
            guard let x = info(n.inputs[0]) else {
                throw QVError.unsupported("\(n.opType) has integer weights but a float data input")
            }
            let wName = n.inputs[1]
            var w = info(wName)
            if w == nil, let given = knownSteps.weights[n.name], let t = g.initializer(wName),
                t.dtype.isInteger || fakeConstants(t, bits: 8)
            {
                // Folded export with the real step from the user (Aidge's unfolded export of the same quantization).
                guard given > 0, given.isFinite else {
                    throw QVError.badInput("weight step \(given) of '\(n.name)' in the steps file is not positive")
                }
                w = QuantInfo(dtype: t.dtype.isFloatingPoint ? .int8 : t.dtype, step: given)
                tensors[wName] = w
                if t.dtype.isFloatingPoint { fakeConstantTypes[wName] = .int8 }
            }
            if w == nil, let t = g.initializer(wName), t.dtype.isFloatingPoint, fakeConstants(t, bits: 8) {
                // Folded fake_quantize export: float-typed integer weights (Aidge's default int8).
                let maxQ = t.asDoubles()!.map { abs($0) }.max() ?? 1
                let step = weightSteps[wName] ?? 1 / max(maxQ, 1)
                weightSteps[wName] = step
                weightOrder[wName] = weightOrder[wName] ?? weightOrder.count
                w = QuantInfo(dtype: .int8, step: step, assumed: true, assumedFrom: wName)
                tensors[wName] = w
                fakeConstantTypes[wName] = .int8
            }
            if w == nil, let t = g.initializer(wName), t.dtype.isInteger {
                // Folded export: the weights' real step is not in the file. Aidge's symmetric weight
                // quantizer maps max|W| to the largest integer, so assume max|W| = 1 unless solved.
                let maxQ = t.asInt64s()?.map { abs($0) }.max() ?? 1
                let step = weightSteps[wName] ?? 1 / Double(max(maxQ, 1))
                weightSteps[wName] = step
                weightOrder[wName] = weightOrder[wName] ?? weightOrder.count
                w = QuantInfo(dtype: t.dtype, step: step, assumed: true, assumedFrom: wName)
                tensors[wName] = w
            }
            guard let w else {
                throw QVError.unsupported("\(n.opType) weight '\(wName)' is neither quantized nor an integer constant")
            }
            if n.opType == "Gemm", n.int("transA", default: 0) != 0 {
                throw QVError.unsupported("Gemm with transA on quantized data")
            }
            let acc = QuantInfo(
                dtype: .int32, step: x.step * w.step, assumed: x.assumed || w.assumed,
                assumedFrom: w.assumedFrom ?? x.assumedFrom)
            if let b = n.biasInput {
                if info(b) == nil {
                    guard let t = g.initializer(b), t.dtype.isInteger || fakeConstants(t, bits: 32) else {
                        throw QVError.unsupported("bias '\(b)' is neither quantized nor an integer constant")
                    }
                    if t.dtype.isFloatingPoint { fakeConstantTypes[b] = .int32 }
                    tensors[b] = QuantInfo(
                        dtype: t.dtype.isFloatingPoint ? .int32 : t.dtype, step: acc.step, assumed: acc.assumed)
                }
            }
            tensors[n.outputs[0]] = acc
        case "Add", "Sub":
            guard !intInputs.isEmpty else { return }
            guard intInputs.count == 2, let a = info(n.inputs[0]), let b = info(n.inputs[1]) else {
                throw QVError.unsupported("\(n.opType) of a quantized and a float tensor")
            }
            guard try sameStep(a, b) else {
                throw QVError.unsupported(
                    "\(n.opType) of integers with different real steps (\(a.step) vs \(b.step)): the sum has no single scale"
                )
            }
            tensors[n.outputs[0]] = QuantInfo(
                dtype: .int32, step: b.step, assumed: a.assumed || b.assumed,
                assumedFrom: b.assumedFrom ?? a.assumedFrom)
        case "Mul":
            // Aidge multiplies two activations' integers into int32 (squeeze-excite gates): the
            // product's step is the product of the steps; its quantizer follows.
            guard !intInputs.isEmpty else { return }
            guard intInputs.count == 2, let a = info(n.inputs[0]), let b = info(n.inputs[1]) else {
                throw QVError.unsupported("Mul of a quantized and a float tensor")
            }
            guard a.zeroPoint == 0, b.zeroPoint == 0 else {
                throw QVError.unsupported("Mul of integers with zero points \(a.zeroPoint) and \(b.zeroPoint)")
            }
            tensors[n.outputs[0]] = QuantInfo(
                dtype: .int32, step: a.step * b.step, assumed: a.assumed || b.assumed,
                assumedFrom: b.assumedFrom ?? a.assumedFrom)
        case "Concat":
            // Aidge concatenates the integers as they are; its PTQ gives a merging node's inputs one
            // step (as it does a residual Add's), and a folded export's assumed weight steps are
            // solved to meet it.
            guard !intInputs.isEmpty else { return }
            let qs = n.inputs.compactMap { info($0) }
            guard qs.count == n.inputs.count else {
                throw QVError.unsupported("Concat of quantized and float tensors")
            }
            let first = qs[0]
            guard qs.allSatisfy({ $0.dtype == first.dtype && $0.zeroPoint == first.zeroPoint }) else {
                throw QVError.unsupported(
                    "Concat of integers of different types or zero points (\(qs.map(\.description).joined(separator: ", ")))"
                )
            }
            for (k, q) in qs.enumerated().dropFirst() where try !sameStep(first, q) {
                // The integers are joined as they are, so the output's integers are Aidge's; input k's
                // real values read at the first input's step are off by the ratio of the steps.
                notes.append(
                    "Concat '\(n.name)': input \(k) ('\(n.inputs[k])') has step \(q.step), input 0 \(first.step); Aidge joins the integers as they are, so that input's real values are scaled by \(q.step / first.step) in the output (the conversion does the same)"
                )
            }
            tensors[n.outputs[0]] = QuantInfo(
                dtype: first.dtype, step: first.step, zeroPoint: first.zeroPoint, assumed: qs.contains { $0.assumed },
                assumedFrom: qs.last { $0.assumedFrom != nil }?.assumedFrom)
        default:
            guard !intInputs.isEmpty else { return }
            if Self.requantizedOps.contains(n.opType), let x = info(n.inputs[0]) {
                let alpha = n.float("alpha", default: 0.01), slope = AidgeConventions.integerSlope(alpha)
                notes.append(
                    "LeakyRelu '\(n.name)' (α = \(alpha)) on integers: Aidge's CPU kernel casts α to the integer type (\(slope)), so Aidge's graph computes \(slope == 0 ? "Relu" : "x·\(slope)") for negative inputs, and its CPU backend has no int8 LeakyReLU, so no Aidge run confirms it; the conversion computes LeakyRelu(α) of the real value at the same step"
                )
                tensors[n.outputs[0]] = x
                return
            }
            guard Self.isTransparent(n) || Self.averagingOps.contains(n.opType), let x = info(n.inputs[0]) else {
                let mode = n.opType == "Resize" ? " (mode \(n.string("mode", default: "nearest")))" : ""
                throw QVError.unsupported(
                    "\(n.opType)\(mode) on the quantized tensor '\(intInputs[0])' has no quantized form qverify can place"
                )
            }
            for o in Self.quantizedOutputs(n) { tensors[o] = x }
        }
    }
}

extension QuantPlan {
    /// Whether two tensors that must share a step (a sum's or a concatenation's inputs) do. Where
    /// a folded branch's step rests on an assumed weight step, throws the step that weight needs:
    /// the weight met later in topological order is rescaled, since it lies on its own branch only
    /// (an identity skip's last weight is also upstream of the main branch, so rescaling it would
    /// move both sides and never meet).
    func sameStep(_ a: QuantInfo, _ b: QuantInfo) throws -> Bool {
        guard abs(a.step - b.step) > 1e-6 * b.step else { return true }
        let orders = weightOrder
        let order = { (w: String?) -> Int in w.flatMap { orders[$0] } ?? -1 }
        if order(b.assumedFrom) >= order(a.assumedFrom), let w = b.assumedFrom, a.assumedFrom != w,
            let ws = weightSteps[w]
        {
            throw RescaleWeight(weight: w, step: ws * a.step / b.step)
        }
        if let w = a.assumedFrom, let ws = weightSteps[w] {
            throw RescaleWeight(weight: w, step: ws * b.step / a.step)
        }
        if let w = b.assumedFrom, let ws = weightSteps[w] {
            throw RescaleWeight(weight: w, step: ws * a.step / b.step)
        }
        return abs(a.step - b.step) <= 1e-3 * b.step
    }
}

func zeroPointValue(_ t: Tensor) throws -> Int64 {
    guard let v = t.asInt64s(), let first = v.first, v.allSatisfy({ $0 == first }) else {
        throw QVError.unsupported("per-channel zero points are not supported")
    }
    return first
}
