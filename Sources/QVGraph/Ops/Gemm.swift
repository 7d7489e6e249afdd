/// Matrix products: Gemm (transA/transB, alpha, beta, bias C), MatMul (batched, broadcast),
/// MatMulInteger, QLinearMatMul, com.microsoft QGemm (float or quantized output). Aidge-form
/// Gemm/MatMul on integers accumulate in int32.
///
/// - Kernels: `QVKernels/Gemm.swift` (GemmKernel, MatMulKernel: float sums in MLAS's order via
///   `OnnxruntimeGemm`; integer products exact), `QVKernels/QLinear.swift` (QLinearMatMulKernel,
///   QGemmKernel: exact int32 sums, requantized as onnxruntime does).
/// - Recipe: `QVRecipe/Rules/AffineRules.swift` writes QGemm/QLinearMatMul (QOP) or Q/DQ (QDQ).
/// - Tests: the op suite (`exact_gemm_*`, `gemm_*`, `exact_matmul_*`, `matmul_*`, `qlinearmatmul_*`,
///   `qgemm_*`), `GoldenTests`.

/// Rows stay per sample unless A is transposed.
private let rowsPerSample: Batching = .when { n, _ in n.int("transA", default: 0) == 0 }

/// [M, N] of op(A)·op(B) (transA, transB), the inner dimensions equal and the bias broadcasting.
private func gemmFacts(_ c: InferenceContext, dtype: DType?, b: TensorFact?, bias: TensorFact?) throws -> [TensorFact] {
    guard let a = c.x?.shape, let bs = b?.shape, a.count == 2, bs.count == 2 else {
        return [TensorFact(dtype: dtype, shape: nil)]
    }
    let m = c.int("transA") == 1 ? a[1] : a[0]
    let k1 = c.int("transA") == 1 ? a[0] : a[1]
    let k2 = c.int("transB") == 1 ? bs[1] : bs[0]
    let nn = c.int("transB") == 1 ? bs[0] : bs[1]
    guard k1 == k2 else { throw QVError.badInput("\(c.node.opType) inner dimensions differ: A \(a) vs B \(bs)") }
    if let cs = bias?.shape {
        let c2 = Array(repeating: 1, count: max(0, 2 - cs.count)) + cs
        guard c2.count == 2, c2[0] == 1 || c2[0] == m, c2[1] == 1 || c2[1] == nn else {
            throw QVError.badInput("bias C of shape \(cs) does not broadcast to [\(m), \(nn)]")
        }
    }
    return [TensorFact(dtype: dtype, shape: [m, nn])]
}

let gemmSpecs: [OpSpec] = [
    OpSpec(
        "Gemm", since: [1, 6, 7, 9, 11, 13], inputs: ["A", "B", "C"], batching: rowsPerSample,
        exactness: .onnxruntimeOrder,
        kernel: "GemmKernel",
        tests: [
            "exact_gemm_alpha_beta", "exact_gemm_one_row_transb", "exact_gemm_packed_b_k600", "gemm_transA_alpha_beta",
        ]
    ) { c in
        let b = c.input("B")
        return try gemmFacts(c, dtype: c.accumulatorType(c.x?.dtype, b?.dtype), b: b, bias: c.input("C"))
    },
    OpSpec(
        "com.microsoft", "QGemm", since: [1],
        inputs: ["A", "a_scale", "a_zero_point", "B", "b_scale", "b_zero_point", "C", "y_scale", "y_zero_point"],
        batching: rowsPerSample, exactness: .exactInteger, kernel: "QGemmKernel",
        tests: ["qgemm_float_output_alpha", "qgemm_int8_per_column_transB", "qgemm_zero_y_scale"]
    ) { c in
        // Without y_scale the output is float.
        try gemmFacts(c, dtype: c.input("y_zero_point")?.dtype ?? .float, b: c.input("B"), bias: c.input("C"))
    },
    OpSpec(
        "MatMul", since: [1, 9, 13], inputs: ["A", "B"], batching: .perSample, exactness: .onnxruntimeOrder,
        kernel: "MatMulKernel",
        tests: [
            "exact_matmul_one_column", "exact_matmul_one_row", "exact_matmul_packed_b_k300", "matmul_batched_broadcast",
        ]
    ) { c in
        let b = c.input("B")
        let dt = c.accumulatorType(c.x?.dtype, b?.dtype)
        guard let a = c.x?.shape, let bs = b?.shape else { return [TensorFact(dtype: dt, shape: nil)] }
        return [TensorFact(dtype: dt, shape: try ShapeInference.matmulShape(a, bs))]
    },
    OpSpec(
        "MatMulInteger", since: [10], inputs: ["A", "B", "a_zero_point", "b_zero_point"], batching: .never,
        exactness: .exactInteger,
        kernel: nil, tests: []
    ) { c in
        guard let a = c.x?.shape, let bs = c.input("B")?.shape else { return [TensorFact(dtype: .int32, shape: nil)] }
        return [TensorFact(dtype: .int32, shape: try ShapeInference.matmulShape(a, bs))]
    },
    OpSpec(
        "QLinearMatMul", since: [10, 21],
        inputs: ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"],
        batching: .perSample, exactness: .exactInteger, kernel: "QLinearMatMulKernel",
        tests: ["qlinearmatmul_batched", "qlinearmatmul_zero_y_scale"]
    ) { c in
        let dt = c.input("y_zero_point")?.dtype
        guard let a = c.x?.shape, let bs = c.input("b")?.shape else { return [TensorFact(dtype: dt, shape: nil)] }
        return [TensorFact(dtype: dt, shape: try ShapeInference.matmulShape(a, bs))]
    },
]

extension Node {
    /// The bias input of a Conv, QLinearConv (B), Gemm or QGemm (C), if given; nil for other ops
    /// (MatMul's B is its second operand, not a bias).
    public var biasInput: String? {
        switch (normalizedDomain, opType) {
        case ("", "Conv"), ("", "QLinearConv"): input("B")
        case ("", "Gemm"), ("com.microsoft", "QGemm"): input("C")
        default: nil
        }
    }
}
