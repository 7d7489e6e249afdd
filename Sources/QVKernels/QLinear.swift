import Foundation
import QVGraph
import _QVChainGemm

/// onnxruntime's requantization of an int32 accumulator (MLAS RequantizeOutput): the float32
/// value float(acc) · multiplier is rounded half to even, the zero point added, and the result
/// saturated to the output type. `multiplier` is per output channel or a single value.
func requantize(
    _ acc: [Int64], multiplier: [Float], channelOf: (Int) -> Int, zeroPoint: Int64, dtype: DType, shape: [Int]
) -> Tensor {
    let r = dtype.integerRange!
    let lo = Float(r.lowerBound - zeroPoint), hi = Float(r.upperBound - zeroPoint)
    let out = [Int32].uninitialized(acc.count) { buf, n in
        acc.withUnsafeBufferPointer { ab in
            if multiplier.count == 1 {
                let m = multiplier[0]
                for i in 0..<ab.count {
                    buf[i] =
                        Int32(
                            RoundingRule.halfToEven.round(
                                clampNaNLow(Float(Int32(truncatingIfNeeded: ab[i])) * m, lo, hi))) + Int32(zeroPoint)
                }
            } else {
                for i in 0..<ab.count {
                    let m = multiplier[channelOf(i)]
                    buf[i] =
                        Int32(
                            RoundingRule.halfToEven.round(
                                clampNaNLow(Float(Int32(truncatingIfNeeded: ab[i])) * m, lo, hi))) + Int32(zeroPoint)
                }
            }
        }
        n = acc.count
    }
    return Tensor(dtype: dtype, shape: shape, storage: .i32(out))
}

func scalarParam(_ t: Tensor, _ what: String) throws -> Float {
    guard t.count == 1 else { throw QVError.badInput("\(what) must be a scalar, has shape \(t.shape)") }
    return try floatValues(t)[0]
}

func zeroPoint(_ t: Tensor?, _ what: String) throws -> Int64 {
    guard let t else { return 0 }
    guard t.count == 1 else { throw QVError.badInput("\(what) must be a scalar, has shape \(t.shape)") }
    return try intValues(t)[0]
}

func checkQuantized(_ t: Tensor, _ what: String) throws {
    guard t.dtype == .int8 || t.dtype == .uint8 else {
        throw QVError.unsupported("\(what) of type \(t.dtype) (int8/uint8 only)")
    }
}

