import Foundation
import QVGraph
import _QVChainGemm

/// The shape arithmetic of a 1-D or 2-D convolution (NCHW / NCW), shared by Conv, ConvInteger and
/// QLinearConv. 1-D convs run as 2-D with H = 1.
struct ConvGeometry: Equatable {
    var n, c, h, w: Int
    var m, group: Int
    var kh, kw: Int
    var sh, sw, dh, dw: Int
    var padTop, padLeft: Int
    var oh, ow: Int
    var outShape: [Int]

    init(node: Node, x: [Int], w wShape: [Int]) throws {
        guard x.count == 4 || x.count == 3, wShape.count == x.count else {
            throw QVError.unsupported(
                "\(node.opType) on input \(x) with weights \(wShape): only 1-D and 2-D convolutions are supported")
        }
        let oneD = x.count == 3
        let group = node.int("group", default: 1)
        guard group >= 1, x[1] == wShape[1] * group, wShape[0] % group == 0 else {
            throw QVError.badInput("input \(x) does not fit weights \(wShape) with group \(group)")
        }
        if let ks = node.ints("kernel_shape"), ks != Array(wShape[2...]) {
            throw QVError.badInput("kernel_shape \(ks) differs from the weights' \(Array(wShape[2...]))")
        }
        let (out, pads) = try ShapeInference.windowOutput(node, input: Array(x[2...]), kernel: Array(wShape[2...]))
        let strides = node.ints("strides") ?? Array(repeating: 1, count: x.count - 2)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: x.count - 2)
        self.n = x[0]; self.c = x[1]; self.m = wShape[0]; self.group = group
        if oneD {
            h = 1; self.w = x[2]; kh = 1; kw = wShape[2]; sh = 1; sw = strides[0]; dh = 1; dw = dil[0]
            padTop = 0; padLeft = pads[0]; oh = 1; ow = out[0]
        } else {
            h = x[2]; self.w = x[3]; kh = wShape[2]; kw = wShape[3]; sh = strides[0]; sw = strides[1]
            dh = dil[0]; dw = dil[1]; padTop = pads[0]; padLeft = pads[1]; oh = out[0]; ow = out[1]
        }
        outShape = [x[0], wShape[0]] + out
    }

    /// The C kernels' geometry of one group of one image (`channels` input channels).
    func cGeometry(channels: Int) -> qv_conv_geometry {
        qv_conv_geometry(
            channels: channels, height: h, width: w, kernel_h: kh, kernel_w: kw, stride_h: sh, stride_w: sw,
            dilation_h: dh, dilation_w: dw, pad_top: padTop, pad_left: padLeft, out_h: oh, out_w: ow)
    }

    var cPerGroup: Int { c / group }
    var mPerGroup: Int { m / group }
    /// Rows of the im2col matrix per group.
    var k: Int { cPerGroup * kh * kw }
    var spatial: Int { oh * ow }
    /// True when im2col would copy the input unchanged (1×1, stride 1, no padding).
    var isPointwise: Bool {
        kh == 1 && kw == 1 && sh == 1 && sw == 1 && padTop == 0 && padLeft == 0 && oh == h && ow == w
    }

    /// Output rows per im2col tile: about 64K floats of the col matrix (L2-sized), whole rows.
    var tileRows: Int {
        let maxRows = max(1, min(oh, (65536 / max(1, k)) / max(1, ow)))
        let tiles = (oh + maxRows - 1) / maxRows
        return (oh + tiles - 1) / tiles  // even tiles: no small leftover GEMM
    }

    /// Convolution of one batch element's channels `x` (c·h·w values, already shifted so that
    /// padding is 0) with `weights` (m·k values), writing `out` (m·spatial). The im2col matrix is
    /// built in tiles of output rows that stay in cache; `gemm(m, n, k, a, b, ldb, c, ldc)` computes
    /// C[m×n] = A[m×k] · B[k×n] with the given leading dimensions.
    func run(
        x: UnsafePointer<Float>, weights: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        col: inout [Float],
        gemm: (Int, Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        for g in 0..<group {
            let xg = x + g * cPerGroup * h * w
            let wg = weights + g * mPerGroup * k
            let yg = out + g * mPerGroup * spatial
            if isPointwise {
                gemm(mPerGroup, spatial, k, wg, xg, spatial, yg, spatial)
                continue
            }
            let rows = tileRows
            col.withUnsafeMutableBufferPointer { cb in
                let cp = cb.baseAddress!
                var oy0 = 0
                while oy0 < oh {
                    let oy1 = min(oh, oy0 + rows)
                    let tn = (oy1 - oy0) * ow
                    for ci in 0..<cPerGroup {
                        let src = xg + ci * h * w
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let row = cp + ((ci * kh + i) * kw + j) * tn
                                // Output columns whose input column ix = ox·sw − padLeft + j·dw is inside [0, w).
                                let off = j * dw - padLeft
                                let oxLo = off >= 0 ? 0 : min(ow, (-off + sw - 1) / sw)
                                let oxHi = max(oxLo, min(ow, w - off > 0 ? (w - off + sw - 1) / sw : 0))
                                for oy in oy0..<oy1 {
                                    let iy = oy * sh - padTop + i * dh
                                    let dst = row + (oy - oy0) * ow
                                    if iy < 0 || iy >= h {
                                        dst.update(repeating: 0, count: ow)
                                        continue
                                    }
                                    if oxLo > 0 { dst.update(repeating: 0, count: oxLo) }
                                    let srow = src + iy * w + off
                                    if sw == 1 {
                                        dst.advanced(by: oxLo).update(from: srow + oxLo, count: oxHi - oxLo)
                                    } else {
                                        for ox in oxLo..<oxHi { dst[ox] = srow[ox * sw] }
                                    }
                                    if oxHi < ow { (dst + oxHi).update(repeating: 0, count: ow - oxHi) }
                                }
                            }
                        }
                    }
                    gemm(mPerGroup, tn, k, wg, cp, tn, yg + oy0 * ow, spatial)
                    oy0 = oy1
                }
            }
        }
    }
}

