import QVGraph

/// Data-movement ops: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Pad, Shape,
/// Gather, Constant. They never change values, so they work on every dtype.
struct ShapeKernel: Kernel {
    let node: Node
    let opset: Int64
    /// Aidge's exporter writes shapes, split sizes, axes and pads as FLOAT tensors; under Aidge
    /// semantics they are read as the integers they hold (a fraction is still an error).
    let floatIntegers: Bool

    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        opset = ctx.opset
        floatIntegers = ctx.semantics == .aidge
        if node.opType == "Pad" {
            let mode = node.string("mode", default: "constant")
            guard ["constant", "edge", "reflect", "wrap"].contains(mode) else {
                throw QVError.unsupported("Pad mode '\(mode)'")
            }
        }
    }

    func integers(_ t: Tensor) throws -> [Int64] {
        floatIntegers ? try integersAllowingFloat(t) : try intValues(t)
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] { try run(inputs, samples: 1) }

    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] {
        switch node.opType {
        case "Constant":
            if case .tensor(let t) = node.attribute("value") { return [t] }
            if case .float(let f) = node.attribute("value_float") { return [Tensor([f], shape: [])] }
            if case .floats(let f) = node.attribute("value_floats") { return [Tensor(f, shape: [f.count])] }
            if case .int(let i) = node.attribute("value_int") { return [Tensor(int64s: [i], shape: [])] }
            if case .ints(let i) = node.attribute("value_ints") { return [Tensor(int64s: i, shape: [i.count])] }
            throw QVError.unsupported("Constant without a tensor, float(s) or int(s) value")
        case "Shape":
            let x = try required(inputs, 0, "data")
            return [Tensor(int64s: x.shape.map { Int64($0) }, shape: [x.rank])]
        case "Dropout":
            return [try required(inputs, 0, "data")]
        default: break
        }
        let x = try required(inputs, 0, "data")
        switch node.opType {
        case "Flatten":
            let axis = try ShapeInference.axis(node.int("axis", default: 1), rank: x.rank + 1, "Flatten axis")
            return [x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])]
        case "Reshape":
            var target = try integers(try required(inputs, 1, "shape")).map { Int($0) }
            // Stacked samples: a leading 1 is one sample's axis 0 (the spec batches only then).
            if samples > 1, target.first == 1, x.rank > 0, x.shape[0] == samples { target[0] = samples }
            return [
                x.reshaped(
                    try ShapeInference.reshape(x.shape, target, allowZero: node.int("allowzero", default: 0) == 1))
            ]
        case "Squeeze", "Unsqueeze":
            let axesInput = try optional(inputs, 1).map { try integers($0).map { Int($0) } }
            let axes = node.ints("axes") ?? axesInput
            if node.opType == "Squeeze" {
                let ax = Set(try (axes ?? []).map { try ShapeInference.axis($0, rank: x.rank, "Squeeze axis") })
                if let bad = ax.first(where: { x.shape[$0] != 1 }) {
                    throw QVError.badInput("cannot squeeze axis \(bad) of \(x.shape)")
                }
                return [
                    x.reshaped(
                        x.shape.enumerated().filter { axes == nil ? $0.element != 1 : !ax.contains($0.offset) }.map(
                            \.element))
                ]
            }
            guard let axes else { throw QVError.badInput("Unsqueeze needs axes") }
            let r = x.rank + axes.count
            let ax = Set(try axes.map { try ShapeInference.axis($0, rank: r, "Unsqueeze axis") })
            var it = x.shape.makeIterator()
            return [x.reshaped((0..<r).map { ax.contains($0) ? 1 : it.next()! })]
        case "Transpose":
            let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.sorted() == Array(0..<x.rank) else {
                throw QVError.badInput("perm \(perm) does not fit rank \(x.rank)")
            }
            let outShape = perm.map { x.shape[$0] }
            var inStrides = Array(repeating: 1, count: x.rank)
            for i in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
            // Output elements in order; the input offset follows each output dim's input stride.
            let src = odometerOffsets(extents: outShape, steps: perm.map { inStrides[$0] })
            return [gather(x, src, shape: outShape)]
        case "Concat":
            let ts = inputs.compactMap { $0 }
            let axis = try ShapeInference.axis(node.int("axis", default: 0), rank: x.rank, "Concat axis")
            for t in ts
            where t.rank != x.rank || t.dtype != x.dtype
                || (0..<x.rank).contains(where: { $0 != axis && t.shape[$0] != x.shape[$0] })
            {
                throw QVError.badInput("Concat inputs \(ts.map(\.shape)) do not fit along axis \(axis)")
            }
            return [concat(ts, axis: axis)]
        case "Pad":
            var pads = try node.ints("pads") ?? integers(try required(inputs, 1, "pads")).map { Int($0) }
            // Opset 18: pads for the listed axes only.
            if let axesT = optional(inputs, 3) {
                let axes = try integers(axesT).map { try ShapeInference.axis(Int($0), rank: x.rank, "Pad axes") }
                guard pads.count == 2 * axes.count else {
                    throw QVError.badInput("Pad needs \(2 * axes.count) pads for axes \(axes), got \(pads.count)")
                }
                var all = Array(repeating: 0, count: 2 * x.rank)
                for (k, a) in axes.enumerated() { all[a] = pads[k]; all[a + x.rank] = pads[k + axes.count] }
                pads = all
            }
            guard pads.count == 2 * x.rank else {
                throw QVError.badInput("Pad needs \(2 * x.rank) pads, got \(pads.count)")
            }
            let mode = node.string("mode", default: "constant")
            // Where a position outside the input reads from: edge repeats the border, reflect
            // mirrors without repeating it, wrap is periodic (constant: nowhere, the fill value).
            func source(_ i: Int, _ n: Int) -> Int? {
                if i >= 0 && i < n { return i }
                switch mode {
                case "edge": return min(max(i, 0), n - 1)
                case "wrap": return ((i % n) + n) % n
                case "reflect":
                    guard n > 1 else { return 0 }
                    let period = 2 * (n - 1)
                    let r = ((i % period) + period) % period
                    return r < n ? r : period - r
                default: return nil
                }
            }
            if mode != "constant",
                let d = x.shape.indices.first(where: { x.shape[$0] == 0 && (pads[$0] > 0 || pads[$0 + x.rank] > 0) })
            {
                throw QVError.badInput("Pad mode '\(mode)' of an empty axis \(d)")
            }
            let outShape = (0..<x.rank).map { x.shape[$0] + pads[$0] + pads[$0 + x.rank] }
            let n = outShape.reduce(1, *)
            var src = [Int](repeating: -1, count: n)
            var inStrides = Array(repeating: 1, count: x.rank)
            for i in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
            for o in 0..<n {
                var rem = o, off = 0, inside = true
                for d in stride(from: x.rank - 1, through: 0, by: -1) {
                    let i = rem % outShape[d] - pads[d]
                    rem /= outShape[d]
                    guard let j = source(i, x.shape[d]) else { inside = false; break }
                    off += j * inStrides[d]
                }
                src[o] = inside ? off : -1
            }
            let fill = optional(inputs, 2)
            return [gather(x, src, shape: outShape, fill: fill)]
        case "Split":
            let axis = try ShapeInference.axis(node.int("axis", default: 0), rank: x.rank, "Split axis")
            let given = try node.ints("split") ?? optional(inputs, 1).map { try integers($0).map { Int($0) } }
            let sizes = try splitSizes(
                dim: x.shape[axis], outputs: node.outputs.count, split: given,
                numOutputs: node.attribute("num_outputs") == nil ? nil : node.int("num_outputs", default: 0))
            let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
            var start = 0
            return sizes.map { n in
                var src: [Int] = []
                src.reserveCapacity(outer * n * inner)
                for o in 0..<outer {
                    let base = (o * x.shape[axis] + start) * inner
                    src.append(contentsOf: base..<(base + n * inner))
                }
                start += n
                var shape = x.shape
                shape[axis] = n
                return gather(x, src, shape: shape)
            }
        case "Gather":
            let idxT = try required(inputs, 1, "indices")
            let axis = try ShapeInference.axis(node.int("axis", default: 0), rank: x.rank, "Gather axis")
            let idx = try intValues(idxT).map { Int($0) < 0 ? Int($0) + x.shape[axis] : Int($0) }
            if let bad = idx.first(where: { $0 < 0 || $0 >= x.shape[axis] }) {
                throw QVError.badInput("Gather index \(bad) out of range")
            }
            let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
            var src: [Int] = []
            src.reserveCapacity(outer * idx.count * inner)
            for o in 0..<outer {
                for i in idx { for k in 0..<inner { src.append((o * x.shape[axis] + i) * inner + k) } }
            }
            return [gather(x, src, shape: Array(x.shape[..<axis]) + idxT.shape + Array(x.shape[(axis + 1)...]))]
        default:
            throw QVError.internalError("ShapeKernel for \(node.opType)")
        }
    }
}

