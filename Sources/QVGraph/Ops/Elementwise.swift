/// Elementwise ops: unary, binary with broadcasting, comparisons, Cast, Clip, Softmax,
/// BatchNormalization.
///
/// - Kernels: `QVKernels/Elementwise.swift` (UnaryKernel, BinaryKernel, ClipKernel, CastKernel,
///   BitShiftKernel, SoftmaxKernel, BatchNormKernel). Aidge semantics: Round rounds half up.
/// - Tests: the op suite (`Tests/Fixtures/ops/<fixture>`, `OpSuiteTests`), `IntegerEdgeTests`.

/// Output like the input, axis 0 free.
private func unary(
    _ op: String, since: [Int], input: String = "X", exactness: Exactness, kernel: String? = "UnaryKernel",
    tests: [String]
) -> OpSpec {
    OpSpec(op, since: since, inputs: [input], batching: .perSample, exactness: exactness, kernel: kernel, tests: tests)
    { $0.same }
}

/// Numpy broadcasting of all inputs; dtype of the first.
private func broadcasting(
    _ op: String, since: [Int], inputs: [String] = ["A", "B"], exactness: Exactness, kernel: String? = "BinaryKernel",
    batching: Batching = .perSample, tests: [String]
) -> OpSpec {
    OpSpec(op, since: since, inputs: inputs, batching: batching, exactness: exactness, kernel: kernel, tests: tests) {
        c in
        let shapes = c.inputs.map { $0?.shape }
        let shape = shapes.contains { $0 == nil } ? nil : try ShapeInference.broadcast(shapes.map { $0! })
        return [TensorFact(dtype: c.x?.dtype, shape: shape)]
    }
}

private func comparison(_ op: String, since: [Int]) -> OpSpec {
    OpSpec(
        op, since: since, inputs: ["A", "B"], batching: .never, exactness: .correctlyRounded, kernel: nil, tests: []
    ) { c in
        let s =
            (c.inputs.count == 2 && c.inputs[0]?.shape != nil && c.inputs[1]?.shape != nil)
            ? try ShapeInference.broadcast([c.inputs[0]!.shape!, c.inputs[1]!.shape!]) : nil
        return [TensorFact(dtype: .bool, shape: s)]
    }
}