/// ONNX Conv (opset 1–22). Float tensors run as ``floatConv(_:x:w:bias:)`` (onnxruntime's
/// summation order). Under Aidge semantics an
/// integer data or weight tensor makes it an exact integer convolution with int32 output
/// (what Aidge's CPU backend computes on its quantized exports).
struct ConvKernel: Kernel {
    let node: Node
    let ctx: KernelContext
    let cache = WeightCache<PreparedWeights>()

    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        self.ctx = ctx
        let ap = node.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(ap) else {
            throw QVError.badInput("unknown auto_pad '\(ap)'")
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let b = optional(inputs, 2)
        let geo = try ConvGeometry(node: node, x: x.shape, w: w.shape)
        if let b, b.count != geo.m { throw QVError.badInput("bias has \(b.count) values for \(geo.m) output channels") }
        if x.dtype.isInteger || w.dtype.isInteger {
            guard ctx.semantics == .aidge else {
                throw QVError.badInput(
                    "Conv on \(x.dtype)×\(w.dtype) is not valid ONNX (use --semantics aidge for Aidge-form graphs)")
            }
            let bias = try b.map(integersAllowingFloat)
            let prepared = try cache.get(ifConstant: ctx.constantInputs.contains(1)) {
                try PreparedWeights(w, zeros: [0], conv: geo)
            }
            let acc = try integerConv(geo, x: x, w: w, xZero: 0, wZero: [0], bias: bias, weights: prepared)
            return [Tensor(dtype: .int32, shape: geo.outShape, storage: .i32(acc))]
        }
        guard x.dtype == .float, w.dtype == .float else { throw QVError.unsupported("Conv on \(x.dtype)×\(w.dtype)") }
        let y = floatConv(geo, x: x.floats!, w: w.floats!, bias: try b.map(floatValues))
        return [Tensor(dtype: .float, shape: geo.outShape, storage: .f32(y))]
    }
}

// Shifted operands as Float (exact: |v| < 2^24), with their largest magnitude, in one pass;
// `zeros` holds one zero point per row of `rowLength` values (or one for all).
func shiftedOperand(_ t: Tensor, _ zeros: [Int64], rowLength: Int) throws -> (values: [Float], maxAbs: Int64) {
    var maxAbs: Float = 0
    var values: [Float]
    switch t.storage {
    case .i32(let a):
        values = [Float].uninitialized(a.count) { buf, n in
            a.withUnsafeBufferPointer { ab in
                var start = 0, row = 0
                // An integer running maximum in a local: this loop vectorizes (a captured
                // Float maximum did not, and cost 8% of a QOP model's time).
                var mx: UInt32 = 0
                while start < ab.count {
                    let z = Int32(truncatingIfNeeded: zeros[zeros.count == 1 ? 0 : row])
                    let end = zeros.count == 1 ? ab.count : min(ab.count, start + rowLength)
                    let fast = qv_shifted_i32_to_f32(ab.baseAddress! + start, end - start, z, buf.baseAddress! + start)
                    if fast >= 0 {
                        mx = max(mx, UInt32(fast))
                        start = end
                        row += 1
                        continue
                    }
                    for i in start..<end {
                        let d = ab[i] &- z
                        buf[i] = Float(d)
                        let m = d.magnitude
                        mx = m > mx ? m : mx
                    }
                    start = end
                    row += 1
                }
                maxAbs = Float(mx)
            }
            n = a.count
        }
    case .f32(let a):
        // Aidge fake-quantized operands: float-typed integers.
        guard a.allSatisfy({ $0 == $0.rounded(.towardZero) && abs($0) < 16_777_216 }) else {
            throw QVError.badInput("integer convolution on a float tensor that does not hold integers")
        }
        values = a.indices.map { a[$0] - Float(zeros[zeros.count == 1 ? 0 : $0 / rowLength]) }
        maxAbs = values.map { abs($0) }.max() ?? 0
    default:
        let v = try intValues(t)
        values = v.indices.map { Float(v[$0] - zeros[zeros.count == 1 ? 0 : $0 / rowLength]) }
        maxAbs = values.map { abs($0) }.max() ?? 0
    }
    return (values, Int64(maxAbs))
}

