import Foundation
import QVGraph

/// ONNX Resize (opset 10–19) in mode "nearest", as onnxruntime's CPU kernel computes it: per
/// axis, the output coordinate's original coordinate in float32 by the coordinate transformation
/// mode, the nearest input index by the nearest mode, clamped to the input (tf_crop_and_resize:
/// the extrapolation value outside it). Scales come from `scales`, or from `sizes` as
/// float(out) / float(in). Linear and cubic modes are refused (their float sums are not modelled).
struct ResizeKernel: Kernel {
    let node: Node
    let opset: Int64
    let transform: String, nearest: String
    let extrapolation: Float

    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        opset = ctx.opset
        let mode = node.string("mode", default: "nearest")
        guard mode == "nearest" else { throw QVError.unsupported("Resize mode '\(mode)' (only nearest)") }
        transform = opset >= 11 ? node.string("coordinate_transformation_mode", default: "half_pixel") : "asymmetric"
        nearest = opset >= 11 ? node.string("nearest_mode", default: "round_prefer_floor") : "floor"
        extrapolation = node.float("extrapolation_value", default: 0)
        let known = [
            "half_pixel", "asymmetric", "pytorch_half_pixel", "tf_half_pixel_for_nn", "align_corners",
            "tf_crop_and_resize",
        ]
        guard known.contains(transform) else {
            throw QVError.unsupported("Resize coordinate_transformation_mode '\(transform)'")
        }
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearest) else {
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

    func originalCoordinate(_ r: Float, scale: Float, resized: Float, original: Float, roi: (Float, Float)) -> Float {
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

    func nearestIndex(_ v: Float) -> Int64 {
        switch nearest {
        case "round_prefer_ceil": return Int64(v.rounded(.toNearestOrAwayFromZero))
        case "floor": return Int64(v.rounded(.down))
        case "ceil": return Int64(v.rounded(.up))
        default:
            // std::round except exactly at an integer + 0.5 (the integer by truncation).
            if v == Float(Int64(v)) + 0.5 { return Int64(v.rounded(.down)) }
            return Int64(v.rounded(.toNearestOrAwayFromZero))
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let scalesT = opset >= 11 ? optional(inputs, 2) : optional(inputs, 1)
        let sizesT = opset >= 11 ? optional(inputs, 3) : nil
        let scaleValues = try scalesT.flatMap { $0.count == 0 ? nil : try floatValues($0) }
        let (outShape, scales) = try Self.plan(
            x.shape, scales: scaleValues, sizes: try sizesT.map { try intValues($0) })
        let roi = try optional(inputs, 1).flatMap { opset >= 11 && $0.count > 0 ? try floatValues($0) : nil }
        let rank = x.rank
        // Per axis: the input index each output index reads (-1: outside, the extrapolation value).
        var maps: [[Int]] = []
        for d in 0..<rank {
            let lengthIn = x.shape[d], lengthOut = outShape[d]
            let r = roi.map { ($0[d], $0[d + rank]) } ?? (0, 1)
            maps.append(
                (0..<lengthOut).map { o in
                    let orig = originalCoordinate(
                        Float(o), scale: scales[d], resized: Float(lengthOut), original: Float(lengthIn), roi: r)
                    if transform == "tf_crop_and_resize", orig < 0 || orig > Float(lengthIn - 1) { return -1 }
                    return Int(min(max(nearestIndex(orig), 0), Int64(lengthIn - 1)))
                })
        }
        var inStrides = Array(repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
        let n = outShape.reduce(1, *)
        var src = [Int](repeating: 0, count: n)
        for o in 0..<n {
            var rem = o, off = 0
            for d in stride(from: rank - 1, through: 0, by: -1) {
                let j = maps[d][rem % outShape[d]]
                rem /= outShape[d]
                if j < 0 { off = -1; break }
                off += j * inStrides[d]
            }
            src[o] = off
        }
        // The extrapolation value as a non-float type: how onnxruntime casts it is not modelled.
        if transform == "tf_crop_and_resize", extrapolation != 0, x.dtype != .float, src.contains(where: { $0 < 0 }) {
            throw QVError.unsupported("Resize tf_crop_and_resize extrapolation value \(extrapolation) on \(x.dtype)")
        }
        return [gather(x, src, shape: outShape, fill: extrapolation == 0 ? nil : Tensor([extrapolation], shape: []))]
    }
}
