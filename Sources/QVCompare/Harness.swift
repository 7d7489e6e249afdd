import Foundation
import QVGraph
import QVInterpreter
import QVKernels
import QVQuant
import _QVPairStats

/// Samples read one at a time (a file stream, a subset of one, or an array), so a comparison
/// never holds more than the batches in flight.
public struct SampleSource: Sendable {
    public let count: Int
    let fetch: @Sendable (Int) throws -> [String: Tensor]
    /// Position of each sample in the file it comes from (labels and reports use it).
    let positions: [Int]?
    public init(count: Int, fetch: @escaping @Sendable (Int) throws -> [String: Tensor]) {
        self.init(count: count, positions: nil, fetch: fetch)
    }
    init(count: Int, positions: [Int]?, fetch: @escaping @Sendable (Int) throws -> [String: Tensor]) {
        self.count = count
        self.positions = positions
        self.fetch = fetch
    }
    public init(_ samples: [[String: Tensor]]) { self.init(count: samples.count) { samples[$0] } }
    public func sample(_ i: Int) throws -> [String: Tensor] { try fetch(i) }
    /// The file position of the i-th sample.
    public func position(_ i: Int) -> Int { positions?[i] ?? i }
    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> SampleSource {
        let f = fetch
        return SampleSource(count: indices.count, positions: indices.map { position($0) }) { try f(indices[$0]) }
    }
}

/// Top-1 agreement with labels, folded as samples stream: counts, and the first flips.
public struct LabelStatistics: Codable, Sendable, Equatable {
    public struct Flip: Codable, Sendable, Equatable {
        /// Position of the sample in the inputs file.
        public var sample: Int
        public var label: Int
        public var reference: Int
        public var candidate: Int
    }
    public var samples = 0
    public var referenceCorrect = 0
    public var candidateCorrect = 0
    /// Samples where both models predict the same class.
    public var agreeing = 0
    /// Samples where exactly one of the two is right (the prediction flips), and the first of them.
    public var flipCount = 0
    public var flips: [Flip] = []
    public static let flipsListed = 100

    public var referenceTop1: Double { samples == 0 ? 0 : Double(referenceCorrect) / Double(samples) }
    public var candidateTop1: Double { samples == 0 ? 0 : Double(candidateCorrect) / Double(samples) }
    public var agreement: Double { samples == 0 ? 0 : Double(agreeing) / Double(samples) }

    mutating func add(sample: Int, label: Int, reference: Int, candidate: Int) {
        samples += 1
        if reference == label { referenceCorrect += 1 }
        if candidate == label { candidateCorrect += 1 }
        if reference == candidate { agreeing += 1 }
        if (reference == label) != (candidate == label) {
            flipCount += 1
            if flips.count < Self.flipsListed {
                flips.append(Flip(sample: sample, label: label, reference: reference, candidate: candidate))
            }
        }
    }

    mutating func merge(_ o: LabelStatistics) {
        samples += o.samples
        referenceCorrect += o.referenceCorrect
        candidateCorrect += o.candidateCorrect
        agreeing += o.agreeing
        flipCount += o.flipCount
        flips += o.flips.prefix(max(0, Self.flipsListed - flips.count))
    }
}

/// The class a model predicts for one sample: the first index of the largest output value.
public func top1(_ values: [Double]) -> Int {
    var best = 0
    for i in values.indices where values[i] > values[best] || (values[best].isNaN && !values[i].isNaN) { best = i }
    return best
}

/// Runs a reference and a candidate model on the same real-valued samples and compares them
/// point by point (see ``GraphView``), in real values and in steps of the candidate's scale.
///
/// The run streams: each batch of samples is run, reduced to fixed-size ``PairStatistics`` per
/// aligned pair in the worker, and merged in sample order; only the compared tensors are kept
/// while a batch is in flight. Memory does not grow with the number of samples. Stages:
/// ``align()`` → ``accumulate(_:_:_:threads:progress:)`` → ``classify(_:_:)`` → findings.
public struct Harness: Sendable {
    public let reference: GraphView
    public let candidate: GraphView
    /// The reference's quantizers and averaging nodes by name: the nodes whose inputs decide
    /// rounding ties at a point (looked up per pair and sample, so found once here).
    let referenceQuantizers: [String: Node]
    let referenceAverages: [String: Node]
    public var referencePath: String
    public var candidatePath: String
    public var tolerance: Tolerance
    /// Aidge's scaling factors for the reference's quantizers (see ScalingFactorFile), when known.
    public var referenceScalingFactors: [String: [Float]] = [:]
    /// Whose integer products the candidate gets (an onnxruntime target), when it runs with ONNX semantics.
    public var candidateTarget: DeploymentTarget = .onnx
    /// Class labels by sample position in the inputs file (--labels): top-1 of both models.
    public var labels: [Int]?
    /// Run the candidate leniently (what onnxruntime would refuse, with its obvious meaning).
    public var lenientCandidate = true
    /// At most this many samples per batch (--batch); the batches, and so the shards, follow it.
    public var batchLimit = 8