/// Integer conv weights shifted by their zero points, as exact floats, with the bounds the exact
/// GEMM needs. Computed once per kernel when the weights are a constant.
struct PreparedWeights: Sendable {
    var values: [Float]
    var maxAbs: Int64
    var maxRowAbsSum: Float

    init(_ wt: Tensor, zeros: [Int64], rows: Int, rowLength: Int) throws {
        (values, maxAbs) = try shiftedOperand(wt, zeros, rowLength: rowLength)
        var best: Float = 0
        values.withUnsafeBufferPointer { wb in
            for r in 0..<rows {
                var acc: Float = 0
                for j in 0..<rowLength { acc += abs(wb[r * rowLength + j]) }
                best = max(best, acc)
            }
        }
        maxRowAbsSum = best
    }

    /// The same, plus the words the exact integer kernel reads (`qv_conv_u8s8`: AVX-512 VNNI or
    /// AVX2) when one can run here and every w − w_zero is a signed byte.
    init(_ wt: Tensor, zeros: [Int64], conv geo: ConvGeometry) throws {
        try self.init(wt, zeros: zeros, rows: geo.m, rowLength: geo.k)
        let kind = qv_conv_u8s8_available()
        if kind != 0, maxAbs <= 128, !(geo.cPerGroup == 1 && geo.mPerGroup == 1),
            values.allSatisfy({ $0 >= -128 && $0 <= 127 })
        {
            u8s8 = U8S8Weights(values, geo, kind: kind)
        }
    }

    var u8s8: U8S8Weights?
}

/// One conv's weights as `qv_conv_u8s8` reads them: per group, words of 4 (VNNI) or 2 (AVX2)
/// channels by output channel, each output channel's Σ (w − w_zero), and which form (`kind`)
/// they are packed for (the kernel refuses another: a test may switch the path after packing).
struct U8S8Weights: Sendable {
    let packed: [Int32], rowSums: [Int32], groupWords: Int, kind: Int32

    init(_ shifted: [Float], _ geo: ConvGeometry, kind: Int32) {
        var cg = geo.cGeometry(channels: geo.cPerGroup)
        let mg = geo.mPerGroup, words = qv_conv_u8s8_weight_words(&cg, mg, kind)
        self.kind = kind
        let w = shifted.map { Int32($0) }
        var packed = [Int32](repeating: 0, count: words * geo.group)
        var sums = [Int32](repeating: 0, count: geo.m)
        w.withUnsafeBufferPointer { wb in
            packed.withUnsafeMutableBufferPointer { pb in
                sums.withUnsafeMutableBufferPointer { sb in
                    for g in 0..<geo.group {
                        qv_conv_u8s8_pack_weights(
                            &cg, mg, wb.baseAddress! + g * mg * geo.k, pb.baseAddress! + g * words,
                            sb.baseAddress! + g * mg, kind)
                    }
                }
            }
        }
        self.packed = packed
        rowSums = sums
        groupWords = words
    }
}

/// An int32 or float array of `count` elements filled by `fill` (false: nothing made).
func filledStorage(_ count: Int, integers: Bool, _ fill: (UnsafeMutableRawPointer) -> Bool) -> Storage? {
    var ran = false
    if integers {
        let y = [Int32].uninitialized(count) { buf, n in
            ran = fill(UnsafeMutableRawPointer(buf.baseAddress!))
            n = count
        }
        return ran ? .i32(y) : nil
    }
    let y = [Float].uninitialized(count) { buf, n in
        ran = fill(UnsafeMutableRawPointer(buf.baseAddress!))
        n = count
    }
    return ran ? .f32(y) : nil
}

