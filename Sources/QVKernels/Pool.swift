import QVGraph
import _QVChainGemm

/// Window geometry of 1-D/2-D pooling (NCHW; 1-D as H = 1).
struct PoolGeometry {
    var n, c, h, w, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight, oh, ow: Int
    var outShape: [Int]

    init(node: Node, x: [Int]) throws {
        guard x.count == 3 || x.count == 4 else {
            throw QVError.unsupported("\(node.opType) on rank-\(x.count) input: only 1-D and 2-D pooling")
        }
        guard let k = node.ints("kernel_shape"), k.count == x.count - 2 else {
            throw QVError.badInput("\(node.opType) needs kernel_shape of \(x.count - 2) values")
        }
        let (out, pads) = try ShapeInference.windowOutput(node, input: Array(x[2...]), kernel: k)
        let s = node.ints("strides") ?? Array(repeating: 1, count: k.count)
        let d = node.ints("dilations") ?? Array(repeating: 1, count: k.count)
        n = x[0]; c = x[1]
        if x.count == 3 {
            h = 1; w = x[2]; kh = 1; kw = k[0]; sh = 1; sw = s[0]; dh = 1; dw = d[0]; padTop = 0; padLeft = pads[0];
            padBottom = 0; padRight = pads[1]; oh = 1; ow = out[0]
        } else {
            h = x[2]; w = x[3]; kh = k[0]; kw = k[1]; sh = s[0]; sw = s[1]; dh = d[0]; dw = d[1]
            padTop = pads[0]; padLeft = pads[1]; padBottom = pads[2]; padRight = pads[3]; oh = out[0]; ow = out[1]
        }
        outShape = [x[0], x[1]] + out
    }
}

extension PoolGeometry {
    /// Every output window, plane by plane, row-major: `body(out, window, taps)` gets the flat output
    /// index, a function that visits the flat input index of each window element inside the input
    /// (row-major), and the taps inside the padded input (the window's end clipped to input + end pad).
    func forEachWindow(_ body: (Int, ((Int) -> Void) -> Void, Int) -> Void) {
        for plane in 0..<(n * c) {
            let base = plane * h * w
            for oy in 0..<oh {
                let y0 = oy * sh - padTop, y1 = Swift.min(y0 + kh * dh, h + padBottom)
                for ox in 0..<ow {
                    let x0 = ox * sw - padLeft, x1 = Swift.min(x0 + kw * dw, w + padRight)
                    let taps = (1 + (y1 - y0 - 1) / dh) * (1 + (x1 - x0 - 1) / dw)
                    body(
                        (plane * oh + oy) * ow + ox,
                        { visit in
                            for iy in stride(from: y0, to: y1, by: dh) where iy >= 0 && iy < h {
                                for ix in stride(from: x0, to: x1, by: dw) where ix >= 0 && ix < w {
                                    visit(base + iy * w + ix)
                                }
                            }
                        }, taps)
                }
            }
        }
    }

    /// The common 2×2 window with stride 2, no padding or dilation, fully inside the input.
    var isUnpadded2x2: Bool {
        kh == 2 && kw == 2 && sh == 2 && sw == 2 && padTop == 0 && padLeft == 0 && dh == 1 && dw == 1 && oh * 2 <= h
            && ow * 2 <= w
    }
}

/// MaxPool over unpadded 2×2/2 windows by the C `loop` (qv_maxpool2x2_f32/_i32); ties keep the
/// first maximum in row-major order (as ONNX); `indices`, when not nil, gets flat input indices.
func maxPool2x2<T>(
    _ v: [T], _ g: PoolGeometry, _ indices: UnsafeMutablePointer<Int64>?,
    _ loop: (UnsafePointer<T>?, Int, Int, Int, Int, Int, UnsafeMutablePointer<T>?, UnsafeMutablePointer<Int64>?) -> Void
) -> [T] {
    let count = g.n * g.c * g.oh * g.ow
    return [T].uninitialized(count) { out, initialized in
        v.withUnsafeBufferPointer { loop($0.baseAddress, g.n * g.c, g.h, g.w, g.oh, g.ow, out.baseAddress, indices) }
        initialized = count
    }
}

