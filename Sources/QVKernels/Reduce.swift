import Foundation
import QVGraph

/// Float reductions and normalizations in onnxruntime 1.32's order (CPU, one thread; measured
/// bit for bit on 20,720 single-op models over every reduction kind, row lengths 1–70, offsets
/// that expose the summation order): ReduceMean and LayerNormalization.
///
/// A tensor's rows are taken to start where onnxruntime's allocator puts them (the buffer
/// 64-byte aligned), which decides Eigen's peeled head; a graph input fed from a misaligned
/// buffer can sum in another order.
enum OnnxruntimeReduce {
    /// Eigen's vectorized sum over a contiguous row (SSE2 build: 4-float packets) whose first
    /// element sits `offset` floats from an aligned address: the head up to the next 16-byte
    /// boundary is peeled, two packet accumulators step 8 at a time, one more packet if it fits,
    /// the packet reduced as (p₀+p₂)+(p₁+p₃), then the peeled head and the tail added in order.
    /// Under 4 elements after the peel: a plain left-to-right sum.
    static func eigenSum(_ v: UnsafeBufferPointer<Float>, offset: Int) -> Float {
        let n = v.count
        guard n > 0 else { return 0 }
        let a0 = Swift.min((4 - offset % 4) % 4, n)
        let size1 = (n - a0) / 4 * 4, size2 = (n - a0) / 8 * 8
        guard size1 > 0 else {
            var r = v[0]
            for i in 1..<n { r = r + v[i] }
            return r
        }
        var p0 = SIMD4<Float>(v[a0], v[a0 + 1], v[a0 + 2], v[a0 + 3])
        if size1 > 4 {
            var p1 = SIMD4<Float>(v[a0 + 4], v[a0 + 5], v[a0 + 6], v[a0 + 7])
            var i = a0 + 8
            while i < a0 + size2 {
                p0 = p0 + SIMD4(v[i], v[i + 1], v[i + 2], v[i + 3])
                p1 = p1 + SIMD4(v[i + 4], v[i + 5], v[i + 6], v[i + 7])
                i += 8
            }
            p0 = p0 + p1
            if size1 > size2 {
                let e = a0 + size2
                p0 = p0 + SIMD4(v[e], v[e + 1], v[e + 2], v[e + 3])
            }
        }
        var r = (p0[0] + p0[2]) + (p0[1] + p0[3])
        for i in 0..<a0 { r = r + v[i] }
        for i in (a0 + size1)..<n { r = r + v[i] }
        return r
    }
}

/// ONNX ReduceMean (axes as attribute before opset 18, as input from 18) on float32, as
/// onnxruntime's reduction_ops computes it. Adjacent axes that are both reduced or both kept
/// merge (size-1 axes stay), which names the case:
/// - [K, R] (trailing axes): each row by ``OnnxruntimeReduce/eigenSum(_:offset:)``, then / R;
/// - [R, K] with R > 16 and max(R, K) > 256: row 0, then each next row added, then / R;
/// - [D0, R, D2] with D0 ≥ 2: per D0 a one-row SGEMM of ones (MLAS's M = 1 kernel), then / R;
/// - [D0, K, D2] with K ≥ 2: per K, 0 plus each D0 block's Eigen sum, then / (D0·D2);
/// - all axes: one Eigen sum / count;
/// - otherwise: per output, 0 plus each reduced element in row-major order, then / count.
/// The mean is sum / Float(count), a division. Samples stacked on axis 0 run one by one.
struct ReduceMeanKernel: Kernel {
    let keepdims: Bool
    let noopWithEmptyAxes: Bool
    let attributeAxes: [Int]?
    let axesFromInput: Bool