/// `qv_conv_u8s8` over every group into y: the exact sums (float when `asFloat`), or with
/// `stages` (a one-group conv only) those sums through the stages. False where it cannot run.
private func u8s8Run(
    _ geo: ConvGeometry, x: [Int32], offset: Int32, zero: UInt8, bias: [Int32]?, weights vw: U8S8Weights,
    stages: [PointwiseStage], asFloat: Bool, into y: UnsafeMutableRawPointer
) -> Bool {
    var cg = geo.cGeometry(channels: geo.cPerGroup)
    let mg = geo.mPerGroup, plane = geo.h * geo.w, image = geo.c * plane, yImage = geo.m * geo.spatial
    let biasWords = bias ?? []
    return withCStages(stages, channels: geo.m) { cs in
        x.withUnsafeBufferPointer { xb in
            vw.packed.withUnsafeBufferPointer { pb in
                vw.rowSums.withUnsafeBufferPointer { sb in
                    biasWords.withUnsafeBufferPointer { bb in
                        (0..<geo.group).allSatisfy { g -> Bool in
                            let b: UnsafePointer<Int32>? = bias == nil ? nil : bb.baseAddress! + g * mg
                            let status = qv_conv_u8s8(
                                &cg, geo.n, xb.baseAddress! + g * geo.cPerGroup * plane, image, offset, zero,
                                pb.baseAddress! + g * vw.groupWords, mg, sb.baseAddress! + g * mg, b,
                                cs.baseAddress, cs.count, y + g * mg * geo.spatial * 4, yImage, asFloat ? 1 : 0,
                                vw.kind)
                            return status == 1
                        }
                    }
                }
            }
        }
    }
}

/// What `qv_conv_u8s8` needs of x, or nil where it cannot run (no packed weights, x not 8-bit).
private func u8s8Operands(
    _ geo: ConvGeometry, x xt: Tensor, xZero: Int64, weights pw: PreparedWeights
) -> (
    x: [Int32], offset: Int32, zero: UInt8, weights: U8S8Weights
)? {
    guard let vw = pw.u8s8, xt.dtype == .uint8 || xt.dtype == .int8, case .i32(let xv) = xt.storage,
        xv.count == geo.n * geo.c * geo.h * geo.w, geo.n * geo.m * geo.spatial > 0
    else { return nil }
    let offset: Int64 = xt.dtype == .int8 ? 128 : 0
    guard (0...255).contains(xZero + offset) else { return nil }
    return (xv, Int32(offset), UInt8(xZero + offset), vw)
}

/// Whether every partial sum of a conv, and its biased total, is an integer below 2^24 in
/// magnitude (so float32 holds it exactly) when no |x − x_zero| exceeds `maxX`: each output's
/// sum is at most maxX · Σ_k |w_mk| plus its bias.
func sumsExactInFloat(maxX: Int64, weights pw: PreparedWeights, bias: [Int64]?) -> Bool {
    let biasMax = bias.map { $0.lazy.map { abs($0) }.max() ?? 0 } ?? 0
    return Double(maxX) * Double(pw.maxRowAbsSum) + Double(biasMax) < Double(1 << 24)
}

/// The largest |x − x_zero| an integer type allows.
func largestShift(_ range: ClosedRange<Int64>, _ xZero: Int64) -> Int64 {
    max(abs(range.lowerBound - xZero), abs(range.upperBound - xZero))
}

/// Exact sums with `qv_conv_u8s8` (AVX-512 VNNI, or AVX2's vpmaddwd on 16-bit pairs), or nil
/// where it cannot run (no packed weights, x not 8-bit, neither ISA). Float output when every
/// sum provably stays below 2^24, else int32.
func u8s8ConvAccumulators(
    _ geo: ConvGeometry, x xt: Tensor, xZero: Int64, bias: [Int64]?, weights pw: PreparedWeights
)
    -> IntegerAccumulators?
{
    guard let op = u8s8Operands(geo, x: xt, xZero: xZero, weights: pw), let range = xt.dtype.integerRange else {
        return nil
    }
    // Wrapping the bias into int32 wraps the exact total the same way.
    let biasWords = bias?.map { Int32(truncatingIfNeeded: $0) }
    let asFloat = sumsExactInFloat(maxX: largestShift(range, xZero), weights: pw, bias: bias)
    let y = filledStorage(geo.n * geo.m * geo.spatial, integers: !asFloat) {
        u8s8Run(
            geo, x: op.x, offset: op.offset, zero: op.zero, bias: biasWords, weights: op.weights, stages: [],
            asFloat: asFloat, into: $0)
    }
    switch y {
    case .f32(let v): return .exactFloat(v)
    case .i32(let v): return .int32(v)
    default: return nil
    }
}

