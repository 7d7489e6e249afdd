/// Pooling: MaxPool (with indices), AveragePool (count_include_pad, ceil_mode), LpPool,
/// GlobalAveragePool, GlobalMaxPool, and com.microsoft QLinearAveragePool and
/// QLinearGlobalAveragePool (NCHW or channels_last).
///
/// - Kernels: `QVKernels/Pool.swift` (MaxPoolKernel, AveragePoolKernel, GlobalPoolKernel: float
///   sums in onnxruntime's order; integer inputs in Aidge semantics), `QVKernels/QLinear.swift`
///   (QLinearAveragePoolKernel, QLinearGlobalAveragePoolKernel: exact integer sums, requantized as
///   onnxruntime does).
/// - Recipe: `QVRecipe/Rules/InterfaceRules.swift` places GlobalAveragePool/AveragePool on quantized tensors.
/// - Tests: the op suite (`averagepool_*`, `maxpool_*`, `globalaveragepool`, `globalmaxpool`,
///   `qlinearaveragepool_*`, `qlinearglobalaveragepool_*`), `GoldenTests` (resnet, mobilenet).

/// Output and (MaxPool) indices of a windowed pool.
private func windowed(
    domain: String = "", _ op: String, since: [Int], inputs: [String] = ["X"], batching: Batching = .perSample,
    exactness: Exactness, kernel: String?, tests: [String]
) -> OpSpec {
    OpSpec(
        domain, op, since: since, inputs: inputs, batching: batching, exactness: exactness, kernel: kernel, tests: tests
    ) { c in
        let s = try ShapeInference.poolShape(c.node, c.x?.shape)
        return [TensorFact(dtype: c.x?.dtype, shape: s), TensorFact(dtype: .int64, shape: s)]
    }
}

/// [N, C, 1, …] (or [N, 1, …, C] with channels_last).
private func global(
    domain: String = "", _ op: String, since: [Int], inputs: [String] = ["X"], exactness: Exactness,
    kernel: String, tests: [String]
) -> OpSpec {
    OpSpec(
        domain, op, since: since, inputs: inputs, batching: .perSample, exactness: exactness, kernel: kernel,
        tests: tests
    ) { c in
        guard let s = c.x?.shape else { return c.same }
        let channelsLast = c.int("channels_last") == 1
        return [
            TensorFact(
                dtype: c.x?.dtype,
                shape: s.enumerated().map { (i, d) in
                    channelsLast ? (i == 0 || i == s.count - 1 ? d : 1) : (i < 2 ? d : 1)
                })
        ]
    }
}

private let qlinearPoolInputs = ["X", "x_scale", "x_zero_point", "y_scale", "y_zero_point"]

let poolSpecs: [OpSpec] = [
    // Indices are flat over the whole input: a batch would number them across samples, so a
    // MaxPool whose indices are read runs one sample at a time.
    windowed(
        "MaxPool", since: [1, 8, 10, 11, 12, 22],
        batching: .when { n, q in n.outputs.count < 2 || n.outputs[1].isEmpty || !q.isRead(n.outputs[1]) },
        exactness: .correctlyRounded, kernel: "MaxPoolKernel", tests: ["maxpool_int8", "maxpool_pads_ceil_indices"]),
    windowed(
        "AveragePool", since: [1, 7, 10, 11, 19, 22], exactness: .onnxruntimeOrder, kernel: "AveragePoolKernel",
        tests: ["averagepool_count_include_pad", "averagepool_exclude_pad"]),
    windowed("LpPool", since: [1, 2, 11, 18, 22], batching: .never, exactness: .approximate, kernel: nil, tests: []),
    windowed(
        domain: "com.microsoft", "QLinearAveragePool", since: [1], inputs: qlinearPoolInputs, exactness: .exactInteger,
        kernel: "QLinearAveragePoolKernel",
        tests: ["qlinearaveragepool_int8", "qlinearaveragepool_uint8", "qlinearaveragepool_zero_y_scale"]),
    global(
        "GlobalAveragePool", since: [1, 22], exactness: .onnxruntimeOrder, kernel: "GlobalPoolKernel",
        tests: ["globalaveragepool"]),
    global(
        "GlobalMaxPool", since: [1, 22], exactness: .correctlyRounded, kernel: "GlobalPoolKernel",
        tests: ["globalmaxpool"]),
    global(
        domain: "com.microsoft", "QLinearGlobalAveragePool", since: [1], inputs: qlinearPoolInputs,
        exactness: .exactInteger,
        kernel: "QLinearGlobalAveragePoolKernel",
        tests: ["qlinearglobalaveragepool_int8", "qlinearglobalaveragepool_uint8"]),
]