    init(node: Node, ctx: KernelContext) throws {
        keepdims = node.int("keepdims", default: 1) != 0
        noopWithEmptyAxes = node.int("noop_with_empty_axes", default: 0) != 0
        attributeAxes = node.ints("axes")
        axesFromInput = ctx.opset >= 18
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] { try run(inputs, samples: 1) }

    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] {
        let x = try required(inputs, 0, "data")
        guard x.dtype == .float else { throw QVError.unsupported("ReduceMean on \(x.dtype)") }
        var axes = attributeAxes ?? []
        if axesFromInput, let a = optional(inputs, 1) { axes = try intValues(a).map { Int($0) } }
        let r = x.rank
        let reduced = try Set(axes.map { try ShapeInference.axis($0, rank: r, "ReduceMean axis") })
        if axes.isEmpty && noopWithEmptyAxes { return [x] }
        let all = axes.isEmpty
        var outShape: [Int] = []
        for d in 0..<r where all || reduced.contains(d) ? keepdims : true {
            outShape.append(all || reduced.contains(d) ? 1 : x.shape[d])
        }
        let v = x.floats!
        guard samples > 1, r > 0, !all, !reduced.contains(0), x.shape[0] % samples == 0 else {
            return [Tensor(dtype: .float, shape: outShape, storage: .f32(try mean(v, x.shape, reduced, all: all)))]
        }
        var shape = x.shape
        shape[0] /= samples
        let per = v.count / samples
        var y: [Float] = []
        for s in 0..<samples { y += try mean(Array(v[(s * per)..<((s + 1) * per)]), shape, reduced, all: false) }
        return [Tensor(dtype: .float, shape: outShape, storage: .f32(y))]
    }

    private func mean(_ v: [Float], _ shape: [Int], _ reduced: Set<Int>, all: Bool) throws -> [Float] {
        let count = v.count
        guard count > 0 else { throw QVError.unsupported("ReduceMean of an empty tensor") }
        if shape.isEmpty { return [(0 + v[0]) / 1] }
        if all || reduced.count == shape.count {
            return [v.withUnsafeBufferPointer { OnnxruntimeReduce.eigenSum($0, offset: 0) } / Float(count)]
        }
        // Merge adjacent axes of the same kind.
        var fs: [Int] = [], red: [Bool] = []
        for d in 0..<shape.count {
            let isRed = reduced.contains(d)
            if let last = red.last, last == isRed {
                fs[fs.count - 1] *= shape[d]
            } else {
                fs.append(shape[d]); red.append(isRed)
            }
        }
        return v.withUnsafeBufferPointer { p -> [Float] in
            switch (fs.count, red.first!) {
            case (1, false):
                return Array(p)
            case (2, false):  // [K, R]
                let (k, rr) = (fs[0], fs[1])
                return (0..<k).map { d in
                    OnnxruntimeReduce.eigenSum(
                        UnsafeBufferPointer(rebasing: p[(d * rr)..<((d + 1) * rr)]), offset: d * rr)
                        / Float(rr)
                }
            case (2, true) where fs[0] > 16 && Swift.max(fs[0], fs[1]) > 256:  // [R, K]
                let (rr, k) = (fs[0], fs[1])
                var out = Array(p[0..<k])
                for row in 1..<rr { for j in 0..<k { out[j] = out[j] + p[row * k + j] } }
                return out.map { $0 / Float(rr) }
            case (3, false) where fs[0] >= 2:  // [D0, R, D2]
                let (d0, rr, d2) = (fs[0], fs[1], fs[2])
                let ones = [Float](repeating: 1, count: rr)
                var out = [Float](repeating: 0, count: d0 * d2)
                ones.withUnsafeBufferPointer { o in
                    out.withUnsafeMutableBufferPointer { ob in
                        for d in 0..<d0 {
                            OnnxruntimeGemm.sgemm(
                                transA: false, transB: false, m: 1, n: d2, k: rr, alpha: 1, a: o.baseAddress!, lda: rr,
                                b: p.baseAddress! + d * rr * d2, ldb: d2, beta: 0, c: ob.baseAddress! + d * d2, ldc: d2,
                                problemRows: 1)
                        }
                    }
                }
                return out.map { $0 / Float(rr) }
            case (3, true) where fs[1] >= 2:  // [D0, K, D2]
                let (d0, k, d2) = (fs[0], fs[1], fs[2])
                return (0..<k).map { j in
                    var acc: Float = 0
                    for i in 0..<d0 {
                        let start = (i * k + j) * d2
                        acc =
                            acc
                            + OnnxruntimeReduce.eigenSum(
                                UnsafeBufferPointer(rebasing: p[start..<(start + d2)]), offset: start)
                    }
                    return acc / Float(d0 * d2)
                }
            default:
                return Self.sequentialMean(p, fs, red)
            }
        }
    }

    /// onnxruntime's NoTransposeReduce1Loop: per output (kept coordinates in row-major order),
    /// 0 plus every reduced element in row-major order of the reduced coordinates, / count.
    static func sequentialMean(_ p: UnsafeBufferPointer<Float>, _ fs: [Int], _ red: [Bool]) -> [Float] {
        let strides = (0..<fs.count).map { d in fs[(d + 1)...].reduce(1, *) }
        let kept = fs.indices.filter { !red[$0] }, reducedDims = fs.indices.filter { red[$0] }
        let nk = kept.map { fs[$0] }.reduce(1, *), nr = reducedDims.map { fs[$0] }.reduce(1, *)
        func offsets(_ dims: [Int], _ count: Int) -> [Int] {
            (0..<count).map { flat in
                var rem = flat, off = 0
                for d in dims.reversed() { off += (rem % fs[d]) * strides[d]; rem /= fs[d] }
                return off
            }
        }
        let ko = offsets(kept, nk), ro = offsets(reducedDims, nr)
        return ko.map { base in
            var acc: Float = 0
            for o in ro { acc = acc + p[base + o] }
            return acc / Float(nr)
        }
    }
}

/// ONNX LayerNormalization (opset 17) on float32 as onnxruntime 1.32 computes it: rows of
/// n = ∏dims[axis...] elements. Scale and bias of the row's shape (the usual case):
/// - n ≥ 8 on an AVX2+FMA host (MLAS's LayerNorm kernel): the mean summed in double in 4 lanes,
///   the centred squares d² summed in 8 float lanes with fused multiply-adds (of a tail of 4 or
///   more, the first 4 squared and added without fusing), 1/sqrt(s/n + ε), y = fma(d·inv, γ, β);
/// - shorter rows: Welford's running mean and M2 in float, y = ((x − mean)/std)·γ + β.
/// Scale or bias broadcast along outer axes: sums of x and x² in double. `stash_type` changes
/// nothing. Mean and InvStdDev, when asked for, are float.
struct LayerNormKernel: Kernel {
    let axis: Int
    let epsilon: Float