/// An exact integer conv's sums taken through `stages` (the conv's requantization and the
/// pointwise nodes after it) while still in registers, so the sums are never written out: the
/// u8s8 kernel (VNNI or AVX2) for a one-group conv, the exact depthwise kernel for a depthwise
/// one. nil where neither runs (or a stage's parameters are not per output channel); the caller
/// then computes the sums and runs the stages as their own pass, with the same result.
func integerConvThrough(
    _ stages: [PointwiseStage], _ geo: ConvGeometry, x xt: Tensor, xZero: Int64, bias: [Int64]?,
    weights pw: PreparedWeights
) -> Tensor? {
    guard let last = stages.last, stages.count <= 8,
        stages.allSatisfy({ $0.axis == nil || ($0.axis == 1 && $0.scale.count == geo.m) })
    else { return nil }
    let count = geo.n * geo.m * geo.spatial
    func tensor(_ storage: Storage?) -> Tensor? {
        storage.map { Tensor(dtype: last.outputType, shape: geo.outShape, storage: $0) }
    }
    if geo.cPerGroup == 1, geo.mPerGroup == 1 {
        guard let plan = depthwisePlan(geo, x: xt, xZero: xZero, bias: bias, weights: pw) else { return nil }
        var seen: UInt32 = 0
        let y = filledStorage(count, integers: last.writesIntegers) {
            seen = depthwiseShifted(
                geo, x: plan.x, zeroPoint: plan.zero, w: pw.values, bias: plan.bias, stages: stages, into: $0)
            return true
        }
        return Int64(seen) <= plan.bound ? tensor(y) : nil
    }
    guard geo.group == 1, let op = u8s8Operands(geo, x: xt, xZero: xZero, weights: pw) else { return nil }
    return tensor(
        filledStorage(count, integers: last.writesIntegers) {
            u8s8Run(
                geo, x: op.x, offset: op.offset, zero: op.zero, bias: bias?.map { Int32(truncatingIfNeeded: $0) },
                weights: op.weights, stages: stages, asFloat: true, into: $0)
        })
}

/// When the depthwise kernel reads x − x_zero itself: integers of at most 16 bits whose largest
/// |x − x_zero| (from the type) keeps every sum below 2^24, so float32 is exact; the largest one
/// actually read must then be checked against `bound`.
func depthwisePlan(
    _ geo: ConvGeometry, x xt: Tensor, xZero: Int64, bias: [Int64]?, weights pw: PreparedWeights
) -> (
    x: [Int32], zero: Int32, bias: [Float]?, bound: Int64
)? {
    guard geo.cPerGroup == 1, geo.mPerGroup == 1, case .i32(let xi) = xt.storage, !xi.isEmpty,
        geo.n * geo.m * geo.spatial > 0, let r = xt.dtype.integerRange, xt.dtype.bitWidth <= 16
    else { return nil }
    let bound = largestShift(r, xZero)
    guard pw.maxAbs < (1 << 24), sumsExactInFloat(maxX: bound, weights: pw, bias: bias) else {
        return nil
    }
    return (xi, Int32(truncatingIfNeeded: xZero), bias.map { $0.map { Float($0) } }, bound)
}

/// Holds a kernel's prepared constant weights (kernels are values; this box is shared by copies).
final class WeightCache<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var prepared: Value?
    func get(_ make: () throws -> Value) rethrows -> Value {
        lock.lock(); defer { lock.unlock() }
        if let p = prepared { return p }
        let p = try make()
        prepared = p
        return p
    }

    /// The cached value when the operand it is made from is a model constant, else a fresh one.
    func get(ifConstant constant: Bool, _ make: () throws -> Value) rethrows -> Value {
        constant ? try get(make) : try make()
    }
}

/// Float convolution by the fixed-order kernels, bias added per output channel after the whole
/// sum. The reduction is blocked as onnxruntime's MLAS blocks it for one image (N = output
/// pixels), so every output is bit-identical to onnxruntime's one-thread Conv on FMA hardware.
func floatConv(_ geo: ConvGeometry, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
    if let y = mlasDirectConv(geo, x: x, w: w, bias: bias) { return y }
    if geo.spatial == 1 { return onePixelConv(geo, x: x, w: w, bias: bias) }
    let blockK = OnnxruntimeGemm.blockK(n: geo.spatial, k: geo.k)
    // Several filters per group: panels of the im2col matrix made in cache by the C kernel (a
    // pointwise conv with a panel of pixels or more is a plain GEMM). One filter per group takes
    // MLAS's one-row kernel: depthwise straight from the input, else through im2col.
    let panels = geo.mPerGroup > 1 && (!geo.isPointwise || (geo.n > 1 && geo.spatial < 128))
    let depthwise = geo.mPerGroup == 1 && geo.cPerGroup == 1
    let count = geo.n * geo.m * geo.spatial
    // The panel and depthwise kernels write every output, and so does a pointwise conv's one GEMM
    // per group (beta 0 stores, never reads); the im2col tiles start from zeros.
    let writesEveryOutput = panels || depthwise || geo.isPointwise
    var y =
        writesEveryOutput
        ? [Float].uninitialized(count) { _, n in n = count } : [Float](repeating: 0, count: count)
    var col = [Float](repeating: 0, count: panels || depthwise || geo.isPointwise ? 0 : geo.k * geo.tileRows * geo.ow)
    let biasValues = bias ?? []
    x.withUnsafeBufferPointer { xb in
        w.withUnsafeBufferPointer { wb in
            y.withUnsafeMutableBufferPointer { yb in
                biasValues.withUnsafeBufferPointer { bb in
                    if depthwise {
                        var cg = geo.cGeometry(channels: 1)
                        qv_depthwise_conv(
                            &cg, geo.n * geo.c, geo.c, xb.baseAddress!, wb.baseAddress!, yb.baseAddress!, blockK,
                            bias == nil ? nil : bb.baseAddress!)
                        return
                    }
                    if panels {
                        // All images of the batch in one call: small outputs share panels (same bits).
                        var cg = geo.cGeometry(channels: geo.cPerGroup)
                        for g in 0..<geo.group {
                            qv_conv2d_chain_images(
                                &cg, geo.n, xb.baseAddress! + g * geo.cPerGroup * geo.h * geo.w, geo.c * geo.h * geo.w,
                                wb.baseAddress! + g * geo.mPerGroup * geo.k, geo.mPerGroup,
                                yb.baseAddress! + g * geo.mPerGroup * geo.spatial, geo.m * geo.spatial, blockK,
                                bias == nil ? nil : bb.baseAddress! + g * geo.mPerGroup)
                        }
                        return
                    }
                    for ni in 0..<geo.n {
                        geo.run(
                            x: xb.baseAddress! + ni * geo.c * geo.h * geo.w, weights: wb.baseAddress!,
                            out: yb.baseAddress! + ni * geo.m * geo.spatial, col: &col
                        ) { m, n, k, a, b, ldb, c, ldc in
                            OnnxruntimeGemm.sgemm(
                                transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: ldb,
                                beta: 0, c: c, ldc: ldc, problemRows: m, blockK: blockK)
                        }
                        guard bias != nil else { continue }  // the panel kernel adds the bias itself
                        for mi in 0..<geo.m {
                            let row = yb.baseAddress! + (ni * geo.m + mi) * geo.spatial, bv = bb[mi]
                            for s in 0..<geo.spatial { row[s] += bv }
                        }
                    }
                }
            }
        }
    }
    return y
}

