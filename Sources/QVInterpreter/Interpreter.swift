import Foundation
import QVGraph
import QVKernels

/// Runs a graph on named inputs with one semantics, node by node in topological order.
///
/// Kernels are prepared once per model. Without `keepIntermediates`, a tensor is freed after
/// its last consumer runs, so memory grows with activations, not with the graph.
public final class Interpreter: @unchecked Sendable {
    public let model: Model
    public let semantics: Semantics
    public let target: DeploymentTarget
    let order: [Int]
    let kernels: [Int: any Kernel]
    /// Tensor name → number of node inputs reading it (plus graph outputs), for freeing.
    let useCounts: [String: Int]
    let outputNames: Set<String>
    /// Per node, the inputs a run may free after it (not graph outputs, initializers or folded
    /// constants, which live for the whole run), once per use: decided here, not per batch.
    let releasable: [[String]]
    /// Outputs of nodes whose inputs are all constants, computed once at preparation
    /// (weight DequantizeLinear, Aidge weight/bias quantizers, …), and those nodes' indices.
    let folded: [String: Tensor]
    let foldedNodes: Set<Int>
    /// True when samples can run stacked on axis 0 (see ``batchBlocker(_:_:folded:facts:constants:)``).
    public let canBatch: Bool
    /// Why samples run one by one (nil when they batch).
    public let batchBlocker: String?
    /// MaxPool indices outputs → elements per sample of the pooled input (to un-offset split indices).
    let maxPoolIndexStride: [String: Int]
    /// Runs of pointwise nodes (DequantizeLinear → BatchNormalization → Relu → QuantizeLinear, …)
    /// that execute as one pass when their intermediate tensors are not asked for: first node →
    /// the run, in order. Each intermediate has one reader, the next node, and is no graph output;
    /// every other input of the run is a constant. See ``PointwiseKernel``.
    let pointwiseRuns: [Int: [Int]]
    /// Runs (one node or more) whose first input comes from a ``PointwiseProducer`` read by
    /// nothing else (QLinearConv → DequantizeLinear → …): producer node → the run. The producer
    /// applies the run's stages in its own last pass.
    let producerRuns: [Int: [Int]]
    /// Whether runs fuse (tests turn it off to compare against node-by-node execution).
    public var fusesPointwiseRuns = true