/// y[i] = x[src[i]], or the fill value (default 0) where src[i] < 0.
func gather(_ x: Tensor, _ src: [Int], shape: [Int], fill: Tensor? = nil) -> Tensor {
    func pick<T>(_ v: [T], _ zero: T) -> [T] { src.map { $0 >= 0 ? v[$0] : zero } }
    let storage: Storage
    switch x.storage {
    case .f32(let v): storage = .f32(pick(v, fill?.floats?.first ?? 0))
    case .f64(let v): storage = .f64(pick(v, 0))
    case .i32(let v): storage = .i32(pick(v, fill?.int32s?.first ?? 0))
    case .i64(let v): storage = .i64(pick(v, fill?.int64s?.first ?? 0))
    case .u64(let v): storage = .u64(pick(v, 0))
    case .strings(let v): storage = .strings(pick(v, []))
    case .bytes(let v): storage = .bytes(pick(v, 0))
    }
    return Tensor(dtype: x.dtype, shape: shape, storage: storage)
}

func concat(_ ts: [Tensor], axis: Int) -> Tensor {
    var shape = ts[0].shape
    shape[axis] = ts.map { $0.shape[axis] }.reduce(0, +)
    let outer = shape[..<axis].reduce(1, *)
    func join<T>(_ arrays: [[T]]) -> [T] {
        var out: [T] = []
        out.reserveCapacity(shape.reduce(1, *))
        for o in 0..<outer {
            for (t, a) in zip(ts, arrays) {
                let chunk = t.shape[axis...].reduce(1, *)
                out += a[(o * chunk)..<((o + 1) * chunk)]
            }
        }
        return out
    }
    let storage: Storage
    switch ts[0].storage {
    case .f32: storage = .f32(join(ts.map { $0.floats! }))
    case .i32: storage = .i32(join(ts.map { $0.int32s! }))
    case .i64: storage = .i64(join(ts.map { $0.int64s! }))
    case .f64: storage = .f64(join(ts.map { $0.doubles! }))
    default: storage = .bytes([])
    }
    return Tensor(dtype: ts[0].dtype, shape: shape, storage: storage)
}
