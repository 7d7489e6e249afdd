import Foundation
import QVGraph

/// Numpy-broadcast binary arithmetic: Add, Sub, Mul, Div, Max, Min, Pow (ONNX opset 7–14).
/// Float in float32; integers exact then wrapped to the input type (C semantics, as
/// onnxruntime). Under Aidge semantics integer Add/Sub widen to int32, as Aidge's residual Add
/// sums int8 + int8 into an int32 accumulator.
struct BinaryKernel: Kernel {
    enum Op: String { case add = "Add", sub = "Sub", mul = "Mul", div = "Div", max = "Max", min = "Min", pow = "Pow" }
    let op: Op
    let semantics: Semantics

    init(node: Node, ctx: KernelContext) throws {
        guard let op = Op(rawValue: node.opType) else { throw QVError.internalError("BinaryKernel for \(node.opType)") }
        self.op = op
        semantics = ctx.semantics
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let shape = try ShapeInference.broadcast([a.shape, b.shape])
        let n = shape.reduce(1, *)
        if op == .pow && a.dtype == .float {
            return [Tensor(dtype: .float, shape: shape, storage: .f32(try Self.onnxruntimePow(a, b, shape)))]
        }
        if a.dtype == .float && b.dtype == .float {
            let av = a.floats!, bv = b.floats!
            let runs = BroadcastRuns(a.shape, b.shape, to: shape)
            let y = [Float].uninitialized(n) { buf, count in
                av.withUnsafeBufferPointer { ap in
                    bv.withUnsafeBufferPointer { bp in
                        let out = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
                        switch op {
                        case .add: runs.apply(ap, bp, out) { $0 + $1 }
                        case .sub: runs.apply(ap, bp, out) { $0 - $1 }
                        case .mul: runs.apply(ap, bp, out) { $0 * $1 }
                        case .div: runs.apply(ap, bp, out) { $0 / $1 }
                        case .max: runs.apply(ap, bp, out) { Swift.max($0, $1) }
                        case .min: runs.apply(ap, bp, out) { Swift.min($0, $1) }
                        case .pow: runs.apply(ap, bp, out) { Float(Foundation.pow(Double($0), Double($1))) }
                        }
                    }
                }
                count = n
            }
            return [Tensor(dtype: .float, shape: shape, storage: .f32(y))]
        }
        guard a.dtype.isInteger, b.dtype.isInteger else {
            throw QVError.unsupported("\(op.rawValue) on \(a.dtype) and \(b.dtype)")
        }
        // Aidge's PTQ types the sum or product of two activations int32 (its quantizer follows).
        let widen = semantics == .aidge && (op == .add || op == .sub || op == .mul)
        guard a.dtype == b.dtype || widen else {
            throw QVError.badInput("\(op.rawValue) on \(a.dtype) and \(b.dtype): types differ")
        }
        let av = try intValues(a), bv = try intValues(b)
        let ai = broadcastIndices(from: a.shape, to: shape), bi = broadcastIndices(from: b.shape, to: shape)
        var y = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            let x = av[ai[i]], z = bv[bi[i]]
            switch op {
            case .add: y[i] = x &+ z
            case .sub: y[i] = x &- z
            case .mul: y[i] = x &* z
            case .div:
                guard z != 0 else { throw QVError.badInput("integer division by zero") }
                y[i] = z == -1 ? 0 &- x : x / z  // Int64.min / −1 wraps instead of trapping
            case .max: y[i] = Swift.max(x, z)
            case .min: y[i] = Swift.min(x, z)
            case .pow:
                y[i] = x86TruncatingCast(Foundation.pow(Double(x), Double(z)), bits: a.dtype.bitWidth >= 64 ? 64 : 32)
            }
        }
        return [wrapping(y, widen ? .int32 : a.dtype, shape: shape)]
    }
}

