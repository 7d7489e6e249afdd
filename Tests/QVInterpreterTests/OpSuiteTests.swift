import Foundation
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import XCTest
import _TestSupport

/// The op-level suite of Tests/Fixtures/ops, generated against onnxruntime by
/// scripts/make_op_suite.py: rounding ties, odd zero points, saturation at both ends,
/// per-axis and blocked scales, int4, per-channel/padded/strided/depthwise/grouped QLinearConv,
/// accumulators beyond 2^24, the com.microsoft QLinear family, and the float ops; float
/// Conv/Gemm/MatMul cases named exact_* bit for bit (summed in onnxruntime's order).
final class OpSuiteTests: XCTestCase {
    static let folder = TestPaths.root.appendingPathComponent("Tests/Fixtures/ops")

    func testEveryOpCaseMatchesOnnxruntime() throws {
        let (failures, bitExact) = try checkSuite(report: true)
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
        XCTAssertEqual(bitExact, 75)
    }

    /// Runs every case; returns the failures and how many float outputs were held bit for bit.
    func checkSuite(report: Bool = false) throws -> (failures: [String], bitExact: Int) {
        let cases = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter {
            $0.hasSuffix(".onnx")
        }.sorted()
        XCTAssertGreaterThanOrEqual(cases.count, 77)
        var failures: [String] = []
        var bitExactFloats = 0
        for file in cases {
            let name = String(file.dropLast(5))
            do {
                let model = try OnnxFile.load(Self.folder.appendingPathComponent(file).path)
                let arrays = try Npy.loadArchive(Self.folder.appendingPathComponent(name + ".npz").path)
                var inputs: [String: Tensor] = [:]
                for (k, t) in arrays where k.hasPrefix("in:") { inputs[String(k.dropFirst(3))] = t }
                let r = try Interpreter(model: model, semantics: .onnx).run(inputs)
                for (k, expected) in arrays where k.hasPrefix("out:") {
                    let out = String(k.dropFirst(4))
                    guard let got = r.outputs[out] else { failures.append("\(name): no output \(out)"); continue }
                    guard got.shape == expected.shape else {
                        failures.append("\(name).\(out): shape \(got.shape) vs \(expected.shape)"); continue
                    }
                    if expected.dtype.isInteger && got.dtype != expected.dtype {
                        failures.append("\(name).\(out): dtype \(got.dtype) vs \(expected.dtype)")
                    }
                    let d = TensorDiff(got, expected)
                    if !d.ok { failures.append("\(name).\(out): \(d)") }
                    if let g = got.floats, let e = expected.floats {
                        let bits = zip(g, e).filter { $0.bitPattern != $1.bitPattern }.count
                        if name.hasPrefix("exact_") {
                            bitExactFloats += 1
                            if bits != 0 {
                                failures.append("\(name).\(out): \(bits) of \(e.count) floats differ in their bits")
                            }
                        } else if bits != 0 && report {
                            print(
                                "op suite: \(name).\(out) \(bits)/\(e.count) float bits differ (held to 1e-5 relative)")
                        }
                    }
                }
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        return (failures, bitExactFloats)
    }

    /// The C kernels (float products, quantization loops) have an AVX-512, an AVX2+FMA and a
    /// portable path (the quantization loops fall back to Swift's): the whole suite must pass on
    /// each, or results would depend on the machine qverify runs on.
    func testEveryKernelPathPassesTheWholeSuite() throws {
        let paths = try forEveryKernelPath { path in
            let (failures, bitExact) = try checkSuite()
            XCTAssertEqual(failures, [], "\(path) path:\n" + failures.joined(separator: "\n"))
            XCTAssertEqual(bitExact, 75, path)
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        print("kernel paths checked on this CPU: \(paths)")
    }

    /// MLAS's reduction blocks (sgemm.cpp's stride trade): a short K lends stride to N, a narrow N
    /// lends stride to K. The exact_conv cases hold the consequences against onnxruntime.
    func testReductionBlocksFollowMlasStrideTrades() {
        let cases: [(n: Int, k: Int, block: Int)] = [
            (4096, 144, 128), (4096, 27, 32), (4096, 576, 128), (256, 576, 128),
            (100, 144, 128), (64, 576, 256), (32, 576, 512), (16, 576, 1024),
            (8, 4096, 1024), (300, 300, 128), (5, 300, 1024),
        ]
        for c in cases {
            XCTAssertEqual(OnnxruntimeGemm.blockK(n: c.n, k: c.k), c.block, "N \(c.n), K \(c.k)")
        }
    }

    func testQuantizeLinearRoundsEveryTieHalfToEven() throws {
        // Independent of onnxruntime: x/scale = k + 0.5 exactly (scale a power of two).
        let model = try OnnxFile.load(Self.folder.appendingPathComponent("quantize_ties_half_even_int8.onnx").path)
        let x = (-140..<140).map { (Float($0) + 0.5) * 0.5 }
        let y = try Interpreter(model: model, semantics: .onnx).run(["x": Tensor(x, shape: [x.count])]).outputs["y"]!
        for (xi, yi) in zip(x, y.int32s!) {
            let k = xi / 0.5
            let even =
                Float(Int((k - 0.5) / 2) * 2) == (k - 0.5) || (k - 0.5).truncatingRemainder(dividingBy: 2) == 0
                ? k - 0.5 : k + 0.5
            XCTAssertEqual(Float(yi), min(max(even, -128), 127), "x = \(xi)")
        }
    }
}
