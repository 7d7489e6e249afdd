/// Ops that move values without arithmetic: Flatten, Reshape, Transpose, Squeeze, Unsqueeze,
/// Concat, Split, Pad (constant, edge, reflect, wrap), Shape, Gather, Constant, Resize (nearest).
///
/// - Kernels: `QVKernels/Shape.swift` (ShapeKernel; Dropout in inference mode is an identity there).
/// - Tests: the op suite (`shape_ops`, `constant_gather`), `ShapeInferenceTests`.

/// Concat along an axis other than 0, of runtime tensors only (a constant input has no sample
/// axis); `data` picks the tensors being joined from the node's inputs.
func concatBatching(data: @escaping @Sendable (Node) -> [String]) -> Batching {
    .when { n, q in
        let joined = data(n)
        guard let first = joined.first else { return false }
        return q.keepsSamples(n.int("axis", default: 0), of: first) && !joined.contains { q.constant($0) != nil }
    }
}

/// Reshape keeps the sample axis when a constant target starts with 1 (or 0, "copy", without
/// allowzero) and the input's axis 0 is one sample: stacked samples then reshape to [samples, …]
/// (the kernel puts the sample count there) and -1 resolves per sample as before.
let reshapeBatching: Batching = .when { n, q in
    guard n.inputs.count > 1, let target = q.constantInts(n.inputs[1]), let first = target.first,
        q.shape(n.inputs[0])?.first == 1
    else { return false }
    return first == 1 || (first == 0 && n.int("allowzero", default: 0) == 0)
}

/// Pads known and none on axis 0 (the `pads` attribute or constant input, opset 18's `axes`).
let padBatching: Batching = .when { n, q in
    guard let pads = q.ints(n, "pads", orInput: 1) else { return false }
    if n.inputs.count > 3, !n.inputs[3].isEmpty {
        guard let axes = q.constantInts(n.inputs[3]), pads.count == 2 * axes.count else { return false }
        return zip(axes.indices, axes).allSatisfy { k, a in
            q.keepsSamples(a, of: n.inputs[0]) || (pads[k] == 0 && pads[k + axes.count] == 0)
        }
    }
    return pads.count >= 2 && pads.count % 2 == 0 && pads[0] == 0 && pads[pads.count / 2] == 0
}

/// Resize scales axis 0 by 1: constant scales with scales[0] = 1, or constant sizes keeping the
/// sample's extent (the kernel scales sizes[0] by the sample count).
let resizeBatching: Batching = .when { n, q in
    let opset10 = n.inputs.count == 2
    if !opset10, n.inputs.count > 3, !n.inputs[3].isEmpty {
        guard let sizes = q.constantInts(n.inputs[3]), let d0 = q.shape(n.inputs[0])?.first else { return false }
        return sizes.first == d0
    }
    let k = opset10 ? 1 : 2
    guard k < n.inputs.count, let s = q.constant(n.inputs[k])?.floats else { return false }
    return s.first == 1
}

/// Output of a Concat (or QLinearConcat) of `tensors` along its axis.
func concatFacts(_ c: InferenceContext, _ tensors: [TensorFact?], dtype: DType?) throws -> [TensorFact] {
    guard let shapes = tensors.map({ $0?.shape }) as? [[Int]], let first = shapes.first else {
        return [TensorFact(dtype: dtype, shape: nil)]
    }
    let axis = try ShapeInference.axis(c.int("axis") ?? 0, rank: first.count, "Concat axis")
    guard shapes.allSatisfy({ $0.count == first.count }) else {
        throw QVError.badInput("Concat inputs of different ranks: \(shapes)")
    }
    var out = first
    out[axis] = shapes.map { $0[axis] }.reduce(0, +)
    return [TensorFact(dtype: dtype, shape: out)]
}

private func shapeOp(
    _ op: String, since: [Int], inputs: [String], batching: Batching = .never, tests: [String],
    infer: @escaping @Sendable (inout InferenceContext) throws -> [TensorFact]
) -> OpSpec {
    OpSpec(
        op, since: since, inputs: inputs, batching: batching, exactness: .exactInteger, kernel: "ShapeKernel",
        tests: tests, infer: infer)
}

/// Sizes of Split's outputs along `axis` of extent `dim`: the `split` input (opset 13+) or
/// attribute, else equal parts — `num_outputs` of them rounded up with a smaller last one (opset
/// 18), or one per output.
public func splitSizes(dim: Int, outputs: Int, split: [Int]?, numOutputs: Int?) throws -> [Int] {
    if let split {
        guard split.count == outputs, split.allSatisfy({ $0 >= 0 }), split.reduce(0, +) == dim else {
            throw QVError.badInput("Split sizes \(split) do not cut \(dim) into \(outputs) outputs")
        }
        return split
    }
    let n = numOutputs ?? outputs
    guard n >= 1, n == outputs else { throw QVError.badInput("Split num_outputs \(n) for \(outputs) outputs") }
    if numOutputs == nil {
        guard dim % n == 0 else { throw QVError.badInput("Split of \(dim) into \(n) equal outputs") }
        return Array(repeating: dim / n, count: n)
    }
    let part = (dim + n - 1) / n
    return (0..<n).map { max(0, min(part, dim - $0 * part)) }
}