    /// Prepares every kernel; throws one error listing every unsupported op at once.
    /// `scalingFactors` (node name → Aidge's sf, one or one per channel) replaces 1/scale in
    /// those Aidge quantizers; every name must be a QuantizeLinear of the graph.
    /// `target` decides how quantized operators sum integer products (onnxruntime's kernels on one
    /// x86 instruction set); the graph runs as given (see ``OrtGraphOptimizer`` for the fused graph).
    public init(
        model: Model, semantics: Semantics, scalingFactors: [String: [Float]] = [:], target: DeploymentTarget = .onnx,
        saturationLog: SaturationLog? = nil, lenient: Bool = false
    ) throws {
        self.model = model
        self.semantics = semantics
        self.target = target
        let g = model.graph
        let index = try GraphIndex(g)
        order = index.topologicalOrder
        let quantizers = Set(g.nodes.filter { $0.opType == "QuantizeLinear" }.map(\.name))
        if let unknown = scalingFactors.keys.sorted().first(where: { !quantizers.contains($0) }) {
            throw QVError.badInput("scaling factor for '\(unknown)', which is not a QuantizeLinear node of this graph")
        }
        let unsupported = g.nodes.enumerated().filter { !Registry.isSupported($0.element) }
        if !unsupported.isEmpty {
            let list = unsupported.map { (i, n) in
                "\(n.opType) (domain '\(n.normalizedDomain.isEmpty ? "ai.onnx" : n.normalizedDomain)', opset \(model.opset(n.normalizedDomain).map(String.init) ?? "?"), node \(n.name.isEmpty ? "#\(i)" : "'\(n.name)'"))"
            }
            throw QVError.unsupported(
                "\(unsupported.count) unsupported op\(unsupported.count == 1 ? "" : "s"): "
                    + list.joined(separator: "; "))
        }
        // Tensors that are the same on every run: initializers and what only they feed.
        var constantNames = Set(g.initializerOrder)
        for i in order {
            let n = g.nodes[i]
            let ins = n.inputs.filter { !$0.isEmpty }
            if !ins.isEmpty, ins.allSatisfy({ constantNames.contains($0) }) { constantNames.formUnion(n.outputs) }
        }
        var ks: [Int: any Kernel] = [:]
        for (i, n) in g.nodes.enumerated() {
            var ctx = KernelContext(semantics: semantics, opset: model.opset(n.normalizedDomain) ?? 1)
            ctx.integerProducts = target.integerProducts
            ctx.avx512Float = target.avx512Float
            ctx.saturationLog = saturationLog
            ctx.lenient = lenient
            ctx.constantInputs = Set(
                n.inputs.indices.filter { !n.inputs[$0].isEmpty && constantNames.contains(n.inputs[$0]) })
            ctx.initializerInputs = Set(
                n.inputs.indices.filter { !n.inputs[$0].isEmpty && g.initializer(n.inputs[$0]) != nil })
            if n.opType == "QuantizeLinear", let sf = scalingFactors[n.name] {
                guard semantics == .aidge else {
                    throw QVError.badInput(
                        "scaling factors apply to Aidge quantizers; '\(n.name)' runs with onnx semantics")
                }
                ctx.aidgeScalingFactors = sf
            }
            if semantics == .aidge || lenient, n.opType == "QuantizeLinear",
                let zp = n.quantizerZeroPoint.flatMap({ g.initializer($0) }), zp.dtype.isFloatingPoint
            {
                ctx.fakeQuantRange = Self.fakeQuantRange(n, g, index)
                ctx.aidgeRescaleOnly = semantics == .aidge && AidgeConventions.rescalesIntoFloatOp(n, g, index)
            }
            ks[i] = try withContext("node \(n.label(index: i))") { try Registry.make(n, ctx) }
        }
        kernels = ks
        // Fold constant subgraphs once: they cost per sample otherwise (per-channel weight DQ).
        var constants = g.initializerTable
        var fnodes = Set<Int>()
        var fvalues: [String: Tensor] = [:]
        for i in order {
            let n = g.nodes[i]
            let ins = n.inputs.filter { !$0.isEmpty }
            guard !ins.isEmpty, ins.allSatisfy({ constants[$0] != nil }) else { continue }
            let outs = try withContext("node \(n.label(index: i))") {
                try ks[i]!.run(n.inputs.map { $0.isEmpty ? nil : constants[$0] })
            }
            for (name, t) in zip(n.outputs, outs) where !name.isEmpty {
                constants[name] = t
                fvalues[name] = t
            }
            fnodes.insert(i)
        }
        folded = fvalues
        foldedNodes = fnodes
        let facts = (try? ShapeInference(g).facts) ?? [:]
        batchBlocker = Self.batchBlocker(g, index, folded: fnodes, facts: facts, constants: fvalues)
        canBatch = batchBlocker == nil
        var strides: [String: Int] = [:]
        if canBatch {
            for n in g.nodes where n.opType == "MaxPool" && n.outputs.count > 1 && !n.outputs[1].isEmpty {
                if let s = facts[n.inputs[0]]?.shape, let per = Tensor.elementCount(s) { strides[n.outputs[1]] = per }
            }
        }
        maxPoolIndexStride = strides
        var uses: [String: Int] = [:]
        for n in g.nodes { for i in n.inputs where !i.isEmpty { uses[i, default: 0] += 1 } }
        let outs = Set(g.outputs.map(\.name))
        outputNames = outs
        useCounts = uses
        releasable = g.nodes.map { n in
            n.inputs.filter { name in
                !name.isEmpty && !outs.contains(name) && g.initializerTable[name] == nil && fvalues[name] == nil
            }
        }
        (pointwiseRuns, producerRuns) = Self.pointwiseRuns(
            g, order: order, kernels: ks, folded: fnodes, constants: Set(constants.keys), uses: uses,
            outputs: outputNames)
    }