/// ONNX QLinearConv (opset 10): exact int32 accumulation Σ(x − x_zp)(w − w_zp[m]) + B[m], then
/// requantized with the float32 multiplier x_scale · w_scale[m] / y_scale (onnxruntime's order).
/// Per-channel weight scales and zero points supported.
struct QLinearConvKernel: PointwiseProducer {
    let node: Node
    let constantWeights: Bool
    let rule: IntegerProductRule
    let log: SaturationLog?
    let cache = WeightCache<PreparedWeights>()
    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        rule = ctx.integerProducts
        log = ctx.saturationLog
        constantWeights = ctx.constantInputs.contains(3) && ctx.constantInputs.contains(5)
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        [try run(inputs, samples: 1, then: { _, _ in nil }).output]
    }

    func run(
        _ inputs: [Tensor?], samples: Int, then: (DType, [Int]) throws -> [PointwiseStage]?
    ) throws -> (output: Tensor, fused: Bool) {
        let x = try required(inputs, 0, "x"), xs = try required(inputs, 1, "x_scale"),
            xz = try required(inputs, 2, "x_zero_point")
        let w = try required(inputs, 3, "w"), ws = try required(inputs, 4, "w_scale"),
            wz = try required(inputs, 5, "w_zero_point")
        let ys = try required(inputs, 6, "y_scale"), yz = try required(inputs, 7, "y_zero_point")
        let b = optional(inputs, 8)
        try checkQuantized(x, "x"); try checkQuantized(w, "w"); try checkQuantized(yz, "y_zero_point")
        let geo = try ConvGeometry(node: node, x: x.shape, w: w.shape)
        let wScale = try floatValues(ws), wZero = try intValues(wz)
        guard wScale.count == 1 || wScale.count == geo.m else {
            throw QVError.badInput("w_scale has \(wScale.count) values for \(geo.m) output channels")
        }
        guard wZero.count == 1 || wZero.count == geo.m else {
            throw QVError.badInput("w_zero_point has \(wZero.count) values for \(geo.m) output channels")
        }
        if let b {
            guard b.dtype == .int32, b.count == geo.m else {
                throw QVError.badInput("B must be int32 of \(geo.m) values, is \(b.dtype) \(b.shape)")
            }
        }
        let prepared = try cache.get(ifConstant: constantWeights) {
            try PreparedWeights(w, zeros: wZero, conv: geo)
        }
        let xZero = try zeroPoint(xz, "x_zero_point"), bias = try b.map(intValues)
        let xsv = try scalarParam(xs, "x_scale"), ysv = try scalarParam(ys, "y_scale")
        // MLAS's requantization: float(acc) · (x_scale · w_scale[m] / y_scale), clamped to the
        // output range minus the zero point, rounded half to even, plus the zero point.
        let requantize = PointwiseStage.requantize(
            multiplier: wScale.map { xsv * $0 / ysv }, axis: 1, zeroPoint: try zeroPoint(yz, "y_zero_point"),
            to: yz.dtype)
        let more = try then(yz.dtype, geo.outShape)
        // onnxruntime without VNNI: u8×s8 pair saturation (depthwise convs take an exact kernel).
        let saturates =
            rule == .u8s8PairSaturation && x.dtype == .uint8 && w.dtype == .int8
            && !(geo.cPerGroup == 1 && geo.mPerGroup == 1)
        // Exact sums: straight through the stages in the conv kernel where it can.
        if !saturates,
            let y = integerConvThrough(
                [requantize] + (more ?? []), geo, x: x, xZero: xZero, bias: bias, weights: prepared)
        {
            return (y, more != nil)
        }
        var acc = try integerConvAccumulators(
            geo, x: x, w: w, xZero: xZero, wZero: wZero, bias: bias, weights: prepared)
        if saturates {
            let (corr, events) = try convPairSaturation(geo, x: x, xZero: xZero, w: w)
            if events > 0 {
                let exact = acc
                acc = acc.adding(corr)
                if let log {
                    // What saturation changes here, against this node's exact result on this input.
                    func requantized(_ a: IntegerAccumulators) -> Tensor? {
                        runPointwise(
                            [requantize], on: Tensor(dtype: .float, shape: geo.outShape, storage: .f32(a.floats)))
                    }
                    let before = requantized(exact), after = requantized(acc)
                    log.add(
                        node.name, pairSums: events, touched: Int64(corr.lazy.filter { $0 != 0 }.count),
                        outputsChanged: before.flatMap { b in after.map { SaturationLog.changed(b, $0) } } ?? 0)
                }
            }
        }
        let accTensor = Tensor(dtype: .float, shape: geo.outShape, storage: .f32(acc.floats))
        if let more, let y = runPointwise([requantize] + more, on: accTensor) {
            return (y, true)
        }
        guard let y = runPointwise([requantize], on: accTensor) else {
            throw QVError.internalError("QLinearConv's requantization did not run")
        }
        return (y, false)
    }
}

