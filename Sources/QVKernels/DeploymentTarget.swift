import Foundation
import QVGraph
import _QVChainGemm

/// How integer products of quantized operators (QLinearConv, QLinearMatMul, QGemm) are summed.
public enum IntegerProductRule: String, Sendable, Codable {
    /// The exact int32 sum: the ONNX spec, and onnxruntime with VNNI (vpdpbusd) or AMX.
    case exact
    /// onnxruntime on x86 without VNNI (AVX2, AVX-512BW): u8×s8 products go through vpmaddubsw,
    /// which saturates each k-pair (2j, 2j+1) of raw products to int16 before accumulating.
    /// u8×u8, s8×s8, s8×u8 and depthwise convolutions stay exact.
    case u8s8PairSaturation
}

/// Where a model's numbers are meant to hold: the ONNX spec, or onnxruntime's CPU kernels on one
/// x86 instruction set.
public enum DeploymentTarget: String, Sendable, Codable, CaseIterable {
    case onnx
    case ortAvx2 = "ort-avx2"
    case ortAvx512 = "ort-avx512"
    case ortVnni = "ort-vnni"

    /// The targets `verify` reports on by default: every x86 kind onnxruntime dispatches on.
    public static let deployment: [DeploymentTarget] = [.ortAvx2, .ortAvx512, .ortVnni]

    public var integerProducts: IntegerProductRule {
        switch self {
        case .onnx, .ortVnni: .exact
        case .ortAvx2, .ortAvx512: .u8s8PairSaturation
        }
    }

    /// Whether onnxruntime's float kernels take their AVX-512F variants (MLAS dispatches on the
    /// CPU; Softmax sums in 16 lanes there).
    public var avx512Float: Bool { self == .ortAvx512 || self == .ortVnni }

    /// True for onnxruntime targets (their optimization level matters).
    public var isOnnxruntime: Bool { self != .onnx }

    /// The onnxruntime target this CPU is, detected as MLAS does (cpuid); nil off x86 or without AVX2.
    public static var host: DeploymentTarget? {
        switch qv_host_integer_isa() {
        case 3: .ortVnni
        case 2: .ortAvx512
        case 1: .ortAvx2
        default: nil
        }
    }
}

/// onnxruntime's graph optimization level, as far as it changes numbers: `disable` runs the graph
/// as written (ORT_DISABLE_ALL, and ORT_ENABLE_BASIC unless its WeightBiasQuantization finds a
/// float-weight Conv/ConvTranspose/Gemm between DQ and Q), `enable` runs what its x86 optimizer makes
/// of it (ORT_ENABLE_EXTENDED and ORT_ENABLE_ALL: QDQ groups fused into QLinear operators, int8
/// activations rewritten to uint8).
public enum OrtLevel: String, Sendable, Codable, CaseIterable {
    case disable, enable
}

/// Per node: how many pair sums saturated to int16 and how many accumulators that changed, over
/// every run of an interpreter that was given this log (thread-safe; samples add up).
public final class SaturationLog: @unchecked Sendable {
    public struct Counts: Sendable, Equatable {
        public var pairSums: Int64 = 0
        public var accumulatorsTouched: Int64 = 0
        /// Elements of the node's requantized output that the saturation changed, each against the
        /// same node's exact result on the same input (never a difference inherited from upstream).
        public var outputsChanged: Int64 = 0
        public init() {}
    }
    private let lock = NSLock()
    private var counts: [String: Counts] = [:]
    public init() {}

    func add(_ node: String, pairSums: Int64, touched: Int64, outputsChanged: Int64) {
        guard pairSums > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        counts[node, default: Counts()].pairSums += pairSums
        counts[node, default: Counts()].accumulatorsTouched += touched
        counts[node, default: Counts()].outputsChanged += outputsChanged
    }

