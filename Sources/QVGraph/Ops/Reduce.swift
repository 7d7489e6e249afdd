/// Reductions and normalizations: ReduceMean, LayerNormalization.
///
/// - Kernels: `QVKernels/Reduce.swift` (ReduceMeanKernel, LayerNormKernel): float sums in
///   onnxruntime's order (Eigen's packets, MLAS's LayerNorm kernel, its one-row SGEMM).
/// - Tests: the op suite (`exact_reduce_layernorm`), the ViT fixture (`Reference/vit`).

let reduceSpecs: [OpSpec] = [
    OpSpec(
        "ReduceMean", since: [1, 11, 13, 18], inputs: ["data", "axes"],
        batching: .when { n, q in
            // Axis 0 must not be reduced (axes from the attribute, or a constant input from opset 18).
            guard let axes = q.ints(n, "axes", orInput: 1), !axes.isEmpty else { return false }
            return axes.allSatisfy { q.keepsSamples($0, of: n.inputs[0]) }
        },
        exactness: .onnxruntimeOrder, kernel: "ReduceMeanKernel", tests: ["exact_reduce_layernorm"]
    ) { c in
        guard let shape = c.x?.shape else { return [TensorFact(dtype: c.x?.dtype, shape: nil)] }
        let keep = (c.int("keepdims") ?? 1) != 0
        let axes = c.ints("axes") ?? c.constInts(1) ?? []
        if axes.isEmpty && (c.int("noop_with_empty_axes") ?? 0) != 0 { return c.same }
        let r = shape.count
        let reduced = try Set(axes.map { try ShapeInference.axis($0, rank: r, "ReduceMean axis") })
        var out: [Int] = []
        for d in 0..<r {
            if axes.isEmpty || reduced.contains(d) {
                if keep { out.append(1) }
            } else {
                out.append(shape[d])
            }
        }
        return [TensorFact(dtype: c.x?.dtype, shape: out)]
    },
    OpSpec(
        "LayerNormalization", since: [17], inputs: ["X", "Scale", "B"],
        batching: .when { n, q in q.keepsSamples(n.int("axis", default: -1), of: n.inputs[0]) },
        exactness: .onnxruntimeOrder,
        kernel: "LayerNormKernel", tests: ["exact_reduce_layernorm"]
    ) { c in
        guard let shape = c.x?.shape else { return [c.same[0], TensorFact(dtype: .float, shape: nil)] }
        let a = try ShapeInference.axis(c.int("axis") ?? -1, rank: shape.count, "LayerNormalization axis")
        let stat = TensorFact(dtype: .float, shape: Array(shape[..<a]) + Array(repeating: 1, count: shape.count - a))
        return [c.same[0], stat, stat]
    },
]