/// ONNX MaxPool (opset 8–12+) with the optional Indices output (flat index into the input,
/// row-major over N, C, H, W; storage_order 0). Works on float and on integer tensors (int8/uint8).
struct MaxPoolKernel: Kernel {
    let node: Node
    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        guard node.int("storage_order", default: 0) == 0 else { throw QVError.unsupported("MaxPool storage_order 1") }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let g = try PoolGeometry(node: node, x: x.shape)
        // Indices only when the node has that output; the C loops write every index they are given.
        let wantIndices = node.outputs.count > 1 && !node.outputs[1].isEmpty
        let count = g.n * g.c * g.oh * g.ow
        // No indices: no array at all.
        var idx: [Int64] = wantIndices ? [Int64].uninitialized(count) { _, n in n = count } : []
        // The unpadded 2x2 case (most CNNs) has its own loop; any other window the general one.
        // Window order row-major; a later element wins only when strictly greater (NaN never wins).
        func pool<T>(
            _ v: [T], lowest: T,
            _ loop2x2: (
                UnsafePointer<T>?, Int, Int, Int, Int, Int, UnsafeMutablePointer<T>?, UnsafeMutablePointer<Int64>?
            ) -> Void,
            _ loop: (
                UnsafePointer<T>?, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, T,
                UnsafeMutablePointer<T>?, UnsafeMutablePointer<Int64>?
            ) -> Void
        ) -> [T] {
            // ip nil: the C loops write no indices.
            func body(_ ip: UnsafeMutablePointer<Int64>?) -> [T] {
                if g.isUnpadded2x2 { return maxPool2x2(v, g, ip, loop2x2) }
                return [T].uninitialized(count) { yb, n in
                    v.withUnsafeBufferPointer {
                        loop(
                            $0.baseAddress, g.n * g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw,
                            g.padTop, g.padLeft, lowest, yb.baseAddress, ip)
                    }
                    n = count
                }
            }
            return wantIndices ? idx.withUnsafeMutableBufferPointer { body($0.baseAddress) } : body(nil)
        }
        let y: Tensor
        switch x.storage {
        case .f32(let v):
            y = Tensor(
                dtype: x.dtype, shape: g.outShape,
                storage: .f32(pool(v, lowest: -.infinity, qv_maxpool2x2_f32, qv_maxpool_f32)))
        case .i32(let v) where x.dtype.isInteger:
            y = Tensor(
                dtype: x.dtype, shape: g.outShape,
                storage: .i32(pool(v, lowest: .min, qv_maxpool2x2_i32, qv_maxpool_i32)))
        default: throw QVError.unsupported("MaxPool on \(x.dtype)")
        }
        return wantIndices ? [y, Tensor(int64s: idx, shape: g.outShape)] : [y]
    }
}

/// ONNX AveragePool (count_include_pad, ceil_mode, dilations) on float tensors, summed and divided
/// as onnxruntime's CPU kernel for the model's opset does it:
/// - opset ≥ 19 (`AveragePool{1,2}DTask`): each window row-major from 0, the window's end clipped
///   to the input plus its end pad; count_include_pad divides by the taps in that clipped window,
///   else by the taps inside the input; a window with no tap inside gives 0.
/// - opset < 19 (`MlasPool`, no dilations): see ``mlasAveragePool(_:_:includePad:)``, except with
///   ceil_mode and count_include_pad together, which take the opset-19 loop at every opset
///   (measured on onnxruntime 1.32 with `scripts/sweep_ops.py`: MLAS would divide the windows
///   ceil_mode adds by the whole kernel).
///
/// Under Aidge semantics an integer tensor is averaged as Aidge's CPU backend does it
/// (AvgPoolingImpl2D, behind its Pad for the ONNX pads): the window's integers summed in double,
/// divided by the count (every tap inside the padded input with count_include_pad, else the real
/// elements), std::round (half away from zero), cast back to the input's type.
struct AveragePoolKernel: Kernel {
    let node: Node
    let includePad: Bool
    let mlas: Bool
    let aidge: Bool
    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        includePad = node.int("count_include_pad", default: 0) != 0
        mlas = ctx.opset < 19 && !(includePad && node.int("ceil_mode", default: 0) != 0)
        aidge = ctx.semantics == .aidge
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        if aidge, x.dtype.isInteger {
            let g = try PoolGeometry(node: node, x: x.shape), v = try intValues(x)
            var y = [Int64](repeating: 0, count: g.n * g.c * g.oh * g.ow)
            g.forEachWindow { out, window, taps in
                var sum = 0.0, inside = 0
                window { i in
                    sum += Double(v[i])
                    inside += 1
                }
                let count = includePad ? taps : inside
                y[out] = count > 0 ? Int64((sum / Double(count)).rounded(.toNearestOrAwayFromZero)) : 0
            }
            return [wrapping(y, x.dtype, shape: g.outShape)]
        }
        guard x.dtype == .float else { throw QVError.unsupported("AveragePool on \(x.dtype)") }
        let g = try PoolGeometry(node: node, x: x.shape)
        let y = mlas ? mlasAveragePool(x.floats!, g, includePad: includePad) : Self.v19(x.floats!, g, includePad)
        return [Tensor(dtype: .float, shape: g.outShape, storage: .f32(y))]
    }

    static func v19(_ v: [Float], _ g: PoolGeometry, _ includePad: Bool) -> [Float] {
        var y = [Float](repeating: 0, count: g.n * g.c * g.oh * g.ow)
        g.forEachWindow { out, window, taps in
            var s: Float = 0, inside = 0
            window { i in
                s += v[i]
                inside += 1
            }
            if inside > 0 { y[out] = s / Float(includePad ? taps : inside) }
        }
        return y
    }
}

