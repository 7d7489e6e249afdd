import QVGraph
import QVQuant

/// The smallest pair of subgraphs around a first divergence that still diverges (Polygraphy's
/// `debug reduce`, for quantized pairs): both models cut at aligned points just before the
/// diverging one, fed the reference's real values there.
///
/// Each side's slice computes its diverging point from the cut points before it (and the
/// constants it needs). A cut on an Aidge-form side stays an integer input (the folded form: the
/// plan's step of that point quantizes the real value back to the same integers); a cut on an
/// ONNX side becomes a float input followed by a QuantizeLinear with that side's scale and zero
/// point, so both slices take the same real values, as the put-back pass feeds them. When the
/// slices no longer diverge, the cut moves back one point at a time.
public enum Reducer {
    /// One side of a reduction.
    public struct Side: Sendable {
        public var model: Model
        /// The slice's inputs, in the order the cut points are fed (by signature).
        public var inputs: [String]
        /// The real step of each input of an Aidge-form slice (nil for an ONNX slice).
        public var inputSteps: [Double]?
        /// Compute ops in the slice (Conv, Gemm, MatMul, QLinear*, Add, …).
        public var computeNodes: Int
    }

    /// The cut: for each aligned point feeding the slices, its signature and the tensor on each side.
    public struct Cut: Sendable {
        public var signature: String
        public var reference: Point
        public var candidate: Point
    }

    /// The slices of both models from `cut` to the diverging pair `target`.
    public static func slices(
        reference: GraphView, candidate: GraphView, target: (a: Point, b: Point), cut: [Cut]
    ) throws -> (Side, Side) {
        let a = try slice(reference, output: target.a, cut: cut.map(\.reference))
        let b = try slice(candidate, output: target.b, cut: cut.map(\.candidate))
        return (a, b)
    }

    /// The aligned points right before `target` on the reference side (the tensors its slice
    /// would stop at), paired with the candidate's points of the same signature.
    public static func cut(
        before target: (a: Point, b: Point), reference: GraphView, candidate: GraphView, depth: Int
    ) throws -> [Cut] {
        var stops = [target.a.tensor]
        var cut: [Point] = []
        for _ in 0..<depth {
            cut = try predecessors(of: stops, in: reference, excluding: Set([target.a.tensor]))
            stops = cut.map(\.tensor)
        }
        let bySignature = Dictionary(candidate.points.map { ($0.signature, $0) }, uniquingKeysWith: { _, last in last })
        return try cut.map { p in
            guard let b = bySignature[p.signature] else {
                throw QVError.unsupported(
                    "the point \(p.signature) before the divergence has no counterpart in the candidate; cannot cut there"
                )
            }
            return Cut(signature: p.signature.description, reference: p, candidate: b)
        }
    }

    /// The points of `view` the slices computing `tensors` stop at: the nearest point tensors
    /// upstream (or the graph inputs), in signature order.
    static func predecessors(of tensors: [String], in view: GraphView, excluding: Set<String>) throws -> [Point] {
        let g = view.model.graph
        let index = try GraphIndex(g)
        let pointByTensor = Dictionary(view.points.map { ($0.tensor, $0) }, uniquingKeysWith: { _, last in last })
        var found: [String: Point] = [:]
        var seen = Set<String>(), stack = tensors
        var reachedGraphInput = false
        while let t = stack.popLast() {
            guard seen.insert(t).inserted, g.initializer(t) == nil else { continue }
            if !tensors.contains(t), !excluding.contains(t), let p = pointByTensor[t] {
                found[t] = p
                continue
            }
            guard let i = index.producer[t] else {
                if g.runtimeInputs.contains(where: { $0.name == t }) { reachedGraphInput = true }
                continue
            }
            stack += g.nodes[i].inputs.filter { !$0.isEmpty }
        }
        if found.isEmpty && reachedGraphInput {
            throw QVError.badInput(
                "the divergence is at the model's first point: the whole model up to it is already the smallest repro")
        }
        return found.values.sorted {
            ($0.signature.kind, $0.signature.index, $0.signature.chain.count) < (
                $1.signature.kind, $1.signature.index, $1.signature.chain.count
            )
        }
    }

    /// The subgraph of `view` computing `output` from the `cut` tensors and constants.
    static func slice(_ view: GraphView, output: Point, cut: [Point]) throws -> Side {
        let source = view.model
        let g = source.graph
        let index = try GraphIndex(g)
        let facts = try ShapeInference(g).facts
        let cutTensors = Set(cut.map(\.tensor))
        var keep = Set<Int>(), usedInit = Set<String>(), seen = Set<String>()
        var stack = [output.tensor]
        while let t = stack.popLast() {
            guard seen.insert(t).inserted else { continue }
            if cutTensors.contains(t) { continue }
            if g.initializer(t) != nil { usedInit.insert(t); continue }
            guard let i = index.producer[t] else {
                throw QVError.unsupported(
                    "'\(t)' is a graph input outside the cut: the slice would need the whole model")
            }
            keep.insert(i)
            stack += g.nodes[i].inputs.filter { !$0.isEmpty }
        }
        var nodes = index.topologicalOrder.filter(keep.contains).map { g.nodes[$0] }
        var inputs: [ValueInfo] = [], initializers = g.initializers.filter { usedInit.contains($0.name) }
        var names: [String] = []
        let aidge = view.kind == .aidgeForm
        for p in cut {
            let dtype = facts[p.tensor]?.dtype ?? p.quant?.dtype ?? .float
            let shape = facts[p.tensor]?.shape.map { $0.map { Dim.value($0) } }
            if aidge || p.quant == nil || !dtype.isInteger {
                inputs.append(ValueInfo(name: p.tensor, dtype: aidge && dtype.isInteger ? .float : dtype, shape: shape))
                names.append(p.tensor)
            } else {
                // An ONNX side takes the real value and quantizes it as that side does.
                let q = p.quant!
                let real = "\(p.tensor)__real", scale = "\(p.tensor)__scale", zero = "\(p.tensor)__zero_point"
                inputs.append(ValueInfo(name: real, dtype: .float, shape: shape))
                initializers.append((scale, Tensor([Float(q.step)], shape: [])))
                initializers.append((zero, Tensor([Int32(q.zeroPoint)], shape: [], dtype: dtype)))
                nodes.insert(
                    Node(
                        name: "\(p.tensor)__quantize", opType: "QuantizeLinear", inputs: [real, scale, zero],
                        outputs: [p.tensor]), at: 0)
                names.append(real)
            }
        }
        let out = ValueInfo(
            name: output.tensor, dtype: facts[output.tensor]?.dtype ?? output.quant?.dtype ?? .float,
            shape: facts[output.tensor]?.shape.map { $0.map { Dim.value($0) } })
        var m = source
        m.graph = Graph(
            name: "\(g.name)_reduced", nodes: nodes, inputs: inputs, outputs: [out], initializers: initializers)
        let from = cut.map { $0.signature.description }.joined(separator: ", ")
        m.metadata =
            source.metadata.filter { !$0.key.hasPrefix("qverify.") } + [
                KeyValue("qverify.reduced_from", "\(output.signature) computed from \(from)")
            ]
        let compute = nodes.filter { GraphView.computeKinds[$0.opType] != nil }.count
        return Side(
            model: m, inputs: names, inputSteps: aidge ? cut.map { $0.quant?.step ?? 1 } : nil, computeNodes: compute)
    }
}
