import QVGraph
import _QVChainGemm

/// Maps each element of x to the index of its scale / zero point: per-tensor, per-axis or
/// blocked (opset 21), as QuantizeLinear and DequantizeLinear define.
struct QuantParamLayout {
    let map: (Int) -> Int
    let count: Int

    init(x: [Int], param: [Int], axis rawAxis: Int, blockSize: Int) throws {
        let n = param.reduce(1, *)
        if n == 1 && blockSize == 0 {
            map = { _ in 0 }
            count = 1
            return
        }
        let axis = rawAxis < 0 ? rawAxis + x.count : rawAxis
        guard axis >= 0 && axis < x.count else {
            throw QVError.badInput("axis \(rawAxis) is out of range for shape \(x)")
        }
        let dim = x[axis]
        let inner = x[(axis + 1)...].reduce(1, *)
        if blockSize > 0 {
            let nb = (dim + blockSize - 1) / blockSize
            var expect = x
            expect[axis] = nb
            guard param == expect else {
                throw QVError.badInput("blocked scale shape \(param) should be \(expect) for block_size \(blockSize)")
            }
            map = { i in
                let a = (i / inner) % dim
                let outer = i / (inner * dim)
                return (outer * nb + a / blockSize) * inner + i % inner
            }
        } else {
            guard param.count == 1, param[0] == dim else {
                throw QVError.badInput("per-axis scale of shape \(param) does not match axis \(axis) of \(x)")
            }
            map = { i in (i / inner) % dim }
        }
        count = n
    }
}

/// ONNX QuantizeLinear (opset 10–21).
///
/// - `onnx`: y = saturate(round_half_even(x / y_scale) + y_zero_point), the division in float32
///   (as onnxruntime's MLAS does). Output type: the zero point's, else `output_dtype`, else uint8.
/// - `aidge`: Aidge's Quantizer: y = wrap(clip(round_half_up(x · sf) + zp)) with sf = 1/y_scale
///   in float32, clip to the signed range of the output width, then a wrapping cast (so a
///   uint8-tagged quantizer wraps negatives). An INT32 y_scale = 2^s is Aidge's single-shift
///   quantizer: a right shift by s rounding half up.
struct QuantizeLinearKernel: Kernel {
    let axis: Int, blockSize: Int, outputDtype: DType?
    let semantics: Semantics
    let saturate: Bool
    let fakeQuantRange: ClosedRange<Int64>?
    let rescaleOnly: Bool
    /// Aidge's own scaling factors for this quantizer, when the user supplied them (the export
    /// keeps only 1/sf in float32, which can name two float32 sf: see KernelContext).
    let knownScalingFactors: [Float]?
    let lenient: Bool

    init(node: Node, ctx: KernelContext) throws {
        lenient = ctx.lenient
        axis = node.int("axis", default: 1)
        blockSize = node.int("block_size", default: 0)
        let od = node.int("output_dtype", default: 0)
        if od != 0 {
            guard let dt = DType(onnx: Int32(od)) else { throw QVError.badInput("unknown output_dtype \(od)") }
            outputDtype = dt
        } else {
            outputDtype = nil
        }
        saturate = node.int("saturate", default: 1) != 0
        semantics = ctx.semantics
        fakeQuantRange = ctx.fakeQuantRange
        rescaleOnly = ctx.aidgeRescaleOnly
        knownScalingFactors = ctx.aidgeScalingFactors
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "x"), scale = try required(inputs, 1, "y_scale")
        let zp = optional(inputs, 2)
        let outType = zp?.dtype ?? outputDtype ?? .uint8
        if let zp, let od = outputDtype, od != zp.dtype {
            throw QVError.badInput("output_dtype \(od) differs from the zero point's \(zp.dtype)")
        }
        let layout = try QuantParamLayout(x: x.shape, param: scale.shape, axis: axis, blockSize: blockSize)
        if let zp, zp.shape != scale.shape {
            throw QVError.badInput("zero point shape \(zp.shape) differs from scale shape \(scale.shape)")
        }

        if semantics == .aidge { return [try aidge(x, scale, zp, outType, layout)] }
        if lenient, let zp, zp.dtype.isFloatingPoint {
            // Not valid ONNX (Aidge's fake_quantize QDQ export: a float zero point): the obvious
            // meaning, saturate(round_half_even(x / scale) + zp) with the values kept as float, in
            // the range of Aidge's default int8 (the file names no integer type); check names it.
            let range = fakeQuantRange ?? -128...127
            let s = try floatValues(scale), z = try floatValues(zp), xv = try floatValues(x)
            let lo = Float(range.lowerBound), hi = Float(range.upperBound)
            let y = (0..<xv.count).map { i -> Float in
                let p = layout.map(i)
                let v = RoundingRule.halfToEven.round(xv[i] / s[p]) + z[z.count == 1 ? 0 : p]
                return v.isNaN ? lo : min(max(v, lo), hi)
            }
            return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
        }

