import _QVChainGemm

/// Float GEMM summed in exactly the order onnxruntime's CPU provider sums it (MLAS on x86-64 with
/// AVX and FMA3, one thread), so that a float Conv/Gemm/MatMul in front of a QuantizeLinear rounds
/// to the same integer as onnxruntime even when x/scale lands within an ulp of a tie.
///
/// What MLAS does (read from onnxruntime's sgemm.cpp and SgemmKernelM1Avx; measured bit for bit
/// against onnxruntime 1.32 on the cnn fixture):
/// - One output row (M = 1, A not transposed, alpha 1, beta 0 or 1) takes a dedicated AVX kernel
///   without FMA. With B transposed each output is a dot product in 8 lanes (lane j sums the
///   products of k ≡ j mod 8, each product rounded), reduced in an order that depends on whether
///   the output is in a group of 4, 2 or 1 outputs; with B as is, the products of 4 consecutive
///   k are summed, then added to C, group after group. Then C (the bias, when beta is 1) is added.
/// - N = 1 with contiguous B and C is the same kernel with the operands swapped.
/// - Everything else: blocks of the reduction (``blockK(n:k:transA:)``, or 256 when B is
///   a constant that onnxruntime pre-packed), each an FMA chain from zero, added to C in turn.
public enum OnnxruntimeGemm {
    /// The instruction path of the fixed-order kernel: "avx512f", "avx2+fma" or "portable"
    /// (chosen from the CPU; every path gives the same bits). Setting it is for tests and
    /// benchmarks; a path this CPU cannot run is ignored.
    public static var kernelPath: String {
        get { String(cString: qv_sgemm_chain_path()) }
        set { _ = qv_sgemm_chain_set_path(newValue) }
    }

    /// The reduction-block length onnxruntime's MLAS SGEMM uses for an N-column product with
    /// reduction length K (one thread). MLAS starts from 128×128 panels and trades stride for
    /// stride: a short K lends to N, a narrow N lends to K. Each block is summed by its own
    /// FMA chain from zero and added to C, so a float result is bit-identical to onnxruntime's
    /// only when the blocks are the same.
    /// With A transposed MLAS keeps K's stride at most 128 (its A panel is the transpose buffer):
    /// a narrow N does not lend to K.
    public static func blockK(n: Int, k: Int, transA: Bool = false) -> Int {
        var strideN = 128, strideK = 128
        if n >= k {
            while strideK / 2 >= k { strideN *= 2; strideK /= 2 }
        } else if !transA {
            while strideN > 16 && strideN / 2 >= n { strideK *= 2; strideN /= 2 }
        }
        return strideK
    }