/// onnxruntime's AveragePool before opset 19: `MlasPool`, which picks one of three kernels.
/// - The window is the whole input (stride 1, no pads): MLAS's global mean (``GlobalPoolKernel/mlasMean(_:)``).
/// - 2-D with a width stride of 1 or 2, kernels of at most 32 and a row that fits MLAS's reduction
///   buffer (2,045 − pads): per input column, the clipped window rows summed top to bottom; per
///   output, kw of those column sums left to right from buffer cell ox·sw (cells in the pads are
///   0); divided by kh·kw (count_include_pad) or by max(1, (min(b + kw, pl + w) − max(b, pl))·rows)
///   in float, b = ox·sw.
/// - Otherwise the generic kernel: the window clipped to the input, row-major; divided by kh·kw
///   (count_include_pad) or by the clipped count (unsigned, as MLAS's size_t).
func mlasAveragePool(_ v: [Float], _ g: PoolGeometry, includePad: Bool) -> [Float] {
    let planeIn = g.h * g.w, planeOut = g.oh * g.ow
    var y = [Float](repeating: 0, count: g.n * g.c * planeOut)
    let pads = [g.padTop, g.padLeft, g.padBottom, g.padRight]
    if g.kh == g.h, g.kw == g.w, g.sh == 1, g.sw == 1, pads.allSatisfy({ $0 == 0 }) {
        for p in 0..<(g.n * g.c) { y[p] = GlobalPoolKernel.mlasMean(v[(p * planeIn)..<((p + 1) * planeIn)]) }
        return y
    }
    let twoD = g.outShape.count == 4
    var room = 2048 - 3
    room = room >= g.padLeft ? room - g.padLeft : 0
    room = room >= g.padRight ? room - g.padRight : 0
    let vector = twoD && g.sw <= 2 && g.kh <= 32 && g.kw <= 32 && room >= g.w
    v.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            if vector {
                // Buffer: pl zeros, the w column sums, then zeros to the last cell any window reads.
                var buffer = [Float](repeating: 0, count: g.padLeft + g.w + g.padRight + g.kw + 2 * g.sw + 4)
                let kernelSize = Float(g.kh * g.kw)
                for p in 0..<(g.n * g.c) {
                    let x = xb.baseAddress! + p * planeIn
                    for oy in 0..<g.oh {
                        var r0 = oy * g.sh - g.padTop
                        var r1 = r0 + g.kh
                        if r0 < 0 || r0 >= g.h { r0 = 0 }
                        if r1 > g.h { r1 = g.h }
                        for col in 0..<g.w {
                            var s = x[r0 * g.w + col]
                            var r = r0 + 1
                            while r < r1 { s += x[r * g.w + col]; r += 1 }
                            buffer[g.padLeft + col] = s
                        }
                        let rows = Float(r1 - r0)
                        for ox in 0..<g.ow {
                            let b = ox * g.sw
                            var s = buffer[b]
                            for j in 1..<max(1, g.kw) { s += buffer[b + j] }
                            let divisor: Float
                            if includePad {
                                divisor = kernelSize
                            } else {
                                let lo = max(Float(b), Float(g.padLeft)),
                                    hi = min(Float(b + g.kw), Float(g.padLeft + g.w))
                                divisor = max((hi - lo) * rows, 1)
                            }
                            yb[(p * g.oh + oy) * g.ow + ox] = s / divisor
                        }
                    }
                }
                return
            }
            for p in 0..<(g.n * g.c) {
                let x = xb.baseAddress! + p * planeIn
                for oy in 0..<g.oh {
                    let r0 = max(oy * g.sh - g.padTop, 0), r1 = min(oy * g.sh - g.padTop + g.kh, g.h)
                    for ox in 0..<g.ow {
                        let c0 = max(ox * g.sw - g.padLeft, 0), c1 = min(ox * g.sw - g.padLeft + g.kw, g.w)
                        var s: Float = 0
                        if r0 < r1 { for r in r0..<r1 where c0 < c1 { for c in c0..<c1 { s += x[r * g.w + c] } } }
                        // (r1 − r0)·(c1 − c0) as MLAS's size_t: an empty window wraps to a huge count.
                        let count = UInt64(bitPattern: Int64(r1 - r0)) &* UInt64(bitPattern: Int64(c1 - c0))
                        yb[(p * g.oh + oy) * g.ow + ox] = s / (includePad ? Float(g.kh * g.kw) : Float(count))
                    }
                }
            }
        }
    }
    return y
}