/// MlasConvPrepare's direct GEMMs for one input channel per group (stride 1, no padding or
/// dilation, not 1×1): a kernel as wide as the input reads B as the input transposed (N×K rows of
/// ldb = W, overlapping windows), one as tall as the input and one wide reads B as the input
/// (K×N, ldb = W); per image and group, the bias after. nil for every other conv.
func mlasDirectConv(_ geo: ConvGeometry, x: [Float], w: [Float], bias: [Float]?) -> [Float]? {
    guard geo.cPerGroup == 1, geo.sh == 1, geo.sw == 1, geo.dh == 1, geo.dw == 1, geo.padTop == 0, geo.padLeft == 0,
        geo.oh == geo.h - geo.kh + 1, geo.ow == geo.w - geo.kw + 1, geo.kh * geo.kw > 1, geo.h > 0, geo.w > 0
    else { return nil }
    let transB: Bool
    if geo.kw == geo.w {
        transB = true
    } else if geo.kh == geo.h && geo.kw == 1 {
        transB = false
    } else {
        return nil
    }
    let kTotal = geo.k, n = geo.spatial
    var y = [Float](repeating: 0, count: geo.n * geo.m * n)
    x.withUnsafeBufferPointer { xb in
        w.withUnsafeBufferPointer { wb in
            y.withUnsafeMutableBufferPointer { yb in
                for ni in 0..<geo.n {
                    for g in 0..<geo.group {
                        OnnxruntimeGemm.sgemm(
                            transA: false, transB: transB, m: geo.mPerGroup, n: n, k: kTotal, alpha: 1,
                            a: wb.baseAddress! + g * geo.mPerGroup * kTotal, lda: kTotal,
                            b: xb.baseAddress! + (ni * geo.c + g) * geo.h * geo.w, ldb: geo.w, beta: 0,
                            c: yb.baseAddress! + (ni * geo.m + g * geo.mPerGroup) * n, ldc: n,
                            problemRows: geo.mPerGroup)
                    }
                    if let bias {
                        for mi in 0..<geo.m {
                            let row = yb.baseAddress! + (ni * geo.m + mi) * n
                            for j in 0..<n { row[j] += bias[mi] }
                        }
                    }
                }
            }
        }
    }
    return y
}

