import QVGraph

/// Which runtime's meaning a graph is executed with.
public enum Semantics: String, Sendable, CaseIterable, Codable {
    /// The ONNX spec as onnxruntime (CPU, optimizations off) implements it: round half to even,
    /// saturating casts to quantized types, float32 requantization multipliers.
    case onnx
    /// What Aidge's CPU backend does on its own exports: integer Conv/Gemm/Add accumulate in
    /// int32; QuantizeLinear is Mul(1/scale) → Round half up → Clip to the signed n-bit range →
    /// wrapping Cast; INT32 scales are rounding right shifts.
    case aidge
}

/// How ties are rounded; every rounding in qverify names its rule.
///
/// | rule        | 2.5 | 3.5 | -2.5 |
/// |-------------|-----|-----|------|
/// | halfToEven  |  2  |  4  |  -2  |
/// | halfUp      |  3  |  4  |  -2  |
public enum RoundingRule: String, Sendable, Codable {
    /// IEEE round-to-nearest-even: ONNX Round, QuantizeLinear, QLinear* requantization.
    case halfToEven
    /// floor(x + 0.5): Aidge's Round in a quantizer and its rounding right shift.
    case halfUp

    @inline(__always)
    public func round(_ x: Float) -> Float {
        switch self {
        case .halfToEven: x.rounded(.toNearestOrEven)
        case .halfUp: (x + 0.5).rounded(.down)
        }
    }

    @inline(__always)
    public func round(_ x: Double) -> Double {
        switch self {
        case .halfToEven: x.rounded(.toNearestOrEven)
        case .halfUp: (x + 0.5).rounded(.down)
        }
    }
}

/// Round half to even of |v| < 2^22 as an Int32, by the float32 magic-number trick: v + 1.5·2^23
/// rounds v to an integer (IEEE default rounding: ties to even) and leaves it in the low mantissa
/// bits. Only an add and integer ops, so loops using it vectorize on baseline x86-64 (no rounding
/// instruction there) and never trap.
@inline(__always)
func roundHalfEvenToInt32(_ v: Float) -> Int32 {
    Int32(bitPattern: (v + 12_582_912).bitPattern) &- 0x4B40_0000
}

/// Clamp to [lo, hi] sending NaN to lo, as MLAS's max-then-min (maxps, minps) does: a zero or
/// infinite scale makes NaN, which Swift's min/max would pass on to a trapping conversion.
/// Written as selects so the per-element loops that call it vectorize.
@inline(__always)
func clampNaNLow(_ v: Float, _ lo: Float, _ hi: Float) -> Float {
    let a = v >= lo ? v : lo
    return a <= hi ? a : hi
}

/// C's static_cast from double as x86 performs it (cvttsd2si): truncate toward zero; NaN and
/// values beyond the target width give its minimum, the "integer indefinite". That is what
/// onnxruntime's integer Pow returns for 3^40 or 0^-1 (INT32_MIN), where Int64(_:) would trap.
func x86TruncatingCast(_ v: Double, bits: Int) -> Int64 {
    let t = v.rounded(.towardZero)
    let limit = bits >= 64 ? 9_223_372_036_854_775_808.0 : 2_147_483_648.0
    guard t >= -limit, t < limit else { return bits >= 64 ? Int64.min : Int64(Int32.min) }
    return Int64(t)
}

/// A Float known to hold an integer below 2^24 in magnitude, as Int32, without Int32(_:)'s range
/// trap (which keeps the loop scalar): in double precision, adding 1.5·2^52 puts the integer in
/// the low mantissa bits.
@inline(__always)
func exactIntegerToInt32(_ v: Float) -> Int32 {
    Int32(truncatingIfNeeded: (Double(v) + 6_755_399_441_055_744).bitPattern)
}

/// Settings every kernel is built with.
public struct KernelContext: Sendable {
    public var semantics: Semantics
    /// The model's opset for the node's domain.
    public var opset: Int64
    /// For an Aidge fake-quantize quantizer (float zero point): the integer range it clips to,
    /// which the file does not record; the interpreter derives it from where the output goes.
    public var fakeQuantRange: ClosedRange<Int64>?
    /// For an Aidge quantizer that only rescales into an op its PTQ leaves in float (the
    /// `<op>_PrevScaling` it puts before Sigmoid/Tanh): Mul(sf) → Add(zp) → Clip(±FLT_MAX), no
    /// rounding; its export is a QuantizeLinear with a float zero point.
    public var aidgeRescaleOnly = false
    /// Positions of the node's inputs that are the same constant on every run (initializers and
    /// folded constants): kernels may prepare them once.
    public var constantInputs: Set<Int> = []
    /// Positions of the node's inputs that are graph initializers as written (not folded values):
    /// onnxruntime pre-packs these, which changes its float summation order.
    public var initializerInputs: Set<Int> = []
    /// For an Aidge quantizer (QuantizeLinear under Aidge semantics): Aidge's scaling factors sf
    /// as the user supplied them. The export stores only float32(1/sf), and two float32 sf can
    /// give the same stored scale (127.00087 and 127.00088 both store 0.007873962), so a value
    /// on a rounding tie can go either way unless sf is known.
    public var aidgeScalingFactors: [Float]?
    /// How QLinearConv/QLinearMatMul/QGemm sum integer products (the deployment target's rule).
    public var integerProducts: IntegerProductRule = .exact
    /// Whether MLAS's float kernels run their AVX-512F variants (Softmax's 16-lane sum and exp):
    /// onnxruntime targets with AVX-512; `onnx` and `ort-avx2` run the FMA3 ones.
    public var avx512Float = false
    /// Where saturating kernels count their saturated pair sums (nil: not counted).
    public var saturationLog: SaturationLog?
    /// Run what the spec forbids but whose meaning is obvious (DequantizeLinear of a float tensor,
    /// float zero points) instead of refusing it; `check` reports each such deviation.
    public var lenient = false
    public init(semantics: Semantics, opset: Int64, fakeQuantRange: ClosedRange<Int64>? = nil) {
        self.semantics = semantics
        self.opset = opset
        self.fakeQuantRange = fakeQuantRange
    }
}