let elementwiseSpecs: [OpSpec] = [
    unary("Relu", since: [1, 6, 13, 14], exactness: .correctlyRounded, tests: ["activations"]),
    unary("LeakyRelu", since: [1, 6, 16], exactness: .correctlyRounded, tests: ["activations"]),
    unary("Sigmoid", since: [1, 6, 13], exactness: .onnxruntimeOrder, tests: ["activations", "exact_sigmoid_tanh"]),
    unary(
        "Tanh", since: [1, 6, 13], input: "input", exactness: .onnxruntimeOrder,
        tests: ["activations", "exact_sigmoid_tanh"]),
    unary("Round", since: [11, 22], exactness: .correctlyRounded, tests: ["round_half_even"]),
    unary("Neg", since: [1, 6, 13], exactness: .correctlyRounded, tests: ["unary_exact_ops"]),
    unary("Abs", since: [1, 6, 13], exactness: .correctlyRounded, tests: ["unary_exact_ops"]),
    unary("Exp", since: [1, 6, 13], input: "input", exactness: .approximate, tests: ["unary_exp"]),
    unary("Sqrt", since: [1, 6, 13], exactness: .correctlyRounded, tests: ["unary_exact_ops"]),
    unary("Floor", since: [1, 6, 13], exactness: .correctlyRounded, tests: ["unary_exact_ops"]),
    unary("Ceil", since: [1, 6, 13], exactness: .correctlyRounded, tests: ["unary_exact_ops"]),
    unary(
        "Identity", since: [1, 13, 14, 16, 19, 21, 23, 24, 25], input: "input", exactness: .exactInteger,
        tests: ["unary_exact_ops"]),
    unary("Sign", since: [9, 13], input: "input", exactness: .exactInteger, tests: ["unary_exact_ops"]),
    unary("HardSigmoid", since: [1, 6, 22], exactness: .correctlyRounded, tests: ["exact_hard_activations"]),
    unary("HardSwish", since: [14, 22], exactness: .correctlyRounded, tests: ["exact_hard_activations"]),
    unary("Erf", since: [9, 13], input: "input", exactness: .onnxruntimeOrder, tests: ["exact_softmax_erf_gelu"]),
    OpSpec(
        "LogSoftmax", since: [1, 11, 13], inputs: ["input"],
        batching: .when { n, _ in n.int("axis", default: -1) != 0 }, exactness: .onnxruntimeOrder,
        kernel: "SoftmaxKernel", tests: ["exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "Gelu", since: [20], inputs: ["X"], batching: .perSample, exactness: .onnxruntimeOrder, kernel: "GeluKernel",
        tests: ["exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "com.microsoft", "Gelu", since: [1], inputs: ["X"], batching: .perSample, exactness: .onnxruntimeOrder,
        kernel: "GeluKernel", tests: ["exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "com.microsoft", "FastGelu", since: [1], inputs: ["X", "bias"], batching: .perSample,
        exactness: .onnxruntimeOrder, kernel: "GeluKernel", tests: ["exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "com.microsoft", "BiasGelu", since: [1], inputs: ["A", "B"], batching: .perSample,
        exactness: .onnxruntimeOrder, kernel: "GeluKernel", tests: ["exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "Dropout", since: [1, 6, 7, 10, 12, 13, 22], inputs: ["data", "ratio", "training_mode"], batching: .never,
        exactness: .exactInteger,
        kernel: "ShapeKernel", tests: ["dropout_inference"]
    ) { $0.same },
    OpSpec(
        "Softmax", since: [1, 11, 13], inputs: ["input"],
        batching: .when { n, q in q.keepsSamples(n.int("axis", default: -1), of: n.inputs[0]) },
        exactness: .onnxruntimeOrder,
        kernel: "SoftmaxKernel", tests: ["activations", "exact_softmax_erf_gelu"]
    ) { $0.same },
    OpSpec(
        "BatchNormalization", since: [1, 6, 7, 9, 14, 15], inputs: ["X", "scale", "B", "input_mean", "input_var"],
        batching: .perSample,
        exactness: .approximate, kernel: "BatchNormKernel", tests: ["batchnorm"]
    ) { $0.same },
    OpSpec(
        "Clip", since: [1, 6, 11, 12, 13], inputs: ["input", "min", "max"], batching: .perSample,
        exactness: .correctlyRounded,
        kernel: "ClipKernel", tests: ["clip_int8"]
    ) { $0.same },
    OpSpec(
        "Cast", since: [1, 6, 9, 13, 19, 21, 23, 24, 25, 28], inputs: ["input"], batching: .perSample,
        exactness: .correctlyRounded,
        kernel: "CastKernel", tests: ["cast_float_to_int32_truncates", "cast_int32_to_int8_wraps"]
    ) { c in
        guard let to = c.int("to"), let dt = DType(onnx: Int32(to)) else {
            throw QVError.badInput("Cast needs a valid 'to'")
        }
        return [TensorFact(dtype: dt, shape: c.x?.shape)]
    },
    broadcasting("Add", since: [1, 6, 7, 13, 14], exactness: .correctlyRounded, tests: ["add_broadcast"]),
    broadcasting("Sub", since: [1, 6, 7, 13, 14], exactness: .correctlyRounded, tests: ["sub_mul_div_int32"]),
    broadcasting("Mul", since: [1, 6, 7, 13, 14], exactness: .correctlyRounded, tests: ["sub_mul_div_int32"]),
    broadcasting("Div", since: [1, 6, 7, 13, 14], exactness: .correctlyRounded, tests: ["sub_mul_div_int32"]),
    broadcasting(
        // onnxruntime's Pow takes its x·x and √x shortcuts on a one-element exponent: a constant
        // exponent keeps its size when samples are stacked.
        "Pow", since: [1, 7, 12, 13, 15], inputs: ["X", "Y"], exactness: .approximate,
        batching: .when { n, q in n.inputs.count > 1 && q.constant(n.inputs[1]) != nil },
        tests: ["pow_int32_overflow"]),
    broadcasting(
        "Max", since: [1, 6, 8, 12, 13], inputs: ["data_0"], exactness: .correctlyRounded, tests: ["max_min_broadcast"]),
    broadcasting(
        "Min", since: [1, 6, 8, 12, 13], inputs: ["data_0"], exactness: .correctlyRounded, tests: ["max_min_broadcast"]),
    broadcasting(
        "BitShift", since: [11, 28], inputs: ["X", "Y"], exactness: .exactInteger, kernel: "BitShiftKernel",
        tests: ["bitshift_uint8"]),
    comparison("Equal", since: [1, 7, 11, 13, 19]),
    comparison("Less", since: [1, 7, 9, 13]),
    comparison("Greater", since: [1, 7, 9, 13]),
]