/// ONNX QLinearMatMul (opset 10/21): exact Σ(a − a_zp)(b − b_zp), requantized with
/// a_scale · b_scale / y_scale.
struct QLinearMatMulKernel: Kernel {
    let rule: IntegerProductRule, log: SaturationLog?, name: String
    /// B and its zero points are model constants: B − b_zp is made once.
    let constantB: Bool
    let cache = WeightCache<IntegerOperand>()
    init(node: Node, ctx: KernelContext) throws {
        rule = ctx.integerProducts; log = ctx.saturationLog; name = node.name
        constantB = ctx.constantInputs.contains(3) && ctx.constantInputs.contains(5)
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a = try required(inputs, 0, "a"), asc = try required(inputs, 1, "a_scale"),
            az = try required(inputs, 2, "a_zero_point")
        let b = try required(inputs, 3, "b"), bsc = try required(inputs, 4, "b_scale"),
            bz = try required(inputs, 5, "b_zero_point")
        let ys = try required(inputs, 6, "y_scale"), yz = try required(inputs, 7, "y_zero_point")
        try checkQuantized(a, "a"); try checkQuantized(b, "b"); try checkQuantized(yz, "y_zero_point")
        let bScale = try floatValues(bsc)
        let bZero = try intValues(bz)
        let bn = b.rank >= 2 ? b.shape[b.rank - 1] : 1
        guard bZero.count == 1 || (b.rank >= 2 && bZero.count == bn) else {
            throw QVError.badInput(
                "QLinearMatMul b_zero_point has \(bZero.count) values; B \(b.shape) needs 1 or \(bn)")
        }
        let outShape = try ShapeInference.matmulShape(a.shape, b.shape)
        let aZero = try zeroPoint(az, "a_zero_point")
        var accv: [Int64]
        if b.rank == 2, a.rank >= 1 {
            // A matrix B: A's rows, whatever its leading dims, are one exact integer product.
            let k = b.shape[0], m = a.count / max(1, k)
            let operand = try cache.get(ifConstant: constantB) {
                IntegerOperand(
                    rightOperand: try shiftedFloats(b) { bZero.count == 1 ? bZero[0] : bZero[$0 % bn] }, k: k, n: bn,
                    transposed: false)
            }
            accv = try integerMatmul(
                a: try shiftedFloats(a) { _ in aZero }, b: operand, m: m, n: bn, k: k, transA: false)
        } else {
            // Per-column zero points (onnxruntime's per-column B): B − b_zp[column] as exact int32 values.
            let bShifted =
                bZero.count == 1
                ? b
                : Tensor(
                    dtype: .int32, shape: b.shape,
                    storage: .i32(try intValues(b).enumerated().map { Int32($0.element - bZero[$0.offset % bn]) }))
            accv = try intValues(
                try batchedMatmul(a, bShifted, integer: true, aZero: aZero, bZero: bZero.count == 1 ? bZero[0] : 0))
        }
        let asv = try scalarParam(asc, "a_scale"), ysv = try scalarParam(ys, "y_scale")
        let n = outShape.last ?? 1
        if rule == .u8s8PairSaturation, a.dtype == .uint8, b.dtype == .int8 {
            guard b.rank == 2 else {
                throw QVError.unsupported("QLinearMatMul with a batched B under a saturating onnxruntime target")
            }
            let k = b.shape[0], m = a.count / max(1, k)
            let exact = accv
            let s = addPairSaturation(
                &accv, m: m, n: n, k: k, a: try rawInt32(a), sam: k, sak: 1, b: try rawInt32(b), sbk: n, sbn: 1)
            if let log, s.events > 0 {
                log.add(
                    name, pairSums: s.events, touched: s.touched,
                    outputsChanged: SaturationLog.changed(try output(exact), try output(accv)))
            }
        }
        func output(_ v: [Int64]) throws -> Tensor {
            requantize(
                v, multiplier: bScale.map { asv * $0 / ysv }, channelOf: { $0 % n },
                zeroPoint: try zeroPoint(yz, "y_zero_point"), dtype: yz.dtype, shape: outShape)
        }
        return [try output(accv)]
    }
}