        guard let range = outType.integerRange else {
            throw QVError.unsupported(
                "QuantizeLinear to \(outType) (float8 and float zero points are not supported under ONNX semantics)")
        }
        guard scale.dtype.isFloatingPoint else {
            throw QVError.badInput("y_scale is \(scale.dtype); ONNX requires a float scale")
        }
        let s = try floatValues(scale)
        let z = try zp.map(intValues) ?? [0]
        let xv = try floatValues(x)
        let lo = Float(range.lowerBound), hi = Float(range.upperBound)
        // Per-tensor fast path: the pointwise stage, straight into Int32 storage.
        let xf = x.dtype == .float ? x : Tensor(dtype: .float, shape: x.shape, storage: .f32(xv))
        if let st = try stage(inputType: .float, inputShape: x.shape, inputs), let y = runPointwise([st], on: xf) {
            return [y]
        }
        var out = [Int64](repeating: 0, count: xv.count)
        for i in 0..<xv.count {
            let p = layout.map(i)
            let zi = z.count == 1 ? z[0] : z[p]
            let q = RoundingRule.halfToEven.round(xv[i] / s[p])
            // Clamp in float before converting so huge values and infinities saturate.
            let shifted = min(max(q + Float(zi), lo), hi)
            out[i] = shifted.isNaN ? zi : Int64(shifted)
        }
        return [wrapping(out, outType, shape: x.shape)]
    }

    /// Aidge's sf per scale value: the supplied ones, else float32(1 / scale).
    func scalingFactors(_ scale: Tensor) throws -> [Float] {
        let s = try floatValues(scale)
        guard let known = knownScalingFactors else { return s.map { Float(1 / Double($0)) } }
        guard known.count == s.count else {
            throw QVError.badInput(
                "\(known.count) supplied scaling factor(s) for a quantizer with \(s.count) scale value(s)")
        }
        return known
    }

    func aidge(
        _ x: Tensor, _ scale: Tensor, _ zp: Tensor?, _ outType: DType, _ layout: QuantParamLayout
    ) throws -> Tensor {
        if let zp, zp.dtype.isFloatingPoint, rescaleOnly {
            // Aidge's rescaling into a float op (`_PrevScaling`): Mul(sf) → Add(zp) → Clip to
            // ±FLT_MAX, in float32, no rounding: the real value goes on unrounded.
            let sf = try scalingFactors(scale)
            let z = try floatValues(zp)
            let xv = try floatValues(x)
            let y = (0..<xv.count).map { i -> Float in
                let p = layout.map(i)
                let v = xv[i] * sf[p] + z[z.count == 1 ? 0 : p]
                return v.isNaN ? v : min(max(v, -.greatestFiniteMagnitude), .greatestFiniteMagnitude)
            }
            return Tensor(dtype: .float, shape: x.shape, storage: .f32(y))
        }
        if let zp, zp.dtype.isFloatingPoint {
            // Aidge fake quantization: Mul(sf) → Round half up → Add(zp) → Clip, values stay float.
            guard let range = fakeQuantRange else {
                throw QVError.unsupported("float zero point (a fake_quantize export) with no known clip range")
            }
            let sf = try scalingFactors(scale)
            let z = try floatValues(zp)
            let xv = try floatValues(x)
            let lo = Float(range.lowerBound), hi = Float(range.upperBound)
            var y = [Float](repeating: 0, count: xv.count)
            for i in 0..<xv.count {
                let p = layout.map(i)
                y[i] = min(max(RoundingRule.halfUp.round(xv[i] * sf[p]) + z[z.count == 1 ? 0 : p], lo), hi)
            }
            return Tensor(dtype: .float, shape: x.shape, storage: .f32(y))
        }
        guard outType.isInteger else { throw QVError.unsupported("Aidge quantizer to \(outType)") }
        let bits = outType.bitWidth
        let lo = -(Int64(1) << (bits - 1)), hi = (Int64(1) << (bits - 1)) - 1
        let z = try zp.map(intValues) ?? [0]
        var out = [Int64](repeating: 0, count: x.count)
        if scale.dtype.isInteger {
            // Single-shift quantizer: scale = 2^shift, a rounding (half-up) arithmetic right shift.
            let sv = try intValues(scale)
            let shifts = try sv.map { v -> Int64 in
                guard v > 0, v & (v - 1) == 0 else {
                    throw QVError.badInput("integer scale \(v) is not a power of two")
                }
                return Int64(v.trailingZeroBitCount)
            }
            let xv = try intValues(x)
            for i in 0..<xv.count {
                let p = layout.map(i)
                let sh = shifts[p]
                let r = sh == 0 ? xv[i] : (xv[i] + (Int64(1) << (sh - 1))) >> sh
                out[i] = min(max(r + (z.count == 1 ? z[0] : z[p]), lo), hi)
            }
        } else if scale.count == 1, z.count == 1, outType.storageKind == .i32, outType.bitWidth <= 16,
            abs(z[0]) < (1 << 20)
        {
            // Per-tensor fast path, same arithmetic as below: float32 x·sf, + 0.5 in float32, floor,
            // + zp, clip, wrapping cast. floor(v + 0.5) is monotone and leaves integers alone, so
            // clipping v to the integers [lo − zp, hi − zp] first gives the same result; it also
            // keeps the magic-number floor in range and makes a signed cast the identity.
            let sf = try scalingFactors(scale)[0]
            let signed = outType.integerRange!.lowerBound < 0
            let q = AidgeQuantizer(
                sf: sf, zp: Int32(z[0]), flo: Float(lo - z[0]), fhi: Float(hi - z[0]),
                unsignedSpan: signed ? 0 : Int32(1) << outType.bitWidth)
            let y: [Int32]
            switch x.storage {
            // int32 accumulators (the usual input) are read in place, not copied to float first.
            case .i32(let a) where x.dtype.isInteger: y = q.apply(a, vectorized: qv_aidge_quantize_i32) { Float($0) }
            default: y = q.apply(try floatValues(x), vectorized: qv_aidge_quantize_f32) { $0 }
            }
            return Tensor(dtype: outType, shape: x.shape, storage: .i32(y))
        } else {
            let sf = try scalingFactors(scale)
            let xv = try floatValues(x)
            for i in 0..<xv.count {
                let p = layout.map(i)
                let r = RoundingRule.halfUp.round(xv[i] * sf[p])
                let v = Double(r) + Double(z.count == 1 ? z[0] : z[p])
                // NaN → lower bound, as the fast path
                out[i] = v.isNaN ? lo : Int64(min(max(v, Double(lo)), Double(hi)))
            }
        }
        return wrapping(out, outType, shape: x.shape)
    }
}

