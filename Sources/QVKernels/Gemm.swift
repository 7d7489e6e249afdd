import QVGraph

/// ONNX Gemm (opset 7–13): Y = alpha·op(A)·op(B) + beta·C, C broadcast to [M, N]. Float through
/// sgemm; under Aidge semantics integer A/B give an exact int32 result (Aidge's FC on its exports).
struct GemmKernel: Kernel {
    let transA: Bool, transB: Bool
    let alpha: Float, beta: Float
    let ctx: KernelContext
    /// An integer B as exact floats with its bounds, made once when B is a constant.
    let constantB: Bool
    let cache = WeightCache<IntegerOperand>()
    let transposedB = WeightCache<[Float]>()

    init(node: Node, ctx: KernelContext) throws {
        constantB = ctx.constantInputs.contains(1)
        transA = node.int("transA", default: 0) != 0
        transB = node.int("transB", default: 0) != 0
        alpha = node.float("alpha", default: 1)
        beta = node.float("beta", default: 1)
        self.ctx = ctx
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] { try run(inputs, samples: 1) }

    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let c = optional(inputs, 2)
        guard a.rank == 2, b.rank == 2 else {
            throw QVError.badInput("Gemm needs 2-D A and B, got \(a.shape) and \(b.shape)")
        }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == kb else { throw QVError.badInput("Gemm inner dimensions differ: A \(a.shape), B \(b.shape)") }
        if let c { _ = try biasIndex(c.shape, m: m, n: n) }
        if a.dtype.isInteger || b.dtype.isInteger {
            guard ctx.semantics == .aidge else {
                throw QVError.badInput(
                    "Gemm on \(a.dtype)×\(b.dtype) is not valid ONNX (use --semantics aidge for Aidge-form graphs)")
            }
            guard alpha == 1, beta == 1 else { throw QVError.unsupported("integer Gemm with alpha/beta ≠ 1") }
            let bOperand = try cache.get(ifConstant: constantB) {
                IntegerOperand(rightOperand: try shiftedFloats(b) { _ in 0 }, k: k, n: n, transposed: transB)
            }
            var acc = try integerMatmul(
                a: try shiftedFloats(a) { _ in 0 }, b: bOperand, m: m, n: n, k: k, transA: transA)
            if let c {
                let cv = try integersAllowingFloat(c)
                let idx = try biasIndex(c.shape, m: m, n: n)
                for i in 0..<(m * n) { acc[i] += cv[idx(i)] }
            }
            return [wrapping(acc, .int32, shape: [m, n])]
        }
        guard a.dtype == .float, b.dtype == .float else { throw QVError.unsupported("Gemm on \(a.dtype)×\(b.dtype)") }
        var y = [Float](repeating: 0, count: m * n)
        var betaEff: Float = 0
        if let c, beta != 0 {
            let cv = try floatValues(c)
            let idx = try biasIndex(c.shape, m: m, n: n)
            for i in 0..<(m * n) { y[i] = cv[idx(i)] }
            betaEff = beta
        }
        // A constant transposed B is transposed once (the kernel reads B as K×N).
        let bT =
            transB && constantB
            ? transposedB.get {
                b.floats!.withUnsafeBufferPointer {
                    OnnxruntimeGemm.transposed($0.baseAddress!, rows: n, cols: k, ld: k)
                }
            } : []
        a.floats!.withUnsafeBufferPointer { ab in
            b.floats!.withUnsafeBufferPointer { bb in
                bT.withUnsafeBufferPointer { btb in
                    y.withUnsafeMutableBufferPointer { yb in
                        OnnxruntimeGemm.sgemm(
                            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                            a: ab.baseAddress!, lda: a.shape[1], b: bb.baseAddress!, ldb: b.shape[1],
                            beta: betaEff, c: yb.baseAddress!, ldc: n, problemRows: m / max(1, samples),
                            bIsPacked: ctx.initializerInputs.contains(1),
                            transposedB: bT.isEmpty ? nil : btb.baseAddress!)
                    }
                }
            }
        }
        return [Tensor(dtype: .float, shape: [m, n], storage: .f32(y))]
    }
}

