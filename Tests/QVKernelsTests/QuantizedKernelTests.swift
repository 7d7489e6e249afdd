import QVGraph
@testable import QVKernels
import _QVChainGemm
import XCTest
import _TestSupport

/// The quantized kernels against naive references written from the spec (ONNX) or onnxruntime's
/// documented arithmetic (MLAS), in plain scalar Swift: exhaustive 8-bit sweeps of the quantize
/// and requantize steps, seeded convolutions, on every C kernel path this CPU has (the vector
/// paths must equal the scalar definition bit for bit). Real-tool goldens for the same kernels are
/// the op suite (OpSuiteTests); these sweeps reach every 8-bit value and every zero point.
final class QuantizedKernelTests: XCTestCase {
    func kernel(
        _ op: String, domain: String = "", inputs: [String], attributes: [Attribute] = [],
        context: KernelContext = KernelContext(semantics: .onnx, opset: 21)
    ) throws -> any Kernel {
        try Registry.make(
            Node(name: op, opType: op, domain: domain, inputs: inputs, outputs: ["y"], attributes: attributes), context)
    }

    /// Scales: powers of two (exact products, ties land exactly on .5) and awkward values.
    static let scales: [Float] = [0.0078125, 0.03125, 0.5, 1, 4, 0.1, 1.0 / 3.0, 0.0123, 7.77]

    /// ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), the division in
    /// float32 (as onnxruntime divides).
    static func quantizeReference(_ x: Float, _ s: Float, _ zp: Int64, _ range: ClosedRange<Int64>) -> Int64 {
        let q = (x / s).rounded(.toNearestOrEven)
        if q.isNaN { return range.lowerBound }
        let shifted = Double(q) + Double(zp)
        return Int64(min(max(shifted, Double(range.lowerBound)), Double(range.upperBound)))
    }