extension BinaryKernel {
    /// onnxruntime's float Pow (PowImpl): its broadcaster looks at the innermost axis where the
    /// shapes are not both 1. A base that is one value along it: powf(x, y) everywhere. Else an
    /// exponent that is one value along it: x·x for 2, (x·x)·x for 3, powf otherwise. Else powf
    /// element by element. An integer or double exponent goes through double pow, rounded.
    static func onnxruntimePow(_ a: Tensor, _ b: Tensor, _ shape: [Int]) throws -> [Float] {
        let av = a.floats!
        let bv: [Double] = b.dtype == .float ? b.floats!.map(Double.init) : try b.asDoubles().orThrow("Pow exponent")
        let floatExponent = b.dtype == .float
        func generic(_ x: Float, _ y: Double) -> Float {
            floatExponent ? Foundation.pow(x, Float(y)) : Float(Foundation.pow(Double(x), y))
        }
        let (baseScalar, exponentScalar) = innermostScalars(a.shape, b.shape)
        let ai = broadcastIndices(from: a.shape, to: shape), bi = broadcastIndices(from: b.shape, to: shape)
        return (0..<shape.reduce(1, *)).map { i in
            let x = av[ai[i]], y = bv[bi[i]]
            if !baseScalar && exponentScalar {
                if y == 2 { return x * x }
                if y == 3 { return (x * x) * x }
            }
            return generic(x, y)
        }
    }

    /// Whether each input's innermost broadcast segment is a single value (onnxruntime's
    /// Broadcaster: the innermost axis where not both sizes are 1, or the outermost common axis).
    static func innermostScalars(_ s0: [Int], _ s1: [Int]) -> (Bool, Bool) {
        if s0.isEmpty || s1.isEmpty {
            if s0.isEmpty && s1.isEmpty { return (true, true) }
            return s0.isEmpty ? (true, s1.last! <= 1) : (s0.last! <= 1, true)
        }
        let m = Swift.min(s0.count, s1.count)
        for i in 0..<m {
            let a0 = s0[s0.count - 1 - i], a1 = s1[s1.count - 1 - i]
            if Swift.max(a0, a1) == 1 && i + 1 < m { continue }
            return (a0 <= 1, a1 <= 1)
        }
        return (true, true)
    }
}

/// One-input elementwise ops: Relu, LeakyRelu, Sigmoid, Tanh, Round, Neg, Abs, Exp, Sqrt,
/// Floor, Ceil, Identity. Round is half to even (ONNX); under Aidge semantics half up.
struct UnaryKernel: PointwiseKernel {
    let op: String
    let alpha: Float, beta: Float
    let rounding: RoundingRule
    let aidge: Bool

    init(node: Node, ctx: KernelContext) throws {
        op = node.opType
        alpha = node.float("alpha", default: op == "HardSigmoid" ? 0.2 : 0.01)
        beta = node.float("beta", default: 0.5)
        aidge = ctx.semantics == .aidge
        rounding = aidge ? .halfUp : .halfToEven
    }

    /// Aidge's CPU Sigmoid (float32): 1/(1 + exp(−x)) for x > 0, exp(x)/(1 + exp(x)) otherwise.
    static func aidgeSigmoid(_ x: Float) -> Float {
        if x > 0 { return 1 / (1 + Foundation.exp(-x)) }
        let e = Foundation.exp(x)
        return e / (1 + e)
    }

