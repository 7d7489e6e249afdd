/// Convolutions: float Conv (and Aidge-form integer Conv, accumulating in int32), ConvInteger,
/// QLinearConv. Any rank ≥ 1 spatial, groups (depthwise), dilations, pads or auto_pad.
///
/// - Kernels: `QVKernels/Conv.swift` (ConvKernel: float sums in MLAS's order, direct and
///   depthwise paths in `_QVChainGemm/chain_gemm.c`; integer convs exact),
///   `QVKernels/QLinear.swift` (QLinearConvKernel: exact int32 sums, requantized as onnxruntime
///   does, per host with `DeploymentTarget`).
/// - Recipe: `QVRecipe/Rules/AffineRules.swift` writes QLinearConv (QOP) or Q/DQ around Conv (QDQ).
/// - Tests: the op suite (`conv_*`, `exact_conv_*`, `qlinearconv_*`), `QuantizedKernelTests` (QLinearConv
///   against a direct loop; its requantization on every 8-bit boundary), `BatchTests`, `GoldenTests`.

/// Output [N, M, spatial…] of a Conv's data and weight shapes.
private func convFacts(
    _ c: InferenceContext, dtype: DType?, weight: TensorFact?, bias: TensorFact?
) throws -> [TensorFact] {
    if let b = bias?.shape, let ws = weight?.shape, !ws.isEmpty, b != [ws[0]] {
        throw QVError.badInput("bias of shape \(b) does not match \(ws[0]) output channels")
    }
    return [TensorFact(dtype: dtype, shape: try ShapeInference.convShape(c.node, c.x?.shape, weight?.shape))]
}

let convSpecs: [OpSpec] = [
    OpSpec(
        "Conv", since: [1, 11, 22], inputs: ["X", "W", "B"], batching: .perSample, exactness: .onnxruntimeOrder,
        kernel: "ConvKernel",
        tests: [
            "conv_1d", "conv_depthwise_same_lower", "conv_padded_strided_dilated", "exact_conv_depthwise",
            "exact_conv_pointwise",
        ]
    ) { c in
        let w = c.input("W")
        let dtype = c.accumulatorType(c.x?.dtype, w?.dtype)
        return try convFacts(c, dtype: dtype, weight: w, bias: c.input("B"))
    },
    OpSpec(
        "ConvTranspose", since: [1, 11, 22], inputs: ["X", "W", "B"], batching: .perSample,
        exactness: .onnxruntimeOrder, kernel: "ConvTransposeKernel",
        tests: ["exact_conv_transpose"]
    ) { c in
        if let b = c.input("B")?.shape, let ws = c.input("W")?.shape, ws.count >= 2 {
            let g = c.int("group") ?? 1
            guard b == [ws[1] * g] else {
                throw QVError.badInput("bias of shape \(b) does not match \(ws[1] * g) output channels")
            }
        }
        return [
            TensorFact(
                dtype: c.x?.dtype, shape: try ShapeInference.convTransposeShape(c.node, c.x?.shape, c.input("W")?.shape)
            )
        ]
    },
    OpSpec(
        "ConvInteger", since: [10], inputs: ["x", "w", "x_zero_point", "w_zero_point"], batching: .perSample,
        exactness: .exactInteger,
        kernel: nil, tests: []
    ) { c in
        try convFacts(c, dtype: .int32, weight: c.input("w"), bias: nil)
    },
    OpSpec(
        "QLinearConv", since: [10],
        inputs: ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"],
        batching: .perSample, exactness: .exactInteger, kernel: "QLinearConvKernel",
        tests: [
            "qlinearconv_accumulator_beyond_2_24", "qlinearconv_depthwise", "qlinearconv_grouped_dilated",
            "qlinearconv_padded_strided",
            "qlinearconv_per_channel_uint8", "qlinearconv_per_tensor_int8", "qlinearconv_pointwise",
            "qlinearconv_same_upper",
        ]
    ) { c in
        try convFacts(c, dtype: c.input("y_zero_point")?.dtype ?? c.x?.dtype, weight: c.input("w"), bias: c.input("B"))
    },
]
