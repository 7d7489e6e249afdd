import QVGraph

/// ONNX ConvTranspose on float32, any number of spatial dimensions, as onnxruntime's CPU provider
/// computes it (conv_transpose.cc, one thread):
/// 1. per sample and group, one SGEMM: col[(M/g)·∏k × ∏in] = Wᵍᵀ · Xᵍ, W read as
///    [C/g × (M/g)·∏k] (MLAS's order: ``OnnxruntimeGemm/sgemm``, reduction over the group's C/g
///    input channels). A constant W with more than one row and column per group is transposed
///    once when the session starts (onnxruntime's PrePack) and multiplied as is; any other W is
///    transposed by the GEMM, whose reduction blocks then stay at most 128 deep;
/// 2. col2im: the output zeroed, then each row of col (output channel, kernel position, in that
///    order) added to the output pixels it reaches. One kernel position reaches each output pixel
///    at most once, so every output is 0 + its contributions in kernel-position order;
/// 3. the bias added last, one rounding per element.
struct ConvTransposeKernel: Kernel {
    let node: Node
    let constantWeights: Bool
    /// The pre-packed weights: per group, Wᵍ transposed to [(M/g)·∏k × C/g].
    let packed = WeightCache<[Float]>()

    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        constantWeights = ctx.constantInputs.contains(1)
        let ap = node.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(ap) else {
            throw QVError.badInput("unknown auto_pad '\(ap)'")
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        guard x.dtype == .float, w.dtype == .float else {
            throw QVError.unsupported("ConvTranspose on \(x.dtype)×\(w.dtype)")
        }
        guard x.rank >= 3, w.rank == x.rank else {
            throw QVError.badInput("ConvTranspose input \(x.shape) and weights \(w.shape) need equal rank ≥ 3")
        }
        let group = node.int("group", default: 1)
        guard group >= 1, x.shape[1] == w.shape[0], w.shape[0] % group == 0 else {
            throw QVError.badInput("ConvTranspose input \(x.shape) does not fit weights \(w.shape) with group \(group)")
        }
        let kernel = Array(w.shape[2...])
        if let ks = node.ints("kernel_shape"), ks != kernel {
            throw QVError.badInput("kernel_shape \(ks) differs from the weights' \(kernel)")
        }
        let spatial = Array(x.shape[2...])
        let (outSpatial, pads) = try ShapeInference.convTransposeWindow(node, input: spatial, kernel: kernel)
        let r = kernel.count
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let n = x.shape[0], cg = x.shape[1] / group, mg = w.shape[1], m = mg * group
        let kSize = kernel.reduce(1, *), inSize = spatial.reduce(1, *), outSize = outSpatial.reduce(1, *)
        let bias = try optional(inputs, 2).map(floatValues)
        if let bias, bias.count != m {
            throw QVError.badInput("bias has \(bias.count) values for \(m) output channels")
        }
        // For each kernel position and input pixel: the output pixel it reaches, or −1.
        var target = [Int](repeating: -1, count: kSize * inSize)
        var kIdx = [Int](repeating: 0, count: r), iIdx = [Int](repeating: 0, count: r)
        for kp in 0..<kSize {
            var rem = kp
            for d in stride(from: r - 1, through: 0, by: -1) { kIdx[d] = rem % kernel[d]; rem /= kernel[d] }
            for ip in 0..<inSize {
                var rem2 = ip
                for d in stride(from: r - 1, through: 0, by: -1) { iIdx[d] = rem2 % spatial[d]; rem2 /= spatial[d] }
                var o = 0, inside = true
                for d in 0..<r {
                    let p = iIdx[d] * strides[d] - pads[d] + kIdx[d] * dil[d]
                    if p < 0 || p >= outSpatial[d] { inside = false; break }
                    o = o * outSpatial[d] + p
                }
                if inside { target[kp * inSize + ip] = o }
            }
        }
        let xv = x.floats!, wv = w.floats!
        var y = [Float](repeating: 0, count: n * m * outSize)
        var col = [Float](repeating: 0, count: mg * kSize * inSize)
        let rows = mg * kSize
        let prepacked = constantWeights && rows != 1 && cg != 1
        let a =
            prepacked
            ? packed.get {
                var t = [Float](repeating: 0, count: wv.count)
                for g in 0..<group {
                    for c in 0..<cg { for r in 0..<rows { t[(g * rows + r) * cg + c] = wv[(g * cg + c) * rows + r] } }
                }
                return t
            } : wv
        for s in 0..<n {
            for g in 0..<group {
                xv.withUnsafeBufferPointer { xp in
                    a.withUnsafeBufferPointer { ap in
                        col.withUnsafeMutableBufferPointer { cp in
                            OnnxruntimeGemm.sgemm(
                                transA: !prepacked, transB: false, m: rows, n: inSize, k: cg, alpha: 1,
                                a: ap.baseAddress! + g * cg * rows, lda: prepacked ? cg : rows,
                                b: xp.baseAddress! + (s * group + g) * cg * inSize, ldb: inSize,
                                beta: 0, c: cp.baseAddress!, ldc: inSize, problemRows: rows)
                        }
                    }
                }
                for oc in 0..<mg {
                    let yBase = ((s * group + g) * mg + oc) * outSize
                    for kp in 0..<kSize {
                        let row = (oc * kSize + kp) * inSize, tRow = kp * inSize
                        for ip in 0..<inSize {
                            let o = target[tRow + ip]
                            if o >= 0 { y[yBase + o] += col[row + ip] }
                        }
                    }
                }
            }
            if let bias {
                for oc in 0..<m {
                    let base = (s * m + oc) * outSize
                    for o in 0..<outSize { y[base + o] += bias[oc] }
                }
            }
        }
        return [Tensor(dtype: .float, shape: [n, m] + outSpatial, storage: .f32(y))]
    }
}