/// A convolution with one output pixel per image (a 1×1 map, as in squeeze-excite blocks, or a
/// window covering the input), as MLAS runs it: per image and group, one SGEMM with N = 1, whose
/// special cases then decide the order (``OnnxruntimeGemm/sgemm``: one filter takes the one-row
/// kernel, several the swapped GEMV when B and C are single columns). The arguments are
/// `MlasConvPrepare`'s: stride 1 and no padding with a 1×1 kernel is a direct GEMM on the input
/// (the one-channel direct GEMMs are ``mlasDirectConv(_:x:w:bias:)``'s, tried first); otherwise
/// the pixel's im2col column, in one GEMM when there are several filters per group
/// (`ExpandThenGemm`), else in reduction blocks (`ExpandThenGemmSegmented`). The bias is added after.
func onePixelConv(_ geo: ConvGeometry, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
    let kTotal = geo.k
    let unpadded =
        geo.sh == 1 && geo.sw == 1 && geo.padTop == 0 && geo.padLeft == 0
        && geo.h == (geo.kh - 1) * geo.dh + 1 && geo.w == (geo.kw - 1) * geo.dw + 1
    // The pointwise direct GEMM; the one-channel ones are mlasDirectConv's.
    let direct = unpadded && kTotal == geo.cPerGroup
    let block: Int? = direct || geo.mPerGroup > 1 ? nil : OnnxruntimeGemm.blockK(n: 1, k: kTotal)
    var y = [Float](repeating: 0, count: geo.n * geo.m)
    var column = [Float](repeating: 0, count: kTotal)
    w.withUnsafeBufferPointer { wb in
        y.withUnsafeMutableBufferPointer { yb in
            for ni in 0..<geo.n {
                for g in 0..<geo.group {
                    // The pixel's im2col column, (channel, tap) order, zeros in the padding: for
                    // the direct GEMMs the input itself, whose values these are in this order.
                    for ci in 0..<geo.cPerGroup {
                        let plane = (ni * geo.c + g * geo.cPerGroup + ci) * geo.h * geo.w
                        for i in 0..<geo.kh {
                            for j in 0..<geo.kw {
                                let iy = i * geo.dh - geo.padTop, ix = j * geo.dw - geo.padLeft
                                let inside = iy >= 0 && iy < geo.h && ix >= 0 && ix < geo.w
                                column[(ci * geo.kh + i) * geo.kw + j] = inside ? x[plane + iy * geo.w + ix] : 0
                            }
                        }
                    }
                    column.withUnsafeBufferPointer { cb in
                        OnnxruntimeGemm.sgemm(
                            transA: false, transB: false, m: geo.mPerGroup, n: 1, k: kTotal, alpha: 1,
                            a: wb.baseAddress! + g * geo.mPerGroup * kTotal, lda: kTotal, b: cb.baseAddress!,
                            ldb: 1, beta: 0, c: yb.baseAddress! + ni * geo.m + g * geo.mPerGroup,
                            ldc: 1, problemRows: geo.mPerGroup, blockK: block)
                    }
                }
                if let bias { for mi in 0..<geo.m { yb[ni * geo.m + mi] += bias[mi] } }
            }
        }
    }
    return y
}

/// A depthwise convolution of int32 x read as float(x − zeroPoint) into y (MLAS's one-row kernel
/// order, as ``floatConv``; with AVX-512 all taps at once, the same exact sums), or those sums
/// through `stages`; returns the largest |x − zeroPoint| it read.
func depthwiseShifted(
    _ geo: ConvGeometry, x: [Int32], zeroPoint: Int32, w: [Float], bias: [Float]?, stages: [PointwiseStage] = [],
    into y: UnsafeMutableRawPointer
) -> UInt32 {
    let blockK = OnnxruntimeGemm.blockK(n: geo.spatial, k: geo.k)
    let biasValues = bias ?? []
    var cg = geo.cGeometry(channels: 1)
    return withCStages(stages, channels: geo.m) { cs in
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                biasValues.withUnsafeBufferPointer { bb in
                    qv_depthwise_conv_shifted(
                        &cg, geo.n * geo.c, geo.c, xb.baseAddress!, zeroPoint, wb.baseAddress!, blockK,
                        bias == nil ? nil : bb.baseAddress!, cs.baseAddress, cs.count, y)
                }
            }
        }
    }
}

/// Exact integer convolution: Σ (x − xZero)(w − wZero[m]) + bias[m], as Int64. The GEMM runs in
/// float32 over chunks of the reduction dimension small enough that every partial sum is an
/// integer below 2^24 (exactly representable); the chunks are added in Int64.
func integerConv(
    _ geo: ConvGeometry, x xt: Tensor, w wt: Tensor, xZero: Int64, wZero: [Int64], bias: [Int64]?,
    weights: PreparedWeights? = nil
) throws -> [Int32] {
    switch try integerConvAccumulators(geo, x: xt, w: wt, xZero: xZero, wZero: wZero, bias: bias, weights: weights) {
    case .int32(let v): return v
    case .exactFloat(let y):
        return [Int32].uninitialized(y.count) { buf, n in
            y.withUnsafeBufferPointer { yb in
                if qv_exact_f32_to_i32(yb.baseAddress, yb.count, buf.baseAddress) == 0 {
                    for i in 0..<yb.count { buf[i] = exactIntegerToInt32(yb[i]) }
                }
            }
            n = y.count
        }
    }
}

/// Accumulators of an exact integer convolution: float32 values that are exact integers (when
/// every partial sum provably stays below 2^24), or int32 (two's-complement wrap of the exact sum).
enum IntegerAccumulators {
    case exactFloat([Float])
    case int32([Int32])

    /// float(acc) as MLAS computes it: from int32, or the already exact float accumulators.
    var floats: [Float] {
        switch self {
        case .exactFloat(let f): f
        case .int32(let v): converted(v) { Float($0) }
        }
    }