/// Maps a flat [M, N] index to the index of a unidirectionally broadcast bias of `shape`.
func biasIndex(_ shape: [Int], m: Int, n: Int) throws -> (Int) -> Int {
    let s = Array(repeating: 1, count: max(0, 2 - shape.count)) + shape
    guard s.count == 2, s[0] == 1 || s[0] == m, s[1] == 1 || s[1] == n else {
        throw QVError.badInput("bias of shape \(shape) does not broadcast to [\(m), \(n)]")
    }
    let rowStride = s[0] == 1 ? 0 : s[1], colStride = s[1] == 1 ? 0 : 1
    return { i in (i / n) * rowStride + (i % n) * colStride }
}

/// Exact integer product op(A)[m×k] · op(B)[k×n] of Int64 operands (see
/// ``integerMatmul(a:b:m:n:k:transA:transB:aZero:bZero:)``).
func integerMatmul(a: [Int64], b: [Int64], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) throws -> [Int64] {
    try integerMatmul(a: a.map { Float($0) }, b: b.map { Float($0) }, m: m, n: n, k: k, transA: transA, transB: transB)
}

/// Shifted integer operand as Float (exact below 2^24): x − zero(column or row) in one pass.
func shiftedFloats(_ t: Tensor, zero: (Int) -> Int64) throws -> [Float] {
    if case .i32(let v) = t.storage {
        return [Float].uninitialized(v.count) { buf, c in
            v.withUnsafeBufferPointer { vb in for i in 0..<vb.count { buf[i] = Float(Int64(vb[i]) - zero(i)) } }
            c = v.count
        }
    }
    let v = try integersAllowingFloat(t)
    return v.indices.map { Float(v[$0] - zero($0)) }
}

/// Exact integer product of op(A)[m×k] and op(B)[k×n] given as Float holding integers: one
/// float32 product when every partial sum provably stays below 2^24 (max|a| · max column Σ|b|),
/// else K-chunks whose partial sums do, summed in Int64. Any summation order is then exact.
func integerMatmul(a: [Float], b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) throws -> [Int64] {
    try integerMatmul(
        a: a, b: IntegerOperand(rightOperand: b, k: k, n: n, transposed: transB), m: m, n: n, k: k, transA: transA)
}

/// The right operand op(B)[k×n] of an exact integer product, stored k×n (transposed once when
/// given n×k), with the bounds that decide how it can be summed in float32. Constant weights
/// make it once.
struct IntegerOperand: Sendable {
    /// op(B) as k×n.
    let values: [Float]
    /// max |b| and the largest Σ_k |op(B)[k, j]| over columns j.
    let maxAbs: Float, maxColumnAbsSum: Float

    init(rightOperand b: [Float], k: Int, n: Int, transposed: Bool) {
        var colAbs = [Float](repeating: 0, count: n)
        var maxB: Float = 0
        b.withUnsafeBufferPointer { bb in
            if transposed {  // stored [n×k]: a column of op(B) is a contiguous row
                for j in 0..<n {
                    var s: Float = 0
                    for kk in 0..<k { let v = abs(bb[j * k + kk]); s += v; maxB = max(maxB, v) }
                    colAbs[j] = s
                }
            } else {
                for kk in 0..<k { for j in 0..<n { let v = abs(bb[kk * n + j]); colAbs[j] += v; maxB = max(maxB, v) } }
            }
        }
        maxAbs = maxB
        maxColumnAbsSum = colAbs.max() ?? 0
        values =
            transposed
            ? b.withUnsafeBufferPointer { OnnxruntimeGemm.transposed($0.baseAddress!, rows: n, cols: k, ld: k) } : b
    }
}

