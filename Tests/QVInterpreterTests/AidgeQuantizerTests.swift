import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import XCTest
import _TestSupport

/// Aidge's Quantizer (QuantizeLinear under Aidge semantics) has a per-tensor fast path and a
/// general per-channel path. The goldens exercise the fast path on int8 outputs; these cases
/// hold the two paths to the same answers on ties, clip edges, non-finite values and the
/// unsigned-tagged wrap that no Aidge golden covers (Aidge's CPU backend refuses uint8_act).
/// Every case runs with the AVX-512 loop (where the CPU has it) and with the portable one.
final class AidgeQuantizerTests: XCTestCase {
    /// Runs `body` once per vector path this CPU has ("avx512f", "portable").
    func forEachPath(_ body: (String) throws -> Void) rethrows {
        let original = OnnxruntimeGemm.kernelPath
        defer { OnnxruntimeGemm.kernelPath = original }
        for path in ["avx512f", "portable"] {
            OnnxruntimeGemm.kernelPath = path
            if OnnxruntimeGemm.kernelPath == path { try body(path) }
        }
    }

    /// y = QuantizeLinear(x, scale, zp) over x of shape [1, 2, n]; a 2-value scale selects the
    /// general path (axis 1), a scalar the fast path.
    func quantize(_ x: Tensor, scale: Float, perChannel: Bool, zp: Int32, outType: DType) throws -> [Int32] {
        let shape = perChannel ? [2] : []
        var g = Graph(
            name: "q", inputs: [ValueInfo(name: "x", dtype: x.dtype, shape: x.shape.map { .value($0) })],
            outputs: [ValueInfo(name: "y", dtype: outType, shape: nil)])
        g.nodes = [Node(name: "quantizer", opType: "QuantizeLinear", inputs: ["x", "s", "z"], outputs: ["y"])]
        g.setInitializer("s", Tensor([Float](repeating: scale, count: perChannel ? 2 : 1), shape: shape))
        g.setInitializer("z", Tensor([Int32](repeating: zp, count: perChannel ? 2 : 1), shape: shape, dtype: outType))
        let out = try Interpreter(model: Model(graph: g), semantics: .aidge).run(["x": x]).outputs["y"]
        return try XCTUnwrap(out?.int32s)
    }

    func testFastAndGeneralPathsAgreeOnTiesClipEdgesAndWrap() throws {
        // Scale 0.5 (sf = 2): x·sf lands on ties (±2.5, ±3.5), clip edges and beyond.
        let base: [Float] = [
            0, 0.25, -0.25, 1.25, -1.25, 1.75, -1.75, 63.25, 63.75, 64, -64.25, -64.5, -64.75,
            1000, -1000, 16_383.75, -16_384.25, 3e9, -3e9, .infinity, -.infinity, .nan,
        ]
        let values = base + base.map { $0 * 3 }
        let x = Tensor(values + values, shape: [1, 2, values.count])
        var compared = 0
        try forEachPath { path in
            for (outType, zps) in [(DType.int8, [Int32(0), 5, -3]), (.uint8, [0, 7]), (.int16, [0, -100])] {
                for zp in zps {
                    let fast = try quantize(x, scale: 0.5, perChannel: false, zp: zp, outType: outType)
                    let general = try quantize(x, scale: 0.5, perChannel: true, zp: zp, outType: outType)
                    XCTAssertEqual(fast, general, "\(outType) zp \(zp) on the \(path) path")
                    compared += fast.count
                }
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 7 * 2 * 2 * base.count)
    }

    func testRoundsHalfUpClipsToTheSignedRangeThenWraps() throws {
        // sf = 2: 1.25 → 2.5 → 3; −1.25 → −2.5 → −2; −0.25 → −0.5 → 0; 63.75 → 127.5 → 128 → 127.
        let x = Tensor(
            [1.25, -1.25, -0.25, 63.75, -64.75, .nan, 1.25, -1.25, -0.25, 63.75, -64.75, .nan] as [Float],
            shape: [1, 2, 6])
        try forEachPath { _ in
            for perChannel in [false, true] {
                XCTAssertEqual(
                    try quantize(x, scale: 0.5, perChannel: perChannel, zp: 0, outType: .int8),
                    [3, -2, 0, 127, -128, -128, 3, -2, 0, 127, -128, -128])
                // A uint8-tagged quantizer clips to [−128, 127], then the cast wraps negatives up by 256.
                XCTAssertEqual(
                    try quantize(x, scale: 0.5, perChannel: perChannel, zp: 0, outType: .uint8),
                    [3, 254, 0, 127, 128, 128, 3, 254, 0, 127, 128, 128])
            }
            // int32 accumulators (the usual Quantizer input) take the same path as floats.
            let acc = Tensor([5, -5, 255, -257, 5, -5, 255, -257] as [Int32], shape: [1, 2, 4], dtype: .int32)
            XCTAssertEqual(
                try quantize(acc, scale: 2, perChannel: false, zp: 1, outType: .int8),
                [4, -1, 127, -127, 4, -1, 127, -127])
            XCTAssertEqual(
                try quantize(acc, scale: 2, perChannel: true, zp: 1, outType: .int8),
                [4, -1, 127, -127, 4, -1, 127, -127])
        }
    }
}

/// Integer ops Aidge's PTQ leaves on integers, against Aidge's CPU backend itself
/// (Reference/aidge_ops, scripts/make_aidge_op_goldens.py).
final class AidgeIntegerOpTests: XCTestCase {
    /// LeakyReLU casts its slope to the integer type before multiplying (0.1 → 0: a Relu).
    func testIntegerLeakyReluCastsTheSlopeAsAidgesKernelDoes() throws {
        let golden = Dictionary(
            uniqueKeysWithValues: try Npy.loadArchive(TestPaths.reference("aidge_ops/leakyrelu_int32.npz")).map {
                ($0.name, $0.tensor)
            })
        let x = try XCTUnwrap(golden["x"])
        var checked = 0
        for (key, y) in golden where key.hasPrefix("y_") {
            let alpha = try XCTUnwrap(Float(key.dropFirst(2)))
            var g = Graph(
                name: "l", inputs: [ValueInfo(name: "x", dtype: .int32, shape: x.shape.map { .value($0) })],
                outputs: [ValueInfo(name: "y", dtype: .int32, shape: nil)])
            g.nodes = [
                Node(
                    name: "leaky", opType: "LeakyRelu", inputs: ["x"], outputs: ["y"],
                    attributes: [Attribute(name: "alpha", value: .float(alpha))])
            ]
            let out = try Interpreter(model: Model(graph: g), semantics: .aidge).run(["x": x]).outputs["y"]
            XCTAssertEqual(try XCTUnwrap(out).asInt64s(), y.asInt64s(), "alpha \(alpha)")
            checked += 1
        }
        XCTAssertEqual(checked, 6)
    }
}