/// ONNX DequantizeLinear (opset 10–21): y = (x − x_zero_point) · x_scale in float32, per-tensor,
/// per-axis or blocked. Output type is the scale's (float32 here).
struct DequantizeLinearKernel: Kernel {
    let axis: Int, blockSize: Int
    let lenient: Bool

    init(node: Node, ctx: KernelContext) throws {
        axis = node.int("axis", default: 1)
        blockSize = node.int("block_size", default: 0)
        lenient = ctx.lenient
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "x"), scale = try required(inputs, 1, "x_scale")
        let zp = optional(inputs, 2)
        if lenient, x.dtype.isFloatingPoint || zp?.dtype.isFloatingPoint == true {
            // Not valid ONNX (a Cast to float before it, a float zero point): run the obvious
            // meaning, (x − zp) · scale on the values as given; check names the deviation.
            let xv = try floatValues(x), s = try floatValues(scale), z = try zp.map(floatValues) ?? [0]
            let layout = try QuantParamLayout(x: x.shape, param: scale.shape, axis: axis, blockSize: blockSize)
            let y = (0..<xv.count).map { i -> Float in
                let p = layout.map(i)
                return (xv[i] - (z.count == 1 ? z[0] : z[p])) * s[p]
            }
            return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
        }
        guard x.dtype.isInteger else { throw QVError.unsupported("DequantizeLinear of \(x.dtype)") }
        if let zp, zp.dtype != x.dtype {
            throw QVError.badInput("zero point type \(zp.dtype) differs from x's \(x.dtype)")
        }
        guard scale.dtype == .float else { throw QVError.unsupported("DequantizeLinear with a \(scale.dtype) scale") }
        let layout = try QuantParamLayout(x: x.shape, param: scale.shape, axis: axis, blockSize: blockSize)
        let s = scale.floats!
        let z = try zp.map(intValues) ?? [0]
        // Fast path, per tensor or per axis (per-channel weights): the pointwise stage.
        if let st = try stage(inputType: x.dtype, inputShape: x.shape, inputs), let y = runPointwise([st], on: x) {
            return [y]
        }
        let xv = try intValues(x)
        var y = [Float](repeating: 0, count: xv.count)
        for i in 0..<xv.count {
            let p = layout.map(i)
            y[i] = Float(Int32(truncatingIfNeeded: xv[i] - (z.count == 1 ? z[0] : z[p]))) * s[p]
        }
        return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
    }
}