    /// Relu on float: 0 ≥ v ? 0 : v (Swift's max(v, 0): NaN stays NaN, −0 becomes +0).
    func stage(inputType: DType, inputShape: [Int], _ inputs: [Tensor?]) throws -> PointwiseStage? {
        op == "Relu" && inputType == .float ? .relu : nil
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        if op == "Identity" { return [x] }
        if x.dtype == .float {
            let v = x.floats!
            let y: [Float]
            switch op {
            case "Relu":
                guard let r = runPointwise([.relu], on: x) else {
                    throw QVError.internalError("Relu stage did not run")
                }
                return [r]
            case "LeakyRelu": y = converted(v) { $0 >= 0 ? $0 : $0 * alpha }
            // onnxruntime: min(max(alpha·x + beta, 0), 1), the product and the sum rounded apart;
            // HardSwish is x · HardSigmoid(x) with alpha = float32(1/6), beta = 0.5.
            case "HardSigmoid": y = converted(v) { Swift.max(Swift.min(alpha * $0 + beta, 1), 0) }
            case "HardSwish":
                let a: Float = 1.0 / 6.0
                y = converted(v) { $0 * Swift.max(Swift.min(a * $0 + 0.5, 1), 0) }
            // onnxruntime: MLAS's rational approximations; Aidge's CPU backend: 1/(1+exp(−x)) and tanh.
            case "Sigmoid": y = aidge ? converted(v, Self.aidgeSigmoid) : MlasTranscendental.logistic(v)
            case "Tanh": y = aidge ? converted(v) { Foundation.tanh($0) } : MlasTranscendental.tanh(v)
            case "Round": y = converted(v) { rounding.round($0) }
            case "Neg": y = converted(v) { -$0 }
            case "Abs": y = converted(v) { Swift.abs($0) }
            case "Exp": y = converted(v) { Foundation.exp($0) }
            case "Erf": y = MlasTranscendental.erf(v)
            case "Sqrt": y = converted(v) { $0.squareRoot() }
            case "Floor": y = converted(v) { $0.rounded(.down) }
            case "Ceil": y = converted(v) { $0.rounded(.up) }
            case "Sign": y = converted(v) { $0 > 0 ? 1 : ($0 < 0 ? -1 : ($0.isNaN ? $0 : 0)) }
            default: throw QVError.internalError("UnaryKernel \(op)")
            }
            return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
        }
        guard x.dtype.isInteger else { throw QVError.unsupported("\(op) on \(x.dtype)") }
        if op == "Relu", case .i32(let a) = x.storage {
            let y = [Int32].uninitialized(a.count) { buf, n in
                a.withUnsafeBufferPointer { ab in for i in 0..<ab.count { buf[i] = ab[i] > 0 ? ab[i] : 0 } }
                n = a.count
            }
            return [Tensor(dtype: x.dtype, shape: x.shape, storage: .i32(y))]
        }
        let v = try intValues(x)
        switch op {
        case "Relu": return [wrapping(v.map { Swift.max($0, 0) }, x.dtype, shape: x.shape)]
        case "Neg": return [wrapping(v.map { 0 &- $0 }, x.dtype, shape: x.shape)]
        case "Abs": return [wrapping(v.map { Swift.abs($0) }, x.dtype, shape: x.shape)]
        case "Sign": return [wrapping(v.map { $0.signum() }, x.dtype, shape: x.shape)]
        case "Round", "Floor", "Ceil": return [x]
        case "LeakyRelu" where aidge:
            // x >= 0 ? x : x · slope, with Aidge's integer slope. Its backend registers int32 only;
            // int8 would compute the same, and no Aidge run can confirm it.
            let slope = AidgeConventions.integerSlope(alpha)
            return [wrapping(v.map { $0 >= 0 ? $0 : $0 &* slope }, x.dtype, shape: x.shape)]
        default: throw QVError.unsupported("\(op) on \(x.dtype)")
        }
    }
}

/// ONNX Clip: bounds from inputs (opset ≥ 11) or attributes (opset 6); integer types compared exactly.
struct ClipKernel: Kernel {
    let attrMin: Float?, attrMax: Float?
    init(node: Node, ctx: KernelContext) throws {
        if ctx.opset < 11 {
            attrMin = node.float("min", default: -Float.greatestFiniteMagnitude)
            attrMax = node.float("max", default: Float.greatestFiniteMagnitude)
        } else {
            attrMin = nil
            attrMax = nil
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "input")
        let lo = optional(inputs, 1), hi = optional(inputs, 2)
        for bound in [lo, hi].compactMap({ $0 }) where bound.count != 1 {
            throw QVError.badInput("Clip bounds must be scalars, got shape \(bound.shape)")
        }
        if x.dtype == .float {
            let l = try lo.map { try floatValues($0)[0] } ?? attrMin ?? -.infinity
            let h = try hi.map { try floatValues($0)[0] } ?? attrMax ?? .infinity
            return [
                Tensor(dtype: .float, shape: x.shape, storage: .f32(x.floats!.map { Swift.min(Swift.max($0, l), h) }))
            ]
        }
        guard x.dtype.isInteger else { throw QVError.unsupported("Clip on \(x.dtype)") }
        let l = try lo.map { try intValues($0)[0] } ?? Int64.min
        let h = try hi.map { try intValues($0)[0] } ?? Int64.max
        return [wrapping(try intValues(x).map { Swift.min(Swift.max($0, l), h) }, x.dtype, shape: x.shape)]
    }
}

