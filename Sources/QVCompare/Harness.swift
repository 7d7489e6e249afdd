import QVGraph
import QVInterpreter
import QVKernels
import QVRecipe

/// Runs a reference and a candidate model on the same real-valued samples and compares them
/// point by point (see ``GraphView``), in real values and in steps of the candidate's scale.
public struct Harness {
    public var reference: GraphView
    public var candidate: GraphView
    public var referencePath: String
    public var candidatePath: String
    public var tolerance: Tolerance
    /// Aidge's scaling factors for the reference's quantizers (see ScalingFactorFile), when known.
    public var referenceScalingFactors: [String: [Float]] = [:]
    /// Whose integer products the candidate gets (an onnxruntime target), when it runs with ONNX semantics.
    public var candidateTarget: DeploymentTarget = .onnx

    public init(reference: GraphView, candidate: GraphView, referencePath: String, candidatePath: String, tolerance: Tolerance) {
        self.reference = reference
        self.candidate = candidate
        self.referencePath = referencePath
        self.candidatePath = candidatePath
        self.tolerance = tolerance
    }

    static func semantics(_ v: GraphView) -> Semantics { v.kind == .aidgeForm ? .aidge : .onnx }

    /// Feeds for one side: inputs by position; a folded Aidge graph gets Aidge's integer input.
    static func feeds(_ sample: [String: Tensor], _ order: [String], _ v: GraphView) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, inp) in v.model.graph.runtimeInputs.enumerated() where k < order.count {
            guard let x = sample[order[k]] else { continue }
            out[inp.name] = v.plan?.quantizedInputs[inp.name].map { ConversionCheck.aidgeInput(x, $0) } ?? x
        }
        return out
    }

    /// Runs both graphs on every sample, `threads` batches at a time (the report does not depend
    /// on the thread count: results are gathered in sample order).
    public func run(name: String, samples: [[String: Tensor]], threads: Int = defaultThreadCount,
                    progress: ((Int, Int) -> Void)? = nil) throws -> ComparisonReport {
        let ia = try Interpreter(model: reference.model, semantics: Self.semantics(reference), scalingFactors: referenceScalingFactors)
        let ib = try Interpreter(model: candidate.model, semantics: Self.semantics(candidate),
                                 target: Self.semantics(candidate) == .onnx ? candidateTarget : .onnx)
        let inputOrder = reference.model.graph.runtimeInputs.map(\.name)
        let pairs: [(a: Point?, b: Point?)] = align()
        // Accumulate real values per pair across samples.
        var ra = Array(repeating: [Double](), count: pairs.count), rb = ra
        var preA = Array(repeating: [Double](), count: pairs.count)
        var outA: [Double] = [], outB: [Double] = []
        let bytesPerSample = samples.first.map { $0.values.map { $0.count * 4 }.reduce(0, +) } ?? 1
        let chunk = max(1, min(16, (64 * 1024) / max(1, bytesPerSample)))
        let (reference, candidate) = (self.reference, self.candidate)
        try inOrderParallel(count: samples.count, chunk: chunk, threads: threads, prepare: { range in
            (samples[range].map { Self.feeds($0, inputOrder, reference) }, samples[range].map { Self.feeds($0, inputOrder, candidate) })
        }, work: { feedsA, feedsB in
            (try ia.run(batch: feedsA, keepIntermediates: true), try ib.run(batch: feedsB, keepIntermediates: true))
        }, consume: { range, feeds, results in
          let (feedsA, feedsB) = feeds, (resA, resB) = results
          let start = range.lowerBound
          for j in 0..<range.count {
            let k = start + j
            progress?(k, samples.count)
            let xa = feedsA[j], xb = feedsB[j]
            let a = resA[j], b = resB[j]
            for (i, p) in pairs.enumerated() {
                guard let pa = p.a, let pb = p.b else { continue }
                guard let ta = a.intermediates[pa.tensor] ?? xa[pa.tensor], let tb = b.intermediates[pb.tensor] ?? xb[pb.tensor] else { continue }
                guard ta.count == tb.count else {
                    throw QVError.badInput("aligned tensors '\(pa.tensor)' (\(ta.shape)) and '\(pb.tensor)' (\(tb.shape)) have different sizes")
                }
                ra[i] += Self.real(ta, pa.quant)
                rb[i] += Self.real(tb, pb.quant)
                if let qn = reference.model.graph.nodes.first(where: { $0.name == pa.node && $0.opType == "QuantizeLinear" }),
                   let pre = a.intermediates[qn.inputs[0]] ?? xa[qn.inputs[0]], let d = pre.asDoubles() {
                    preA[i] += d
                }
            }
            let oa = reference.model.graph.outputs[0].name, ob = candidate.model.graph.outputs[0].name
            if let ta = a.outputs[oa], let tb = b.outputs[ob], ta.count == tb.count {
                outA += Self.real(ta, reference.plan?.tensors[oa] ?? reference.points.last(where: { $0.tensor == oa })?.quant)
                outB += Self.real(tb, candidate.points.last(where: { $0.tensor == ob })?.quant)
            }
          }
        })
        // Per-node numbers, first divergence, ties and wraps.
        var nodes: [NodeReport] = []
        var findings: [Finding] = []
        var first: Int? = nil
        var firstExplainedByTies = false
        var firstNearTies = 0
        for (i, p) in pairs.enumerated() {
            guard let pa = p.a, let pb = p.b else {
                let only = p.a ?? p.b!
                nodes.append(NodeReport(signature: only.signature.description, reference: p.a.map(Self.ref), candidate: p.b.map(Self.ref),
                                        status: .unmatched, stats: nil, differingBeyondTolerance: 0, toleranceSteps: 0))
                continue
            }
            let step = pb.quant?.step ?? pa.quant?.step
            let bothQuantized = pa.quant != nil && pb.quant != nil
            if bothQuantized, let step { rb[i] = Self.snapped(ra[i], rb[i], step: step) }
            let stats = TensorStats(reference: ra[i], candidate: rb[i], step: step, threshold: bothQuantized ? 0.5 * (step ?? 0) : 0)
            let tol = tolerance.steps(for: [pa.node, pb.node, pa.tensor, pb.tensor])
            var hist: [String: Int] = [:]
            var beyond = 0, ties = 0, wraps = 0, nearTies = 0
            let rule = reference.model.graph.nodes.first { $0.name == pa.node && $0.opType == "QuantizeLinear" }
                .flatMap { reference.model.graph.initializer($0.inputs[1]) }.flatMap(TieRule.init(scale:))
            if let step {
                let limit = Self.stepLimit(tolerance: tol, bothQuantized: bothQuantized)
                for j in 0..<ra[i].count {
                    let ds = Self.stepDifference(ra[i][j], rb[i][j], step: step, bothQuantized: bothQuantized)
                    if ds != 0 { hist[ds.isNaN ? "nan" : String(clampedSteps(ds.rounded(.toNearestOrEven))), default: 0] += 1 }
                    if abs(ds) > limit {
                        beyond += 1
                        if first == nil || first == i {
                            if let rule, j < preA[i].count, rule.isTie(preA[i][j]), abs(ds) == 1 { ties += 1 }
                            else if let rule, j < preA[i].count, rule.isNearTie(preA[i][j]), abs(ds) == 1 { nearTies += 1 }
                            else if let q = pb.quant, q.dtype.integerRange?.lowerBound == 0, (rb[i][j] / q.step).rounded(.toNearestOrEven) == Double(-q.zeroPoint), ra[i][j] / (pa.quant?.step ?? q.step) >= 127.5 - Double(q.zeroPoint) { wraps += 1 }
                        }
                    }
                }
            }
            var status: NodeStatus = beyond == 0 ? .ok : .downstream
            if beyond > 0 && first == nil {
                first = i
                status = .diverges
                firstExplainedByTies = ties + nearTies == beyond
                firstNearTies = nearTies
                if firstExplainedByTies { status = .ties }
            } else if beyond > 0, firstExplainedByTies, stats.maxSteps.map({ $0 <= 1.5 }) == true {
                status = .ties
            }
            nodes.append(NodeReport(signature: pa.signature.description, reference: Self.ref(pa), candidate: Self.ref(pb), status: status,
                                    stats: stats, differingBeyondTolerance: beyond, toleranceSteps: tol,
                                    ties: first == i ? ties : nil, wraps: first == i ? wraps : nil, stepHistogram: hist.isEmpty ? nil : hist))
        }
        // A first divergence made only of (near-)ties can move later nodes by more than a step.
        // Put the reference's values back there in the candidate and run it again: later nodes
        // that then match were consequences, not new differences.
        var confirmedConsequences = false
        if let f = first, firstExplainedByTies, nodes.contains(where: { $0.status == .downstream }),
           let matched = try laterNodesMatchWithReferenceValuesAt(f, pairs: pairs, nodes: nodes, ra: ra, samples: samples,
                                                                  inputOrder: inputOrder, interpreter: ib) {
            confirmedConsequences = matched
            if matched {
                for k in nodes.indices where nodes[k].status == .downstream { nodes[k].status = .ties }
            }
        }
        // Findings from the dynamic comparison.
        if let f = first {
            let n = nodes.first { $0.reference?.tensor == pairs[f].a?.tensor && $0.candidate?.tensor == pairs[f].b?.tensor }!
            let where_ = "reference '\(n.reference!.node)' ↔ candidate '\(n.candidate!.node)'"
            if firstExplainedByTies {
                let exact = n.differingBeyondTolerance - firstNearTies
                if exact > 0 {
                    findings.append(Finding(.warning, "rounding-ties", node: n.candidate!.node, model: "candidate",
                        "\(exact) elements differ by one step at \(where_), every one an exact half-up (Aidge) vs half-to-even (ONNX) tie"))
                }
                if firstNearTies > 0 {
                    findings.append(Finding(.warning, "rounding-near-ties", node: n.candidate!.node, model: "candidate",
                        referenceScalingFactors.isEmpty
                            ? "\(firstNearTies) elements differ by one step at \(where_) where x·sf lies within one float32 ulp of a rounding boundary: Aidge's export keeps only 1/sf rounded to float32, so the exact sf (and this rounding) cannot be recovered from the file (pass --aidge-scaling-factors)"
                            : "\(firstNearTies) elements differ by one step at \(where_) where x·sf lies within one float32 ulp of a rounding boundary: the reference uses Aidge's exact sf, the ONNX model can only divide by the stored float32 1/sf, which rounds these values the other way"))
                }
                if confirmedConsequences {
                    findings.append(Finding(.info, "tie-consequences", node: n.candidate!.node, model: "candidate",
                        "later nodes differ by more than one step only as consequences: with the reference's values put back at \(where_), every later node matches"))
                }
                let worse = nodes.filter { $0.status == .downstream }
                for w in worse {
                    findings.append(Finding(.error, "divergence", node: w.candidate?.node ?? "", model: "candidate",
                        "\(w.differingBeyondTolerance) elements differ by up to \(Self.fmt(w.stats?.maxSteps)) steps at \(w.signature), more than the one-step consequences of the ties upstream"))
                }
            } else {
                findings.append(Finding(.error, "first-divergence", node: n.candidate!.node, model: "candidate",
                    "first divergence at \(where_) (\(n.signature)): \(n.differingBeyondTolerance)/\(n.stats?.count ?? 0) elements beyond \(n.toleranceSteps) step(s), up to \(Self.fmt(n.stats?.maxSteps)) steps"))
                if let w = n.wraps, w > 0 {
                    findings.append(Finding(.error, "wrap-vs-saturate", node: n.candidate!.node, model: "candidate",
                        "\(w) of them are negative values the reference wrapped into an unsigned type (Aidge's Cast) and the candidate saturated to 0 (ONNX)"))
                }
                if let t = n.ties, t > 0 {
                    findings.append(Finding(.info, "rounding-ties", node: n.candidate!.node, model: "candidate", "\(t) of them are half-up vs half-to-even ties"))
                }
                let downstream = nodes.filter { $0.status == .downstream }.count
                if downstream > 0 {
                    findings.append(Finding(.info, "downstream", node: n.candidate!.node, model: "candidate", "\(downstream) later node(s) differ as a consequence"))
                }
            }
        }
        // A reference quantizer narrower than the candidate's type needs a Clip in the candidate.
        for p in pairs {
            guard let pa = p.a, let pb = p.b, let qa = pa.quant, let qb = pb.quant,
                  let ra = qa.dtype.integerRange, let rb = qb.dtype.integerRange, rb.lowerBound < ra.lowerBound || rb.upperBound > ra.upperBound,
                  qa.dtype.bitWidth < 8, pb.opType != "Clip" else { continue }
            findings.append(Finding(.error, "clip-range-lost", node: pb.node, model: "candidate",
                "the reference quantizes \(pa.signature) to \(qa.dtype) [\(ra.lowerBound), \(ra.upperBound)] but the candidate writes \(qb.dtype) with no Clip: values outside the \(qa.dtype.bitWidth)-bit range survive"))
        }
        let unmatchedA = pairs.compactMap { $0.b == nil ? $0.a.map { "\($0.signature) '\($0.tensor)'" } : nil }
        let unmatchedB = pairs.compactMap { $0.a == nil ? $0.b.map { "\($0.signature) '\($0.tensor)'" } : nil }
        if !unmatchedA.isEmpty || !unmatchedB.isEmpty {
            findings.append(Finding(.info, "unmatched", node: "", model: "both",
                "\(unmatchedA.count) reference and \(unmatchedB.count) candidate point(s) have no counterpart: " + (unmatchedA + unmatchedB).joined(separator: ", ")))
        }
        let outStep = candidate.points.last?.quant?.step ?? reference.points.last?.quant?.step
        let outQuantized = reference.kind != .float && candidate.kind != .float
        if outQuantized, let st = outStep, outA.count == outB.count { outB = Self.snapped(outA, outB, step: st) }
        let output: TensorStats? = outA.count == outB.count && !outA.isEmpty
            ? TensorStats(reference: outA, candidate: outB, step: outStep, threshold: outQuantized ? 0.5 * (outStep ?? 0) : 0) : nil
        if first == nil, let o = output, let ms = o.maxSteps, ms > Double(tolerance.steps) + (reference.kind == .float ? 0.5 : 0.5) {
            findings.append(Finding(.error, "output-mismatch", node: candidate.model.graph.outputs[0].name, model: "candidate",
                "graph outputs differ by up to \(Self.fmt(ms)) steps with no aligned node diverging"))
        }
        findings += try StaticChecks.run(candidate.model, label: "candidate", reference: reference)
        return ComparisonReport(name: name,
                                reference: ModelRef(path: referencePath, kind: reference.kind.rawValue, semantics: Self.semantics(reference).rawValue),
                                candidate: ModelRef(path: candidatePath, kind: candidate.kind.rawValue, semantics: Self.semantics(candidate).rawValue),
                                samples: samples.count, verdict: Verdict.from(findings),
                                firstDivergence: first.flatMap { _ in nodes.first { $0.status == .diverges || $0.status == .ties }?.candidate?.node },
                                output: output, findings: findings, nodes: nodes, unmatchedReference: unmatchedA, unmatchedCandidate: unmatchedB, targets: nil)
    }

    /// Pairs points with equal signatures, in the reference's order; unmatched ones included.
    func align() -> [(a: Point?, b: Point?)] {
        let bySig = Dictionary(candidate.points.map { ($0.signature, $0) }, uniquingKeysWith: { _, b in b })
        var used = Set<Signature>()
        var out: [(a: Point?, b: Point?)] = reference.points.map { p in
            if let m = bySig[p.signature] { used.insert(p.signature); return (p, m) }
            return (p, nil)
        }
        out += candidate.points.filter { !used.contains($0.signature) }.map { (nil, $0) }
        return out
    }

    /// Two quantized tensors differ by whole steps; the scales may agree only to float32 precision
    /// (one side's step from Aidge's plan in double, the other's written as float32). Snap the
    /// candidate to the reference plus a whole number of steps where it is within 10⁻³ step of it.
    /// The candidate's departure from the reference in steps, rounded to whole steps when both
    /// sides are quantized.
    static func stepDifference(_ a: Double, _ b: Double, step: Double, bothQuantized: Bool) -> Double {
        let d = (b - a) / step
        return bothQuantized ? d.rounded(.toNearestOrEven) : d
    }

    /// The largest step difference within `tolerance` steps (half a step more for a float side).
    static func stepLimit(tolerance: Int, bothQuantized: Bool) -> Double {
        Double(tolerance) + (bothQuantized ? 0 : 0.5)
    }

    static func snapped(_ ra: [Double], _ rb: [Double], step: Double) -> [Double] {
        zip(ra, rb).map { a, b in
            let d = (b - a) / step
            let k = d.rounded(.toNearestOrEven)
            return abs(d - k) < 1e-3 ? a + k * step : b
        }
    }

    /// Reruns the candidate with pair `f`'s tensor replaced by the reference's values (quantized
    /// with the candidate's parameters) and says whether every node marked downstream then
    /// matches; nil when the values cannot be put back (no quantization, sizes differ).
    func laterNodesMatchWithReferenceValuesAt(_ f: Int, pairs: [(a: Point?, b: Point?)], nodes: [NodeReport], ra: [[Double]],
                                              samples: [[String: Tensor]], inputOrder: [String], interpreter ib: Interpreter) throws -> Bool? {
        guard let pb = pairs[f].b, !samples.isEmpty, ra[f].count % samples.count == 0 else { return nil }
        let per = ra[f].count / samples.count
        let later = nodes.indices.filter { nodes[$0].status == .downstream }
        var rb2 = Array(repeating: [Double](), count: pairs.count)
        for (k, sample) in samples.enumerated() {
            let values = Array(ra[f][(k * per)..<((k + 1) * per)])
            let replace: (Tensor) throws -> Tensor = { t in
                guard t.count == per else { throw QVError.internalError("put-back size \(per) for '\(pb.tensor)' of \(t.count)") }
                if let q = pb.quant, let range = t.dtype.integerRange {
                    let ints = values.map { v -> Int32 in
                        let r = (v / q.step).rounded(.toNearestOrEven) + Double(q.zeroPoint)
                        return Int32(min(max(r, Double(range.lowerBound)), Double(range.upperBound)))
                    }
                    return Tensor(ints, shape: t.shape, dtype: t.dtype)
                }
                guard t.dtype == .float else { throw QVError.internalError("cannot put back values into \(t.dtype)") }
                return Tensor(values.map { Float($0) }, shape: t.shape)
            }
            let feeds = Self.feeds(sample, inputOrder, candidate)
            guard let r = try? ib.run(feeds, keepIntermediates: true, replacing: [pb.tensor: replace]) else { return nil }
            for i in later {
                guard let p = pairs[i].b, let t = r.intermediates[p.tensor] ?? r.outputs[p.tensor] else { return nil }
                rb2[i] += Self.real(t, p.quant)
            }
        }
        for i in later {
            guard let pa = pairs[i].a, let pb = pairs[i].b, rb2[i].count == ra[i].count else { return nil }
            let step = pb.quant?.step ?? pa.quant?.step
            let bothQuantized = pa.quant != nil && pb.quant != nil
            guard let step else { return false }
            let limit = Self.stepLimit(tolerance: tolerance.steps(for: [pa.node, pb.node, pa.tensor, pb.tensor]), bothQuantized: bothQuantized)
            for j in 0..<ra[i].count where abs(Self.stepDifference(ra[i][j], rb2[i][j], step: step, bothQuantized: bothQuantized)) > limit {
                return false
            }
        }
        return true
    }

    static func real(_ t: Tensor, _ q: QuantInfo?) -> [Double] {
        let v = t.asDoubles() ?? []
        guard let q else { return v }
        return v.map { ($0 - Double(q.zeroPoint)) * q.step }
    }

    static func ref(_ p: Point) -> TensorRef {
        TensorRef(tensor: p.tensor, node: p.node, op: p.opType, dtype: p.quant?.dtype.shortName, scale: p.quant?.step, zeroPoint: p.quant?.zeroPoint)
    }

    static func fmt(_ d: Double?) -> String {
        guard let d else { return "?" }
        return d.isFinite && abs(d) < 1e15 && d == d.rounded(.towardZero) ? String(Int(d)) : String(format: "%.3g", d)
    }
}
