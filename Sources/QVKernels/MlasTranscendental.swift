import Foundation

/// onnxruntime's float Sigmoid and Tanh on x86-64 hosts with FMA3 (every AVX2 and AVX-512 host):
/// MLAS's rational approximations, `MlasLogisticKernelFma3` and `MlasTanhKernelFma3`, with each
/// polynomial step one fused multiply-add as those kernels compute it. The coefficients are
/// Eigen's, as MLAS copies them. Checked bit for bit against onnxruntime 1.32 on 2.3 million
/// inputs over [−20, 20] (the op suite's exact_sigmoid_tanh case keeps a sweep of them).
enum MlasTranscendental {
    /// c₀·x² + c₁, then ·x² + c₂, …: Horner's rule in x², one fused multiply-add per step.
    @inline(__always)
    static func polynomial(_ x2: Float, _ c: [Float]) -> Float {
        var p = c[1].addingProduct(x2, c[0])
        for k in 2..<c.count { p = c[k].addingProduct(x2, p) }
        return p
    }

    static let logisticP: [Float] = [
        4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03,
        2.48287947061529e-01,
    ]
    static let logisticQ: [Float] = [
        6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03,
        1.16817656904453e-01, 9.93151921023180e-01,
    ]
    static let tanhP: [Float] = [
        -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
        1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03,
    ]
    static let tanhQ: [Float] = [
        1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03,
    ]

    /// MlasComputeLogistic: clamp to [−18, 18], p(x²)·x / q(x²) + 0.5, then max(0, ·).
    static func logistic(_ input: Float) -> Float {
        let v = Swift.min(Float(18), Swift.max(Float(-18), input))
        let x2 = v * v
        let y = v * polynomial(x2, logisticP) / polynomial(x2, logisticQ) + 0.5
        return y.isNaN ? y : Swift.max(0, y)
    }

    /// MlasComputeTanh: clamp to [−9, 9], p(x²)·x / q(x²).
    static func tanh(_ input: Float) -> Float {
        let v = Swift.min(Float(9), Swift.max(Float(-9), input))
        let x2 = v * v
        return v * polynomial(x2, tanhP) / polynomial(x2, tanhQ)
    }
}

/// MLAS's exp, Softmax and erf, as onnxruntime 1.32 runs them on x86-64 (measured bit for bit on an
/// AVX2+FMA host over 36,144 Softmax/LogSoftmax models and every float of ±[0.25, 8] for erf;
/// the AVX-512F Softmax path is read from the library's source and disassembly, not measured).
extension MlasTranscendental {
    static let expRoundingBias: Float = 12_582_912  // 1.5·2²³
    static let expLog2Reciprocal = Float(bitPattern: 0x3FB8_AA3B)
    static let expLog2High = Float(bitPattern: 0xBF31_7200)
    static let expLog2Low = Float(bitPattern: 0xB5BF_BE8E)
    /// MlasComputeSumExpF32KernelFma3's lower clamp (−88.376…) and the AVX-512F kernel's (−103.97…).
    static let sumExpLowerFma3 = Float(bitPattern: 0xC2B0_C0A5)
    static let sumExpLowerAvx512 = Float(bitPattern: 0xC2CF_F1B5)

    /// x86 vmaxps(a, b): a > b ? a : b (b when either is NaN).
    @inline(__always) static func vmax(_ a: Float, _ b: Float) -> Float { a > b ? a : b }
    /// x86 vminps(a, b): a < b ? a : b.
    @inline(__always) static func vmin(_ a: Float, _ b: Float) -> Float { a < b ? a : b }

    /// One lane of MLAS's sum-exp kernel on v = x − max: range reduction by the rounding-bias
    /// trick, a degree-6 polynomial in fused multiply-adds, then the exponent. FMA3 rebuilds 2^m by
    /// shifting the biased integer into the exponent (0 below −87.68); AVX-512F clamps lower and
    /// scales with vscalefps (subnormals down to −103.97).
    @inline(__always)
    static func sumExpElement(_ input: Float, avx512: Bool) -> Float {
        let v = vmax(avx512 ? sumExpLowerAvx512 : sumExpLowerFma3, input)
        let biased = expRoundingBias.addingProduct(expLog2Reciprocal, v)
        let m = biased - expRoundingBias
        var r = v.addingProduct(m, expLog2High)
        r = r.addingProduct(m, expLog2Low)
        var p = Float(bitPattern: 0x3C09_2F6E).addingProduct(Float(bitPattern: 0x3AB4_A000), r)
        p = Float(bitPattern: 0x3D2A_ADAD).addingProduct(p, r)
        p = Float(bitPattern: 0x3E2A_AA28).addingProduct(p, r)
        p = Float(bitPattern: 0x3EFF_FFFB).addingProduct(p, r)
        p = Float(1).addingProduct(p, r)
        p = Float(1).addingProduct(p, r)
        if avx512 {
            guard m.isFinite, !p.isNaN else { return .nan }
            return Float(Double(p) * Double(sign: .plus, exponent: Int(m), significand: 1))
        }
        return p * Float(bitPattern: (biased.bitPattern << 23) &+ 0x3F80_0000)
    }