/// Resize's output extent from an input extent and a float32 scale: floor(in · scale), as
/// onnxruntime computes it.
public func resizedExtent(_ n: Int, scale: Float) -> Int { Int((Float(n) * scale).rounded(.down)) }

let shapeSpecs: [OpSpec] = [
    // Nearest only (QVKernels/Resize.swift); the output shape needs constant scales or sizes.
    OpSpec(
        "Resize", since: [10, 11, 13, 18, 19], inputs: ["X", "roi", "scales", "sizes"], batching: resizeBatching,
        exactness: .exactInteger, kernel: "ResizeKernel",
        tests: ["exact_resize_nearest", "exact_resize_nearest_opset10", "resize_nearest_int8"]
    ) { c in
        guard let s = c.x?.shape else { return [TensorFact(dtype: c.x?.dtype, shape: nil)] }
        let opset10 = c.node.inputs.count == 2
        if !opset10, let sizes = c.constInts(3), sizes.count == s.count {
            return [TensorFact(dtype: c.x?.dtype, shape: sizes)]
        }
        let k = opset10 ? 1 : 2
        guard k < c.node.inputs.count, let t = c.graph.initializer(c.node.inputs[k]), let f = t.floats,
            f.count == s.count
        else { return [TensorFact(dtype: c.x?.dtype, shape: nil)] }
        return [TensorFact(dtype: c.x?.dtype, shape: zip(s, f).map { resizedExtent($0.0, scale: $0.1) })]
    },
    shapeOp(
        "Split", since: [1, 2, 11, 13, 18], inputs: ["input", "split"],
        batching: .when { n, q in q.keepsSamples(n.int("axis", default: 0), of: n.inputs[0]) },
        tests: ["exact_split_ops", "split_ops_opset11"]
    ) { c in
        guard let s = c.x?.shape else { return c.node.outputs.map { _ in TensorFact(dtype: c.x?.dtype, shape: nil) } }
        let axis = try ShapeInference.axis(c.int("axis") ?? 0, rank: s.count, "Split axis")
        let sizes = try splitSizes(
            dim: s[axis], outputs: c.node.outputs.count, split: c.ints("split") ?? c.shapeInts(1),
            numOutputs: c.int("num_outputs"))
        return sizes.map { n in
            var o = s
            o[axis] = n
            return TensorFact(dtype: c.x?.dtype, shape: o)
        }
    },
    // Axis 0 stays the sample axis when Flatten keeps it.
    shapeOp(
        "Flatten", since: [1, 9, 11, 13, 21, 23, 24, 25], inputs: ["input"],
        batching: .when { n, q in
            let a = n.int("axis", default: 1)
            return a >= 1 || (q.shape(n.inputs[0]).map { a + $0.count >= 1 } ?? false)
        },
        tests: ["shape_ops"]
    ) { c in
        guard let s = c.x?.shape else { return c.same }
        let axis = try ShapeInference.axis(c.int("axis") ?? 1, rank: s.count + 1, "Flatten axis")
        return [TensorFact(dtype: c.x?.dtype, shape: [s[..<axis].reduce(1, *), s[axis...].reduce(1, *)])]
    },
    shapeOp(
        "Reshape", since: [1, 5, 13, 14, 19, 21, 23, 24, 25], inputs: ["data", "shape"], batching: reshapeBatching,
        tests: ["shape_ops"]
    ) { c in
        guard let target = c.shapeInts(1), let s = c.x?.shape else {
            return [TensorFact(dtype: c.x?.dtype, shape: nil)]
        }
        return [
            TensorFact(
                dtype: c.x?.dtype, shape: try ShapeInference.reshape(s, target, allowZero: c.int("allowzero") == 1))
        ]
    },
    shapeOp(
        "Transpose", since: [1, 13, 21, 23, 24, 25], inputs: ["data"],
        batching: .when { n, _ in n.ints("perm")?.first == 0 }, tests: ["shape_ops"]
    ) { c in
        guard let s = c.x?.shape else { return c.same }
        let perm = c.ints("perm") ?? Array((0..<s.count).reversed())
        guard perm.sorted() == Array(0..<s.count) else {
            throw QVError.badInput("Transpose perm \(perm) does not fit rank \(s.count)")
        }
        return [TensorFact(dtype: c.x?.dtype, shape: perm.map { s[$0] })]
    },
    shapeOp(
        "Squeeze", since: [1, 11, 13, 21, 23, 24, 25], inputs: ["data", "axes"],
        batching: .when { n, q in
            // Without axes every extent-1 axis goes, the sample axis with them.
            guard let axes = q.ints(n, "axes", orInput: 1) else { return false }
            return axes.allSatisfy { q.keepsSamples($0, of: n.inputs[0]) }
        }, tests: ["shape_ops"]
    ) { c in
        guard let s = c.x?.shape else { return c.same }
        let axes = try (c.ints("axes") ?? c.shapeInts(1))?.map {
            try ShapeInference.axis($0, rank: s.count, "Squeeze axis")
        }
        return [
            TensorFact(
                dtype: c.x?.dtype,
                shape: s.enumerated().filter { (i, d) in axes.map { !$0.contains(i) } ?? (d != 1) }.map(\.1))
        ]
    },
    shapeOp(
        "Unsqueeze", since: [1, 11, 13, 21, 23, 24, 25], inputs: ["data", "axes"],
        batching: .when { n, q in
            // Axes index the output, of rank r + |axes|: none may be 0.
            guard let axes = q.ints(n, "axes", orInput: 1), let r = q.shape(n.inputs[0])?.count else { return false }
            return axes.allSatisfy { $0 != 0 && $0 != -(r + axes.count) }
        }, tests: ["shape_ops"]
    ) { c in
        guard let s = c.x?.shape, let axes0 = c.ints("axes") ?? c.shapeInts(1) else {
            return [TensorFact(dtype: c.x?.dtype, shape: nil)]
        }
        let r = s.count + axes0.count
        let axes = Set(try axes0.map { try ShapeInference.axis($0, rank: r, "Unsqueeze axis") })
        var out: [Int] = []
        var it = s.makeIterator()
        for i in 0..<r { out.append(axes.contains(i) ? 1 : it.next() ?? 1) }
        return [TensorFact(dtype: c.x?.dtype, shape: out)]
    },
    shapeOp(
        "Concat", since: [1, 4, 11, 13], inputs: ["inputs"], batching: concatBatching { $0.inputs },
        tests: ["shape_ops"]
    ) { c in
        try concatFacts(c, c.inputs, dtype: c.x?.dtype)
    },
    shapeOp(
        "Pad", since: [1, 2, 11, 13, 18, 19, 21, 23, 24, 25], inputs: ["data", "pads", "constant_value", "axes"],
        batching: padBatching, tests: ["shape_ops", "exact_pad_modes"]
    ) { c in
        guard let s = c.x?.shape, let pads = c.ints("pads") ?? c.shapeInts(1), pads.count == 2 * s.count else {
            return [TensorFact(dtype: c.x?.dtype, shape: nil)]
        }
        return [TensorFact(dtype: c.x?.dtype, shape: s.indices.map { s[$0] + pads[$0] + pads[$0 + s.count] })]
    },
    shapeOp("Shape", since: [1, 13, 15, 19, 21, 23, 24, 25], inputs: ["data"], tests: ["shape_ops"]) { c in
        [TensorFact(dtype: .int64, shape: c.x?.shape.map { [$0.count] })]
    },
    shapeOp("Gather", since: [1, 11, 13], inputs: ["data", "indices"], tests: ["shape_ops"]) { c in
        guard let s = c.x?.shape, let ix = c.input("indices")?.shape else {
            return [TensorFact(dtype: c.x?.dtype, shape: nil)]
        }
        let axis = try ShapeInference.axis(c.int("axis") ?? 0, rank: s.count, "Gather axis")
        return [TensorFact(dtype: c.x?.dtype, shape: Array(s[..<axis]) + ix + Array(s[(axis + 1)...]))]
    },
    shapeOp("Constant", since: [1, 9, 11, 12, 13, 19, 21, 23, 24, 25], inputs: [], tests: ["constant_gather"]) { c in
        let n = c.node
        if case .tensor(let t) = n.attribute("value") { return [TensorFact(dtype: t.dtype, shape: t.shape)] }
        if case .float = n.attribute("value_float") { return [TensorFact(dtype: .float, shape: [])] }
        if case .int = n.attribute("value_int") { return [TensorFact(dtype: .int64, shape: [])] }
        if case .ints(let v) = n.attribute("value_ints") { return [TensorFact(dtype: .int64, shape: [v.count])] }
        if case .floats(let v) = n.attribute("value_floats") { return [TensorFact(dtype: .float, shape: [v.count])] }
        return [TensorFact(dtype: nil, shape: nil)]
    },
]