/// com.microsoft QGemm: int32 bias C pre-loaded into the accumulator, then
/// float(acc) · (alpha · a_scale · b_scale[n]) / y_scale requantized to y's type — or, without
/// y_scale, that product as float32 output.
struct QGemmKernel: Kernel {
    let transA: Bool, transB: Bool, alpha: Float
    let rule: IntegerProductRule, log: SaturationLog?, name: String
    /// B shifted by its zero points, as Float, with its bounds: made once when B is constant.
    let constantB: Bool
    let cache = WeightCache<IntegerOperand>()
    init(node: Node, ctx: KernelContext) throws {
        constantB = ctx.constantInputs.contains(3) && ctx.constantInputs.contains(5)
        transA = node.int("transA", default: 0) != 0
        transB = node.int("transB", default: 0) != 0
        alpha = node.float("alpha", default: 1)
        rule = ctx.integerProducts
        log = ctx.saturationLog
        name = node.name
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), asc = try required(inputs, 1, "a_scale"),
            az = try required(inputs, 2, "a_zero_point")
        let b = try required(inputs, 3, "B"), bsc = try required(inputs, 4, "b_scale"),
            bz = try required(inputs, 5, "b_zero_point")
        let c = optional(inputs, 6), ys = optional(inputs, 7), yz = optional(inputs, 8)
        try checkQuantized(a, "A"); try checkQuantized(b, "B")
        if let yz { try checkQuantized(yz, "y_zero_point") }
        guard a.rank == 2, b.rank == 2 else { throw QVError.badInput("QGemm needs 2-D A and B") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        guard (transB ? b.shape[1] : b.shape[0]) == k else {
            throw QVError.badInput("QGemm inner dimensions differ: A \(a.shape), B \(b.shape)")
        }
        let bZero = try intValues(bz), bScale = try floatValues(bsc)
        guard bZero.count == 1 || bZero.count == n, bScale.count == 1 || bScale.count == n else {
            throw QVError.badInput("b_scale/b_zero_point must have 1 or \(n) values")
        }
        let az0 = try zeroPoint(az, "a_zero_point")
        let av = try shiftedFloats(a) { _ in az0 }
        // Per-column zero points of op(B) (B stored [n×k] when transposed).
        let bOperand = try cache.get(ifConstant: constantB) {
            IntegerOperand(
                rightOperand: try shiftedFloats(b) { i in bZero.count == 1 ? bZero[0] : bZero[transB ? i / k : i % n] },
                k: k, n: n, transposed: transB)
        }
        var acc = try integerMatmul(a: av, b: bOperand, m: m, n: n, k: k, transA: transA)
        let bias = try c.map { c -> (Int) -> Int64 in
            guard c.dtype == .int32 else { throw QVError.badInput("QGemm bias C must be int32, is \(c.dtype)") }
            let cv = try intValues(c), idx = try biasIndex(c.shape, m: m, n: n)
            return { cv[idx($0)] }
        }
        let asv = try scalarParam(asc, "a_scale")
        var mult = bScale.map { alpha * asv * $0 }
        let ysv = try ys.map { try scalarParam($0, "y_scale") }
        if let ysv { mult = mult.map { $0 / ysv } }
        let yzero = try zeroPoint(yz, "y_zero_point")
        // The output from accumulators (before C is added).
        func output(_ products: [Int64]) -> Tensor {
            var acc = products
            if let bias { for i in 0..<acc.count { acc[i] += bias(i) } }
            if ysv != nil {
                return requantize(
                    acc, multiplier: mult, channelOf: { $0 % n }, zeroPoint: yzero, dtype: yz?.dtype ?? .uint8,
                    shape: [m, n])
            }
            let y = (0..<acc.count).map {
                Float(Int32(truncatingIfNeeded: acc[$0])) * (mult.count == 1 ? mult[0] : mult[$0 % n])
            }
            return Tensor(dtype: .float, shape: [m, n], storage: .f32(y))
        }
        if rule == .u8s8PairSaturation, a.dtype == .uint8, b.dtype == .int8 {
            let exact = acc
            let s = addPairSaturation(
                &acc, m: m, n: n, k: k, a: try rawInt32(a), sam: transA ? 1 : k, sak: transA ? m : 1,
                b: try rawInt32(b), sbk: transB ? 1 : n, sbn: transB ? k : 1)
            if let log, s.events > 0 {
                log.add(
                    name, pairSums: s.events, touched: s.touched,
                    outputsChanged: SaturationLog.changed(output(exact), output(acc)))
            }
        }
        return [output(acc)]
    }
}