/// ONNX GlobalAveragePool / GlobalMaxPool on float tensors (any rank ≥ 3). Under Aidge semantics
/// an integer tensor is pooled as Aidge's CPU backend does it (GlobalAveragePoolingImpl): per
/// channel, the running mean m ← fma(x_i − m, 1/(i+1), m) in double, element by element, then
/// std::round (half away from zero) and a cast back to the input's type.
struct GlobalPoolKernel: Kernel {
    /// MLAS's global average (MlasPoolGlobalKernel): four lane sums, lane l adding elements
    /// 4i + l in order, reduced as (l0 + l2) + (l1 + l3); the elements past the last multiple of
    /// 4 added one by one; then divided by the element count.
    static func mlasMean(_ s: ArraySlice<Float>) -> Float {
        var lanes: (Float, Float, Float, Float) = (0, 0, 0, 0)
        var i = s.startIndex
        while s.endIndex - i >= 4 {
            lanes.0 += s[i]; lanes.1 += s[i + 1]; lanes.2 += s[i + 2]; lanes.3 += s[i + 3]
            i += 4
        }
        var sum = (lanes.0 + lanes.2) + (lanes.1 + lanes.3)
        while i < s.endIndex { sum += s[i]; i += 1 }
        return sum / Float(s.count)
    }

    let isMax: Bool
    let aidge: Bool
    init(node: Node, ctx: KernelContext) throws {
        isMax = node.opType == "GlobalMaxPool"
        aidge = ctx.semantics == .aidge
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        if aidge, x.dtype.isInteger, x.rank >= 3 {
            let inner = x.shape[2...].reduce(1, *), v = try intValues(x)
            let y = (0..<(x.shape[0] * x.shape[1])).map { p -> Int64 in
                let s = v[(p * inner)..<((p + 1) * inner)]
                if isMax { return s.max() ?? 0 }
                var mean = 0.0
                // fma(x − m, 1/(i+1), m): one rounding, as std::fma<double>.
                for (i, e) in s.enumerated() { mean = mean.addingProduct(Double(e) - mean, 1.0 / Double(i + 1)) }
                return Int64(mean.rounded(.toNearestOrAwayFromZero))
            }
            return [wrapping(y, x.dtype, shape: [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.rank - 2))]
        }
        guard x.dtype == .float, x.rank >= 3 else {
            throw QVError.unsupported("\(isMax ? "GlobalMaxPool" : "GlobalAveragePool") on \(x.dtype) \(x.shape)")
        }
        let inner = x.shape[2...].reduce(1, *)
        let v = x.floats!
        let y = (0..<(x.shape[0] * x.shape[1])).map { p -> Float in
            let s = v[(p * inner)..<((p + 1) * inner)]
            return isMax ? (s.max() ?? 0) : Self.mlasMean(s)
        }
        return [
            Tensor(
                dtype: .float, shape: [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.rank - 2),
                storage: .f32(y))
        ]
    }
}