/// Exact integer product op(A)[m×k] · B, B already laid out k×n by ``IntegerOperand``.
func integerMatmul(a stored: [Float], b operand: IntegerOperand, m: Int, n: Int, k: Int, transA: Bool) throws -> [Int64]
{
    let b = operand.values
    let a =
        transA
        ? stored.withUnsafeBufferPointer { OnnxruntimeGemm.transposed($0.baseAddress!, rows: k, cols: m, ld: m) }
        : stored
    let maxA = a.lazy.map { abs($0) }.max() ?? 0, maxB = operand.maxAbs
    guard maxA < 16_777_216, maxB < 16_777_216 else {
        throw QVError.unsupported("integer matrix product operands beyond 2^24")
    }
    let single = Double(maxA) * Double(operand.maxColumnAbsSum) < Double(1 << 24)
    let chunk = single ? k : max(1, min(k, Int(16_777_215 / max(1, Double(maxA) * Double(maxB)))))
    var out = [Int64](repeating: 0, count: m * n)
    var part = [Float](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
            part.withUnsafeMutableBufferPointer { pb in
                var k0 = 0
                while k0 < k {
                    let kk = min(chunk, k - k0)
                    // Column block k0..<k0+kk of A (m×k) and row block of op(B) (k×n).
                    OnnxruntimeGemm.chain(
                        m: m, n: n, k: kk, a: ab.baseAddress! + k0, lda: k, b: bb.baseAddress! + k0 * n, ldb: n,
                        c: pb.baseAddress!, ldc: n, accumulate: false)
                    for i in 0..<(m * n) { out[i] += Int64(pb[i]) }
                    k0 += kk
                }
            }
        }
    }
    return out
}

/// ONNX MatMul (numpy semantics, batched with broadcasting). Float through sgemm; integer
/// operands under Aidge semantics give exact int32.
struct MatMulKernel: Kernel {
    let ctx: KernelContext
    init(node: Node, ctx: KernelContext) throws { self.ctx = ctx }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] { try run(inputs, samples: 1) }

    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let integer = a.dtype.isInteger || b.dtype.isInteger
        if integer && ctx.semantics != .aidge {
            throw QVError.badInput(
                "MatMul on \(a.dtype)×\(b.dtype) is not valid ONNX (use --semantics aidge or MatMulInteger)")
        }
        return [
            try batchedMatmul(
                a, b, integer: integer, samples: samples, bIsPacked: b.rank == 2 && ctx.initializerInputs.contains(1))
        ]
    }
}