extension DequantizeLinearKernel: PointwiseKernel {
    /// float(x − zp) · scale per tensor or per axis, on int32-stored integers with an integer zero
    /// point of x's type and a float scale (not blocked).
    func stage(inputType: DType, inputShape: [Int], _ inputs: [Tensor?]) throws -> PointwiseStage? {
        guard inputType.isInteger, inputType.storageKind == .i32, blockSize == 0,
            let scale = optional(inputs, 1), scale.dtype == .float
        else { return nil }
        let zp = optional(inputs, 2)
        if let zp, zp.dtype != inputType { return nil }
        guard (try? QuantParamLayout(x: inputShape, param: scale.shape, axis: axis, blockSize: 0)) != nil else {
            return nil
        }
        let s = scale.floats!
        let z = try zp.map(intValues) ?? [0]
        guard z.count == 1 || z.count == s.count else { return nil }
        let zeros = z.map { Int32(truncatingIfNeeded: $0) }
        if s.count == 1 { return .dequantize(scale: s, zero: zeros, axis: nil) }
        let ax = axis < 0 ? axis + inputShape.count : axis
        return .dequantize(
            scale: s, zero: zeros.count == 1 ? Array(repeating: zeros[0], count: s.count) : zeros, axis: ax)
    }
}

extension QuantizeLinearKernel: PointwiseKernel {
    /// ONNX semantics, per tensor, float input, an integer output type of at most 16 bits: the
    /// MLAS order (divide, clamp to [lo − zp, hi − zp] with NaN to the lower bound, round half to
    /// even, add the zero point).
    func stage(inputType: DType, inputShape: [Int], _ inputs: [Tensor?]) throws -> PointwiseStage? {
        guard semantics == .onnx, inputType == .float, blockSize == 0, let scale = optional(inputs, 1),
            scale.dtype.isFloatingPoint, scale.count == 1
        else { return nil }
        let zp = optional(inputs, 2)
        if let zp {
            guard !zp.dtype.isFloatingPoint, zp.shape == scale.shape, outputDtype == nil || outputDtype == zp.dtype
            else { return nil }
        }
        let outType = zp?.dtype ?? outputDtype ?? .uint8
        guard outType.integerRange != nil, outType.storageKind == .i32, outType.bitWidth <= 16,
            (try? QuantParamLayout(x: inputShape, param: scale.shape, axis: axis, blockSize: 0)) != nil
        else { return nil }
        let z = try zp.map(intValues) ?? [0]
        guard z.count == 1 else { return nil }
        return .quantize(scale: try floatValues(scale)[0], zeroPoint: z[0], to: outType)
    }
}

/// The per-tensor Aidge quantizer of ``QuantizeLinearKernel``'s fast path over any element type
/// read as Float: clip x·sf to [lo − zp, hi − zp], + 0.5, floor, + zp, then the wrapping cast
/// (which only changes anything for an unsigned-tagged quantizer clipped to the signed range).
struct AidgeQuantizer {
    let sf: Float, zp: Int32
    let flo: Float, fhi: Float
    /// 2^bits for an unsigned output type (negatives wrap up by it), else 0.
    let unsignedSpan: Int32

    /// `vectorized` is the AVX-512 loop of the same arithmetic (returns 0 where it cannot run).
    @inline(__always)
    func apply<S>(
        _ x: [S],
        vectorized: (UnsafePointer<S>?, Int, Float, Float, Float, Int32, Int32, UnsafeMutablePointer<Int32>?) -> Int32,
        _ toFloat: (S) -> Float
    ) -> [Int32] {
        [Int32].uninitialized(x.count) { buf, n in
            x.withUnsafeBufferPointer { xb in
                if vectorized(xb.baseAddress, xb.count, sf, flo, fhi, zp, unsignedSpan, buf.baseAddress) != 0 { return }
                for i in 0..<xb.count {
                    let t = clampNaNLow(toFloat(xb[i]) * sf, flo, fhi) + 0.5
                    var r = roundHalfEvenToInt32(t)
                    if Float(r) > t { r &-= 1 }  // floor
                    let q = r &+ zp
                    buf[i] = q < 0 ? q &+ unsignedSpan : q
                }
            }
            n = x.count
        }
    }
}
