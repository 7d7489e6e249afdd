import Foundation
import QVGraph

/// ONNX Resize (opset 10–19) in mode "nearest", as onnxruntime's CPU kernel computes it: per
/// axis, the output coordinate's original coordinate in float32 by the coordinate transformation
/// mode, the nearest input index by the nearest mode, clamped to the input (tf_crop_and_resize:
/// the extrapolation value outside it). Scales come from `scales`, or from `sizes` as
/// float(out) / float(in).
///
/// Mode "linear" on 2-D inputs and 4-D ones scaled on H and W (NCHW) or on H and W of NHWC,
/// as onnxruntime 1.32's upsample.h computes it (measured bit for bit on 4,246 models): per axis
/// the clamped original coordinate v, indices i₁ = min(⌊v⌋, L−1), i₂ = min(i₁+1, L−1) and weights
/// d₁ = |v − i₁|, d₂ = |v − i₂| (both ½ when i₁ = i₂); each output
/// (((d₂ˣd₂ʸ)·X₁₁ + (d₁ˣd₂ʸ)·X₂₁) + (d₂ˣd₁ʸ)·X₁₂) + (d₁ˣd₁ʸ)·X₂₂ in float32, no fused steps, cast
/// to an 8-bit type by truncation. 8-bit NHWC inputs take the fixed-point path instead: weights
/// of 2¹⁰ per axis, the int32 sum divided by 2²⁰ truncating. An output shape equal to the input's
/// is a copy. Cubic, antialiased and 3-D/5-D linear resizes are refused.
struct ResizeKernel: Kernel {
    let node: Node
    let opset: Int64
    let transform: String, nearest: String
    let extrapolation: Float
    let linear: Bool
    /// onnxruntime's shortcuts: it copies the input when the output shape equals it, whatever the
    /// scales, mode and ROI (a scale of 1.2 on an extent of 3 resizes nothing), and maps an axis
    /// scaled by exactly 1 to itself (no coordinate transformation, no ROI).
    let onnxruntimeShortcuts: Bool

    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        onnxruntimeShortcuts = ctx.semantics == .onnx
        opset = ctx.opset
        let mode = node.string("mode", default: "nearest")
        guard mode == "nearest" || mode == "linear" else {
            throw QVError.unsupported("Resize mode '\(mode)' (nearest and linear only)")
        }
        linear = mode == "linear"
        guard node.int("antialias", default: 0) == 0 else { throw QVError.unsupported("Resize with antialias") }
        transform = opset >= 11 ? node.string("coordinate_transformation_mode", default: "half_pixel") : "asymmetric"
        // Opset 10 has no nearest_mode: onnxruntime keeps Upsample's rule ("simple": ceil on an
        // axis scaled below 1, truncation otherwise).
        nearest = opset >= 11 ? node.string("nearest_mode", default: "round_prefer_floor") : "simple"
        extrapolation = node.float("extrapolation_value", default: 0)
        let known = [
            "half_pixel", "asymmetric", "pytorch_half_pixel", "tf_half_pixel_for_nn", "align_corners",
            "tf_crop_and_resize",
        ]
        guard known.contains(transform) else {
            throw QVError.unsupported("Resize coordinate_transformation_mode '\(transform)'")
        }
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"].contains(nearest) else {
            throw QVError.badInput("Resize nearest_mode '\(nearest)'")
        }
        let policy = node.string("keep_aspect_ratio_policy", default: "stretch")
        guard policy == "stretch" else { throw QVError.unsupported("Resize keep_aspect_ratio_policy '\(policy)'") }
        guard node.ints("axes") == nil else { throw QVError.unsupported("Resize with axes") }
    }

    /// Output shape and float32 scales from the scales or sizes input.
    static func plan(_ x: [Int], scales: [Float]?, sizes: [Int64]?) throws -> (shape: [Int], scales: [Float]) {
        if let sizes, !sizes.isEmpty {
            guard sizes.count == x.count, sizes.allSatisfy({ $0 >= 0 }) else {
                throw QVError.badInput("Resize sizes \(sizes) for a rank-\(x.count) input")
            }
            return (sizes.map { Int($0) }, zip(sizes, x).map { Float($0.0) / Float($0.1) })
        }
        guard let scales, scales.count == x.count, scales.allSatisfy({ $0 > 0 }) else {
            throw QVError.badInput("Resize needs \(x.count) positive scales or sizes")
        }
        return (zip(x, scales).map { resizedExtent($0.0, scale: $0.1) }, scales)
    }

    func originalCoordinate<T: BinaryFloatingPoint>(_ r: T, scale: T, resized: T, original: T, roi: (T, T)) -> T {
        switch transform {
        case "asymmetric": return r / scale
        case "pytorch_half_pixel": return resized > 1 ? (r + 0.5) / scale - 0.5 : 0
        case "tf_half_pixel_for_nn": return (r + 0.5) / scale
        case "align_corners": return resized == 1 ? 0 : r * (original - 1) / (resized - 1)
        case "tf_crop_and_resize":
            return resized > 1
                ? roi.0 * (original - 1) + (r * (roi.1 - roi.0) * (original - 1)) / (resized - 1)
                : 0.5 * (roi.0 + roi.1) * (original - 1)
        default: return ((r + 0.5) / scale) - 0.5
        }
    }

    /// round_prefer_ceil on a coordinate that float32 division puts within two ulps below a half
    /// (rounded: it differs from the exact one): onnxruntime was measured to pick the upper
    /// neighbour there (6.4999995 → 7, 7.4999995 → 8), by arithmetic not modelled here, so the
    /// node is refused rather than run on a guess. Exact coordinates and the other modes are
    /// held to onnxruntime by the `resizenearest` sweep.
    func checkUnambiguous(_ v: Float, d: Int, o: Int, exact: Double) throws {
        guard nearest == "round_prefer_ceil", Double(v) != exact else { return }
        let half = v.rounded(.down) + 0.5
        guard v < half, v.nextUp.nextUp >= half else { return }
        throw QVError.unsupported(
            "Resize nearest (\(transform), round_prefer_ceil): output index \(o) of axis \(d) maps to \(v), an "
                + "ulp below a half; onnxruntime's pick there is not modelled")
    }

    func nearestIndex(_ v: Float, downsampling: Bool) -> Int64 {
        switch nearest {
        case "simple": return downsampling ? Int64(v.rounded(.up)) : Int64(v.rounded(.towardZero))
        case "round_prefer_ceil": return Int64(v.rounded(.toNearestOrAwayFromZero))
        case "floor": return Int64(v.rounded(.down))
        case "ceil": return Int64(v.rounded(.up))
        default:
            // std::round except exactly at an integer + 0.5 (the integer by truncation).
            if v == Float(Int64(v)) + 0.5 { return Int64(v.rounded(.down)) }
            return Int64(v.rounded(.toNearestOrAwayFromZero))
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] { try run(inputs, samples: 1) }

    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let scalesT = opset >= 11 ? optional(inputs, 2) : optional(inputs, 1)
        let sizesT = opset >= 11 ? optional(inputs, 3) : nil
        let scaleValues = try scalesT.flatMap { $0.count == 0 ? nil : try floatValues($0) }
        var sizes = try sizesT.map { try intValues($0) }
        // Stacked samples: sizes[0] keeps one sample's extent (the spec batches only then).
        if samples > 1, var s = sizes, !s.isEmpty, x.rank > 0 {
            s[0] = Int64(x.shape[0])
            sizes = s
        }
        let (outShape, scales) = try Self.plan(x.shape, scales: scaleValues, sizes: sizes)
        if onnxruntimeShortcuts && outShape == x.shape { return [x] }
        let roi = try optional(inputs, 1).flatMap { opset >= 11 && $0.count > 0 ? try floatValues($0) : nil }
        let rank = x.rank
        if linear { return [try bilinear(x, outShape, scales, roi)] }
        // Per axis: the input index each output index reads (-1: outside, the extrapolation value).
        var maps: [[Int]] = []
        for d in 0..<rank {
            let lengthIn = x.shape[d], lengthOut = outShape[d]
            let r = roi.map { ($0[d], $0[d + rank]) } ?? (0, 1)
            if onnxruntimeShortcuts && scales[d] == 1 {
                maps.append(Array(0..<lengthOut))
                continue
            }
            maps.append(
                try (0..<lengthOut).map { o in
                    let orig = originalCoordinate(
                        Float(o), scale: scales[d], resized: Float(lengthOut), original: Float(lengthIn), roi: r)
                    if onnxruntimeShortcuts {
                        try checkUnambiguous(
                            orig, d: d, o: o,
                            exact: originalCoordinate(
                                Double(o), scale: Double(scales[d]), resized: Double(lengthOut),
                                original: Double(lengthIn), roi: (Double(r.0), Double(r.1))))
                    }
                    if transform == "tf_crop_and_resize", orig < 0 || orig > Float(lengthIn - 1) { return -1 }
                    return Int(min(max(nearestIndex(orig, downsampling: scales[d] < 1), 0), Int64(lengthIn - 1)))
                })
        }
        var inStrides = Array(repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
        let n = outShape.reduce(1, *)
        var src = [Int](repeating: -1, count: n)
        if rank > 0, n > 0 {
            // Each axis's input offset per output index (-1: outside); rows of the last axis at a
            // time, the outer indices walked as an odometer.
            let contrib = (0..<rank).map { d in maps[d].map { $0 < 0 ? -1 : $0 * inStrides[d] } }
            let last = rank - 1, inner = outShape[last]
            var idx = [Int](repeating: 0, count: last)
            var o = 0
            while o < n {
                var base = 0, outside = false
                for d in 0..<last {
                    let c = contrib[d][idx[d]]
                    outside = outside || c < 0
                    base += c
                }
                if !outside {
                    for j in 0..<inner where contrib[last][j] >= 0 { src[o + j] = base + contrib[last][j] }
                }
                o += inner
                var d = last - 1
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < outShape[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
        // The extrapolation value as a non-float type: how onnxruntime casts it is not modelled.
        if transform == "tf_crop_and_resize", extrapolation != 0, x.dtype != .float, src.contains(where: { $0 < 0 }) {
            throw QVError.unsupported("Resize tf_crop_and_resize extrapolation value \(extrapolation) on \(x.dtype)")
        }
        return [gather(x, src, shape: outShape, fill: extrapolation == 0 ? nil : Tensor([extrapolation], shape: []))]
    }

    /// One axis of a bilinear resize: the unclamped original coordinate, the two input indices and
    /// their weights, as float32 and as 2¹⁰ fixed point.
    struct Axis {
        var orig: [Float] = [], i1: [Int] = [], i2: [Int] = [], d1: [Float] = [], d2: [Float] = []
        var q1: [Int32] = [], q2: [Int32] = []
    }

    func axis(_ lengthIn: Int, _ lengthOut: Int, _ scale: Float, _ roi: (Float, Float)) -> Axis {
        var a = Axis()
        for o in 0..<lengthOut {
            var v: Float
            if scale == 1 {
                v = Float(o)
            } else if transform == "tf_crop_and_resize" && lengthOut <= 1 {
                v = Float(0.5 * Double(roi.0 + roi.1) * Double(Float(lengthIn - 1)))
            } else {
                v = originalCoordinate(
                    Float(o), scale: scale, resized: Float(lengthOut), original: Float(lengthIn), roi: roi)
            }
            a.orig.append(v)
            v = Swift.max(0, Swift.min(v, Float(lengthIn - 1)))
            let lo = Swift.min(Int(v), lengthIn - 1), hi = Swift.min(lo + 1, lengthIn - 1)
            let vs = Int32(v * 1024)
            a.i1.append(lo)
            a.i2.append(hi)
            a.d1.append(lo == hi ? 0.5 : Swift.abs(v - Float(lo)))
            a.d2.append(lo == hi ? 0.5 : Swift.abs(v - Float(hi)))
            a.q1.append(lo == hi ? 512 : Swift.abs(vs - Int32(lo) * 1024))
            a.q2.append(lo == hi ? 512 : Swift.abs(vs - Int32(hi) * 1024))
        }
        return a
    }

    func bilinear(_ x: Tensor, _ outShape: [Int], _ scales: [Float], _ roi: [Float]?) throws -> Tensor {
        if outShape == x.shape { return x }
        let rank = x.rank
        guard x.dtype == .float || x.dtype == .uint8 || x.dtype == .int8 else {
            throw QVError.unsupported("Resize linear on \(x.dtype)")
        }
        // (images, channels, H axis, W axis, channels last)
        let layout: (n: Int, c: Int, h: Int, w: Int, nhwc: Bool)
        if rank == 2 {
            layout = (1, 1, 0, 1, false)
        } else if rank == 4 && scales[0] == 1 && scales[1] == 1 {
            layout = (x.shape[0], x.shape[1], 2, 3, false)
        } else if rank == 4 && scales[0] == 1 && scales[3] == 1 {
            layout = (x.shape[0], x.shape[3], 1, 2, true)
        } else {
            throw QVError.unsupported(
                "Resize linear on \(x.shape) with scales \(scales): only 2-D, or 4-D scaled on H and W, is modelled")
        }
        let hIn = x.shape[layout.h], wIn = x.shape[layout.w], hOut = outShape[layout.h], wOut = outShape[layout.w]
        func roiOf(_ d: Int) -> (Float, Float) { roi.map { ($0[d], $0[d + rank]) } ?? (0, 1) }
        let ay = axis(hIn, hOut, scales[layout.h], roiOf(layout.h))
        let ax = axis(wIn, wOut, scales[layout.w], roiOf(layout.w))
        let integer = layout.nhwc && x.dtype != .float
        let xi: [Int64] = x.dtype == .float ? [] : try intValues(x)
        let xv: [Float] = x.dtype == .float ? x.floats! : integer ? [] : xi.map { Float($0) }
        var yf = [Float](repeating: 0, count: outShape.reduce(1, *))
        var yi = [Int64](repeating: 0, count: integer || x.dtype != .float ? yf.count : 0)
        func inIndex(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Int {
            layout.nhwc ? ((n * hIn + h) * wIn + w) * layout.c + c : ((n * layout.c + c) * hIn + h) * wIn + w
        }
        func outIndex(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Int {
            layout.nhwc ? ((n * hOut + h) * wOut + w) * layout.c + c : ((n * layout.c + c) * hOut + h) * wOut + w
        }
        let crop = transform == "tf_crop_and_resize"
        for n in 0..<layout.n {
            for c in 0..<layout.c {
                for oy in 0..<hOut {
                    for ox in 0..<wOut {
                        let o = outIndex(n, c, oy, ox)
                        let outside =
                            crop
                            && (ay.orig[oy] < 0 || ay.orig[oy] > Float(hIn - 1) || ax.orig[ox] < 0
                                || ax.orig[ox] > Float(wIn - 1))
                        let (y1, y2, x1, x2) = (ay.i1[oy], ay.i2[oy], ax.i1[ox], ax.i2[ox])
                        if integer {
                            if outside { yi[o] = Int64(extrapolation.rounded(.towardZero)); continue }
                            let w11 = ax.q2[ox] &* ay.q2[oy], w21 = ax.q1[ox] &* ay.q2[oy]
                            let w12 = ax.q2[ox] &* ay.q1[oy], w22 = ax.q1[ox] &* ay.q1[oy]
                            let acc =
                                w11 &* Int32(xi[inIndex(n, c, y1, x1)]) &+ w21 &* Int32(xi[inIndex(n, c, y1, x2)])
                                &+ w12 &* Int32(xi[inIndex(n, c, y2, x1)]) &+ w22 &* Int32(xi[inIndex(n, c, y2, x2)])
                            yi[o] = Int64(x.dtype == .uint8 ? acc >> 20 : acc / (1 << 20))
                            continue
                        }
                        let v: Float
                        if outside {
                            v = extrapolation
                        } else {
                            let c11 = ax.d2[ox] * ay.d2[oy], c21 = ax.d1[ox] * ay.d2[oy]
                            let c12 = ax.d2[ox] * ay.d1[oy], c22 = ax.d1[ox] * ay.d1[oy]
                            v =
                                ((c11 * xv[inIndex(n, c, y1, x1)] + c21 * xv[inIndex(n, c, y1, x2)])
                                    + c12 * xv[inIndex(n, c, y2, x1)]) + c22 * xv[inIndex(n, c, y2, x2)]
                        }
                        if x.dtype == .float { yf[o] = v } else { yi[o] = x86TruncatingCast(Double(v), bits: 32) }
                    }
                }
            }
        }
        if x.dtype == .float { return Tensor(dtype: .float, shape: outShape, storage: .f32(yf)) }
        return wrapping(yi, x.dtype, shape: outShape)
    }
}