/// com.microsoft QLinearAdd / QLinearMul with numpy broadcasting, as onnxruntime computes them
/// on x86 (AVX2 and AVX-512 hosts alike). Mul is rint((a − A_zp)(b − B_zp) · (A_scale·B_scale/C_scale)
/// + C_zp). Add is MLAS's AVX2 kernel as built (its float expressions contracted into FMAs), with
/// rA = A_scale/C_scale, rB = B_scale/C_scale: see `QLinearAddArithmetic`.
/// Both convert to int32 before saturating, so NaN and infinities (a zero C_scale) give the lower
/// bound: onnxruntime 1.x gives −128 everywhere for QLinearAdd/QLinearMul with C_scale 0.
struct QLinearBinaryKernel: Kernel {
    let isAdd: Bool
    init(node: Node, ctx: KernelContext) throws { isAdd = node.opType == "QLinearAdd" }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), asc = try required(inputs, 1, "A_scale")
        let b = try required(inputs, 3, "B"), bsc = try required(inputs, 4, "B_scale")
        let cs = try required(inputs, 6, "C_scale")
        let azp = try zeroPoint(optional(inputs, 2), "A_zero_point"),
            bzp = try zeroPoint(optional(inputs, 5), "B_zero_point")
        let czT = optional(inputs, 7)
        let czp = try zeroPoint(czT, "C_zero_point")
        try checkQuantized(a, "A"); try checkQuantized(b, "B")
        let outType = czT?.dtype ?? a.dtype
        if let czT { try checkQuantized(czT, "C_zero_point") }
        let shape = try ShapeInference.broadcast([a.shape, b.shape])
        let sa = try scalarParam(asc, "A_scale"), sb = try scalarParam(bsc, "B_scale"),
            sc = try scalarParam(cs, "C_scale")
        let r = outType.integerRange!
        if isAdd, a.shape == b.shape, case .i32(let ax) = a.storage, case .i32(let bx) = b.storage,
            outType.storageKind == .i32, outType.bitWidth <= 16
        {
            // Same shapes (a residual add): the loop below without index maps or Int64, same arithmetic.
            let add = QLinearAddArithmetic(sa: sa, za: azp, sb: sb, zb: bzp, sc: sc, zc: czp, order: .bInner)
            let (fixed, rA, rB) = (add.fixed, add.rA, add.rB)
            let lo = Float(r.lowerBound), hi = Float(r.upperBound)
            let y = [Int32].uninitialized(ax.count) { buf, n in
                ax.withUnsafeBufferPointer { ap in
                    bx.withUnsafeBufferPointer { bp in
                        if qv_qlinear_add_i32(
                            ap.baseAddress, bp.baseAddress, ap.count, fixed, rA, rB, Int32(r.lowerBound),
                            Int32(r.upperBound), buf.baseAddress) == 1
                        {
                            return
                        }
                        for i in 0..<ap.count {
                            let v = add.value(ap[i], bp[i]).rounded(.toNearestOrEven)
                            // x86's cvt gives INT32_MIN for NaN and |v| ≥ 2^31: the lower bound after clamping.
                            let inRange = v >= -2_147_483_648 && v < 2_147_483_648
                            buf[i] = Int32(inRange ? Swift.min(Swift.max(v, lo), hi) : lo)
                        }
                    }
                }
                n = ax.count
            }
            return [Tensor(dtype: outType, shape: shape, storage: .i32(y))]
        }
        // Broadcast spans: each element's arithmetic is fixed by the shapes (the operand order),
        // so the spans only index.
        let runs = BroadcastRuns(a.shape, b.shape, to: shape)
        let ax = try rawInt32(a), bx = try rawInt32(b)
        let n = shape.reduce(1, *)
        let add = QLinearAddArithmetic(
            sa: sa, za: azp, sb: sb, zb: bzp, sc: sc, zc: czp,
            order: QLinearAddArithmetic.Order(a: a.shape, b: b.shape, output: shape))
        let mult = sa * sb / sc
        let y = [Int32].uninitialized(n) { buf, count in
            ax.withUnsafeBufferPointer { ap in
                bx.withUnsafeBufferPointer { bp in
                    let out = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
                    if isAdd {
                        runs.apply(ap, bp, out) { Int32(convertAndPack(add.value($0, $1), r)) }
                    } else {
                        runs.apply(ap, bp, out) {
                            Int32(convertAndPack(Float((Int64($0) - azp) * (Int64($1) - bzp)) * mult + Float(czp), r))
                        }
                    }
                }
            }
            count = n
        }
        return [Tensor(dtype: outType, shape: shape, storage: .i32(y))]
    }
}

/// QLinearAdd's float arithmetic in onnxruntime 1.32 on x86. MLAS's AVX2 kernel (also the one
/// AVX-512 hosts run) is called per broadcast span as `kernel(X, Y)` and computes, with the
/// compiler's FMA contraction, fixed = zc − fma(rX, zX, rY·zY) and v = fma(x, rX, fma(y, rY, fixed)):
/// the second operand is folded first. onnxruntime's QLinearAdd passes (A, B) except on spans where
/// A is a single broadcast value, where it passes (B, A); a one-element output takes the kernel's
/// scalar-first branch, which folds its first operand, B, first. Measured against onnxruntime on
/// every 8-bit pair (Tests/Fixtures/ops/qlinearadd_every_pair_*, qlinearadd_spans_*): the unfused
/// (fixed + a·rA) + b·rB it replaces was off by one step on up to 4 of 65,536 pairs.
struct QLinearAddArithmetic {
    /// Which operand goes first in the fused sums.
    enum Order {
        /// v = fma(a, rA, fma(b, rB, fixed_ab)): same shapes, B broadcast on the span.
        case bInner
        /// v = fma(b, rB, fma(a, rA, fixed_ba)): A is one broadcast value on each span.
        case aInner
        /// v = fma(a, rA, fma(b, rB, fixed_ba)): a one-element output.
        case single

        /// The order onnxruntime's broadcaster gives: A is a span scalar when it has one element
        /// or is broadcast along the innermost output dimension of size > 1.
        init(a: [Int], b: [Int], output: [Int]) {
            let count = output.reduce(1, *)
            if count == 1 {
                self = .single
            } else if a.reduce(1, *) == 1 {
                self = .aInner
            } else if b.reduce(1, *) == 1 {
                self = .bInner
            } else {
                let d = output.lastIndex { $0 > 1 }!, offset = output.count - a.count
                let aDim = d >= offset ? a[d - offset] : 1
                self = aDim == 1 ? .aInner : .bInner
            }
        }
    }
    let rA: Float, rB: Float, fixed: Float, order: Order