    /// Every output value of int8 and uint8, every zero point of the type, each scale: the value
    /// itself, both rounding boundaries around it and their float neighbours, out-of-range values.
    func testQuantizeLinearEqualsTheSpecOnEveryBoundaryOfEvery8BitValueAndZeroPoint() throws {
        let q = try kernel("QuantizeLinear", inputs: ["x", "s", "z"])
        var checked = 0
        let paths = try forEveryKernelPath { path in
            for dtype in [DType.int8, .uint8] {
                let range = dtype.integerRange!
                for s in Self.scales {
                    for zp in range.lowerBound...range.upperBound {
                        // Around every output value v: (v − zp) · s and the rounding boundaries
                        // (v − zp ± 0.5) · s, each with its float neighbours.
                        var xs: [Float] = [.infinity, -.infinity, .nan, 1e30, -1e30]
                        for v in range.lowerBound...range.upperBound {
                            for d in [-0.5, 0, 0.5] as [Float] {
                                let b = (Float(v - zp) + d) * s
                                xs += [b, b.nextUp, b.nextDown]
                            }
                        }
                        let zt = Tensor(dtype: dtype, shape: [], storage: .i32([Int32(zp)]))
                        let got = try q.run([Tensor(xs, shape: [xs.count]), Tensor([s], shape: []), zt])[0].asInt64s()!
                        for i in 0..<xs.count {
                            let want = Self.quantizeReference(xs[i], s, zp, range)
                            if got[i] != want {
                                XCTFail(
                                    "\(path) \(dtype) scale \(s) zero point \(zp): x \(xs[i]) → \(got[i]), spec \(want)"
                                )
                                return
                            }
                        }
                        checked += xs.count
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertEqual(checked, paths * 2 * Self.scales.count * 256 * (5 + 256 * 9))
    }

    /// com.microsoft QLinearAdd as MLAS's AVX2 kernel computes it when B is not a span scalar
    /// (onnxruntime's own outputs on every pair are the op suite's qlinearadd_every_pair_*): with
    /// rA = sa/sc, rB = sb/sc and fixed = zc − fma(rA, za, rB·zb),
    /// y = round_half_even(fma(a, rA, fma(b, rB, fixed))), saturated.
    static func qlinearAddReference(
        _ a: Int64, _ b: Int64, sa: Float, za: Int64, sb: Float, zb: Int64, sc: Float, zc: Int64,
        _ range: ClosedRange<Int64>
    ) -> Int64 {
        let rA = sa / sc, rB = sb / sc
        let fixed = Float(zc) - (rB * Float(zb)).addingProduct(rA, Float(za))
        let v = fixed.addingProduct(Float(b), rB).addingProduct(Float(a), rA).rounded(.toNearestOrEven)
        guard v >= -2_147_483_648 && v < 2_147_483_648 else { return range.lowerBound }  // x86 cvt: INT32_MIN
        return min(max(Int64(v), range.lowerBound), range.upperBound)
    }

    /// Every (a, b) pair of int8 and of uint8 — same shapes (the vectorized residual-add path) and
    /// b as a broadcast scalar (the general loop) — for several scale and zero-point choices.
    func testQLinearAddEqualsMlasArithmeticForEvery8BitPair() throws {
        let add = try kernel(
            "QLinearAdd", domain: "com.microsoft", inputs: ["a", "as", "az", "b", "bs", "bz", "cs", "cz"])
        let params: [(sa: Float, sb: Float, sc: Float)] = [
            (0.5, 0.25, 0.5), (0.03125, 0.0625, 0.125), (0.0123, 0.031, 0.047), (0.1, 0.1, 0.2), (1, 1, 0),
        ]
        var checked = 0
        let paths = try forEveryKernelPath { path in
            for dtype in [DType.int8, .uint8] {
                let range = dtype.integerRange!, values = Array(range)
                let a = values.flatMap { v in Array(repeating: v, count: 256) },
                    b = Array((0..<256).map { _ in values }.joined())
                func t(_ v: [Int64], _ shape: [Int]) -> Tensor {
                    Tensor(dtype: dtype, shape: shape, storage: .i32(v.map { Int32($0) }))
                }
                for (k, p) in params.enumerated() {
                    let za = values[(37 * k + 11) % 256], zb = values[(91 * k + 200) % 256],
                        zc = values[(53 * k + 128) % 256]
                    let scalars = [
                        Tensor([p.sa], shape: []), t([za], []), Tensor([p.sb], shape: []), t([zb], []),
                        Tensor([p.sc], shape: []), t([zc], []),
                    ]
                    let got = try add.run([
                        t(a, [a.count]), scalars[0], scalars[1], t(b, [b.count]), scalars[2], scalars[3], scalars[4],
                        scalars[5],
                    ])[0].asInt64s()!
                    for i in 0..<a.count {
                        let want = Self.qlinearAddReference(
                            a[i], b[i], sa: p.sa, za: za, sb: p.sb, zb: zb, sc: p.sc, zc: zc, range)
                        if got[i] != want {
                            XCTFail("\(path) \(dtype) \(p): \(a[i]) + \(b[i]) → \(got[i]), MLAS \(want)"); return
                        }
                    }
                    for bv in [range.lowerBound, zb, range.upperBound] {
                        let g = try add.run([
                            t(values, [256]), scalars[0], scalars[1], t([bv], [1]), scalars[2], scalars[3], scalars[4],
                            scalars[5],
                        ])[0].asInt64s()!
                        for i in 0..<256
                        where g[i]
                            != Self.qlinearAddReference(
                                values[i], bv, sa: p.sa, za: za, sb: p.sb, zb: zb, sc: p.sc, zc: zc, range)
                        {
                            XCTFail("\(path) \(dtype) \(p) broadcast: \(values[i]) + \(bv) → \(g[i])")
                            return
                        }
                    }
                    checked += a.count
                }
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertEqual(checked, paths * 2 * params.count * 65_536)
    }

    /// MLAS's requantization of an int32 accumulator: round_half_even(float(acc) · multiplier) +
    /// zero_point, saturated; NaN (0 · ∞) to the lower bound.
    static func requantizeReference(_ acc: Int32, _ m: Float, _ zp: Int64, _ range: ClosedRange<Int64>) -> Int64 {
        let v = (Float(acc) * m).rounded(.toNearestOrEven)
        if v.isNaN { return range.lowerBound }
        return Int64(min(max(Double(v) + Double(zp), Double(range.lowerBound)), Double(range.upperBound)))
    }

    /// For every output value and zero point of int8/uint8: accumulators on both sides of each
    /// rounding boundary, through the per-channel requantize stage (QLinearConv's), every path.
    func testRequantizationEqualsMlasOnEveryBoundaryOfEvery8BitValueAndZeroPoint() throws {
        let multipliers: [Float] = [1.0 / 64, 0.0009765625, 0.00377, 0.0417, 0.5, 3.1, .infinity]
        var checked = 0
        let paths = try forEveryKernelPath { path in
            for dtype in [DType.int8, .uint8] {
                let range = dtype.integerRange!
                for m in multipliers {
                    // Accumulators whose product lands near every (q − zp) ± 0.5, plus the int32 ends.
                    var acc: [Int32] = [.min, .max, 0, 1, -1, 1 << 24 + 1, -(1 << 24) - 1]
                    if m.isFinite {
                        for d in stride(from: -512.0 as Float, through: 512, by: 0.5) {
                            let a = (d / m).rounded()
                            guard a > -2e9 && a < 2e9 else { continue }
                            acc += [Int32(a) - 1, Int32(a), Int32(a) + 1]
                        }
                    }
                    for zp in stride(from: range.lowerBound, through: range.upperBound, by: 5) {
                        // Two channels of different multipliers, 8-pixel rows (the vector loop and its tail).
                        let rows = (acc.count + 7) / 8, padded = acc + Array(repeating: 0, count: rows * 8 - acc.count)
                        let input = padded + padded, spatial = rows * 8
                        let stage = PointwiseStage.requantize(
                            multiplier: [m, m * 0.5], axis: 1, zeroPoint: zp, to: dtype)
                        let acc = Tensor(dtype: .float, shape: [1, 2, spatial], storage: .f32(input.map { Float($0) }))
                        let got = runPointwise([stage], on: acc)!.asInt64s()!
                        for i in 0..<input.count {
                            let want = Self.requantizeReference(input[i], i < spatial ? m : m * 0.5, zp, range)
                            if got[i] != want {
                                XCTFail("\(path) \(dtype) m \(m) zp \(zp): acc \(input[i]) → \(got[i]), MLAS \(want)");
                                return
                            }
                        }
                        checked += input.count
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertGreaterThan(checked, paths * 2_000_000)
    }

    /// A direct-loop QLinearConv: exact Σ (x − x_zp)(w − w_zp) + bias per output, requantized with
    /// float32(x_scale · w_scale / y_scale) as MLAS does.
    static func qlinearConvReference(
        x: [Int64], xShape: [Int], xz: Int64, w: [Int64], wShape: [Int], wz: [Int64], bias: [Int64],
        multiplier: [Float], yz: Int64, range: ClosedRange<Int64>,
        stride: Int, strideW: Int? = nil, pad: Int, dilation: Int, group: Int
    ) -> (y: [Int64], shape: [Int]) {
        let sw = strideW ?? stride
        let (n, c, h, wd) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let (m, cg, kh, kw) = (wShape[0], wShape[1], wShape[2], wShape[3])
        let oh = (h + 2 * pad - ((kh - 1) * dilation + 1)) / stride + 1,
            ow = (wd + 2 * pad - ((kw - 1) * dilation + 1)) / sw + 1
        let mg = m / group
        var y: [Int64] = []
        for b in 0..<n {
            for o in 0..<m {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var acc: Int64 = bias.isEmpty ? 0 : bias[o]
                        let g = o / mg
                        for ci in 0..<cg {
                            for p in 0..<kh {
                                for q in 0..<kw {
                                    let r = i * stride - pad + p * dilation, s = j * sw - pad + q * dilation
                                    // padding holds x_zp: contributes 0
                                    guard r >= 0, r < h, s >= 0, s < wd else { continue }
                                    let xv = x[((b * c + g * cg + ci) * h + r) * wd + s]
                                    let wv = w[((o * cg + ci) * kh + p) * kw + q]
                                    acc += (xv - xz) * (wv - wz[wz.count == 1 ? 0 : o])
                                }
                            }
                        }
                        y.append(
                            requantizeReference(
                                Int32(truncatingIfNeeded: acc), multiplier[multiplier.count == 1 ? 0 : o], yz, range))
                    }
                }
            }
        }
        return (y, [n, m, oh, ow])
    }

    /// One seeded QLinearConv geometry: [c, m, h, w, k, stride, pad, dilation, group], `images`
    /// images, int8 weights (zero point 0) or, with `wZero`, uint8 weights with per-channel zero
    /// points wZero + (channel mod 3) and w − w_zero in [−128, 127] (any byte when `wide`).
    struct ConvCase {
        var c, m, h, w, k, stride, pad, dilation, group: Int
        var xType: DType
        var perChannel: Bool
        var images = 1
        var wZero: Int64?
        var wide = false
        var strideW: Int?
        init(
            _ g: [Int], _ xType: DType, perChannel: Bool, images: Int = 1, wZero: Int64? = nil, wide: Bool = false,
            strideW: Int? = nil
        ) {
            (c, m, h, w, k, stride, pad, dilation, group) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
            (self.xType, self.perChannel, self.images, self.wZero, self.wide) = (xType, perChannel, images, wZero, wide)
            self.strideW = strideW
        }
    }

    /// Runs every case on every kernel path against the direct loop; returns the outputs checked.
    func checkQLinearConv(_ cases: [ConvCase], seed: UInt64, huge: Set<Int> = []) throws -> (paths: Int, outputs: Int) {
        var rng = SplitMix64(seed: seed)
        var outputs = 0
        let paths = try forEveryKernelPath { path in
            for (k, t) in cases.enumerated() {
                let xr = t.xType.integerRange!
                let x = (0..<(t.images * t.c * t.h * t.w)).map { _ in Int64(rng.next() % 256) + xr.lowerBound }
                let cg = t.c / t.group
                let wType: DType = t.wZero == nil ? .int8 : .uint8
                let wz: [Int64] = t.wZero.map { z in (0..<t.m).map { z + Int64($0 % 3) } } ?? [0]
                let w = (0..<(t.m * cg * t.k * t.k)).map { i -> Int64 in
                    let r = Int64(rng.next() % 256)
                    if t.wZero == nil { return r % 255 - 127 }  // int8: −127...127
                    return t.wide ? r : min(255, max(0, wz[i / (cg * t.k * t.k)] + r - 128))
                }
                let bias = (0..<t.m).map { _ in Int64(rng.next() % 20_001) - 10_000 }
                let xz = Int64(rng.next() % 256) + xr.lowerBound, yz = Int64(rng.next() % 256) + xr.lowerBound
                let ws: [Float] = t.perChannel ? (0..<t.m).map { Float(1 + $0 % 5) * 0.0019 } : [0.0078125]
                let xs: Float = 0.0235, ys: Float = huge.contains(k) ? 40.0 : 0.06
                let attrs = [
                    Attribute(name: "kernel_shape", value: .ints([Int64(t.k), Int64(t.k)])),
                    Attribute(name: "strides", value: .ints([Int64(t.stride), Int64(t.strideW ?? t.stride)])),
                    Attribute(name: "pads", value: .ints(Array(repeating: Int64(t.pad), count: 4))),
                    Attribute(name: "dilations", value: .ints([Int64(t.dilation), Int64(t.dilation)])),
                    Attribute(name: "group", value: .int(Int64(t.group))),
                ]
                let conv = try kernel(
                    "QLinearConv", inputs: ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], attributes: attrs)
                func q(_ v: [Int64], _ dt: DType, _ shape: [Int]) -> Tensor {
                    Tensor(dtype: dt, shape: shape, storage: .i32(v.map { Int32($0) }))
                }
                let got = try conv.run([
                    q(x, t.xType, [t.images, t.c, t.h, t.w]), Tensor([xs], shape: []), q([xz], t.xType, []),
                    q(w, wType, [t.m, cg, t.k, t.k]), Tensor(ws, shape: [ws.count]), q(wz, wType, [wz.count]),
                    Tensor([ys], shape: []), q([yz], t.xType, []), q(bias, .int32, [t.m]),
                ])[0]
                let (want, shape) = Self.qlinearConvReference(
                    x: x, xShape: [t.images, t.c, t.h, t.w], xz: xz, w: w, wShape: [t.m, cg, t.k, t.k], wz: wz,
                    bias: bias, multiplier: ws.map { xs * $0 / ys }, yz: yz, range: xr,
                    stride: t.stride, strideW: t.strideW, pad: t.pad, dilation: t.dilation, group: t.group)
                XCTAssertEqual(got.shape, shape, "\(path) case \(k)")
                XCTAssertEqual(got.asInt64s(), want, "\(path) case \(k)")
                outputs += want.count
            }
        }
        return (paths, outputs)
    }

    /// Seeded QLinearConvs of every geometry the kernel has a path for (pointwise, 3×3 padded,
    /// strided, dilated, grouped, depthwise; uint8 and int8 activations; per-tensor and
    /// per-channel weight scales; accumulators beyond 2^24) against the direct loop, every path.
    func testQLinearConvEqualsADirectLoopOnSeededGeometries() throws {
        // [c, m, h, w, k, stride, pad, dilation, group]
        let cases = [
            ConvCase([16, 24, 9, 9, 1, 1, 0, 1, 1], .uint8, perChannel: true),
            ConvCase([8, 12, 10, 7, 3, 1, 1, 1, 1], .uint8, perChannel: false),
            ConvCase([6, 8, 11, 11, 3, 2, 1, 1, 1], .int8, perChannel: true),
            ConvCase([4, 4, 12, 12, 3, 1, 2, 2, 2], .uint8, perChannel: true),
            ConvCase([16, 16, 8, 8, 3, 1, 1, 1, 16], .uint8, perChannel: true),
            ConvCase([512, 4, 4, 4, 3, 1, 1, 1, 1], .uint8, perChannel: false),  // |acc| > 2^24
            // Strided depthwise reads s×s phase planes of the padded input: odd sizes, stride 3, dilation.
            ConvCase([8, 8, 13, 11, 3, 2, 1, 1, 8], .uint8, perChannel: true),
            ConvCase([5, 5, 14, 10, 3, 3, 2, 2, 5], .int8, perChannel: false),
            // Rows wide enough for the 8- and 16-lane plane copies (stride 2 and 1) and their tails.
            ConvCase([4, 4, 9, 41, 3, 2, 1, 1, 4], .uint8, perChannel: true),
            ConvCase([3, 3, 6, 37, 3, 1, 1, 1, 3], .int8, perChannel: false),
            // Stride 3 rows wide enough that the gathered copy fills all 16 lanes.
            ConvCase([4, 4, 7, 61, 3, 3, 1, 1, 4], .int8, perChannel: true),
        ]
        let (paths, outputs) = try checkQLinearConv(cases, seed: 2026, huge: [5])
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertEqual(
            outputs,
            paths
                * (24 * 81 + 12 * 70 + 8 * 36 + 4 * 144 + 16 * 64 + 4 * 16 + 8 * 42 + 5 * 20 + 4 * 105 + 3 * 222
                    + 4 * 63))
    }

    /// Batches and every block shape of the exact integer kernels (qv_conv_u8s8: VNNI on the
    /// AVX-512 path, vpmaddwd on the AVX2 path), against the direct loop on every path: pixel
    /// blocks that span images (2×2 to 5×5 outputs), 16-, 32- and 64-channel blocks and the
    /// 16-wide remainder after them (m = 13, 40, 72; 3-row AVX2 blocks and their rest), pointwise
    /// blocks with pixel tails, odd channel counts (a word's last channel empty), uint8 weights with
    /// per-channel zero points (w − w_zero from −128 to 127, and beyond a byte, which the kernel
    /// must leave to the float path), int8 activations, and int32 sums beyond 2^24.
    func testQLinearConvEqualsADirectLoopOnBatchesAndEveryVNNIBlock() throws {
        let cases = [
            ConvCase([9, 72, 5, 5, 3, 1, 1, 1, 1], .uint8, perChannel: true, images: 3),
            ConvCase([7, 40, 8, 6, 3, 2, 1, 1, 1], .int8, perChannel: true, images: 5, wZero: 128),
            ConvCase([12, 13, 4, 4, 1, 2, 0, 1, 1], .uint8, perChannel: false, images: 7),
            ConvCase([5, 13, 7, 9, 1, 1, 0, 1, 1], .int8, perChannel: true, images: 2, wZero: 127),
            ConvCase([32, 64, 2, 2, 3, 1, 1, 1, 1], .uint8, perChannel: true, images: 8),
            ConvCase([8, 16, 6, 6, 3, 1, 2, 2, 2], .uint8, perChannel: false, images: 4),
            ConvCase([6, 8, 9, 9, 3, 1, 1, 1, 1], .uint8, perChannel: true, images: 2, wZero: 1, wide: true),
            ConvCase([1024, 20, 3, 3, 3, 1, 1, 1, 1], .uint8, perChannel: false, images: 2, wZero: 126),  // > 2^24
            // Stride 1 with padding: pixel vectors over the padded rows, border lanes squeezed out.
            ConvCase([10, 24, 16, 16, 3, 1, 1, 1, 1], .uint8, perChannel: true, images: 3),
            ConvCase([640, 8, 12, 12, 3, 1, 1, 1, 1], .int8, perChannel: false, images: 2, wZero: 126),  // > 2^24
            // Stride 3 with dilation: 3×3 phases of the copy (gathered), pixel vectors over a phase.
            ConvCase([5, 16, 20, 23, 3, 3, 1, 2, 1], .uint8, perChannel: true, images: 2),
            // Unequal strides: no phases, channel vectors with strided addressing.
            ConvCase([6, 16, 9, 14, 3, 1, 1, 1, 1], .int8, perChannel: true, images: 2, strideW: 2),
        ]
        // The integer kernels take these (and leave case 6's out-of-byte weights) wherever they run.
        let vnni = qv_conv_u8s8_available() != 0
        let (paths, outputs) = try checkQLinearConv(cases, seed: 77, huge: [7, 9])
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertEqual(
            outputs,
            paths
                * (3 * 72 * 25 + 5 * 40 * 12 + 7 * 13 * 4 + 2 * 13 * 63 + 8 * 64 * 4 + 4 * 16 * 36 + 2 * 8 * 81
                    + 2 * 20 * 9 + 3 * 24 * 256 + 2 * 8 * 144 + 2 * 16 * 42 + 2 * 16 * 63))
        if vnni {
            let geo = try ConvGeometry(
                node: Node(name: "c", opType: "QLinearConv", inputs: [], outputs: []), x: [1, 6, 9, 9], w: [8, 6, 3, 3])
            let wide = Tensor(dtype: .uint8, shape: [8, 6, 3, 3], storage: .i32((0..<432).map { Int32($0 % 256) }))
            XCTAssertNil(try PreparedWeights(wide, zeros: [0], conv: geo).u8s8)
            XCTAssertNotNil(try PreparedWeights(wide, zeros: [128], conv: geo).u8s8)
        }
    }

    /// Every output width from 1 to 80 at strides 1, 2 and 3 (so every row length of the phase
    /// copies and every 8- and 16-lane tail, including the 25–31-word stride-2 rows whose copy
    /// lost lanes on the VNNI path), heights 1–9, one-group convs across the 16/32/64-channel blocks
    /// and depthwise convs, int8 and uint8 activations, per-tensor and per-channel scales: every
    /// kernel path against the direct loop.
    func testQLinearConvSweepsEveryOutputWidthAtStrides1To3() throws {
        var cases: [ConvCase] = []
        var expected = 0
        for ow in 1...80 {
            for s in 1...3 {
                let oh = 1 + (ow * 7 + s) % 9, w = (ow - 1) * s + 1, h = (oh - 1) * s + 1
                let xType: DType = (ow + s) % 2 == 0 ? .uint8 : .int8
                let m = [8, 13, 16, 40, 72][(ow + s) % 5]
                cases.append(ConvCase([3, m, h, w, 3, s, 1, 1, 1], xType, perChannel: ow % 2 == 0))
                cases.append(ConvCase([5, 5, h, w, 3, s, 1, 1, 5], xType, perChannel: ow % 3 == 0))
                expected += (m + 5) * oh * ow
            }
        }
        let (paths, outputs) = try checkQLinearConv(cases, seed: 23)
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertEqual(outputs, paths * expected)
    }
}

/// A small seeded generator (SplitMix64): the same cases on every machine.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
