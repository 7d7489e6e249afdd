/// QuantizeLinear and DequantizeLinear: per tensor, per axis and blocked; int4 to int32.
/// q = saturate(round_half_even(x / scale) + zero_point); x = (q − zero_point) · scale.
///
/// - Kernels: `QVKernels/Quantize.swift` (QuantizeLinearKernel, DequantizeLinearKernel; the C
///   loops in `_QVChainGemm`). Aidge semantics (Aidge-form graphs): round half up, wrapping casts,
///   float zero points tolerated (`run --lenient`).
/// - Tests: the op suite (`quantize_*`, `dequantize_*`), `QuantizedKernelTests` (every 8-bit value and zero point),
///   `AidgeQuantizerTests`, `TieRuleTests`.

/// A per-axis scale along axis 0 ties samples stacked on axis 0 to channels.
private func scalePerSample(_ scaleInput: String) -> Batching {
    .when { n, q in
        guard let s = n.input(scaleInput).flatMap({ q.graph.initializer($0) }), s.count > 1 else { return true }
        return n.int("axis", default: 1) != 0
    }
}

let quantizeSpecs: [OpSpec] = [
    OpSpec(
        "QuantizeLinear", since: [10, 13, 19, 21, 23, 24, 25, 28], inputs: ["x", "y_scale", "y_zero_point"],
        batching: scalePerSample("y_scale"), exactness: .correctlyRounded, kernel: "QuantizeLinearKernel",
        tests: [
            "quantize_blocked_int8", "quantize_opset10_uint8", "quantize_per_axis_int8", "quantize_saturates_int16",
            "quantize_ties_half_even_int8", "quantize_ties_odd_zero_point_uint8",
        ]
    ) { c in
        // The output type: the zero point's, else output_dtype (opset 21), else uint8.
        var dt = c.input("y_zero_point")?.dtype
        if dt == nil, let od = c.int("output_dtype"), od != 0 { dt = DType(onnx: Int32(od)) }
        return [TensorFact(dtype: dt ?? .uint8, shape: c.x?.shape)]
    },
    OpSpec(
        "DequantizeLinear", since: [10, 13, 19, 21, 23, 24, 25, 28], inputs: ["x", "x_scale", "x_zero_point"],
        batching: scalePerSample("x_scale"), exactness: .correctlyRounded, kernel: "DequantizeLinearKernel",
        tests: ["dequantize_int32", "dequantize_int8", "dequantize_per_axis", "dequantize_uint8"]
    ) { c in
        // The output type: the scale's (float, float16, bfloat16), float when unknown.
        let s = c.input("x_scale")?.dtype
        return [TensorFact(dtype: (s?.isFloatingPoint ?? false) ? s : .float, shape: c.x?.shape)]
    },
]

extension Node {
    /// A QuantizeLinear's y_scale or a DequantizeLinear's x_scale (by the schema's names).
    public var quantizerScale: String? { input(opType == "QuantizeLinear" ? "y_scale" : "x_scale") }
    /// A QuantizeLinear's y_zero_point or a DequantizeLinear's x_zero_point, if given.
    public var quantizerZeroPoint: String? { input(opType == "QuantizeLinear" ? "y_zero_point" : "x_zero_point") }
}