    init(sa: Float, za: Int64, sb: Float, zb: Int64, sc: Float, zc: Int64, order: Order) {
        rA = sa / sc
        rB = sb / sc
        self.order = order
        let fa = Float(za), fb = Float(zb)
        fixed = Float(zc) - (order == .bInner ? (rB * fb).addingProduct(rA, fa) : (rA * fa).addingProduct(rB, fb))
    }

    @inline(__always)
    func value(_ a: Int32, _ b: Int32) -> Float {
        let x = Float(a), y = Float(b)
        switch order {
        case .bInner, .single: return fixed.addingProduct(y, rB).addingProduct(x, rA)
        case .aInner: return fixed.addingProduct(x, rA).addingProduct(y, rB)
        }
    }
}

/// MLAS QuantizeLinear of one float: saturate(rint(v / scale) + zp).
@inline(__always)
func mlasQuantize(_ v: Float, scale: Float, zeroPoint: Int64, range: ClosedRange<Int64>) -> Int64 {
    let q = RoundingRule.halfToEven.round(v / scale)
    return min(
        max(Int64(exactly: q) ?? (q > 0 ? Int64.max / 2 : Int64.min / 2), range.lowerBound - zeroPoint),
        range.upperBound - zeroPoint) + zeroPoint
}

/// com.microsoft QLinearLeakyRelu / QLinearSigmoid as onnxruntime computes them: a 256-entry
/// table built by dequantizing every 8-bit value (x_scale · (x − x_zp)), applying the float
/// function (MLAS's logistic for QLinearSigmoid), and quantizing with MLAS QuantizeLinear
/// (rint(v / y_scale) + y_zp, saturated).
struct QLinearLookupKernel: Kernel {
    let op: String
    let alpha: Float
    init(node: Node, ctx: KernelContext) throws {
        op = node.opType
        alpha = node.float("alpha", default: 0.01)
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), xs = try required(inputs, 1, "X_scale")
        let ys = try required(inputs, 3, "Y_scale")
        try checkQuantized(x, "X")
        let xz = try zeroPoint(optional(inputs, 2), "X_zero_point"), yzT = optional(inputs, 4)
        let yz = try zeroPoint(yzT, "Y_zero_point")
        let xsv = try scalarParam(xs, "X_scale"), ysv = try scalarParam(ys, "Y_scale")
        let range = x.dtype.integerRange!
        return [
            try throughTable(x) { v in
                let d = xsv * Float(v - xz)
                let f: Float = op == "QLinearLeakyRelu" ? (d >= 0 ? d : d * alpha) : MlasTranscendental.logistic(d)
                return mlasQuantize(f, scale: ysv, zeroPoint: yz, range: range)
            }
        ]
    }
}

/// com.microsoft QLinearSoftmax as onnxruntime 1.32 computes it (qlinear_softmax.cc; measured
/// on 2,100 models): rows along `axis` (flattened from `axis` when the `opset` attribute is
/// below 13). A 256-entry table t[i] = Float(exp((i − 255 + b)·x_scale)) in double, with
/// b = max(0, logf(FLT_MAX / n) − 5) / x_scale; a row indexes it by 255 − max + x (int8:
/// 127 − max + x, wrapped to a byte), sums the entries in float32 from 0, and writes
/// round_half_even(t·⌊1/y_scale⌋ / sum) + y_zero_point saturated, the quotient in double.
/// X's zero point is not read.
struct QLinearSoftmaxKernel: Kernel {
    let node: Node
    let axis: Int
    let flattens: Bool
    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        axis = node.int("axis", default: -1)
        flattens = node.int("opset", default: 13) < 13
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        try checkQuantized(x, "X")
        let xs = try scalarParam(try required(inputs, 1, "X_scale"), "X_scale")
        let ys = try scalarParam(try required(inputs, 3, "y_scale"), "y_scale")
        let yz = try zeroPoint(optional(inputs, 4), "y_zero_point")
        let signed = x.dtype == .int8
        let rows = try SoftmaxRows(shape: x.shape, axis: axis, flattens: flattens, "QLinearSoftmax")
        let (outer, dim, inner) = (rows.outer, rows.dim, rows.inner)
        let q = Float.greatestFiniteMagnitude / Float(dim)
        let b = Swift.max(0, Double(Foundation.log(q)) - 5) / Double(xs)
        var table = [Float](repeating: 0, count: 256)
        for i in 0..<256 {
            table[signed ? (i - 128) & 0xFF : i] = Float(Foundation.exp((Double(i) - 255 + b) * Double(xs)))
        }
        let scale = Double((1 / ys).rounded(.down))
        let range = x.dtype.integerRange!
        let xv = try intValues(x)
        var y = [Int64](repeating: 0, count: xv.count)
        var t = [Float](repeating: 0, count: dim)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * dim * inner + i
                var mx = Int64.min
                for d in 0..<dim { mx = Swift.max(mx, xv[base + d * inner]) }
                var sum: Float = 0
                for d in 0..<dim {
                    let v = xv[base + d * inner]
                    t[d] = table[Int((signed ? 127 - mx + v : 255 - mx + v) & 0xFF)]
                    sum = sum + t[d]
                }
                guard sum != 0 else {
                    throw QVError.unsupported(
                        "QLinearSoftmax '\(node.name)': a row's table entries sum to 0 (onnxruntime leaves it unwritten)"
                    )
                }
                for d in 0..<dim {
                    let r = (Double(t[d]) * scale / Double(sum)).rounded(.toNearestOrEven) + Double(yz)
                    y[base + d * inner] = Int64(
                        Swift.min(Double(range.upperBound), Swift.max(Double(range.lowerBound), r)))
                }
            }
        }
        return [wrapping(y, x.dtype, shape: x.shape)]
    }
}