    /// The maximal runs of pointwise kernels chained through single-reader, non-output tensors,
    /// whose inputs other than the first are constants: those fed that way by a producer (any
    /// length), and the others of two nodes or more.
    static func pointwiseRuns(
        _ g: Graph, order: [Int], kernels: [Int: any Kernel], folded: Set<Int>, constants: Set<String>,
        uses: [String: Int], outputs: Set<String>
    ) -> (runs: [Int: [Int]], producers: [Int: [Int]]) {
        func eligible(_ i: Int) -> Bool {
            let n = g.nodes[i]
            guard !folded.contains(i), kernels[i] is any PointwiseKernel, let first = n.inputs.first, !first.isEmpty,
                n.outputs.count == 1, !n.outputs[0].isEmpty
            else { return false }
            return n.inputs.dropFirst().allSatisfy { $0.isEmpty || constants.contains($0) }
        }
        var readerOf: [String: Int] = [:]
        for i in order { for name in g.nodes[i].inputs where !name.isEmpty { readerOf[name] = i } }
        func readBySuccessor(_ out: String) -> Int? {
            guard uses[out] == 1, !outputs.contains(out), let next = readerOf[out], eligible(next),
                g.nodes[next].inputs[0] == out
            else { return nil }
            return next
        }
        var runs: [Int: [Int]] = [:], producers: [Int: [Int]] = [:]
        var taken = Set<Int>()
        for i in order where !taken.contains(i) {
            let n = g.nodes[i]
            let producer = !folded.contains(i) && kernels[i] is any PointwiseProducer && n.outputs.count == 1
            guard eligible(i) || producer else { continue }
            var run = producer ? [] : [i]
            var tail = n.outputs.first ?? ""
            while !tail.isEmpty, let next = readBySuccessor(tail), !taken.contains(next) {
                run.append(next)
                tail = g.nodes[next].outputs[0]
            }
            if producer && !run.isEmpty {
                producers[i] = run
                taken.formUnion(run)
            } else if !producer && run.count >= 2 {
                runs[i] = run
                taken.formUnion(run)
            }
        }
        return (runs, producers)
    }

    /// The stages of a pointwise run whose first input has this type and shape; nil when a
    /// node's stage does not apply (the nodes then run one by one).
    /// A run's stages depend only on its constant inputs and on the type and shape it is given,
    /// so they are made once per (run, type, shape) and shared by every batch and thread.
    private struct StageKey: Hashable {
        let run: [Int], type: DType, shape: [Int]
    }
    private let stageLock = NSLock()
    private var madeStages: [StageKey: [PointwiseStage]?] = [:]

    func stages(_ run: [Int], inputType: DType, inputShape: [Int], _ env: [String: Tensor]) throws -> [PointwiseStage]?
    {
        let key = StageKey(run: run, type: inputType, shape: inputShape)
        if let made = stageLock.withLock({ madeStages[key] }) { return made }
        let made = try makeStages(run, inputType: inputType, inputShape: inputShape, env)
        stageLock.withLock { madeStages[key] = made }
        return made
    }

    private func makeStages(
        _ run: [Int], inputType: DType, inputShape: [Int], _ env: [String: Tensor]
    ) throws
        -> [PointwiseStage]?
    {
        let g = model.graph
        var stages: [PointwiseStage] = []
        var type = inputType
        for i in run {
            let n = g.nodes[i]
            let ins = n.inputs.map { $0.isEmpty ? nil : env[$0] }
            let kernel = kernels[i] as! any PointwiseKernel
            guard
                let st = try withContext(
                    "node \(n.label(index: i))",
                    {
                        try kernel.stage(inputType: type, inputShape: inputShape, ins)
                    })
            else { return nil }
            stages.append(st)
            type = st.outputType
        }
        return stages
    }