/// ONNX Cast (opset 6–21) between float32/float64 and every integer type and bool: float → int
/// truncates toward zero then wraps; int → int wraps; anything → bool is x ≠ 0.
struct CastKernel: Kernel {
    let to: DType
    init(node: Node, ctx: KernelContext) throws {
        guard let to = DType(onnx: Int32(node.int("to", default: 0))), to != .undefined else {
            throw QVError.badInput("Cast needs a valid 'to'")
        }
        self.to = to
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "input")
        if x.dtype == to { return [x] }
        switch to {
        case .float: return [Tensor(dtype: .float, shape: x.shape, storage: .f32(try floatValues(x)))]
        case .double:
            return [
                Tensor(dtype: .double, shape: x.shape, storage: .f64(try x.asDoubles().orThrow("Cast from \(x.dtype)")))
            ]
        case .bool:
            let d = try x.asDoubles().orThrow("Cast from \(x.dtype)")
            return [Tensor(dtype: .bool, shape: x.shape, storage: .i32(d.map { $0 != 0 ? 1 : 0 }))]
        default:
            guard to.isInteger else { throw QVError.unsupported("Cast to \(to)") }
            if x.dtype.isInteger || x.dtype == .bool { return [wrapping(try intValues(x), to, shape: x.shape)] }
            let d = try x.asDoubles().orThrow("Cast from \(x.dtype)")
            return [
                wrapping(
                    d.map { $0.isFinite ? Int64(Swift.max(Swift.min($0.rounded(.towardZero), 9.2e18), -9.2e18)) : 0 },
                    to, shape: x.shape)
            ]
        }
    }
}

extension Optional {
    func orThrow(_ what: @autoclosure () -> String) throws -> Wrapped {
        guard let v = self else { throw QVError.unsupported(what()) }
        return v
    }
}

/// ONNX BitShift (opset 11) on unsigned integers.
struct BitShiftKernel: Kernel {
    let left: Bool
    init(node: Node, ctx: KernelContext) throws {
        let d = node.string("direction", default: "")
        guard d == "LEFT" || d == "RIGHT" else {
            throw QVError.badInput("BitShift direction must be LEFT or RIGHT, got '\(d)'")
        }
        left = d == "LEFT"
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "Y")
        guard x.dtype == s.dtype, [.uint8, .uint16, .uint32, .uint64].contains(x.dtype) else {
            throw QVError.badInput("BitShift needs matching unsigned integer inputs, got \(x.dtype) and \(s.dtype)")
        }
        let shape = try ShapeInference.broadcast([x.shape, s.shape])
        let xi = broadcastMap(from: x.shape, to: shape), si = broadcastMap(from: s.shape, to: shape)
        let xv = try intValues(x), sv = try intValues(s)
        let bits = Int64(x.dtype.bitWidth)
        let y = (0..<shape.reduce(1, *)).map { i -> Int64 in
            let k = sv[si(i)]
            if k >= bits { return 0 }
            return left ? xv[xi(i)] << k : xv[xi(i)] >> k
        }
        return [wrapping(y, x.dtype, shape: shape)]
    }
}

/// The rows a softmax normalizes: `outer` blocks of `dim` values `inner` apart, row (o, i)
/// starting at o·dim·inner + i. From opset 13 a row runs along `axis`; before, the input is
/// flattened at `axis` and every row is contiguous (Softmax, LogSoftmax, QLinearSoftmax's `opset`).
struct SoftmaxRows {
    let outer: Int, dim: Int, inner: Int
    init(shape: [Int], axis: Int, flattens: Bool, _ what: String) throws {
        let a = try ShapeInference.axis(axis, rank: shape.count, "\(what) axis")
        dim = flattens ? shape[a...].reduce(1, *) : shape[a]
        inner = flattens ? 1 : shape[(a + 1)...].reduce(1, *)
        outer = shape[..<a].reduce(1, *)
    }
}

/// ONNX Softmax and LogSoftmax as onnxruntime computes them: rows along `axis` (opset 13; the
/// input flattened to [∏dims[..<axis], ∏dims[axis...]] before), each through MLAS's Softmax
/// (``MlasTranscendental/softmaxRow(_:_:log:lanes:)``: 8 lanes, or 16 on AVX-512 targets).
struct SoftmaxKernel: Kernel {
    let axis: Int
    let flattens: Bool
    let log: Bool
    let lanes: Int
    init(node: Node, ctx: KernelContext) throws {
        axis = node.int("axis", default: ctx.opset >= 13 ? -1 : 1)
        flattens = ctx.opset < 13
        log = node.opType == "LogSoftmax"
        lanes = ctx.avx512Float ? 16 : 8
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "input")
        guard x.dtype == .float else { throw QVError.unsupported("Softmax on \(x.dtype)") }
        let rows = try SoftmaxRows(shape: x.shape, axis: axis, flattens: flattens, "Softmax")
        let (outer, dim, inner) = (rows.outer, rows.dim, rows.inner)
        let xv = x.floats!
        var y = [Float](repeating: 0, count: xv.count)
        if inner == 1 {
            // Contiguous rows (the last axis): each row in place.
            xv.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    for o in 0..<outer {
                        MlasTranscendental.softmaxRow(
                            UnsafeBufferPointer(rebasing: xp[(o * dim)..<((o + 1) * dim)]),
                            UnsafeMutableBufferPointer(rebasing: yp[(o * dim)..<((o + 1) * dim)]), log: log,
                            lanes: lanes)
                    }
                }
            }
            return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
        }
        var row = [Float](repeating: 0, count: dim), out = [Float](repeating: 0, count: dim)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * dim * inner + i
                for d in 0..<dim { row[d] = xv[base + d * inner] }
                row.withUnsafeBufferPointer { r in
                    out.withUnsafeMutableBufferPointer { MlasTranscendental.softmaxRow(r, $0, log: log, lanes: lanes) }
                }
                for d in 0..<dim { y[base + d * inner] = out[d] }
            }
        }
        return [Tensor(dtype: .float, shape: x.shape, storage: .f32(y))]
    }
}