/// com.microsoft QLinearGlobalAveragePool (NCHW or channels_last): the exact int32 sum
/// Σ x − x_zp · N, requantized with the float32 multiplier x_scale / (y_scale · N) (MLAS).
struct QLinearGlobalAveragePoolKernel: Kernel {
    let channelsLast: Bool
    init(node: Node, ctx: KernelContext) throws { channelsLast = node.int("channels_last", default: 0) != 0 }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), xs = try required(inputs, 1, "x_scale"),
            ys = try required(inputs, 3, "y_scale")
        try checkQuantized(x, "X")
        guard x.rank >= 3 else { throw QVError.badInput("QLinearGlobalAveragePool needs rank ≥ 3, got \(x.shape)") }
        let xz = try zeroPoint(optional(inputs, 2), "x_zero_point"),
            yz = try zeroPoint(optional(inputs, 4), "y_zero_point")
        let n = x.shape[0], c = channelsLast ? x.shape[x.rank - 1] : x.shape[1]
        let image = x.count / (n * c)
        let mult = try scalarParam(xs, "x_scale") / (try scalarParam(ys, "y_scale") * Float(image))
        let v = try intValues(x)
        var acc = [Int64](repeating: -xz * Int64(image), count: n * c)
        v.withUnsafeBufferPointer { vb in
            for b in 0..<n {
                let base = b * c * image
                if channelsLast {
                    for p in 0..<image {
                        let row = base + p * c
                        for ch in 0..<c { acc[b * c + ch] += vb[row + ch] }
                    }
                } else {
                    for ch in 0..<c {
                        let start = base + ch * image
                        var s: Int64 = 0
                        for i in start..<(start + image) { s += vb[i] }
                        acc[b * c + ch] += s
                    }
                }
            }
        }
        var outShape = x.shape
        for d in (channelsLast ? 1..<(x.rank - 1) : 2..<x.rank) { outShape[d] = 1 }
        return [
            requantize(acc, multiplier: [mult], channelOf: { _ in 0 }, zeroPoint: yz, dtype: x.dtype, shape: outShape)
        ]
    }
}

/// com.microsoft QLinearAveragePool (NCHW, 1-D/2-D): dequantize, average in float32 over the
/// clipped window (count_include_pad counts the whole kernel), then rint(avg / y_scale + y_zp).
struct QLinearAveragePoolKernel: Kernel {
    let node: Node
    let includePad: Bool
    init(node: Node, ctx: KernelContext) throws {
        self.node = node
        includePad = node.int("count_include_pad", default: 0) != 0
        guard node.int("channels_last", default: 0) == 0 else {
            throw QVError.unsupported("QLinearAveragePool with channels_last")
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), xs = try required(inputs, 1, "x_scale"),
            ys = try required(inputs, 3, "y_scale")
        try checkQuantized(x, "X")
        let xz = try zeroPoint(optional(inputs, 2), "x_zero_point"),
            yz = try zeroPoint(optional(inputs, 4), "y_zero_point")
        let g = try PoolGeometry(node: node, x: x.shape)
        guard g.dh == 1, g.dw == 1 else { throw QVError.unsupported("QLinearAveragePool with dilations") }
        let xsv = try scalarParam(xs, "x_scale"), ysv = try scalarParam(ys, "y_scale")
        let v = try intValues(x).map { xsv * Float($0 - xz) }
        let r = x.dtype.integerRange!
        var out = [Int64](repeating: 0, count: g.n * g.c * g.oh * g.ow)
        for plane in 0..<(g.n * g.c) {
            let base = plane * g.h * g.w
            for oy in 0..<g.oh {
                let hs = oy * g.sh - g.padTop, he = min(hs + g.kh, g.h), h0 = max(hs, 0)
                for ox in 0..<g.ow {
                    let ws = ox * g.sw - g.padLeft, we = min(ws + g.kw, g.w), w0 = max(ws, 0)
                    var sum: Float = 0
                    for y in h0..<max(he, h0) { for xx in w0..<max(we, w0) { sum += v[base + y * g.w + xx] } }
                    let count = includePad ? g.kh * g.kw : max(he - h0, 0) * max(we - w0, 0)
                    let avg = sum / Float(max(count, 1))
                    // Converted before saturating: a zero y_scale gives the lower bound, as onnxruntime does.
                    out[(plane * g.oh + oy) * g.ow + ox] = convertAndPack(avg / ysv + Float(yz), r)
                }
            }
        }
        return [wrapping(out, x.dtype, shape: g.outShape)]
    }
}