    /// Elements where two outputs of one node differ (same shape and type).
    static func changed(_ a: Tensor, _ b: Tensor) -> Int64 {
        guard let x = a.asInt64s(), let y = b.asInt64s() else {
            guard let x = a.floats, let y = b.floats else { return Int64(max(a.count, b.count)) }
            return Int64(zip(x, y).lazy.filter { $0.0.bitPattern != $0.1.bitPattern }.count)
        }
        return Int64(zip(x, y).lazy.filter { $0.0 != $0.1 }.count)
    }

    /// Node name → counts, for nodes where some pair saturated.
    public var byNode: [String: Counts] {
        lock.lock(); defer { lock.unlock() }
        return counts
    }
}

/// Adds the u8×s8 pair saturation of a GEMM to exact accumulators `acc` (m×n, row-major).
/// A element (i, kk) is a[i·sam + kk·sak]; op(B) element (kk, j) is b[kk·sbk + j·sbn].
/// Returns how many pair sums saturated.
/// Returns how many pair sums saturated and how many accumulators changed.
@discardableResult
func addPairSaturation(
    _ acc: inout [Int64], m: Int, n: Int, k: Int, a: [Int32], sam: Int, sak: Int,
    b: [Int32], sbk: Int, sbn: Int
) -> (events: Int64, touched: Int64) {
    var corr = [Int64](repeating: 0, count: m * n)
    let events = corr.withUnsafeMutableBufferPointer { cb in
        a.withUnsafeBufferPointer { ab in
            b.withUnsafeBufferPointer { bb in
                qv_u8s8_saturation_gemm(m, n, k, ab.baseAddress!, sam, sak, bb.baseAddress!, sbk, sbn, cb.baseAddress!)
            }
        }
    }
    var touched: Int64 = 0
    if events > 0 {
        for i in 0..<min(acc.count, corr.count) where corr[i] != 0 { acc[i] += corr[i]; touched += 1 }
    }
    return (events, touched)
}

/// Raw stored integers of an 8-bit tensor (int32 storage).
func rawInt32(_ t: Tensor) throws -> [Int32] {
    if case .i32(let v) = t.storage { return v }
    return try intValues(t).map { Int32(truncatingIfNeeded: $0) }
}

/// The u8×s8 pair saturation of a convolution (raw u8 x, padding read as its zero point; raw s8 w),
/// laid out like the output [n, m, spatial]. Returns the departures and how many pair sums saturated.
func convPairSaturation(
    _ geo: ConvGeometry, x: Tensor, xZero: Int64, w: Tensor
) throws -> (corr: [Int64], events: Int64) {
    let xv = try rawInt32(x), wv = try rawInt32(w)
    var corr = [Int64](repeating: 0, count: geo.n * geo.m * geo.spatial)
    var cg = geo.cGeometry(channels: geo.cPerGroup)
    var events: Int64 = 0
    xv.withUnsafeBufferPointer { xb in
        wv.withUnsafeBufferPointer { wb in
            corr.withUnsafeMutableBufferPointer { cb in
                for ni in 0..<geo.n {
                    for g in 0..<geo.group {
                        let xg = xb.baseAddress! + (ni * geo.c + g * geo.cPerGroup) * geo.h * geo.w
                        let wg = wb.baseAddress! + g * geo.mPerGroup * geo.k
                        let cgp = cb.baseAddress! + (ni * geo.m + g * geo.mPerGroup) * geo.spatial
                        events += qv_u8s8_saturation_conv(
                            &cg, xg, Int32(truncatingIfNeeded: xZero), wg, geo.mPerGroup, cgp)
                    }
                }
            }
        }
    }
    return (corr, events)
}

/// Weight pairs that can saturate with some u8 input, in the order `pairs` yields them: the
/// data-independent screen of the u8×s8 rule (none can when every weight is within ±64).
public func saturablePairCount(_ pairs: [(Int32, Int32)]) -> Int {
    pairs.reduce(0) { $0 + (qv_u8s8_pair_can_saturate($1.0, $1.1) != 0 ? 1 : 0) }
}
