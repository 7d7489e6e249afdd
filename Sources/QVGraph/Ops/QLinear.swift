/// com.microsoft quantized elementwise ops: QLinearAdd, QLinearMul (broadcasting),
/// QLinearLeakyRelu, QLinearSigmoid (lookup tables), QLinearSoftmax, QLinearConcat. QLinearConv, QLinearMatMul,
/// QGemm and the quantized pools have their families' files (Conv, Gemm, Pool).
///
/// - Kernels: `QVKernels/QLinear.swift` (QLinearBinaryKernel: onnxruntime's float requantization
///   of integer inputs, vectorized in `_QVChainGemm`; QLinearLookupKernel: 256-entry tables built
///   as onnxruntime builds them; QLinearConcatKernel).
/// - Recipe: `QVRecipe/Rules/ElementwiseRules.swift` writes QLinearAdd for residual Adds (QOP).
/// - Tests: the op suite (`qlinearadd_*`, `qlinearmul_*`, `qlinearleakyrelu_*`, `qlinearsigmoid_*`,
///   `qlinearconcat_*`), `QuantizedKernelTests` (QLinearAdd on every 8-bit pair), `GoldenTests` (residual, resnet).

private func binary(_ op: String, tests: [String]) -> OpSpec {
    OpSpec(
        "com.microsoft", op, since: [1],
        inputs: ["A", "A_scale", "A_zero_point", "B", "B_scale", "B_zero_point", "C_scale", "C_zero_point"],
        batching: .perSample, exactness: .exactInteger, kernel: "QLinearBinaryKernel", tests: tests
    ) { c in
        let b = c.input("B")?.shape
        let s = (c.x?.shape != nil && b != nil) ? try ShapeInference.broadcast([c.x!.shape!, b!]) : nil
        return [TensorFact(dtype: c.input("C_zero_point")?.dtype ?? c.x?.dtype, shape: s)]
    }
}

private func lookup(_ op: String, exactness: Exactness, tests: [String]) -> OpSpec {
    OpSpec(
        "com.microsoft", op, since: [1], inputs: ["X", "X_scale", "X_zero_point", "Y_scale", "Y_zero_point"],
        batching: .perSample, exactness: exactness, kernel: "QLinearLookupKernel", tests: tests
    ) { c in
        [TensorFact(dtype: c.input("Y_zero_point")?.dtype ?? c.x?.dtype, shape: c.x?.shape)]
    }
}

let qlinearSpecs: [OpSpec] = [
    binary(
        "QLinearAdd",
        tests: [
            "qlinearadd_broadcast_int8", "qlinearadd_broadcast_uint8", "qlinearadd_zero_c_scale",
            "qlinearadd_every_pair_uint8", "qlinearadd_every_pair_int8", "qlinearadd_spans_uint8",
        ]),
    binary(
        "QLinearMul", tests: ["qlinearmul_broadcast_int8", "qlinearmul_broadcast_uint8", "qlinearmul_zero_c_scale"]),
    // x·alpha is one correctly rounded product per table entry: the table is exact.
    lookup("QLinearLeakyRelu", exactness: .exactInteger, tests: ["qlinearleakyrelu_int8", "qlinearleakyrelu_uint8"]),
    // The table comes from MLAS's logistic, which qverify reproduces bit for bit (exact_sigmoid_tanh).
    lookup("QLinearSigmoid", exactness: .exactInteger, tests: ["qlinearsigmoid_int8", "qlinearsigmoid_uint8"]),
    // The exp table is built in double from the row length and X's scale; X's zero point is unused.
    OpSpec(
        "com.microsoft", "QLinearSoftmax", since: [1],
        inputs: ["X", "X_scale", "x_zero_point", "y_scale", "y_zero_point"],
        batching: .when { n, q in q.keepsSamples(n.int("axis", default: -1), of: n.inputs[0]) },
        exactness: .exactInteger,
        kernel: "QLinearSoftmaxKernel", tests: ["qlinearsoftmax_uint8_int8"]
    ) { c in [TensorFact(dtype: c.input("y_zero_point")?.dtype ?? c.x?.dtype, shape: c.x?.shape)] },
    // Inputs are (tensor, scale, zero point) triples after the output's scale and zero point.
    OpSpec(
        "com.microsoft", "QLinearConcat", since: [1], inputs: ["Y_scale", "Y_zero_point", "inputs"],
        batching: concatBatching { n in stride(from: 2, to: n.inputs.count, by: 3).map { n.inputs[$0] } },
        exactness: .exactInteger, kernel: "QLinearConcatKernel",
        tests: ["qlinearconcat_int8", "qlinearconcat_uint8"]
    ) { c in
        let tensors = stride(from: 2, to: c.inputs.count, by: 3).map { c.inputs[$0] }
        return try concatFacts(c, tensors, dtype: c.input("Y_zero_point")?.dtype)
    },
]
