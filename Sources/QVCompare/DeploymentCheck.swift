import QVGraph
import QVInterpreter
import QVKernels

/// A node whose u8×s8 products saturate on a target.
public struct SaturatingNode: Codable, Sendable, Equatable {
    public var node: String
    public var op: String
    /// Pair sums that saturated to int16, over all samples.
    public var pairSums: Int64
    /// Accumulators those saturations changed.
    public var accumulatorsTouched: Int64
    /// Elements of the node's (requantized) output that saturation changed, each counted against
    /// the node's exact result on the same input (so nothing inherited from upstream counts).
    public var outputsChanged: Int
    public var outputElements: Int
}

/// How a model runs on one onnxruntime target at one optimization level, against the reference.
public struct TargetResult: Codable, Sendable, Equatable {
    public var target: String
    public var level: String
    /// Graph output elements that differ from the reference by more than the tolerance, of all.
    public var outputDiffering: Int
    public var outputCount: Int
    public var outputMaxSteps: Double?
    /// Graph output elements that saturation alone changed (vs the same level with exact products).
    public var outputChangedBySaturation: Int
    public var saturating: [SaturatingNode]
}

/// Runs a candidate (valid ONNX) as onnxruntime would on each deployment target and level and
/// compares its graph output with the reference's; attributes departures to the u8×s8 pair
/// saturation by running the same graph with exact products.
public struct DeploymentCheck {
    public var reference: GraphView
    public var referenceScalingFactors: [String: [Float]] = [:]
    public var tolerance: Double = 0
    /// At most this many samples per batch (see ``Harness/batchLimit``).
    public var batchLimit = 8

    public init(reference: GraphView) { self.reference = reference }

    /// One row per target and level, in the order given.
    public func run(
        candidate: Model, targets: [DeploymentTarget], levels: [OrtLevel], samples: SampleSource,
        threads: Int
    ) throws -> [TargetResult] {
        let cview = try GraphView(candidate)
        let ia = try Interpreter(
            model: reference.model, semantics: Harness.semantics(reference), scalingFactors: referenceScalingFactors)
        let inputOrder = reference.model.graph.runtimeInputs.map(\.name)
        let oa = reference.model.graph.outputs[0].name, ob = candidate.graph.outputs[0].name
        let qa = reference.plan?.tensors[oa] ?? reference.points.last(where: { $0.tensor == oa })?.quant
        let qb = cview.points.last(where: { $0.tensor == ob })?.quant
        let step = cview.points.last?.quant?.step ?? reference.points.last?.quant?.step ?? 1
        // The reference once, streamed: only its output is kept.
        var refOut: [Double] = []
        let chunk = try Harness.batchSize(samples, limit: batchLimit)
        try inOrderParallel(
            count: samples.count, chunk: chunk, threads: threads,
            prepare: { r in try r.map { Harness.feeds(try samples.sample($0), inputOrder, reference) } },
            work: { try ia.run(batch: $0) },
            consume: { _, _, rs in for r in rs { refOut += Harness.real(r.outputs[oa]!, qa) } })
        var rows: [TargetResult] = []
        for level in levels {
            let model = level == .enable ? try OrtGraphOptimizer.optimize(candidate).model : candidate
            let products = model.graph.nodes.filter { ["QLinearConv", "QLinearMatMul", "QGemm"].contains($0.opType) }
            let kept = Set(products.map { $0.outputs[0] } + [ob])
            // Exact products (the VNNI kernels) once per level; each saturating rule once.
            let exact = try Interpreter(model: model, semantics: .onnx, target: .ortVnni)
            var byRule: [IntegerProductRule: TargetResult] = [:]
            for t in targets {
                if let known = byRule[t.integerProducts] {
                    var r = known
                    r.target = t.rawValue
                    rows.append(r)
                    continue
                }
                let log = SaturationLog()
                let run = try Interpreter(model: model, semantics: .onnx, target: t, saturationLog: log)
                var out: [Double] = [], elements: [String: Int] = [:], outChanged = 0
                let saturates = t.integerProducts != .exact
                try inOrderParallel(
                    count: samples.count, chunk: chunk, threads: threads,
                    prepare: { r in try r.map { Harness.feeds(try samples.sample($0), inputOrder, cview) } },
                    work: { feeds in
                        (
                            try run.run(batch: feeds, keepIntermediates: saturates, only: kept),
                            saturates ? try exact.run(batch: feeds, keepIntermediates: false, only: [ob]) : []
                        )
                    },
                    consume: { _, _, res in
                        let (rs, es) = res
                        for (j, r) in rs.enumerated() {
                            out += Harness.real(r.outputs[ob]!, qb)
                            guard saturates else { continue }
                            let e = es[j]
                            outChanged += Self.differing(r.outputs[ob]!, e.outputs[ob]!)
                            for n in products {
                                guard let x = r.intermediates[n.outputs[0]] ?? r.outputs[n.outputs[0]] else { continue }
                                elements[n.name, default: 0] += x.count
                            }
                        }
                    })
                var differing = 0, maxSteps = 0.0
                for (a, b) in zip(refOut, out) {
                    let d = abs((b - a) / step).rounded(.toNearestOrEven)
                    if d > tolerance { differing += 1 }
                    maxSteps = max(maxSteps, d.isNaN ? .infinity : d)
                }
                let counts = log.byNode
                let nodes = products.compactMap { n -> SaturatingNode? in
                    let c = counts[n.name] ?? SaturationLog.Counts()
                    guard c.pairSums > 0 else { return nil }  // later nodes only inherit: the graph output shows it
                    return SaturatingNode(
                        node: n.name, op: n.opType, pairSums: c.pairSums, accumulatorsTouched: c.accumulatorsTouched,
                        outputsChanged: Int(c.outputsChanged), outputElements: elements[n.name] ?? 0)
                }
                let r = TargetResult(
                    target: t.rawValue, level: level.rawValue, outputDiffering: differing, outputCount: out.count,
                    outputMaxSteps: out.isEmpty ? nil : maxSteps, outputChangedBySaturation: outChanged,
                    saturating: nodes)
                byRule[t.integerProducts] = r
                rows.append(r)
            }
        }
        return rows
    }