    /// C[m×n] = alpha·op(A)·op(B) + beta·C, where the m rows are `m / problemRows` independent
    /// products of `problemRows` rows each (the samples of a stacked batch: onnxruntime runs each
    /// sample alone, so a one-row sample takes the one-row kernel).
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, problemRows: Int,
        blockK fixedBlockK: Int? = nil, bIsPacked: Bool = false,
        transposedB: UnsafePointer<Float>? = nil
    ) {
        guard m > 0, n > 0 else { return }
        if beta != 0 && beta != 1 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = c[i * ldc + j] * beta } }
        }
        let accumulate = beta != 0
        guard k > 0 else {
            if !accumulate { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } } }
            return
        }
        let rows = problemRows > 0 && m % problemRows == 0 && !transA ? problemRows : m
        let oneRowKernels = alpha == 1 && (beta == 0 || beta == 1) && !bIsPacked
        if oneRowKernels && !transA && rows == 1 {
            // A convolution hands MLAS's SGEMM one reduction block at a time (fixedBlockK).
            let step = fixedBlockK ?? k
            var k0 = 0
            repeat {
                let kk = min(step, k - k0), acc = accumulate || k0 > 0
                for i in 0..<m {
                    if transB {
                        dotRows(
                            a + i * lda + k0, rowsOf: b + k0, ld: ldb, count: n, k: kk, accumulate: acc, c: c + i * ldc)
                    } else {
                        axpyRows(
                            a + i * lda + k0, b: b + k0 * ldb, ldb: ldb, n: n, k: kk, accumulate: acc, c: c + i * ldc)
                    }
                }
                k0 += kk
            } while k0 < k
            return
        }
        if oneRowKernels && n == 1 && ldb == 1 && ldc == 1 {
            // MLAS swaps the operands: C[M] = op(A) · b with b the one row, op(A)'s rows the columns.
            // Its test is N = 1, ldb = 1, ldc = 1 whatever transB says: a transposed B of one row
            // with ldb = 1 (the direct GEMM of a conv whose kernel spans a one-column input) swaps too.
            if transA {
                axpyRows(b, b: a, ldb: lda, n: m, k: k, accumulate: accumulate, c: c)
            } else {
                var p0 = 0
                while p0 < m {
                    dotRows(b, rowsOf: a + p0 * lda, ld: lda, count: rows, k: k, accumulate: accumulate, c: c + p0)
                    p0 += rows
                }
            }
            return
        }
        // A constant B is packed once by onnxruntime's Gemm/MatMul, and packed B comes in 256-deep slices.
        let blockK = bIsPacked ? 256 : fixedBlockK ?? blockK(n: n, k: k, transA: transA)
        // The chain kernel reads A and B untransposed; a transposed operand is copied once.
        var aT: [Float] = [], bT: [Float] = []
        if transA { aT = transposed(a, rows: k, cols: m, ld: lda) }
        if transB && transposedB == nil { bT = transposed(b, rows: n, cols: k, ld: ldb) }
        // With alpha ≠ 1 each block's chain goes to `part` first (allocated once).
        var part = [Float](repeating: 0, count: alpha == 1 ? 0 : m * n)
        aT.withUnsafeBufferPointer { atb in
            bT.withUnsafeBufferPointer { btb in
                let ap = transA ? atb.baseAddress! : a, la = transA ? k : lda
                let bp = transB ? transposedB ?? btb.baseAddress! : b, lb = transB ? n : ldb
                var k0 = 0
                repeat {
                    let kk = min(blockK, k - k0)
                    if alpha == 1 {
                        chain(
                            m: m, n: n, k: kk, a: ap + k0, lda: la, b: bp + k0 * lb, ldb: lb, c: c, ldc: ldc,
                            accumulate: accumulate || k0 > 0)
                    } else {
                        // MLAS scales each block's chain by alpha as it adds it to C: one rounding, an FMA.
                        part.withUnsafeMutableBufferPointer { pb in
                            chain(
                                m: m, n: n, k: kk, a: ap + k0, lda: la, b: bp + k0 * lb, ldb: lb, c: pb.baseAddress!,
                                ldc: n, accumulate: false)
                            for i in 0..<m {
                                for j in 0..<n {
                                    let prev: Float = accumulate || k0 > 0 ? c[i * ldc + j] : 0
                                    c[i * ldc + j] = prev.addingProduct(pb[i * n + j], alpha)
                                }
                            }
                        }
                    }
                    k0 += kk
                } while k0 < k
            }
        }
    }

    /// C[m×n] (+)= A[m×k]·B[k×n], each element one FMA chain over k from zero (then added to C
    /// with one rounding when accumulating): the fixed-order kernel itself, no MLAS blocking.
    public static func chain(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        qv_sgemm_chain(m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }

    /// The cols×rows transpose of a rows×cols matrix with leading dimension `ld`.
    static func transposed(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) -> [Float] {
        [Float].uninitialized(rows * cols) { buf, count in
            for r in 0..<rows { for q in 0..<cols { buf[q * rows + r] = x[r * ld + q] } }
            count = rows * cols
        }
    }

    /// c[j] (+)= x · row_j for `count` rows of length k, as MLAS's one-row transposed-B kernel:
    /// eight lane sums of rounded products, reduced by the rows' position in groups of 4, 2, 1.
    static func dotRows(
        _ x: UnsafePointer<Float>, rowsOf r: UnsafePointer<Float>, ld: Int, count: Int, k: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>
    ) {
        func lanes(_ row: UnsafePointer<Float>) -> SIMD8<Float> {
            var acc = SIMD8<Float>(repeating: 0)
            var i = 0
            while i + 8 <= k {
                let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                let rv = UnsafeRawPointer(row + i).loadUnaligned(as: SIMD8<Float>.self)
                acc = acc + xv * rv
                i += 8
            }
            if i < k {
                var xv = SIMD8<Float>(repeating: 0), rv = SIMD8<Float>(repeating: 0)
                for l in 0..<(k - i) { xv[l] = x[i + l]; rv[l] = row[i + l] }
                acc = acc + xv * rv
            }
            return acc
        }
        func store(_ j: Int, _ s: Float) { c[j] = s + (accumulate ? c[j] : 0) }
        var j = 0
        while j + 4 <= count {
            for q in 0..<4 {
                let l = lanes(r + (j + q) * ld)
                store(j + q, (((l[0] + l[1]) + l[2]) + l[3]) + (((l[4] + l[5]) + l[6]) + l[7]))
            }
            j += 4
        }
        if (count - j) & 2 != 0 {
            for q in 0..<2 {
                let l = lanes(r + (j + q) * ld)
                store(j + q, ((l[0] + l[2]) + (l[4] + l[6])) + ((l[1] + l[3]) + (l[5] + l[7])))
            }
            j += 2
        }
        if (count - j) & 1 != 0 {
            let l = lanes(r + j * ld)
            store(j, ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])))
        }
    }

    /// c[n] (+)= Σ_k x[k]·B[k][n] as MLAS's one-row kernel: products of 4 (then 2, then 1)
    /// consecutive k, rounded and summed in order, each group added to c.
    static func axpyRows(
        _ x: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>
    ) {
        var first = !accumulate
        func add(_ k0: Int, _ len: Int) {
            for j in 0..<n {
                var s = x[k0] * b[k0 * ldb + j]
                for t in 1..<max(1, len) { s = s + x[k0 + t] * b[(k0 + t) * ldb + j] }
                c[j] = s + (first ? 0 : c[j])
            }
            first = false
        }
        var k0 = 0
        while k0 + 4 <= k { add(k0, 4); k0 += 4 }
        if (k - k0) & 2 != 0 { add(k0, 2); k0 += 2 }
        if (k - k0) & 1 != 0 { add(k0, 1) }
    }
}