/// A prepared operator: attributes parsed and checked once, run many times.
public protocol Kernel: Sendable {
    /// The kernel for one node: attributes are read (and checked) here, once per graph.
    init(node: Node, ctx: KernelContext) throws
    /// Computes the outputs; `inputs[i]` is nil for an omitted optional input.
    func run(_ inputs: [Tensor?]) throws -> [Tensor]
    /// The same, for `samples` samples stacked on axis 0 (a kernel whose float summation order
    /// in onnxruntime depends on the per-sample shape needs to know; the others ignore it).
    func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor]
}

extension Kernel {
    public func run(_ inputs: [Tensor?], samples: Int) throws -> [Tensor] { try run(inputs) }
}

// MARK: - Input helpers

@inline(__always)
func required(_ inputs: [Tensor?], _ i: Int, _ what: String) throws -> Tensor {
    guard i < inputs.count, let t = inputs[i] else { throw QVError.badInput("missing required input \(i) (\(what))") }
    return t
}

func optional(_ inputs: [Tensor?], _ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }

/// A tensor's elements as Float (float32 exact; integers exact below 2^24).
func floatValues(_ t: Tensor) throws -> [Float] {
    switch t.storage {
    case .f32(let a): return a
    case .f64(let a): return converted(a) { Float($0) }
    case .i32(let a) where t.dtype.isInteger || t.dtype == .bool: return converted(a) { Float($0) }
    case .i64(let a): return converted(a) { Float($0) }
    default: throw QVError.unsupported("\(t.dtype) values cannot be read as float")
    }
}

/// A tensor's elements as Int64 for integer tensors.
func intValues(_ t: Tensor) throws -> [Int64] {
    guard let v = t.asInt64s() else { throw QVError.badInput("expected an integer tensor, got \(t.dtype)") }
    return v
}

/// Integer values of an integer tensor, or of a float tensor holding integers (Aidge's
/// fake-quantized operands, which its CPU backend feeds to integer Conv/FC as they are).
func integersAllowingFloat(_ t: Tensor) throws -> [Int64] {
    if case .f32(let a) = t.storage {
        guard a.allSatisfy({ $0 == $0.rounded(.towardZero) && abs($0) < 9.0e15 }) else {
            throw QVError.badInput("expected integer values, got a float tensor with fractions")
        }
        return a.map { Int64($0) }
    }
    return try intValues(t)
}

/// Integer result stored in the dtype's storage, wrapping to the type's width (two's complement
/// truncation, as a C cast does).
func wrapping(_ v: [Int64], _ dtype: DType, shape: [Int]) -> Tensor {
    switch dtype.storageKind {
    case .i32:
        let bits = dtype.bitWidth
        if bits >= 32 {
            return Tensor(dtype: dtype, shape: shape, storage: .i32(converted(v) { Int32(truncatingIfNeeded: $0) }))
        }
        let range = dtype.integerRange!
        let span = Int64(1) << bits
        return Tensor(
            dtype: dtype, shape: shape,
            storage: .i32(
                converted(v) { x in
                    var y = x & (span - 1)
                    if y > range.upperBound { y -= span }
                    return Int32(truncatingIfNeeded: y)
                }))
    case .i64:
        if dtype == .uint32 { return Tensor(dtype: dtype, shape: shape, storage: .i64(v.map { $0 & 0xFFFF_FFFF })) }
        return Tensor(dtype: dtype, shape: shape, storage: .i64(v))
    case .u64: return Tensor(dtype: dtype, shape: shape, storage: .u64(v.map { UInt64(bitPattern: $0) }))
    default: preconditionFailure("wrapping into \(dtype)")
    }
}

/// Integer result clamped to the dtype's range (ONNX saturation).
func saturating(_ v: [Int64], _ dtype: DType, shape: [Int]) -> Tensor {
    let r = dtype.integerRange!
    return wrapping(v.map { min(max($0, r.lowerBound), r.upperBound) }, dtype, shape: shape)
}