    static func differing(_ a: Tensor, _ b: Tensor) -> Int {
        guard let x = a.asDoubles(), let y = b.asDoubles(), x.count == y.count else { return max(a.count, b.count) }
        var n = 0
        for i in 0..<x.count where x[i] != y[i] { n += 1 }
        return n
    }

    /// `isa-saturation` findings: one per node and level where some target saturates, naming every
    /// target that does, what it does to the node and the graph output, and the measured fixes.
    public static func findings(
        _ rows: [TargetResult], fixes: [(label: String, rows: [TargetResult])], notes: [String] = []
    ) -> [Finding] {
        var out: [Finding] = []
        for level in ["disable", "enable"] {
            let here = rows.filter { $0.level == level && !$0.saturating.isEmpty }
            guard let first = here.first else { continue }
            let targets = here.map(\.target).joined(separator: ", ")
            let exactRow = rows.first {
                $0.level == level && $0.saturating.isEmpty && $0.outputChangedBySaturation == 0
            }
            let levelName = level == "enable" ? "ORT_ENABLE_EXTENDED/ALL" : "ORT_DISABLE_ALL"
            let fixText =
                fixes.map { f -> String in
                    let worst = f.rows.filter { $0.level == level }.map(\.outputDiffering).max() ?? 0
                    let n = f.rows.first?.outputCount ?? 0
                    return "\(f.label): \(worst)/\(n) output elements differ from the reference on the worst target"
                } + notes
            for s in first.saturating {
                let effect = first.outputChangedBySaturation
                let severity: Severity = effect > 0 ? .warning : .info
                var msg =
                    "on \(targets) with \(levelName), \(s.op) '\(s.node)' multiplies uint8 activations by int8 weights with vpmaddubsw: "
                msg +=
                    "\(s.pairSums) pair sums saturated to int16 over the samples, touching \(s.accumulatorsTouched) accumulators "
                msg +=
                    "and changing \(s.outputsChanged) of \(s.outputElements) outputs; at the graph output \(effect)/\(first.outputCount) elements change"
                msg +=
                    " and \(first.outputDiffering) differ from the reference, by up to \(Harness.fmt(first.outputMaxSteps)) steps"
                if let e = exactRow { msg += " (\(e.outputDiffering) on \(e.target))" }
                if !fixText.isEmpty { msg += ". Fixes, measured: " + fixText.joined(separator: "; ") }
                out.append(Finding(severity, "isa-saturation", node: s.node, model: "candidate", msg))
            }
        }
        return out
    }
}