    /// The accumulators plus integer departures (same layout), as int32 (wrapping like MLAS's).
    func adding(_ d: [Int64]) -> IntegerAccumulators {
        func sum<T>(_ v: [T], _ int: (T) -> Int32) -> [Int32] {
            [Int32].uninitialized(v.count) { buf, n in
                v.withUnsafeBufferPointer { vb in
                    d.withUnsafeBufferPointer { db in
                        for i in 0..<vb.count { buf[i] = int(vb[i]) &+ Int32(truncatingIfNeeded: db[i]) }
                    }
                }
                n = v.count
            }
        }
        switch self {
        case .exactFloat(let f): return .int32(sum(f) { exactIntegerToInt32($0) })
        case .int32(let v): return .int32(sum(v) { $0 })
        }
    }
}

func integerConvAccumulators(
    _ geo: ConvGeometry, x xt: Tensor, w wt: Tensor, xZero: Int64, wZero: [Int64], bias: [Int64]?,
    weights: PreparedWeights? = nil
) throws -> IntegerAccumulators {
    let kTotal = geo.k
    let pw = try weights ?? PreparedWeights(wt, zeros: wZero, conv: geo)
    // Depthwise on integers of at most 16 bits: the copy into the zero-bordered planes reads
    // x − x_zero itself (no shifted tensor is written); see `depthwisePlan`.
    if geo.cPerGroup == 1, geo.mPerGroup == 1 {
        if let plan = depthwisePlan(geo, x: xt, xZero: xZero, bias: bias, weights: pw) {
            var seen: UInt32 = 0
            let y = [Float].uninitialized(geo.n * geo.m * geo.spatial) { buf, n in
                seen = depthwiseShifted(
                    geo, x: plan.x, zeroPoint: plan.zero, w: pw.values, bias: plan.bias,
                    into: UnsafeMutableRawPointer(buf.baseAddress!))
                n = geo.n * geo.m * geo.spatial
            }
            if Int64(seen) <= plan.bound { return .exactFloat(y) }
        }
    }
    if let exact = u8s8ConvAccumulators(geo, x: xt, xZero: xZero, bias: bias, weights: pw) { return exact }
    let (xf, maxX) = try shiftedOperand(xt, [xZero], rowLength: 1)
    let wf = pw.values, maxW = pw.maxAbs
    guard maxX < (1 << 24), maxW < (1 << 24) else {
        throw QVError.unsupported("integer convolution operands beyond 2^24")
    }
    let chunk = max(1, min(kTotal, Int(((Int64(1) << 24) - 1) / max(1, maxX * maxW))))
    if sumsExactInFloat(maxX: maxX, weights: pw, bias: bias) {
        // Every partial sum, and the biased total, is an integer below 2^24: float32 is exact.
        return .exactFloat(floatConv(geo, x: xf, w: wf, bias: bias.map { $0.map { Float($0) } }))
    }
    var out = [Int64](repeating: 0, count: geo.n * geo.m * geo.spatial)
    var col = [Float](repeating: 0, count: geo.isPointwise ? 0 : geo.k * geo.tileRows * geo.ow)
    var part = [Float](repeating: 0, count: geo.mPerGroup * geo.spatial)
    var dummy = [Float](repeating: 0, count: geo.m * geo.spatial)
    xf.withUnsafeBufferPointer { xb in
        wf.withUnsafeBufferPointer { wb in
            out.withUnsafeMutableBufferPointer { ob in
                part.withUnsafeMutableBufferPointer { pb in
                    dummy.withUnsafeMutableBufferPointer { db in
                        for ni in 0..<geo.n {
                            let obase = ni * geo.m * geo.spatial
                            // geo.run passes each group's output pointer into `db`; map it back to an offset.
                            geo.run(
                                x: xb.baseAddress! + ni * geo.c * geo.h * geo.w, weights: wb.baseAddress!,
                                out: db.baseAddress!, col: &col
                            ) { m, n, k, a, b, ldb, c, ldc in
                                let goff = c - db.baseAddress!
                                var k0 = 0
                                while k0 < k {
                                    let kk = min(chunk, k - k0)
                                    OnnxruntimeGemm.chain(
                                        m: m, n: n, k: kk, a: a + k0, lda: k, b: b + k0 * ldb, ldb: ldb,
                                        c: pb.baseAddress!, ldc: n, accumulate: false)
                                    let dst = ob.baseAddress! + obase + goff
                                    for r in 0..<m { for j in 0..<n { dst[r * ldc + j] &+= Int64(pb[r * n + j]) } }
                                    k0 += kk
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let bias {
        for ni in 0..<geo.n {
            for mi in 0..<geo.m {
                let base = (ni * geo.m + mi) * geo.spatial
                for s in 0..<geo.spatial { out[base + s] += bias[mi] }
            }
        }
    }
    return .int32(converted(out) { Int32(truncatingIfNeeded: $0) })
}