    /// MlasComputeSoftmax on one row (one thread): the maximum, e = exp(x − max) summed in `lanes`
    /// vector lanes (element i in lane i mod lanes, then a pairwise reduction of the lanes), then
    /// y = (1/S)·e, or for LogSoftmax y = (x − max) − logf(S).
    static func softmaxRow(
        _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, log: Bool, lanes: Int
    ) {
        var maximum = -Float.greatestFiniteMagnitude
        for v in x { maximum = vmax(maximum, v) }
        let negMax = -maximum
        var acc = SIMD16<Float>(repeating: 0)
        let avx512 = lanes == 16
        for i in 0..<x.count {
            let e = sumExpElement(negMax + x[i], avx512: avx512)
            if !log { y[i] = e }
            let l = avx512 ? i & 15 : i & 7
            acc[l] = acc[l] + e
        }
        if avx512 { for k in 0..<8 { acc[k] = acc[k + 8] + acc[k] } }
        let s = ((acc[4] + acc[5]) + (acc[6] + acc[7])) + ((acc[0] + acc[1]) + (acc[2] + acc[3]))
        if log {
            let l = Foundation.log(s)
            for i in 0..<x.count { y[i] = (negMax + x[i]) - l }
        } else {
            let scale = 1 / s
            for i in 0..<x.count { y[i] = scale * y[i] }
        }
    }

    static let erfUpper = Float(bitPattern: 0x407B_3333)  // 3.925 in onnxruntime 1.32
    static let erfSplit = Float(bitPattern: 0x3F6C_0000)  // 0.921875

    /// MlasErfKernelFma3 (every x86 host): |x| clamped to 3.925; below 0.921875 an odd polynomial,
    /// above it 1 − exp(−q(|x|)) with MLAS's exp; the sign put back. NaN passes through.
    static func erf(_ x: Float) -> Float {
        let sign = x.bitPattern & 0x8000_0000
        let a = vmin(erfUpper, Float(bitPattern: x.bitPattern & 0x7FFF_FFFF))
        let s = a * a
        var p = Float(4.99339588e-3).addingProduct(Float(-5.99104969e-4), s)
        p = Float(-2.67667342e-2).addingProduct(p, s)
        p = Float(1.12818025e-1).addingProduct(p, s)
        p = Float(-3.76124859e-1).addingProduct(p, s)
        p = Float(1.28379151e-1).addingProduct(p, s)
        let big = a > erfSplit
        let small: Float = big ? 0 : a.addingProduct(p, a)
        let ab: Float = big ? a : 0
        var q = Float(-3.83208680e-4).addingProduct(Float(1.72948930e-5), ab)
        q = Float(3.88393435e-3).addingProduct(q, ab)
        q = Float(-2.42545605e-2).addingProduct(q, ab)
        q = Float(1.06777847e-1).addingProduct(q, ab)
        q = Float(6.34846687e-1).addingProduct(q, ab)
        q = Float(1.28717512e-1).addingProduct(q, ab)
        q = ab.addingProduct(q, ab)
        let t = vmax(-q, sumExpLowerFma3)
        let r = expRoundingBias.addingProduct(expLog2Reciprocal, t) - expRoundingBias
        var f = t.addingProduct(expLog2High, r)
        f = f.addingProduct(r, expLog2Low)
        var y = Float(8.37550033e-3).addingProduct(Float(1.38319808e-3), f)
        y = Float(4.16689515e-2).addingProduct(y, f)
        y = Float(1.66664466e-1).addingProduct(y, f)
        y = Float(4.99999851e-1).addingProduct(y, f)
        y = Float(1).addingProduct(y, f)
        y = Float(1).addingProduct(y, f)
        let ri = r.isFinite ? Int32(r) : 0
        y = 1 - y * Float(bitPattern: UInt32(bitPattern: (ri &+ 127) << 23))
        return Float(bitPattern: y.bitPattern | small.bitPattern | sign)
    }

    static let geluB = Float(bitPattern: 0x3F4C_422A)  // √(2/π)
    static let geluC = Float(bitPattern: 0x3D12_2279)  // 0.044715·√(2/π)

    /// onnxruntime's Gelu: approximate "none" (and com.microsoft Gelu, BiasGelu) as
    /// (0.5·x)·(erf(x·(1/√2)) + 1); "tanh" (and FastGelu) as (0.5·x)·(tanh(x·((C·x)·x + B)) + 1);
    /// every step rounded apart (the loops are compiled without FMA).
    static func gelu(_ x: Float, tanhForm: Bool) -> Float {
        if tanhForm {
            let inner = (geluC * x) * x + geluB
            return (0.5 * x) * (tanh(x * inner) + 1)
        }
        return (0.5 * x) * (erf(x * Float(bitPattern: 0x3F35_04F3)) + 1)
    }
}
