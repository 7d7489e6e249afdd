import _QVChainGemm

/// onnxruntime's float transcendentals on x86-64 (FMA3 kernels, which every AVX2 and AVX-512 host
/// runs), computed by `_QVChainGemm/mlas_math.c` with one fused multiply-add per polynomial step
/// as MLAS computes it:
/// - Sigmoid and Tanh: MLAS's rational approximations (`MlasLogisticKernelFma3`,
///   `MlasTanhKernelFma3`, Eigen's coefficients; logistic clamped to [−18, 18] and at 0, tanh to
///   [−9, 9]). 0 of 2.3 million inputs differ from onnxruntime 1.32.
/// - Erf: `MlasErfKernelFma3` (clamped at 3.925 in 1.32); Gelu (ONNX, com.microsoft Gelu/FastGelu/
///   BiasGelu) as onnxruntime's loops compute it on top of erf or tanh, unfused.
/// - Softmax/LogSoftmax: `MlasComputeSoftmax` (a polynomial exp, sums in 8 lanes; 16 with
///   AVX-512F, read from the library, not measured on an AVX-512 host).
/// Measured bit for bit against onnxruntime 1.32 (op suite `exact_sigmoid_tanh`,
/// `exact_softmax_erf_gelu`; sweeps `unary`, `softmax`, `normalize`).
enum MlasTranscendental {
    static func logistic(_ x: [Float]) -> [Float] { apply(x, qv_mlas_logistic) }
    static func tanh(_ x: [Float]) -> [Float] { apply(x, qv_mlas_tanh) }
    static func erf(_ x: [Float]) -> [Float] { apply(x, qv_mlas_erf) }
    static func gelu(_ x: [Float], tanhForm: Bool) -> [Float] {
        apply(x) { qv_mlas_gelu($0, $1, $2, tanhForm ? 1 : 0) }
    }

    /// One value (a lookup table's entry).
    static func logistic(_ x: Float) -> Float { logistic([x])[0] }

    /// MlasComputeSoftmax on one row: y = (1/S)·exp(x − max), or (x − max) − logf(S) for
    /// LogSoftmax; the sum in `lanes` (8 or 16) vector lanes.
    static func softmaxRow(
        _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, log: Bool, lanes: Int
    ) {
        guard let xp = x.baseAddress, let yp = y.baseAddress else { return }
        qv_mlas_softmax_row(xp, yp, x.count, log ? 1 : 0, lanes == 16 ? 1 : 0)
    }

    private static func apply(
        _ x: [Float], _ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) -> [Float] {
        guard !x.isEmpty else { return [] }
        return [Float].uninitialized(x.count) { y, initialized in
            x.withUnsafeBufferPointer { f($0.baseAddress!, y.baseAddress!, x.count) }
            initialized = x.count
        }
    }
}