    /// A pointwise run's last output from its first input, in one pass (nil: see ``stages``).
    func runFused(_ run: [Int], _ env: [String: Tensor]) throws -> Tensor? {
        guard let x = env[model.graph.nodes[run[0]].inputs[0]],
            let st = try stages(run, inputType: x.dtype, inputShape: x.shape, env)
        else { return nil }
        return runPointwise(st, on: x)
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Aidge's default 8-bit precision: activations and weights clip to int8, a quantizer whose
    /// output is a Conv/Gemm bias (directly, or through a DequantizeLinear in Aidge's QDQ form)
    /// to int32. (Fake-quantize exports do not record the range.)
    static func fakeQuantRange(_ n: Node, _ g: Graph, _ index: GraphIndex) -> ClosedRange<Int64> {
        func feedsBias(_ t: String, throughDequantize: Bool) -> Bool {
            (index.consumers[t] ?? []).contains { c in
                let m = g.nodes[c]
                if ["Conv", "Gemm"].contains(m.opType), m.biasInput == t { return true }
                return throughDequantize && m.opType == "DequantizeLinear"
                    && feedsBias(m.outputs[0], throughDequantize: false)
            }
        }
        return (feedsBias(n.outputs[0], throughDequantize: true) ? DType.int32 : DType.int8).integerRange!
    }

    /// The result of one run: graph outputs, and every tensor when intermediates were kept.
    public struct Result {
        public var outputs: [String: Tensor]
        public var intermediates: [String: Tensor]
    }

    /// Checks the given inputs against the graph's declared inputs: names, dtypes and shapes.
    /// Under Aidge semantics an integer tensor may feed a FLOAT-declared input (Aidge's folded
    /// exports declare FLOAT but run on integers).
    public func checkInputs(_ inputs: [String: Tensor]) throws {
        let declared = model.graph.runtimeInputs
        for (name, _) in inputs where !declared.contains(where: { $0.name == name }) {
            throw QVError.badInput(
                "the model has no input '\(name)'; it expects \(declared.map { "'\($0.name)'" }.joined(separator: ", "))"
            )
        }
        for d in declared {
            guard let t = inputs[d.name] else { throw QVError.badInput("missing input '\(d.name)'") }
            if let dt = d.dtype, dt != t.dtype {
                let allowed = semantics == .aidge && dt == .float && t.dtype.isInteger
                if !allowed { throw QVError.badInput("input '\(d.name)' expects \(dt), given \(t.dtype)") }
            }
            if let s = d.shape {
                let ok = s.count == t.rank && zip(s, t.shape).allSatisfy { dim, v in dim.value.map { $0 == v } ?? true }
                if !ok {
                    throw QVError.badInput(
                        "input '\(d.name)' expects shape [\(s.map(\.description).joined(separator: ", "))], given \(t.shape)"
                    )
                }
            }
        }
    }

    public func run(_ inputs: [String: Tensor], keepIntermediates: Bool = false) throws -> Result {
        var unused: [Double]? = nil
        return try run(inputs, keepIntermediates: keepIntermediates, nodeSeconds: &unused)
    }

    /// Runs and, when `nodeSeconds` is non-nil, adds each node's wall time (indexed like graph.nodes).
    public func run(
        _ inputs: [String: Tensor], keepIntermediates: Bool = false, nodeSeconds: inout [Double]?
    ) throws -> Result {
        try checkInputs(inputs)
        return try execute(inputs, keepIntermediates: keepIntermediates, nodeSeconds: &nodeSeconds)
    }

    /// Runs inputs already checked (a stacked batch has a leading dimension other than the declared 1).
    func run(
        unchecked inputs: [String: Tensor], keepIntermediates: Bool, samples: Int, only: Set<String>? = nil
    ) throws -> Result {
        var unused: [Double]? = nil
        return try execute(
            inputs, keepIntermediates: keepIntermediates, nodeSeconds: &unused, samples: samples, only: only)
    }

    /// Runs one sample with some tensors replaced as they are produced: `replacing[name]` maps the
    /// computed tensor to the one later nodes see (a harness puts back the reference's values
    /// after a divergence to tell its consequences from new differences).
    public func run(
        _ inputs: [String: Tensor], keepIntermediates: Bool, replacing: [String: (Tensor) throws -> Tensor],
        only: Set<String>? = nil
    ) throws -> Result {
        try checkInputs(inputs)
        var unused: [Double]? = nil
        return try execute(
            inputs, keepIntermediates: keepIntermediates, nodeSeconds: &unused, replacing: replacing, only: only)
    }

    /// `only`, with `keepIntermediates`: keep just these tensors (the rest are freed after their last reader).
    func execute(
        _ inputs: [String: Tensor], keepIntermediates: Bool, nodeSeconds: inout [Double]?, samples: Int = 1,
        replacing: [String: (Tensor) throws -> Tensor] = [:], only: Set<String>? = nil
    ) throws -> Result {
        let g = model.graph
        var env: [String: Tensor] = g.initializerTable
        for (k, v) in folded { env[k] = v }
        for (k, v) in inputs { env[k] = v }
        var remaining = useCounts
        var kept: [String: Tensor] = keepIntermediates ? folded.filter { only?.contains($0.key) ?? true } : [:]
        // Pointwise runs fuse unless one of their intermediates is kept, replaced or timed.
        func fusable(_ run: [Int]) -> Bool {
            guard fusesPointwiseRuns, nodeSeconds == nil else { return false }
            return run.dropLast().allSatisfy { j in
                let name = g.nodes[j].outputs[0]
                return replacing[name] == nil && !(keepIntermediates && only?.contains(name) ?? true)
            }
        }
        func store(_ name: String, _ computed: Tensor) throws {
            let t = try replacing[name].map { try $0(computed) } ?? computed
            env[name] = t
            if keepIntermediates && only?.contains(name) ?? true { kept[name] = t }
        }
        var fusedAhead = Set<Int>()
        func release(_ i: Int) {
            guard !keepIntermediates || only != nil else { return }
            for name in releasable[i] {
                remaining[name, default: 1] -= 1
                if remaining[name] == 0 { env[name] = nil }
            }
        }
        for i in order where !foldedNodes.contains(i) && !fusedAhead.contains(i) {
            let node = g.nodes[i]
            if let run = producerRuns[i], fusable([i] + run), let producer = kernels[i] as? any PointwiseProducer {
                let ins = node.inputs.map { $0.isEmpty ? nil : env[$0] }
                let (out, fused) = try withContext("node \(node.label(index: i))") {
                    try producer.run(ins, samples: samples) { type, shape in
                        try self.stages(run, inputType: type, inputShape: shape, env)
                    }
                }
                release(i)
                if fused {
                    try store(g.nodes[run.last!].outputs[0], out)
                    for j in run { release(j) }
                    fusedAhead.formUnion(run)
                } else {
                    try store(node.outputs[0], out)
                }
                continue
            }
            if let run = pointwiseRuns[i], fusable(run), let computed = try runFused(run, env) {
                try store(g.nodes[run.last!].outputs[0], computed)
                for j in run { release(j) }
                fusedAhead.formUnion(run)
                continue
            }
            let ins = try node.inputs.map { name -> Tensor? in
                if name.isEmpty { return nil }
                guard let t = env[name] else {
                    throw QVError.internalError("tensor '\(name)' is not available for node \(node.label(index: i))")
                }
                return t
            }
            let t0 = nodeSeconds == nil ? 0 : Self.now()
            let outs = try withContext("node \(node.label(index: i))") { try kernels[i]!.run(ins, samples: samples) }
            if nodeSeconds != nil { nodeSeconds![i] += Self.now() - t0 }
            for (name, computed) in zip(node.outputs, outs) where !name.isEmpty {
                let t = try replacing[name].map { try $0(computed) } ?? computed
                env[name] = t
                if keepIntermediates && only?.contains(name) ?? true { kept[name] = t }
            }
            release(i)
        }
        var outputs: [String: Tensor] = [:]
        for o in g.outputs {
            guard let t = env[o.name] else { throw QVError.internalError("graph output '\(o.name)' was not computed") }
            outputs[o.name] = t
        }
        return Result(outputs: outputs, intermediates: kept)
    }
}
