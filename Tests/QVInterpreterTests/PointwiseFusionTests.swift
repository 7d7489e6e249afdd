import QVGraph
import QVIO
import XCTest
import _TestSupport

@testable import QVInterpreter
@testable import QVKernels

/// Runs of pointwise nodes (DequantizeLinear → BatchNormalization → Relu → QuantizeLinear, …)
/// execute as one pass when their intermediates are not asked for. The golden tests hold the
/// fused outputs to onnxruntime's; these hold them to node-by-node execution, bit for bit, on
/// the Reference models (batched) and on values no model reaches: NaN and infinite BatchNorm
/// parameters, saturation at both ends, rounding ties, wrapping zero points, every kernel path.
final class PointwiseFusionTests: XCTestCase {
    /// The float bit patterns (NaN payloads and signed zeros included) or the integers.
    func bits(_ t: Tensor) -> [UInt32] {
        switch t.storage {
        case .f32(let v): return v.map(\.bitPattern)
        case .i32(let v): return v.map { UInt32(bitPattern: $0) }
        default: return []
        }
    }

    /// On every kernel path: QLinearConv's stages run inside the VNNI and exact depthwise kernels
    /// with AVX-512, as a pass over their sums otherwise.
    func testFusedRunsEqualNodeByNodeOnReferenceModels() throws {
        var fusedRuns: [String: Int] = [:], producerRuns: [String: Int] = [:]
        let paths = try forEveryKernelPath { kernelPath in
            for fixture in ["mobilenet", "mobilenet_relu6", "resnet", "depthwise", "residual", "cnn"] {
                for form in ["float", "ort_static_qdq", "ort_static_qop"] {
                    let path = TestPaths.reference("\(fixture)/\(form).onnx")
                    guard FileManager.default.fileExists(atPath: path) else { continue }
                    let model = try OnnxFile.load(path)
                    let fused = try Interpreter(model: model, semantics: .onnx)
                    let alone = try Interpreter(model: model, semantics: .onnx)
                    alone.fusesPointwiseRuns = false
                    fusedRuns["\(fixture)/\(form)"] = fused.pointwiseRuns.count
                    producerRuns["\(fixture)/\(form)"] = fused.producerRuns.count
                    let samples = Array(
                        try InputSet.load(
                            TestPaths.reference("\(fixture)/calib_inputs.npy"), inputs: model.graph.runtimeInputs
                        ).prefix(4))
                    let a = try fused.run(batch: samples), b = try alone.run(batch: samples)
                    for (k, (ra, rb)) in zip(a, b).enumerated() {
                        XCTAssertEqual(ra.outputs.keys.sorted(), rb.outputs.keys.sorted())
                        for (name, t) in ra.outputs {
                            XCTAssertEqual(
                                bits(t), bits(rb.outputs[name]!), "\(kernelPath) \(fixture)/\(form) sample \(k) \(name)"
                            )
                            XCTAssertEqual(t.dtype, rb.outputs[name]!.dtype)
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        // quantize_static's QOP leaves BatchNormalization float: each of the 22 QLinearConvs
        // requantizes, then DequantizeLinear → BN (→ Relu) → QuantizeLinear, all in its last pass.
        XCTAssertEqual(producerRuns["mobilenet/ort_static_qop"], 22)
        XCTAssertEqual(fusedRuns["mobilenet/ort_static_qop"], 0)
        XCTAssertGreaterThanOrEqual(fusedRuns["mobilenet/ort_static_qdq"] ?? 0, 22)
        XCTAssertGreaterThan(producerRuns["resnet/ort_static_qop"] ?? 0, 0)
        XCTAssertEqual(fusedRuns["mobilenet/float"], 15, "BatchNormalization → Relu")
    }

    /// x (int8, 2 channels) → DequantizeLinear per channel → BatchNormalization → Relu →
    /// QuantizeLinear (uint8) → DequantizeLinear: every int8 value, with channel parameters that
    /// make NaN (negative variance), infinities, saturation and exact ties.
    func chain(perChannelZero: Bool) throws -> Model {
        let n = 256
        var g = Graph(
            name: "chain", inputs: [ValueInfo(name: "x", dtype: .int8, shape: [.value(1), .value(3), .value(n)])],
            outputs: [ValueInfo(name: "y", dtype: .float, shape: nil)])
        g.nodes = [
            Node(name: "dq", opType: "DequantizeLinear", inputs: ["x", "xs", "xz"], outputs: ["a"]),
            Node(name: "bn", opType: "BatchNormalization", inputs: ["a", "g", "b", "m", "v"], outputs: ["c"]),
            Node(name: "relu", opType: "Relu", inputs: ["c"], outputs: ["d"]),
            Node(name: "q", opType: "QuantizeLinear", inputs: ["d", "ys", "yz"], outputs: ["e"]),
            Node(name: "dq2", opType: "DequantizeLinear", inputs: ["e", "ys", "yz"], outputs: ["y"]),
        ]
        g.setInitializer("xs", Tensor([0.5, 0.037, 1e30] as [Float], shape: [3]))
        g.setInitializer(
            "xz", Tensor(perChannelZero ? [3, -128, 127] : [0, 0, 0] as [Int32], shape: [3], dtype: .int8))
        g.setInitializer("g", Tensor([1, 3e38, -2.5] as [Float], shape: [3]))
        g.setInitializer("b", Tensor([0, -1, 0.25] as [Float], shape: [3]))
        g.setInitializer("m", Tensor([0, 0.125, -.infinity] as [Float], shape: [3]))
        g.setInitializer("v", Tensor([0.99999, -1, 4] as [Float], shape: [3]))
        g.setInitializer("ys", Tensor([0.5] as [Float], shape: []))
        g.setInitializer("yz", Tensor([7] as [Int32], shape: [], dtype: .uint8))
        return Model(graph: g)
    }

    func testStagesChainedOnEdgeValuesOnEveryKernelPath() throws {
        let x = Tensor(
            dtype: .int8, shape: [1, 3, 256], storage: .i32((0..<768).map { Int32($0 % 256) - 128 }))
        var reference: [UInt32]? = nil
        let paths = try forEveryKernelPath { path in
            for perChannelZero in [false, true] {
                let model = try chain(perChannelZero: perChannelZero)
                let fused = try Interpreter(model: model, semantics: .onnx)
                let alone = try Interpreter(model: model, semantics: .onnx)
                alone.fusesPointwiseRuns = false
                XCTAssertEqual(fused.pointwiseRuns.values.first?.count, 5)
                let y = try XCTUnwrap(fused.run(["x": x]).outputs["y"])
                let want = try XCTUnwrap(alone.run(["x": x]).outputs["y"])
                XCTAssertEqual(bits(y), bits(want), "\(path) zero points per channel: \(perChannelZero)")
                if perChannelZero {
                    if let r = reference { XCTAssertEqual(bits(y), r, "\(path) against the first path") }
                    reference = bits(y)
                }
                // Channel 1's variance is negative: NaN, which QuantizeLinear clamps to its lower bound
                // (uint8 0, (0 − 7)·0.5 = −3.5). Channel 2's mean is −∞ (b = −∞): Relu makes 0 → 0.
                XCTAssertEqual(Set(y.floats![256..<512]), [-3.5])
                XCTAssertEqual(Set(y.floats![512..<768]), [0])
                // Channel 0: (x − zp)·0.5 through Relu, requantized to steps of 0.5: non-decreasing in x.
                let ch0 = Array(y.floats![0..<256])
                XCTAssertEqual(ch0.min(), 0)
                XCTAssertEqual(ch0, ch0.sorted())
                XCTAssertGreaterThan(ch0.max() ?? 0, 60)
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
    }

    /// QuantizeLinear → DequantizeLinear with one zero point runs as a pair (the zero point is not
    /// added and taken off again). Values that round to 0 from below must still come out +0, as
    /// float(q − z)·scale does, not the −0 a float rounding would keep; so must ties, saturation,
    /// NaN (the lower bound) and infinities, on every path and with either zero point.
    func testQuantizeDequantizePairsGiveTheNodesBits() throws {
        let s: Float = 0.25
        var values: [Float] = [
            -0.0, 0.0, -1e-30, -0.1 * s, -0.5 * s, 0.5 * s, 1.5 * s, -2.5 * s, .nan, .infinity, -.infinity,
        ]
        values += (0..<600).map { Float($0 - 300) * 0.37 * s }
        let x = Tensor(values, shape: [1, 1, values.count])
        let paths = try forEveryKernelPath { path in
            for zero: Int32 in [0, 3] {
                var g = Graph(
                    name: "qdq",
                    inputs: [ValueInfo(name: "x", dtype: .float, shape: [.value(1), .value(1), .value(values.count)])],
                    outputs: [ValueInfo(name: "y", dtype: .float, shape: nil)])
                g.nodes = [
                    Node(name: "q", opType: "QuantizeLinear", inputs: ["x", "s", "z"], outputs: ["q"]),
                    Node(name: "dq", opType: "DequantizeLinear", inputs: ["q", "s", "z"], outputs: ["y"]),
                ]
                g.setInitializer("s", Tensor([s], shape: []))
                g.setInitializer("z", Tensor([zero], shape: [], dtype: .int8))
                let fused = try Interpreter(model: Model(graph: g), semantics: .onnx)
                let alone = try Interpreter(model: Model(graph: g), semantics: .onnx)
                alone.fusesPointwiseRuns = false
                XCTAssertEqual(fused.pointwiseRuns.values.first?.count, 2)
                let y = try XCTUnwrap(fused.run(["x": x]).outputs["y"])
                let want = try XCTUnwrap(alone.run(["x": x]).outputs["y"])
                XCTAssertEqual(bits(y), bits(want), "\(path) zero point \(zero)")
                XCTAssertFalse(y.floats!.contains { $0 == 0 && $0.sign == .minus }, "\(path): −0 out of a pair")
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
    }

    /// Kept, replaced or timed intermediates stop a run from fusing (they must exist).
    func testKeptIntermediatesAreStillProduced() throws {
        let model = try chain(perChannelZero: true)
        let interp = try Interpreter(model: model, semantics: .onnx)
        let x = Tensor(dtype: .int8, shape: [1, 3, 256], storage: .i32((0..<768).map { Int32($0 % 256) - 128 }))
        let kept = try interp.run(["x": x], keepIntermediates: true)
        XCTAssertEqual(Set(kept.intermediates.keys).intersection(["a", "c", "d", "e"]), ["a", "c", "d", "e"])
        XCTAssertEqual(bits(kept.outputs["y"]!), bits(try interp.run(["x": x]).outputs["y"]!))
    }
}
