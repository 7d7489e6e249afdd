import QVGraph
import _QVChainGemm

/// One stage of a pointwise chain: the fast path of DequantizeLinear, BatchNormalization, Relu or
/// QuantizeLinear as the C loop `qv_pointwise_chain` runs it. The kernels run their own fast paths
/// as a one-stage chain, so a chain of them (fused by the interpreter: one pass over the tensor
/// instead of one per node) computes every element with the same float32 operations in the same
/// order, bit for bit.
public struct PointwiseStage: Sendable {
    enum Kind: Int32 {
        case dequantize = 1, affine, relu, quantize, requantize
    }
    let kind: Kind
    /// One value per tensor, or one per index of `axis` (then `axis` is set).
    let scale: [Float], shift: [Float], zero: [Int32]
    let axis: Int?
    let lo: Float, hi: Float
    /// The dtype the stage writes (float, or the quantized type).
    public let outputType: DType

    static func dequantize(scale: [Float], zero: [Int32], axis: Int?) -> PointwiseStage {
        PointwiseStage(
            kind: .dequantize, scale: scale, shift: [], zero: zero, axis: axis, lo: 0, hi: 0, outputType: .float)
    }
    static func affine(scale: [Float], shift: [Float], axis: Int) -> PointwiseStage {
        PointwiseStage(
            kind: .affine, scale: scale, shift: shift, zero: [], axis: axis, lo: 0, hi: 0, outputType: .float)
    }
    static let relu = PointwiseStage(
        kind: .relu, scale: [], shift: [], zero: [], axis: nil, lo: 0, hi: 0, outputType: .float)
    /// Per tensor into `type` (8 or 16-bit integers): x / scale clamped to the type's range minus
    /// the zero point (NaN to the lower end), rounded half to even, plus the zero point.
    static func quantize(scale: Float, zeroPoint zp: Int64, to type: DType) -> PointwiseStage {
        let (lo, hi) = clampBounds(type, zp)
        return PointwiseStage(
            kind: .quantize, scale: [scale], shift: [], zero: [Int32(truncatingIfNeeded: zp)], axis: nil, lo: lo,
            hi: hi, outputType: type)
    }

    /// The clamp of a (re)quantization before the zero point is added: `type`'s range minus it.
    private static func clampBounds(_ type: DType, _ zp: Int64) -> (lo: Float, hi: Float) {
        let r = type.integerRange!
        return (Float(r.lowerBound - zp), Float(r.upperBound - zp))
    }

    /// MLAS's requantization of a float accumulator into `type` (8 or 16-bit integers): v ·
    /// multiplier (per tensor, or per `axis` index) clamped to the type's range minus the zero
    /// point (NaN to the lower end), rounded half to even, plus the zero point.
    static func requantize(multiplier: [Float], axis: Int?, zeroPoint zp: Int64, to type: DType) -> PointwiseStage {
        let (lo, hi) = clampBounds(type, zp)
        return PointwiseStage(
            kind: .requantize, scale: multiplier, shift: [],
            zero: Array(repeating: Int32(truncatingIfNeeded: zp), count: max(1, multiplier.count)),
            axis: multiplier.count == 1 ? nil : axis, lo: lo, hi: hi, outputType: type)
    }

    /// What the stage reads: int32 storage for a dequantize, float otherwise.
    var readsIntegers: Bool { kind == .dequantize }
}

/// A kernel whose fast path is a pointwise stage. `stage` is nil when that path does not apply
/// to an input of this type and shape (with these other inputs); the node then runs on its own.
public protocol PointwiseKernel: Kernel {
    func stage(inputType: DType, inputShape: [Int], _ inputs: [Tensor?]) throws -> PointwiseStage?
}

/// A kernel whose output passes through a last pointwise stage (QLinearConv's requantization)
/// and that can run the stages of the nodes after it in the same pass. `then` is asked for those
/// stages given its output's type and shape; nil there (or from `then`) leaves the plain output.
public protocol PointwiseProducer: Kernel {
    func run(
        _ inputs: [Tensor?], samples: Int, then: (DType, [Int]) throws -> [PointwiseStage]?
    ) throws -> (output: Tensor, fused: Bool)
}

/// The stages over x in one pass; nil when they cannot run as one (x's storage is not what the
/// first stage reads, or per-axis stages disagree on the axis). Each stage must read what the
/// one before writes (a dequantize the integers of a quantize, the others floats), as
/// `PointwiseKernel.stage(inputType:...)` ensures.
public func runPointwise(_ stages: [PointwiseStage], on x: Tensor) -> Tensor? {
    guard let first = stages.first, stages.count <= 8 else { return nil }
    let axes = Set(stages.compactMap(\.axis))
    guard axes.count <= 1 else { return nil }
    let count = x.count
    var planes = 1, inner = count, channels = 1
    if let axis = axes.first {
        guard axis >= 0, axis < x.rank else { return nil }
        channels = x.shape[axis]
        inner = x.shape[(axis + 1)...].reduce(1, *)
        planes = inner == 0 ? 0 : count / inner
        guard stages.allSatisfy({ $0.axis == nil || $0.scale.count == channels }) else { return nil }
    }
    let outputType = stages.last!.outputType
    let writesIntegers = stages.last!.writesIntegers
    func run(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer) {
        withCStages(stages, channels: channels) { cs in
            qv_pointwise_chain(input, planes, inner, max(1, channels), cs.baseAddress, cs.count, output)
        }
    }
    func produce(_ input: UnsafeRawPointer?) -> Storage {
        guard let input, count > 0 else { return writesIntegers ? .i32([]) : .f32([]) }
        if writesIntegers {
            return .i32(
                [Int32].uninitialized(count) { buf, n in
                    run(input, buf.baseAddress!); n = count
                })
        }
        return .f32(
            [Float].uninitialized(count) { buf, n in
                run(input, buf.baseAddress!); n = count
            })
    }
    switch (first.readsIntegers, x.storage) {
    case (true, .i32(let v)):
        return Tensor(dtype: outputType, shape: x.shape, storage: v.withUnsafeBufferPointer { produce($0.baseAddress) })
    case (false, .f32(let v)):
        return Tensor(dtype: outputType, shape: x.shape, storage: v.withUnsafeBufferPointer { produce($0.baseAddress) })
    default:
        return nil
    }
}

/// The stages as the C kernels take them (a per-axis stage has `channels` parameter sets), valid
/// inside `body` only: the parameter arrays stay alive for the whole call.
func withCStages<R>(
    _ stages: [PointwiseStage], channels: Int, _ body: (UnsafeBufferPointer<qv_pw_stage>) -> R
) -> R {
    func build(_ i: Int, _ built: [qv_pw_stage]) -> R {
        if i == stages.count { return built.withUnsafeBufferPointer(body) }
        let s = stages[i]
        return s.scale.withUnsafeBufferPointer { a in
            s.shift.withUnsafeBufferPointer { b in
                s.zero.withUnsafeBufferPointer { z in
                    let c = qv_pw_stage(
                        kind: s.kind.rawValue, count: s.axis == nil ? 1 : channels, scale: a.baseAddress,
                        shift: b.baseAddress, zero: z.baseAddress, lo: s.lo, hi: s.hi)
                    return build(i + 1, built + [c])
                }
            }
        }
    }
    return build(0, [])
}

/// Whether a stage's last output is integers (a quantize or requantize).
extension PointwiseStage {
    var writesIntegers: Bool { kind == .quantize || kind == .requantize }
}