/// com.microsoft QLinearConcat: inputs (Y_scale, Y_zp, then X, X_scale, X_zp per input); an
/// input whose scale and zero point equal the output's is copied, any other is requantized
/// through onnxruntime's lookup table (dequantize, then MLAS QuantizeLinear).
struct QLinearConcatKernel: Kernel {
    let axis: Int
    init(node: Node, ctx: KernelContext) throws { axis = node.int("axis", default: 0) }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let ys = try required(inputs, 0, "Y_scale"), yzT = try required(inputs, 1, "Y_zero_point")
        guard (inputs.count - 2) % 3 == 0, inputs.count >= 5 else {
            throw QVError.badInput("QLinearConcat needs (X, X_scale, X_zero_point) triples")
        }
        let ysv = try scalarParam(ys, "Y_scale"), yz = try zeroPoint(yzT, "Y_zero_point")
        var parts: [Tensor] = []
        for k in stride(from: 2, to: inputs.count, by: 3) {
            let x = try required(inputs, k, "X"),
                xs = try scalarParam(try required(inputs, k + 1, "X_scale"), "X_scale")
            let xz = try zeroPoint(optional(inputs, k + 2), "X_zero_point")
            try checkQuantized(x, "X")
            guard x.dtype == yzT.dtype else {
                throw QVError.badInput("QLinearConcat input type \(x.dtype) differs from output \(yzT.dtype)")
            }
            if xs == ysv && xz == yz { parts.append(x); continue }
            let range = x.dtype.integerRange!
            parts.append(
                try throughTable(x) { mlasQuantize(xs * Float($0 - xz), scale: ysv, zeroPoint: yz, range: range) })
        }
        let a = try ShapeInference.axis(axis, rank: parts[0].rank, "QLinearConcat axis")
        for p in parts
        where p.rank != parts[0].rank || (0..<p.rank).contains(where: { $0 != a && p.shape[$0] != parts[0].shape[$0] })
        {
            throw QVError.badInput("QLinearConcat inputs \(parts.map(\.shape)) do not fit along axis \(a)")
        }
        return [concat(parts, axis: a)]
    }
}

/// An 8-bit tensor through a function of one value, made once as its table over x's type (256
/// entries) and read per element; the result keeps x's type.
func throughTable(_ x: Tensor, _ f: (Int64) -> Int64) throws -> Tensor {
    guard let range = x.dtype.integerRange, range.count <= 256 else {
        throw QVError.internalError("a lookup table over \(x.dtype)")
    }
    let lo = range.lowerBound
    let table = range.map { Int32(f($0)) }
    let xv = try rawInt32(x)
    let y = table.withUnsafeBufferPointer { t in converted(xv) { t[Int(Int64($0) - lo)] } }
    return Tensor(dtype: x.dtype, shape: x.shape, storage: .i32(y))
}

/// x86's cvtps2dq then a saturating pack, as MLAS's QLinearAdd/QLinearMul store: round half to
/// even; NaN, ±infinity and values beyond int32 become INT32_MIN ("integer indefinite"), which
/// the pack saturates to the lower bound.
func convertAndPack(_ v: Float, _ range: ClosedRange<Int64>) -> Int64 {
    let i = x86TruncatingCast(Double(RoundingRule.halfToEven.round(v)), bits: 32)  // already an integer: no truncation
    return min(max(i, range.lowerBound), range.upperBound)
}