    init(node: Node, ctx: KernelContext) throws {
        axis = node.int("axis", default: -1)
        epsilon = node.float("epsilon", default: 1e-5)
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), scale = try required(inputs, 1, "Scale")
        let bias = optional(inputs, 2)
        guard x.dtype == .float, scale.dtype == .float, bias.map({ $0.dtype == .float }) ?? true else {
            throw QVError.unsupported("LayerNormalization on \(x.dtype)")
        }
        let a = try ShapeInference.axis(axis, rank: x.rank, "LayerNormalization axis")
        let n = x.shape[a...].reduce(1, *), rows = x.shape[..<a].reduce(1, *)
        let xv = x.floats!, sv = try floatValues(scale), bv = try bias.map(floatValues)
        var y = [Float](repeating: 0, count: xv.count)
        var means = [Float](repeating: 0, count: rows), invs = [Float](repeating: 0, count: rows)
        if sv.count == n && (bv == nil || bv!.count == n) {
            for r in 0..<rows {
                let (m, inv) = xv.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Self.row(
                            UnsafeBufferPointer(rebasing: xp[(r * n)..<((r + 1) * n)]),
                            UnsafeMutableBufferPointer(rebasing: yp[(r * n)..<((r + 1) * n)]), sv, bv, epsilon)
                    }
                }
                means[r] = m
                invs[r] = inv
            }
        } else {
            // Scale/bias broadcast over outer axes: onnxruntime's generic path, in double.
            let s = try broadcastTo(scale, x.shape), b = try bias.map { try broadcastTo($0, x.shape) }
            for r in 0..<rows {
                var sum = 0.0, sq = 0.0
                for i in (r * n)..<((r + 1) * n) { sum += Double(xv[i]); sq += Double(xv[i]) * Double(xv[i]) }
                let mean = sum / Double(n)
                let denom = (sq / Double(n) - mean * mean + Double(epsilon)).squareRoot()
                for i in (r * n)..<((r + 1) * n) {
                    y[i] = Float((Double(xv[i]) - mean) / denom * Double(s[i]) + (b.map { Double($0[i]) } ?? 0))
                }
                means[r] = Float(mean)
                invs[r] = Float(1 / denom)
            }
        }
        let statShape = Array(x.shape[..<a]) + Array(repeating: 1, count: x.rank - a)
        return [
            Tensor(dtype: .float, shape: x.shape, storage: .f32(y)),
            Tensor(dtype: .float, shape: statShape, storage: .f32(means)),
            Tensor(dtype: .float, shape: statShape, storage: .f32(invs)),
        ]
    }

    private func broadcastTo(_ t: Tensor, _ shape: [Int]) throws -> [Float] {
        let v = try floatValues(t)
        return broadcastIndices(from: t.shape, to: try ShapeInference.broadcast([t.shape, shape])).map { v[$0] }
    }

    /// One row; returns (mean, 1/std).
    static func row(
        _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, _ s: [Float], _ b: [Float]?,
        _ eps: Float
    ) -> (Float, Float) {
        let n = x.count
        guard n >= 8 else {
            var mean: Float = 0, m2: Float = 0
            for h in 0..<n {
                let d = x[h] - mean
                mean = mean + d / Float(h + 1)
                m2 = m2 + d * (x[h] - mean)
            }
            let std = (m2 / Float(n) + eps).squareRoot()
            for h in 0..<n {
                let v = ((x[h] - mean) / std) * s[h]
                y[h] = b.map { v + $0[h] } ?? v
            }
            return (mean, 1 / std)
        }
        var lanes = SIMD4<Double>(repeating: 0)
        let n4 = n / 4 * 4
        for i in stride(from: 0, to: n4, by: 4) {
            lanes += SIMD4(Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3]))
        }
        var ds = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
        for i in n4..<n { ds += Double(x[i]) }
        let mean = Float(ds / Double(n))
        let n8 = n / 8 * 8
        var acc = SIMD8<Float>(repeating: 0)
        for i in stride(from: 0, to: n8, by: 8) {
            for l in 0..<8 {
                let d = x[i + l] - mean
                acc[l] = acc[l].addingProduct(d, d)
            }
        }
        var sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
        var j = n8
        if n - n8 >= 4 {
            for k in 0..<4 {
                let d = x[n8 + k] - mean
                sum = sum + d * d
            }
            j = n8 + 4
        }
        for k in j..<n {
            let d = x[k] - mean
            sum = sum.addingProduct(d, d)
        }
        let inv = 1 / (sum / Float(n) + eps).squareRoot()
        for h in 0..<n {
            let t = (x[h] - mean) * inv
            y[h] = b.map { $0[h].addingProduct(t, s[h]) } ?? t * s[h]
        }
        return (mean, inv)
    }
}