extension DeploymentCheck {
    /// The data-independent screen of the u8×s8 rule (`check`): every QLinearConv, QGemm and
    /// QLinearMatMul with uint8 activations and int8 constant weights — as the model is written,
    /// and as onnxruntime's optimizer fuses it — with the weight pairs, in MLAS's order, that some
    /// uint8 input can saturate. None can when every weight is within ±64.
    public static func screen(_ model: Model, label: String) throws -> [Finding] {
        var out: [Finding] = []
        let asWritten = try saturablePairs(model)
        let fused = try saturablePairs(try OrtGraphOptimizer.optimize(model).model)
        for (name, op, risky, total) in fused {
            let always = asWritten.contains { $0.node == name }
            let when =
                always
                ? "at every optimization level" : "once onnxruntime's optimizer fuses it (ORT_ENABLE_EXTENDED/ALL)"
            let severity: Severity = risky > 0 ? .warning : .info
            out.append(
                Finding(
                    severity, "isa-saturation-risk", node: name, model: label,
                    "\(op) '\(name)' multiplies uint8 activations by int8 weights on ort-avx2/ort-avx512 \(when): \(risky) of \(total) weight pairs can saturate "
                        + "the int16 pair sum with some uint8 input (255·max(w0⁺+w1⁺, w0⁻+w1⁻) > 32767)"
                        + (risky > 0
                            ? "; qverify verify measures the effect on your inputs; --weight-type uint8 (QDQ) or int8 activations avoid it"
                            : "")))
        }
        return out
    }

    /// (node, op, pairs that can saturate, pairs) of every u8×s8 product with constant weights.
    static func saturablePairs(_ model: Model) throws -> [(node: String, op: String, risky: Int, total: Int)] {
        let g = model.graph
        // The type of an 8-bit input's zero point (uint8 when absent, as the schema defaults).
        func zpType(_ n: Node, _ name: String) -> DType { n.input(name).flatMap { g.initializer($0)?.dtype } ?? .uint8 }
        var out: [(String, String, Int, Int)] = []
        for n in g.nodes {
            var pairs: [(Int32, Int32)] = []
            switch n.opType {
            case "QLinearConv":
                guard zpType(n, "x_zero_point") == .uint8, let w = n.input("w").flatMap({ g.initializer($0) }),
                    w.dtype == .int8,
                    w.rank >= 3,
                    let v = w.asInt64s()
                else { continue }
                let group = n.int("group", default: 1), m = w.shape[0], cg = w.shape[1]
                if cg == 1 && m == group { continue }  // depthwise: MLAS's exact kernel
                let taps = w.shape[2...].reduce(1, *), k = cg * taps
                for mi in 0..<m {
                    // (kernel position, channel) order: MLAS's NHWC im2col.
                    let order = (0..<taps).flatMap { t in (0..<cg).map { c in v[mi * k + c * taps + t] } }
                    pairs += stride(from: 0, to: k - 1, by: 2).map { (Int32(order[$0]), Int32(order[$0 + 1])) }
                }
            case "QGemm", "QLinearMatMul":
                guard zpType(n, "a_zero_point") == .uint8,
                    let b = n.input(n.opType == "QGemm" ? "B" : "b").flatMap({ g.initializer($0) }), b.dtype == .int8,
                    b.rank == 2,
                    let v = b.asInt64s()
                else { continue }
                let transB = n.opType == "QGemm" && n.int("transB", default: 0) != 0
                let k = transB ? b.shape[1] : b.shape[0], cols = transB ? b.shape[0] : b.shape[1]
                for j in 0..<cols {
                    let col = (0..<k).map { transB ? v[j * k + $0] : v[$0 * cols + j] }
                    pairs += stride(from: 0, to: k - 1, by: 2).map { (Int32(col[$0]), Int32(col[$0 + 1])) }
                }
            default: continue
            }
            out.append((n.name, n.opType, saturablePairCount(pairs), pairs.count))
        }
        return out
    }
}