/// ONNX Gelu (opset 20), com.microsoft Gelu, FastGelu and BiasGelu: onnxruntime's arithmetic
/// (``MlasTranscendental/gelu(_:tanhForm:)``), the bias added first where there is one.
struct GeluKernel: Kernel {
    let tanhForm: Bool
    init(node: Node, ctx: KernelContext) throws {
        switch node.opType {
        case "FastGelu": tanhForm = true
        case "Gelu" where node.normalizedDomain.isEmpty:
            let a = node.string("approximate", default: "none")
            guard a == "none" || a == "tanh" else { throw QVError.badInput("Gelu approximate '\(a)'") }
            tanhForm = a == "tanh"
        default: tanhForm = false
        }
    }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        guard x.dtype == .float else { throw QVError.unsupported("Gelu on \(x.dtype)") }
        var v = x.floats!
        if let b = optional(inputs, 1) {
            let bv = try floatValues(b)
            guard !bv.isEmpty, v.count % bv.count == 0, b.shape.last == x.shape.last || bv.count == 1 else {
                throw QVError.badInput("Gelu bias of shape \(b.shape) does not fit \(x.shape)")
            }
            for i in v.indices { v[i] = v[i] + bv[i % bv.count] }
        }
        return [
            Tensor(
                dtype: .float, shape: x.shape, storage: .f32(MlasTranscendental.gelu(v, tanhForm: tanhForm)))
        ]
    }
}

/// ONNX BatchNormalization (inference mode).
struct BatchNormKernel: Kernel {
    let epsilon: Float
    init(node: Node, ctx: KernelContext) throws { epsilon = node.float("epsilon", default: 1e-5) }

    func run(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let p = try (1...4).map { try floatValues(try required(inputs, $0, "parameter \($0)")) }
        guard x.dtype == .float, x.rank >= 2 else {
            throw QVError.unsupported("BatchNormalization on \(x.dtype) \(x.shape)")
        }
        let c = x.shape[1]
        guard p.allSatisfy({ $0.count == c }) else {
            throw QVError.badInput("BatchNormalization parameters must have \(c) values")
        }
        guard let st = try stage(inputType: x.dtype, inputShape: x.shape, inputs), let y = runPointwise([st], on: x)
        else { throw QVError.internalError("BatchNormalization's pointwise stage did not run") }
        return [y]
    }
}

extension BatchNormKernel: PointwiseKernel {
    /// onnxruntime's inference form (nn/batch_norm.h): per channel s = (1/√(var + ε))·scale and
    /// b = bias − mean·s, then y = x·s + b, each operation rounded to float32 on its own.
    func stage(inputType: DType, inputShape: [Int], _ inputs: [Tensor?]) throws -> PointwiseStage? {
        guard inputType == .float, inputShape.count >= 2, (1...4).allSatisfy({ optional(inputs, $0) != nil }) else {
            return nil
        }
        let p = try (1...4).map { try floatValues(inputs[$0]!) }
        let c = inputShape[1]
        guard p.allSatisfy({ $0.count == c }) else { return nil }
        let s = (0..<c).map { ch -> Float in (1 / (p[3][ch] + epsilon).squareRoot()) * p[0][ch] }
        let b = (0..<c).map { ch -> Float in p[1][ch] - p[2][ch] * s[ch] }
        return .affine(scale: s, shift: b, axis: 1)
    }
}