/// Numpy matmul over broadcast batch dimensions; integer results are exact int32.
/// A float product is summed as onnxruntime sums it; `samples` stacked on axis 0 of a 2-D A are
/// each their own product there.
func batchedMatmul(
    _ a: Tensor, _ b: Tensor, integer: Bool, aZero: Int64 = 0, bZero: Int64 = 0, samples: Int = 1,
    bIsPacked: Bool = false
) throws -> Tensor {
    let outShape = try ShapeInference.matmulShape(a.shape, b.shape)
    let a2 = a.rank == 1 ? [1] + a.shape : a.shape
    let b2 = b.rank == 1 ? b.shape + [1] : b.shape
    let m = a2[a2.count - 2], k = a2[a2.count - 1], n = b2[b2.count - 1]
    let batch = try ShapeInference.broadcast([Array(a2.dropLast(2)), Array(b2.dropLast(2))])
    let nb = batch.reduce(1, *)
    let aIdx = broadcastMap(from: Array(a2.dropLast(2)), to: batch)
    let bIdx = broadcastMap(from: Array(b2.dropLast(2)), to: batch)
    if integer {
        let av = try intValues(a).map { $0 - aZero }, bv = try intValues(b).map { $0 - bZero }
        var out: [Int64] = []
        out.reserveCapacity(nb * m * n)
        for i in 0..<nb {
            let ao = aIdx(i) * m * k, bo = bIdx(i) * k * n
            out += try integerMatmul(
                a: Array(av[ao..<ao + m * k]), b: Array(bv[bo..<bo + k * n]), m: m, n: n, k: k, transA: false,
                transB: false)
        }
        return wrapping(out, .int32, shape: outShape)
    }
    guard a.dtype == .float, b.dtype == .float else { throw QVError.unsupported("MatMul on \(a.dtype)×\(b.dtype)") }
    // onnxruntime's MatMulComputeHelper: when B is a matrix (any leading dims all 1) and A has at
    // least its rank, A's leading dims fold into M and one GEMM runs; M decides MLAS's kernel
    // (GEMV at M = 1, the N = 1 swap), so the fold changes sums. A's leading dims hold the
    // stacked samples, each its own product of M/samples rows.
    let foldsIntoM = a.rank >= 2 && b.rank >= 2 && a.rank >= b.rank && b.shape.dropLast(2).reduce(1, *) == 1
    let gemms = foldsIntoM ? 1 : nb, rows = foldsIntoM ? nb * m : m
    let problemRows = foldsIntoM || a2.count == 2 ? rows / max(1, samples) : m
    var y = [Float](repeating: 0, count: nb * m * n)
    a.floats!.withUnsafeBufferPointer { ab in
        b.floats!.withUnsafeBufferPointer { bb in
            y.withUnsafeMutableBufferPointer { yb in
                for i in 0..<gemms {
                    OnnxruntimeGemm.sgemm(
                        transA: false, transB: false, m: rows, n: n, k: k, alpha: 1,
                        a: ab.baseAddress! + aIdx(i) * m * k, lda: k, b: bb.baseAddress! + bIdx(i) * k * n, ldb: n,
                        beta: 0, c: yb.baseAddress! + i * m * n, ldc: n, problemRows: problemRows, bIsPacked: bIsPacked)
                }
            }
        }
    }
    return Tensor(dtype: .float, shape: outShape, storage: .f32(y))
}

/// For a shape broadcast to `to`, the flat index in `from` of every flat index of `to`.
func broadcastIndices(from: [Int], to: [Int]) -> [Int] {
    let f = Array(repeating: 1, count: to.count - from.count) + from
    if f == to { return Array(0..<to.reduce(1, *)) }
    var strides = Array(repeating: 0, count: to.count)
    var s = 1
    for i in stride(from: to.count - 1, through: 0, by: -1) {
        strides[i] = f[i] == 1 ? 0 : s
        s *= f[i]
    }
    return odometerOffsets(extents: to, steps: strides)
}

/// The offsets Σ index[d]·steps[d] of every index of `extents` in row-major order, walked as an
/// odometer: each step adds one dim's step and carries, no division per element.
func odometerOffsets(extents: [Int], steps: [Int]) -> [Int] {
    let n = extents.reduce(1, *), r = extents.count
    return [Int].uninitialized(n) { buf, initialized in
        var idx = [Int](repeating: 0, count: r)
        var off = 0
        for o in 0..<n {
            buf[o] = off
            var d = r - 1
            while d >= 0 {
                idx[d] += 1
                off += steps[d]
                if idx[d] < extents[d] { break }
                off -= steps[d] * extents[d]
                idx[d] = 0
                d -= 1
            }
        }
        initialized = n
    }
}

/// For a shape broadcast to `to`, maps a flat index in `to` to the flat index in `from`.
func broadcastMap(from: [Int], to: [Int]) -> (Int) -> Int {
    let f = Array(repeating: 1, count: to.count - from.count) + from
    if f == to { return { $0 } }
    var strides = Array(repeating: 0, count: to.count)
    var s = 1
    for i in stride(from: to.count - 1, through: 0, by: -1) {
        strides[i] = f[i] == 1 ? 0 : s
        s *= f[i]
    }
    return { flat in
        var rem = flat, idx = 0
        for i in stride(from: to.count - 1, through: 0, by: -1) {
            idx += (rem % to[i]) * strides[i]
            rem /= to[i]
        }
        return idx
    }
}