    public init(
        reference: GraphView, candidate: GraphView, referencePath: String, candidatePath: String, tolerance: Tolerance
    ) {
        self.reference = reference
        self.candidate = candidate
        let nodes = reference.model.graph.nodes
        referenceQuantizers = Dictionary(
            nodes.filter { $0.opType == "QuantizeLinear" }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        referenceAverages =
            reference.kind == .aidgeForm
            ? Dictionary(
                nodes.filter { QuantPlan.averagingOps.contains($0.opType) }.map { ($0.name, $0) },
                uniquingKeysWith: { a, _ in a }) : [:]
        self.referencePath = referencePath
        self.candidatePath = candidatePath
        self.tolerance = tolerance
    }

    public static func semantics(_ v: GraphView) -> Semantics { v.kind == .aidgeForm ? .aidge : .onnx }

    /// Feeds for one side: inputs by position; a folded Aidge graph gets Aidge's integer input.
    public static func feeds(_ sample: [String: Tensor], _ order: [String], _ v: GraphView) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, inp) in v.model.graph.runtimeInputs.enumerated() where k < order.count {
            guard let x = sample[order[k]] else { continue }
            out[inp.name] = v.plan?.quantizedInputs[inp.name].map { Self.aidgeInput(x, $0) } ?? x
        }
        return out
    }

    /// Aidge's integer input for a folded graph: round half up of x / step, computed as
    /// floor(x · (1/step) + 0.5) in float32, clipped to the type. Integer tensors (Aidge's own
    /// input files) are already that input and pass unchanged.
    public static func aidgeInput(_ x: Tensor, _ q: QuantInfo) -> Tensor {
        guard x.dtype == .float else { return x }
        let m = Float(1 / q.step)
        let r = q.dtype.integerRange!
        let v = (x.floats ?? []).map {
            Int32(min(max(Int64(RoundingRule.halfUp.round($0 * m)), r.lowerBound), r.upperBound))
        }
        return Tensor(v, shape: x.shape, dtype: q.dtype)
    }

    /// The inputs of a folded graph, named by runtime-input position, that an input file gives as
    /// Aidge's integer input: integer tensors, and — where the graph's input is declared float (a
    /// folded fake_quantize export, whose Aidge input files are integer-valued float32, so the
    /// file's type says nothing) — float tensors whose every value is an integer of the input's
    /// type. Decided once per file, from its first sample, for every command; the rest are real
    /// values. `notice` names the float ones so the command can say what it took them as.
    /// `quantized` is the plan's quantized inputs (``QuantPlan/quantizedInputs``).
    public static func integerInputs(
        _ first: [String: Tensor], _ order: [String], inputs: [ValueInfo], quantized: [String: QuantInfo]
    ) -> (names: Set<String>, notice: String?) {
        var names = Set<String>(), floats: [String] = []
        for (k, inp) in inputs.enumerated() where k < order.count {
            guard let x = first[order[k]], let q = quantized[inp.name] else { continue }
            if x.dtype.isInteger {
                names.insert(order[k])
            } else if x.dtype == .float, inp.dtype?.isFloatingPoint == true, let values = x.floats,
                let r = q.dtype.integerRange,
                values.allSatisfy({
                    $0 == $0.rounded(.towardZero) && $0 >= Float(r.lowerBound) && $0 <= Float(r.upperBound)
                })
            {
                names.insert(order[k])
                floats.append("'\(order[k])' (\(q.dtype))")
            }
        }
        let notice =
            floats.isEmpty
            ? nil
            : "input \(floats.joined(separator: ", ")) holds only integers of the folded graph's input type: taken as Aidge's integer input, not as real values"
        return (names, notice)
    }

    typealias Pair = (a: Point?, b: Point?)

    /// What one pass over the samples leaves: per aligned pair and for the graph output.
    /// What a batch of samples (or a whole run) leaves: fixed-size, mergeable, Codable so that a
    /// sharded run can write it and `qverify merge` fold it.
    public struct Accumulated: Codable, Sendable {
        var pairs: [PairStatistics]
        var output = PairStatistics()
        var outputCompared = false
        /// NaN or infinite input elements, and the first sample that has one.
        var nonFiniteInputs = 0
        var firstNonFiniteSample: Int?
        var labels = LabelStatistics()

        init(pairs: Int) { self.pairs = Array(repeating: PairStatistics(), count: pairs) }

        /// Adds a record of later samples.
        mutating func merge(_ part: Accumulated) {
            for i in pairs.indices where i < part.pairs.count { pairs[i].merge(part.pairs[i]) }
            output.merge(part.output)
            outputCompared = outputCompared || part.outputCompared
            labels.merge(part.labels)
            nonFiniteInputs += part.nonFiniteInputs
            if firstNonFiniteSample == nil { firstNonFiniteSample = part.firstNonFiniteSample }
        }
    }

    /// One batch's record, numbered in the run's batch order (the unit a shard keeps).
    public struct BatchRecord: Codable, Sendable {
        public var batch: Int
        public var record: Accumulated
    }

    /// Samples per batch (``Interpreter/samplesPerBatch(bytesPerSample:limit:)``, at most
    /// `limit`). Fixed by the inputs and the limit alone, so the batch numbering is the same for
    /// every run and every shard of one command line.
    static func batchSize(_ samples: SampleSource, limit: Int) throws -> Int {
        let first = samples.count > 0 ? try samples.sample(0) : [:]
        return Interpreter.samplesPerBatch(bytesPerSample: first.values.map { $0.count * 4 }.reduce(0, +), limit: limit)
    }

    /// Runs shard `shard` of `of` (every `of`-th batch, starting with batch `shard`) and returns its
    /// batch records, for ``report(name:records:samples:threads:)`` to fold after all shards ran.
    public func runShard(
        _ shard: Int, of count: Int, samples: SampleSource, threads: Int = defaultThreadCount,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [BatchRecord] {
        try checkTolerance()
        let (ia, ib) = try interpreters()
        return try accumulateBatches(align(), ia, ib, samples, threads: threads, progress: progress) {
            $0 % count == shard
        }
    }

    /// The report of a run from all its batch records (any order; folded in batch order).
    public func report(
        name: String, records: [BatchRecord], samples: SampleSource, threads: Int = defaultThreadCount
    ) throws -> ComparisonReport {
        let pairs = align()
        let chunk = try Harness.batchSize(samples, limit: batchLimit)
        let batches = (samples.count + chunk - 1) / chunk
        let sorted = records.sorted { $0.batch < $1.batch }
        guard sorted.map(\.batch) == Array(0..<batches) else {
            throw QVError.badInput(
                "the shards hold batches \(sorted.map(\.batch)) of \(batches): some shard is missing or repeated")
        }
        var total = Accumulated(pairs: pairs.count)
        for r in sorted { total.merge(r.record) }
        let (ia, ib) = try interpreters()
        return try classify(name: name, pairs, total, samples: samples, interpreters: (ia, ib), threads: threads)
    }

    func interpreters() throws -> (Interpreter, Interpreter) {
        let ia = try Interpreter(
            model: reference.model, semantics: Self.semantics(reference), scalingFactors: referenceScalingFactors)
        let ib = try Interpreter(
            model: candidate.model, semantics: Self.semantics(candidate),
            target: Self.semantics(candidate) == .onnx ? candidateTarget : .onnx, lenient: lenientCandidate)
        return (ia, ib)
    }

    /// Runs both graphs on every sample, `threads` batches at a time. The report does not depend
    /// on the thread count: statistics are merged in sample order.
    /// Every --node-tolerance name must be a node or tensor of one of the two models.
    public func checkTolerance() throws {
        var names = Set<String>()
        for m in [reference.model, candidate.model] {
            for n in m.graph.nodes { names.insert(n.name); names.formUnion(n.outputs) }
            names.formUnion(m.graph.runtimeInputs.map(\.name))
        }
        if let unknown = tolerance.perNode.keys.sorted().first(where: { !names.contains($0) }) {
            throw QVError.badInput("--node-tolerance names '\(unknown)', which is no node or tensor of either model")
        }
    }

    public func run(
        name: String, samples: SampleSource, threads: Int = defaultThreadCount,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> ComparisonReport {
        try checkTolerance()
        let (ia, ib) = try interpreters()
        let pairs = align()
        var acc = Accumulated(pairs: pairs.count)
        for r in try accumulateBatches(
            pairs, ia, ib, samples, threads: threads, progress: progress, keep: { _ in true })
        { acc.merge(r.record) }
        return try classify(name: name, pairs, acc, samples: samples, interpreters: (ia, ib), threads: threads)
    }

    public func run(
        name: String, samples: [[String: Tensor]], threads: Int = defaultThreadCount,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> ComparisonReport {
        try run(name: name, samples: SampleSource(samples), threads: threads, progress: progress)
    }

    // MARK: - align

    /// Pairs points with equal signatures, in the reference's order; unmatched ones included.
    func align() -> [Pair] {
        let bySig = Dictionary(candidate.points.map { ($0.signature, $0) }, uniquingKeysWith: { _, b in b })
        var used = Set<Signature>()
        var out: [Pair] = reference.points.map { p in
            if let m = bySig[p.signature] { used.insert(p.signature); return (p, m) }
            return (p, nil)
        }
        out += candidate.points.filter { !used.contains($0.signature) }.map { (nil, $0) }
        return out
    }

    // MARK: - accumulate

    /// The tensors each side must keep for the comparison (points, the reference quantizers'
    /// inputs for tie rules, graph outputs).
    func keptTensors(_ pairs: [Pair]) -> (a: Set<String>, b: Set<String>) {
        var a = Set(reference.model.graph.outputs.map(\.name)), b = Set(candidate.model.graph.outputs.map(\.name))
        for p in pairs {
            if let pa = p.a {
                a.insert(pa.tensor)
                if let q = quantizerNode(pa) ?? averagingNode(pa) { a.insert(q.inputs[0]) }
            }
            if let pb = p.b { b.insert(pb.tensor) }
        }
        return (a, b)
    }

    func quantizerNode(_ pa: Point) -> Node? { referenceQuantizers[pa.node] }

    /// The reference's averaging node at a point (Aidge's integer GlobalAveragePool), whose input
    /// decides ties: the exact mean of the integers is k + ½, which Aidge rounds away from zero
    /// and ONNX to even.
    func averagingNode(_ pa: Point) -> Node? { referenceAverages[pa.node] }

    /// The batch records of the batches `keep` selects, in batch order; each is folded in its
    /// worker from an empty record, so a record does not depend on the thread count or the shard.
    func accumulateBatches(
        _ pairs: [Pair], _ ia: Interpreter, _ ib: Interpreter, _ samples: SampleSource, threads: Int,
        progress: ((Int, Int) -> Void)?, keep: (Int) -> Bool
    ) throws -> [BatchRecord] {
        let inputOrder = reference.model.graph.runtimeInputs.map(\.name)
        let (keepA, keepB) = keptTensors(pairs)
        let chunk = try Harness.batchSize(samples, limit: batchLimit)
        let selected = stride(from: 0, to: samples.count, by: chunk).enumerated().filter { keep($0.offset) }.map {
            ($0.offset, $0.element)
        }
        let (reference, candidate, harness) = (self.reference, self.candidate, self)
        var records: [BatchRecord] = []
        try inOrderParallel(
            count: selected.count, chunk: 1, threads: threads,
            prepare: { r in
                let (batch, start) = selected[r.lowerBound]
                let range = start..<min(samples.count, start + chunk)
                return (batch, range, try range.map { try samples.sample($0) })
            },
            work: { (batch: Int, range: Range<Int>, raw: [[String: Tensor]]) -> BatchRecord in
                let feedsA = raw.map { Self.feeds($0, inputOrder, reference) },
                    feedsB = raw.map { Self.feeds($0, inputOrder, candidate) }
                let resA = try ia.run(batch: feedsA, keepIntermediates: true, only: keepA)
                let resB = try ib.run(batch: feedsB, keepIntermediates: true, only: keepB)
                var part = Accumulated(pairs: pairs.count)
                for j in 0..<raw.count {
                    try harness.addSample(
                        samples.position(range.lowerBound + j), pairs, raw[j], feedsA[j], feedsB[j], resA[j], resB[j],
                        into: &part)
                }
                return BatchRecord(batch: batch, record: part)
            },
            consume: { _, input, record in
                records.append(record)
                progress?(input.1.upperBound - 1, samples.count)
            })
        return records
    }

    /// The reference's own rounding at a point for one sample: the input of its Aidge quantizer
    /// with the quantizer's tie rule, and the input window of its averaging node.
    struct RoundingCauses {
        /// The quantizer's input; its values as Doubles are made at the first element asked about.
        var preTensor: Tensor?
        private let preCache = ValuesCache()
        var rule: TieRule?
        var windowValues: [Int64]?
        var windowSize = 1

        final class ValuesCache { var values: [Double]?? }

        var pre: [Double]? {
            if let v = preCache.values { return v }
            let v = preTensor?.asDoubles()
            preCache.values = .some(v)
            return v
        }

        /// The cause for element j: an exact tie or a near-tie of the quantizer (from its input),
        /// or a mean of integers exactly halfway (Aidge's GlobalAveragePool, from its window).
        func cause(_ j: Int) -> PairStatistics.ElementCause? {
            if let v = windowValues, (j + 1) * windowSize <= v.count {
                let sum = v[(j * windowSize)..<((j + 1) * windowSize)].reduce(0, +), n = Int64(windowSize)
                if abs((2 * sum) % (2 * n)) == n { return .tie }
            }
            if let rule, let pre, j < pre.count {
                if rule.isTie(pre[j]) { return .tie }
                if rule.isNearTie(pre[j]) { return .nearTie }
            }
            return nil
        }

        /// How many quantizer inputs lie within an ulp of a rounding boundary of a multiplying rule
        /// (TieRule.isNearTie of each, in C).
        var nearTiesOfProduct: Int {
            guard let rule, let preTensor, case .multiply(let sf) = rule else { return 0 }
            return PairValues.with(preTensor, nil) { Int(qv_count_near_ties($0.c, preTensor.count, sf)) }
        }
    }

    /// The reference's own rounding causes at a point for one sample.
    func roundingCauses(_ pa: Point, _ a: Interpreter.Result, _ xa: [String: Tensor]) -> RoundingCauses {
        var c = RoundingCauses()
        if let qn = quantizerNode(pa) {
            c.preTensor = a.intermediates[qn.inputs[0]] ?? xa[qn.inputs[0]]
            c.rule = qn.quantizerScale.flatMap { reference.model.graph.initializer($0) }.flatMap(TieRule.init(scale:))
        }
        if let window = averagingNode(pa).flatMap({ a.intermediates[$0.inputs[0]] ?? xa[$0.inputs[0]] }) {
            c.windowValues = window.asInt64s()
            c.windowSize = window.shape.count > 2 ? window.shape[2...].reduce(1, *) : 1
        }
        return c
    }

    /// Folds one sample into `acc`.
    func addSample(
        _ k: Int, _ pairs: [Pair], _ raw: [String: Tensor], _ xa: [String: Tensor], _ xb: [String: Tensor],
        _ a: Interpreter.Result, _ b: Interpreter.Result, into acc: inout Accumulated
    ) throws {
        let bad = raw.values.reduce(0) { n, t in n + (t.floats?.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } ?? 0) }
        if bad > 0 {
            acc.nonFiniteInputs += bad
            if acc.firstNonFiniteSample == nil { acc.firstNonFiniteSample = k }
        }
        for (i, p) in pairs.enumerated() {
            guard let pa = p.a, let pb = p.b else { continue }
            guard let ta = a.intermediates[pa.tensor] ?? a.outputs[pa.tensor] ?? xa[pa.tensor],
                let tb = b.intermediates[pb.tensor] ?? b.outputs[pb.tensor] ?? xb[pb.tensor]
            else { continue }
            guard ta.count == tb.count else {
                throw QVError.badInput(
                    "aligned tensors '\(pa.tensor)' (\(ta.shape)) and '\(pb.tensor)' (\(tb.shape)) have different sizes"
                )
            }
            let step = pb.quant?.step ?? pa.quant?.step
            let bothQuantized = pa.quant != nil && pb.quant != nil
            let limit = Self.stepLimit(
                tolerance: tolerance.steps(for: [pa.node, pb.node, pa.tensor, pb.tensor]), bothQuantized: bothQuantized)
            let causes = roundingCauses(pa, a, xa)
            let classify: (Int, Double, Double) -> PairStatistics.ElementCause? = { j, r, c in
                if let cause = causes.cause(j) { return cause }
                if let q = pb.quant, q.dtype.integerRange?.lowerBound == 0,
                    (c / q.step).rounded(.toNearestOrEven) == Double(-q.zeroPoint)
                {
                    let bits = (pa.quant?.dtype ?? q.dtype).bitWidth
                    let signedMax = Double((Int64(1) << (bits - 1)) - 1)
                    if r / (pa.quant?.step ?? q.step) >= signedMax + 0.5 - Double(q.zeroPoint) { return .wrap }
                }
                return nil
            }
            acc.pairs[i].add(
                sample: k, reference: ta, pa.quant, candidate: tb, pb.quant, step: step, bothQuantized: bothQuantized,
                limit: limit, realValued: tolerance.realValued, classify: classify)
            // Without Aidge's exact sf, a product within an ulp of a rounding boundary is undecidable.
            if let q = quantizerNode(pa), referenceScalingFactors[q.name] == nil {
                acc.pairs[i].ambiguous += causes.nearTiesOfProduct
            }
        }
        let oa = reference.model.graph.outputs[0].name, ob = candidate.model.graph.outputs[0].name
        if let ta = a.outputs[oa], let tb = b.outputs[ob], ta.count == tb.count {
            let outStep = candidate.points.last?.quant?.step ?? reference.points.last?.quant?.step
            let outQuantized = reference.kind != .float && candidate.kind != .float
            let ra = Self.real(
                ta, reference.plan?.tensors[oa] ?? reference.points.last(where: { $0.tensor == oa })?.quant)
            let rb = Self.real(tb, candidate.points.last(where: { $0.tensor == ob })?.quant)
            acc.output.add(
                sample: k, reference: ra, candidate: rb, step: outStep, bothQuantized: outQuantized, limit: .infinity,
                realValued: tolerance.realValued)
            acc.outputCompared = true
            if let labels {
                guard k < labels.count else {
                    throw QVError.badInput("--labels has \(labels.count) labels; there is no label for sample \(k)")
                }
                acc.labels.add(sample: k, label: labels[k], reference: top1(ra), candidate: top1(rb))
            }
        }
    }

    // MARK: - classify

    /// Node statuses, the first divergence and whether ties explain it.
    struct Classification {
        var nodes: [NodeReport] = []
        var first: Int?
        var firstExplainedByTies = false
        var confirmedConsequences = false
        /// Points whose every difference beyond tolerance is a tie or near-tie (causes of their own).
        var tiePoints: [Int] = []
        /// Points found by the put-back pass to add (near-)ties of their own to upstream
        /// consequences, with how many elements those are.
        var laterTies: [Int: Int] = [:]
        /// Points whose differences are consequences of the ties but grow beyond one step past the
        /// tolerance: explained, not excused.
        var amplified: [Int] = []
    }

    func classify(
        name: String, _ pairs: [Pair], _ acc: Accumulated, samples: SampleSource,
        interpreters: (Interpreter, Interpreter), threads: Int
    ) throws -> ComparisonReport {
        var c = Classification()
        for (i, p) in pairs.enumerated() {
            guard let pa = p.a, let pb = p.b else {
                let only = p.a ?? p.b!
                c.nodes.append(
                    NodeReport(
                        signature: only.signature.description, reference: p.a.map(Self.ref),
                        candidate: p.b.map(Self.ref),
                        status: .unmatched, stats: nil, differingBeyondTolerance: 0, toleranceSteps: 0))
                continue
            }
            let s = acc.pairs[i]
            let step = pb.quant?.step ?? pa.quant?.step
            let tol = tolerance.steps(for: [pa.node, pb.node, pa.tensor, pb.tensor])
            var status: NodeStatus = s.beyond == 0 ? .ok : .downstream
            if s.beyond > 0 && c.first == nil {
                c.first = i
                status = .diverges
                c.firstExplainedByTies = s.ties + s.nearTies == s.beyond
                if c.firstExplainedByTies { status = .ties }
            }
            let stats = s.tensorStats(step: step)
            if s.beyond > 0, s.ties + s.nearTies == s.beyond {
                c.tiePoints.append(i)
                if status == .downstream { status = .ties }
            }
            c.nodes.append(
                NodeReport(
                    signature: pa.signature.description, reference: Self.ref(pa), candidate: Self.ref(pb),
                    status: status,
                    stats: stats, differingBeyondTolerance: s.beyond, toleranceSteps: tol,
                    ties: c.first == i ? s.ties : nil, wraps: c.first == i ? s.wraps : nil,
                    stepHistogram: s.histogram.isEmpty ? nil : s.histogram, worst: s.worst.isEmpty ? nil : s.worst))
        }
        // Ties and near-ties can move later nodes by more than a step. Put the reference's values
        // back at the tie points and run the candidate again: later nodes that then match were
        // consequences. The earliest node still differing is another cause when all its remaining
        // differences are (near-)ties: add it and repeat; otherwise it is a divergence of its own.
        if c.firstExplainedByTies, c.nodes.contains(where: { $0.status == .downstream }) {
            var points = c.tiePoints
            for _ in 0..<pairs.count {
                guard
                    let outcome = try putBack(
                        points, pairs: pairs, nodes: c.nodes, samples: samples, interpreters: interpreters,
                        threads: threads)
                else { break }
                guard let (node, allTies, differing) = outcome else {
                    c.confirmedConsequences = true
                    break
                }
                guard allTies, !points.contains(node) else { break }
                c.laterTies[node] = differing
                points.append(node)
                points.sort()
            }
            if c.confirmedConsequences {
                c.tiePoints = points
                for k in c.nodes.indices where c.nodes[k].status == .downstream {
                    // Explained, but the effect decides: beyond one step past the tolerance the
                    // ties were amplified, and that is a discrepancy of its own (named with its cause).
                    let limit = c.nodes[k].toleranceSteps + 1
                    if let m = c.nodes[k].stats?.maxSteps, m > limit + 1e-9 {
                        c.amplified.append(k)
                    } else {
                        c.nodes[k].status = .ties
                    }
                }
            }
        }
        var findings = firstDivergenceFindings(c, pairs, acc)
        findings += clipRangeFindings(pairs)
        findings += unmatchedFindings(pairs)
        let output: TensorStats? =
            acc.outputCompared && acc.output.count > 0
            ? acc.output.tensorStats(step: candidate.points.last?.quant?.step ?? reference.points.last?.quant?.step)
            : nil
        findings += outputMismatchFindings(c, output, beyondReal: acc.output.beyond)
        findings += nonFiniteInputFindings(acc)
        findings += ambiguousReferenceFindings(pairs, acc)
        findings += gainFindings(pairs, acc)
        findings += similarityFindings(pairs, c.nodes)
        findings += try StaticChecks.run(candidate.model, label: "candidate", reference: reference)
        findings += try StaticChecks.aidgeUnconfirmed(reference.model, label: "reference")
        linkCauses(&findings, c.nodes)
        let unmatchedA = pairs.compactMap { $0.b == nil ? $0.a.map { "\($0.signature) '\($0.tensor)'" } : nil }
        let unmatchedB = pairs.compactMap { $0.a == nil ? $0.b.map { "\($0.signature) '\($0.tensor)'" } : nil }
        return ComparisonReport(
            name: name,
            reference: ModelRef(
                path: referencePath, kind: reference.kind.rawValue, semantics: Self.semantics(reference).rawValue),
            candidate: ModelRef(
                path: candidatePath, kind: candidate.kind.rawValue, semantics: Self.semantics(candidate).rawValue),
            samples: samples.count, verdict: Verdict.from(findings),
            firstDivergence: c.first.flatMap { _ in
                c.nodes.first { $0.status == .diverges || $0.status == .ties }?.candidate.map {
                    $0.node.isEmpty ? $0.tensor : $0.node
                }
            },
            output: output, findings: findings, nodes: c.nodes, unmatchedReference: unmatchedA,
            unmatchedCandidate: unmatchedB,
            targets: nil, accuracy: labels == nil ? nil : acc.labels)
    }

    // MARK: - findings, one function per code family

    /// What "beyond tolerance" means at a point: steps, or --atol/--rtol where a side is float.
    func limitText(_ n: NodeReport) -> String {
        if let real = tolerance.realValuedText, n.reference?.scale == nil || n.candidate?.scale == nil { return real }
        return "\(Tolerance.describe(n.toleranceSteps)) step(s)"
    }

    /// Ties consequences to their cause: a static error on the compute op of the first diverging
    /// point (e.g. bias-zeroed on conv1) is what the first divergence comes from, and the first
    /// divergence's details (wrap-vs-saturate, the later nodes that differ) come from it.
    func linkCauses(_ findings: inout [Finding], _ nodes: [NodeReport]) {
        guard let fi = findings.firstIndex(where: { $0.code == "first-divergence" }),
            let d = nodes.first(where: { $0.status == .diverges })
        else { return }
        let op = String(d.signature.split(separator: "→").first ?? "")
        if let compute = candidate.computeOps.first(where: { $0.key.description == op })?.value.node,
            let s = findings.firstIndex(where: {
                $0.severity == .error && $0.node == compute && $0.code != "first-divergence"
            })
        {
            findings[fi].cause = findings[s].key
        }
        let first = findings[fi].key
        for k in findings.indices
        where ["downstream", "wrap-vs-saturate", "rounding-ties"].contains(findings[k].code)
            && findings[k].node == findings[fi].node
        {
            findings[k].cause = first
        }
    }

    /// first-divergence / divergence, rounding-ties, rounding-near-ties, tie-consequences,
    /// wrap-vs-saturate, downstream.
    func firstDivergenceFindings(_ c: Classification, _ pairs: [Pair], _ acc: Accumulated) -> [Finding] {
        guard let f = c.first else { return [] }
        var findings: [Finding] = []
        let n = c.nodes.first {
            $0.reference?.tensor == pairs[f].a?.tensor && $0.candidate?.tensor == pairs[f].b?.tensor
        }!
        let name = { (t: TensorRef) in t.node.isEmpty ? t.tensor : t.node }
        let where_ = "reference '\(name(n.reference!))' ↔ candidate '\(name(n.candidate!))'"
        let worst = n.worst?.first.map { " (worst: sample \($0.sample), element \($0.index))" } ?? ""
        if c.firstExplainedByTies {
            for t in c.tiePoints {
                guard
                    let p = c.nodes.first(where: {
                        $0.reference?.tensor == pairs[t].a?.tensor && $0.candidate?.tensor == pairs[t].b?.tensor
                    })
                else { continue }
                let at = "reference '\(p.reference!.node)' ↔ candidate '\(p.candidate!.node)'"
                if let own = c.laterTies[t] {
                    findings.append(
                        Finding(
                            .warning, "rounding-ties", node: p.candidate!.node, model: "candidate",
                            "\(own) elements differ by one step at \(at) beyond the consequences of the ties upstream, every one a tie or near-tie of this quantizer's own rounding"
                        ))
                    continue
                }
                let nearTies = acc.pairs[t].nearTies
                let exact = p.differingBeyondTolerance - nearTies
                if exact > 0 {
                    findings.append(
                        Finding(
                            .warning, "rounding-ties", node: p.candidate!.node, model: "candidate",
                            averagingNode(pairs[t].a!) != nil
                                ? "\(exact) elements differ by one step at \(at), every one a mean of integers exactly halfway between two steps: Aidge's running mean in double lands on either side of the half, an ONNX graph cannot follow it"
                                : "\(exact) elements differ by one step at \(at), every one an exact half-up (Aidge) vs half-to-even (ONNX) tie"
                        ))
                }
                if nearTies > 0 {
                    findings.append(
                        Finding(
                            .warning, "rounding-near-ties", node: p.candidate!.node, model: "candidate",
                            referenceScalingFactors.isEmpty
                                ? "\(nearTies) elements differ by one step at \(at) where x·sf lies within one float32 ulp of a rounding boundary: Aidge's export keeps only 1/sf rounded to float32, so the exact sf (and this rounding) cannot be recovered from the file (pass --aidge-scaling-factors)"
                                : "\(nearTies) elements differ by one step at \(at) where x·sf lies within one float32 ulp of a rounding boundary: the reference uses Aidge's exact sf, the ONNX model can only divide by the stored float32 1/sf, which rounds these values the other way"
                        ))
                }
            }
            if c.confirmedConsequences {
                findings.append(
                    Finding(
                        .info, "tie-consequences", node: n.candidate!.node, model: "candidate",
                        "later nodes differ only as consequences: with the reference's values put back at \(c.tiePoints.count == 1 ? where_ : "the \(c.tiePoints.count) points whose differences are all (near-)ties"), every later node matches"
                    ))
                // The first tie point's own finding is the cause of every amplification.
                let cause = findings.first { $0.code == "rounding-ties" || $0.code == "rounding-near-ties" }?.key
                for k in c.amplified {
                    let a = c.nodes[k]
                    findings.append(
                        Finding(
                            .error, "tie-amplified", node: a.candidate?.node ?? "", model: "candidate",
                            "\(a.differingBeyondTolerance) elements differ by up to \(Self.fmt(a.stats?.maxSteps)) steps at \(a.signature): consequences of the one-step rounding ties at \(where_)\(c.tiePoints.count > 1 ? " and \(c.tiePoints.count - 1) later tie point(s)" : ""), amplified \(Self.fmt(a.stats?.maxSteps))×; the converted model's values there are that far from the source's",
                            cause: cause))
                }
            }
            for (k, w) in c.nodes.enumerated() where w.status == .downstream && !c.amplified.contains(k) {
                findings.append(
                    Finding(
                        .error, "divergence", node: w.candidate?.node ?? "", model: "candidate",
                        "\(w.differingBeyondTolerance) elements differ by up to \(Self.fmt(w.stats?.maxSteps)) steps at \(w.signature); not explained by the (near-)ties upstream: with the reference's values put back there, differences remain that are no rounding tie of the reference"
                    ))
            }
        } else {
            findings.append(
                Finding(
                    .error, "first-divergence", node: n.candidate!.node, model: "candidate",
                    "first divergence at \(where_) (\(n.signature)): \(n.differingBeyondTolerance)/\(n.stats?.count ?? 0) elements beyond \(limitText(n)), up to \(Self.fmt(n.stats?.maxSteps)) steps\(worst)"
                ))
            if Self.semantics(reference) == .aidge, let r = n.reference, QuantPlan.requantizedOps.contains(r.op),
                let node = reference.model.graph.nodes.first(where: { $0.name == r.node })
            {
                let alpha = node.float("alpha", default: 0.01), slope = AidgeConventions.integerSlope(alpha)
                findings.append(
                    Finding(
                        .error, "aidge-integer-slope", node: n.candidate!.node, model: "reference",
                        "Aidge's CPU kernel casts LeakyRelu's slope \(alpha) to the integer type (\(slope)) before multiplying, so the Aidge graph computes \(slope == 0 ? "Relu" : "an integer slope") on its negative inputs; its CPU backend has no int8 LeakyReLU, so no Aidge run confirms it. The converted model computes LeakyRelu(\(alpha)) on the real values at the same step, as the float model does"
                    ))
            }
            if let w = n.wraps, w > 0 {
                findings.append(
                    Finding(
                        .error, "wrap-vs-saturate", node: n.candidate!.node, model: "candidate",
                        "\(w) of them are negative values the reference wrapped into an unsigned type (Aidge's Cast) and the candidate saturated to 0 (ONNX)"
                    ))
            }
            if let t = n.ties, t > 0 {
                findings.append(
                    Finding(
                        .info, "rounding-ties", node: n.candidate!.node, model: "candidate",
                        "\(t) of them are half-up vs half-to-even ties"))
            }
            let downstream = c.nodes.filter { $0.status == .downstream }.count
            if downstream > 0 {
                findings.append(
                    Finding(
                        .info, "downstream", node: n.candidate!.node, model: "candidate",
                        "\(downstream) later node(s) differ as a consequence"))
            }
        }
        return findings
    }

    /// Whether the candidate's tensor is bounded to `range` (in its own integers) by a Clip
    /// upstream, found through ops that cannot widen a range (Relu, MaxPool, reshapes, and Q/DQ
    /// round trips), wherever the recipe placed it.
    func clipped(_ tensor: String, to range: ClosedRange<Int64>, quant: QuantInfo) -> Bool {
        let g = candidate.model.graph
        let producers = Dictionary(g.nodes.flatMap { n in n.outputs.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        let preserving: Set<String> = [
            "Relu", "MaxPool", "Flatten", "Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze",
            "QuantizeLinear", "DequantizeLinear", "NhwcMaxPool",
        ]
        var t = tensor
        for _ in 0..<64 {
            guard let n = producers[t] else { return false }
            if n.opType == "Clip" {
                func bound(_ name: String) -> Tensor? { n.input(name).flatMap { g.initializer($0) } }
                guard let loT = bound("min"), let lo = loT.asDoubles()?.first, let hi = bound("max")?.asDoubles()?.first
                else {
                    return false
                }
                // Integer Clip bounds are the integers themselves; a float Clip's are real values.
                let integer = loT.dtype.isInteger
                let l = integer ? lo : (lo / quant.step).rounded(.toNearestOrEven) + Double(quant.zeroPoint)
                let h = integer ? hi : (hi / quant.step).rounded(.toNearestOrEven) + Double(quant.zeroPoint)
                return l >= Double(range.lowerBound) && h <= Double(range.upperBound)
            }
            guard preserving.contains(n.opType), let x = n.inputs.first, !x.isEmpty else { return false }
            t = x
        }
        return false
    }

    /// clip-range-lost: a reference quantizer narrower than the candidate's type needs a Clip there.
    func clipRangeFindings(_ pairs: [Pair]) -> [Finding] {
        pairs.compactMap { p in
            guard let pa = p.a, let pb = p.b, let qa = pa.quant, let qb = pb.quant,
                let ra = qa.dtype.integerRange, let rb = qb.dtype.integerRange,
                rb.lowerBound < ra.lowerBound || rb.upperBound > ra.upperBound,
                qa.dtype.bitWidth < 8, !clipped(pb.tensor, to: ra, quant: qb)
            else { return nil }
            return Finding(
                .error, "clip-range-lost", node: pb.node, model: "candidate",
                "the reference quantizes \(pa.signature) to \(qa.dtype) [\(ra.lowerBound), \(ra.upperBound)] but the candidate writes \(qb.dtype) with no Clip: values outside the \(qa.dtype.bitWidth)-bit range survive"
            )
        }
    }

    func unmatchedFindings(_ pairs: [Pair]) -> [Finding] {
        let unmatchedA = pairs.compactMap { $0.b == nil ? $0.a.map { "\($0.signature) '\($0.tensor)'" } : nil }
        let unmatchedB = pairs.compactMap { $0.a == nil ? $0.b.map { "\($0.signature) '\($0.tensor)'" } : nil }
        guard !unmatchedA.isEmpty || !unmatchedB.isEmpty else { return [] }
        return [
            Finding(
                .info, "unmatched", node: "", model: "both",
                "\(unmatchedA.count) reference and \(unmatchedB.count) candidate point(s) have no counterpart: "
                    + (unmatchedA + unmatchedB).joined(separator: ", "))
        ]
    }

    func outputMismatchFindings(_ c: Classification, _ output: TensorStats?, beyondReal: Int) -> [Finding] {
        let floatSide = reference.kind == .float || candidate.kind == .float
        if floatSide, let real = tolerance.realValuedText {
            guard c.first == nil, beyondReal > 0 else { return [] }
            return [
                Finding(
                    .error, "output-mismatch", node: candidate.model.graph.outputs[0].name, model: "candidate",
                    "\(beyondReal) graph output elements are beyond \(real) with no aligned node diverging")
            ]
        }
        guard c.first == nil, let o = output, let ms = o.maxSteps, ms > tolerance.steps + 0.5 else { return [] }
        return [
            Finding(
                .error, "output-mismatch", node: candidate.model.graph.outputs[0].name, model: "candidate",
                "graph outputs differ by up to \(Self.fmt(ms)) steps with no aligned node diverging")
        ]
    }

    /// sqnr-below / cosine-below (--min-sqnr, --min-cosine): at points where a side is float,
    /// the first point under the threshold is the error; later ones, whose error includes its,
    /// are its consequences.
    func similarityFindings(_ pairs: [Pair], _ nodes: [NodeReport]) -> [Finding] {
        var out: [Finding] = []
        let checks: [(code: String, min: Double?, value: (TensorStats) -> Double?, unit: String)] = [
            ("sqnr-below", tolerance.minSQNR, { $0.sqnrDB }, " dB"),
            ("cosine-below", tolerance.minCosine, { $0.cosine }, ""),
        ]
        for check in checks {
            guard let minimum = check.min else { continue }
            var cause: String?
            for n in nodes {
                guard let s = n.stats, n.reference?.scale == nil || n.candidate?.scale == nil, let v = check.value(s),
                    v < minimum
                else { continue }
                let what = check.code == "sqnr-below" ? "SQNR" : "cosine similarity"
                let f = Finding(
                    .error, check.code, node: n.candidate?.node ?? "", model: "candidate",
                    "\(what) \(String(format: "%.4g", v))\(check.unit) at \(n.signature) is below --min-\(check.code == "sqnr-below" ? "sqnr" : "cosine") \(Tolerance.describe(minimum))\(check.unit)",
                    cause: cause)
                cause = cause ?? f.key
                out.append(f)
            }
        }
        return out
    }

    /// per-layer-gain: where the candidate's real values are the reference's times a constant
    /// (least squares g = Σrc / Σr²) and removing it raises the SQNR by 10 dB or more, the
    /// difference is a scale, not noise: say so, with the factor and the SQNR without it.
    func gainFindings(_ pairs: [Pair], _ acc: Accumulated) -> [Finding] {
        var out: [Finding] = []
        for (i, p) in pairs.enumerated() {
            guard let pa = p.a, let pb = p.b else { continue }
            let s = acc.pairs[i]
            guard s.count > 0, s.sumRefSquares > 0, s.sumNoiseSquares > 0 else { continue }
            let g = s.sumProducts / s.sumRefSquares
            guard g > 0, abs(g - 1) > 0.05 else { continue }
            let residual = max(s.sumCandSquares - g * s.sumProducts, 0)  // Σ(c − g·r)²
            let raw = 10 * log10(s.sumRefSquares / s.sumNoiseSquares)
            let after = residual == 0 ? Double.infinity : 10 * log10(g * g * s.sumRefSquares / residual)
            guard after - raw >= 10 else { continue }
            out.append(
                Finding(
                    .warning, "per-layer-gain", node: pb.node, model: "candidate",
                    "at \(pa.signature) the candidate's real values are the reference's × \(String(format: "%.4g", g)) (least squares): SQNR \(String(format: "%.1f", raw)) dB as is, \(after.isFinite ? String(format: "%.1f", after) : "∞") dB with the gain removed — a scale (per-layer normalization, or a step the file does not record), not noise"
                ))
        }
        return out
    }

    /// reference-ambiguous: elements whose reference value the export cannot decide (one finding,
    /// counting every quantizer), so "0 elements differ" is not claimed for them.
    func ambiguousReferenceFindings(_ pairs: [Pair], _ acc: Accumulated) -> [Finding] {
        let hits = pairs.indices.compactMap { i -> (String, Int)? in
            guard acc.pairs[i].ambiguous > 0, let pa = pairs[i].a else { return nil }
            return (pa.node, acc.pairs[i].ambiguous)
        }
        guard !hits.isEmpty else { return [] }
        let total = hits.reduce(0) { $0 + $1.1 }
        return [
            Finding(
                .warning, "reference-ambiguous", node: hits[0].0, model: "reference",
                "\(total) element(s) at \(hits.count) Aidge quantizer(s) (\(hits.prefix(5).map { "'\($0.0)' \($0.1)" }.joined(separator: ", "))\(hits.count > 5 ? ", …" : "")) have x·sf within one float32 ulp of a rounding boundary: the export keeps only float32(1/sf), so Aidge's own result there cannot be known from the file; pass --aidge-scaling-factors (scripts/aidge_scaling_factors.py) to decide them"
            )
        ]
    }

    /// NaN or infinity in the inputs makes "equivalent" meaningless for those samples.
    func nonFiniteInputFindings(_ acc: Accumulated) -> [Finding] {
        guard acc.nonFiniteInputs > 0 else { return [] }
        return [
            Finding(
                .warning, "non-finite-input", node: "", model: "inputs",
                "\(acc.nonFiniteInputs) input element(s) are NaN or infinite (first in sample \(acc.firstNonFiniteSample ?? 0)): both models' results there say nothing about the conversion"
            )
        ]
    }

    // MARK: - helpers

    /// The candidate's departure from the reference in steps, rounded to whole steps when both
    /// sides are quantized.
    static func stepDifference(_ a: Double, _ b: Double, step: Double, bothQuantized: Bool) -> Double {
        let d = (b - a) / step
        return bothQuantized ? d.rounded(.toNearestOrEven) : d
    }

    /// The largest step difference within `tolerance` steps (half a step more for a float side).
    static func stepLimit(tolerance: Double, bothQuantized: Bool) -> Double {
        tolerance + (bothQuantized ? 0 : 0.5)
    }

    /// A further streaming pass: reruns the candidate with the tensors of pairs `points` replaced
    /// by the reference's values (quantized with the candidate's parameters). Returns nil when the
    /// values cannot be put back; .some(nil) when every node marked downstream then matches; else
    /// the earliest such node that still differs and whether all its remaining differences are
    /// ties or near-ties of the reference's own rounding.
    func putBack(
        _ points: [Int], pairs: [Pair], nodes: [NodeReport], samples: SampleSource,
        interpreters: (Interpreter, Interpreter), threads: Int
    ) throws -> (node: Int, allTies: Bool, differing: Int)?? {
        let targets = points.compactMap { f -> (Point, Point)? in
            guard let a = pairs[f].a, let b = pairs[f].b else { return nil }
            return (a, b)
        }
        guard targets.count == points.count, !targets.isEmpty, samples.count > 0 else { return nil }
        let (ia, ib) = interpreters
        let later = nodes.indices.filter { nodes[$0].status == .downstream && !points.contains($0) }
        let inputOrder = reference.model.graph.runtimeInputs.map(\.name)
        // Only the put-back points and the later nodes are read: the rest need not be kept (nor split per sample).
        let (keepA, keepB) = keptTensors((points + later).map { pairs[$0] })
        let harness = self
        // Per later node: (differing, of which (near-)ties); nil entry: could not compare.
        var counts = [Int: (Int, Int)](), possible = true
        // The main pass's batches: the same memory per batch whichever finding led here.
        let chunk = try Harness.batchSize(samples, limit: batchLimit)
        try inOrderParallel(
            count: samples.count, chunk: chunk, threads: threads,
            prepare: { range in try range.map { try samples.sample($0) } },
            work: { (raw: [[String: Tensor]]) -> [Int: (Int, Int)]? in
                let feedsA = raw.map { Self.feeds($0, inputOrder, harness.reference) }
                let resA = try ia.run(batch: feedsA, keepIntermediates: true, only: keepA)
                var part = [Int: (Int, Int)]()
                // Each sample's candidate gets the reference's values at the target points; the
                // samples run as one batch where the candidate batches.
                var replacing: [[String: (Tensor) throws -> Tensor]] = []
                for j in raw.indices {
                    var r: [String: (Tensor) throws -> Tensor] = [:]
                    for (pa, pb) in targets {
                        guard
                            let ta = resA[j].intermediates[pa.tensor] ?? resA[j].outputs[pa.tensor]
                                ?? feedsA[j][pa.tensor]
                        else { return nil }
                        let values = Self.real(ta, pa.quant)
                        r[pb.tensor] = { t in try Self.quantized(values, like: t, pb.quant) }
                    }
                    replacing.append(r)
                }
                let feedsB = raw.map { Self.feeds($0, inputOrder, harness.candidate) }
                guard
                    let resB = try? ib.run(
                        batch: feedsB, keepIntermediates: true, only: keepB, replacing: { replacing[$0] })
                else { return nil }
                for j in raw.indices {
                    let r = resB[j]
                    for i in later {
                        guard let pa = pairs[i].a, let pbi = pairs[i].b,
                            let x = resA[j].intermediates[pa.tensor] ?? resA[j].outputs[pa.tensor],
                            let y = r.intermediates[pbi.tensor] ?? r.outputs[pbi.tensor]
                        else { return nil }
                        guard x.count == y.count, let step = pbi.quant?.step ?? pa.quant?.step else { return nil }
                        let bothQuantized = pa.quant != nil && pbi.quant != nil
                        let limit = Self.stepLimit(
                            tolerance: harness.tolerance.steps(for: [pa.node, pbi.node, pa.tensor, pbi.tensor]),
                            bothQuantized: bothQuantized)
                        let causes = harness.roundingCauses(pa, resA[j], feedsA[j])
                        // The elements beyond the limit, by the comparison's own pass (its statistics unused).
                        var beyond = 0, ties = 0, scratch = PairStatistics()
                        scratch.add(
                            sample: 0, reference: x, pa.quant, candidate: y, pbi.quant, step: step,
                            bothQuantized: bothQuantized, limit: limit
                        ) { e, _, _ in
                            beyond += 1
                            if causes.cause(e) != nil { ties += 1 }
                            return nil
                        }
                        if beyond > 0 {
                            let c = part[i] ?? (0, 0)
                            part[i] = (c.0 + beyond, c.1 + ties)
                        }
                    }
                }
                return part
            },
            consume: { _, _, part in
                guard let part else { possible = false; return }
                for (i, c) in part { let t = counts[i] ?? (0, 0); counts[i] = (t.0 + c.0, t.1 + c.1) }
            })
        guard possible else { return nil }
        guard let first = counts.keys.min() else { return .some(nil) }
        let c = counts[first]!
        return .some((first, c.0 == c.1, c.0))
    }

    /// Real values as the integers of a candidate tensor shaped like `t` (round half to even,
    /// saturate), or as float32 for a float tensor.
    static func quantized(_ values: [Double], like t: Tensor, _ q: QuantInfo?) throws -> Tensor {
        guard t.count == values.count else {
            throw QVError.internalError("put-back size \(values.count) for a tensor of \(t.count)")
        }
        if let q, let range = t.dtype.integerRange {
            let ints = values.map { v -> Int32 in
                let r = (v / q.step).rounded(.toNearestOrEven) + Double(q.zeroPoint)
                return Int32(min(max(r, Double(range.lowerBound)), Double(range.upperBound)))
            }
            return Tensor(ints, shape: t.shape, dtype: t.dtype)
        }
        guard t.dtype == .float else { throw QVError.internalError("cannot put back values into \(t.dtype)") }
        return Tensor(values.map { Float($0) }, shape: t.shape)
    }

    /// A tensor's real values: (q − zero point) · step, or the values themselves when float.
    public static func real(_ t: Tensor, _ q: QuantInfo?) -> [Double] {
        guard let q else { return t.asDoubles() ?? [] }
        let zero = Double(q.zeroPoint), step = q.step
        // Integer tensors in one pass from their storage (no intermediate array of Doubles).
        if case .i32(let a) = t.storage, t.dtype.isInteger || t.dtype == .bool {
            return converted(a) { (Double($0) - zero) * step }
        }
        return converted(t.asDoubles() ?? []) { ($0 - zero) * step }
    }

    static func ref(_ p: Point) -> TensorRef {
        TensorRef(
            tensor: p.tensor, node: p.node, op: p.opType, dtype: p.quant?.dtype.shortName, scale: p.quant?.step,
            zeroPoint: p.quant?.zeroPoint)
    }

    static func fmt(_ d: Double?) -> String { formatNumber(d, missing: "?") }
}
