import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

final class ConvertTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testConvertWritesAValidQdqModelAndSaysWhichRulesFired() throws {
        let out = tmp.appendingPathComponent("lenet_qdq.onnx").path
        let r = try runQVerify(["convert", "Reference/lenet/aidge_quantized_folded.onnx", "--to", "qdq", "-o", out])
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("affine-to-qdq ×3"), r.stderr)
        XCTAssertTrue(r.stderr.contains("note: folded export: input step 1/127"), r.stderr)
        let i = try runQVerify(["inspect", out])
        XCTAssertTrue(i.stdout.contains("kind: QDQ"), i.stdout)
        XCTAssertTrue(i.stdout.contains("producer: qverify"), i.stdout)
    }

    func testRuntimeWeightsKeepFloatWeightsBehindQuantizeLinear() throws {
        let out = tmp.appendingPathComponent("rt.onnx").path
        let r = try runQVerify([
            "convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "--weights", "runtime", "-o", out,
        ])
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        let m = try OnnxFile.load(out)
        XCTAssertEqual(m.graph.initializer("conv1_w_out0")?.dtype, .float)
        XCTAssertTrue(m.graph.nodes.contains { $0.opType == "QuantizeLinear" && $0.inputs[0] == "conv1_w_out0" })
        XCTAssertFalse(r.stderr.contains("fold-weight-quantizer"), r.stderr)
    }

    func assertRefused(_ args: [String], _ message: String, line: UInt = #line) throws {
        let r = try runQVerify(args)
        XCTAssertEqual(r.exitCode, 2, r.stderr, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, line: line)
        XCTAssertTrue(r.stderr.contains(message), "expected “\(message)” in \(r.stderr)", line: line)
    }

    func testAFloatModelIsNotConverted() throws {
        try assertRefused(
            ["convert", "Reference/lenet/float.onnx", "--to", "qdq", "-o", tmp.appendingPathComponent("x.onnx").path],
            "Reference/lenet/float.onnx: not an Aidge-form model (it is float)")
    }

    func testAnAlreadyConvertedModelIsNotConvertedAgain() throws {
        try assertRefused(
            [
                "convert", "Reference/lenet/aidge_qdq.onnx", "--to", "qop", "-o",
                tmp.appendingPathComponent("x.onnx").path,
            ],
            "not an Aidge-form model (it is qdq)")
    }

    func testAnUnplaceableOpIsRefusedNamingTheNode() throws {
        var m = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized_folded.onnx"))
        let i = m.graph.nodes.firstIndex { $0.name == "relu1" }!
        m.graph.nodes[i].opType = "Softmax"
        let bad = tmp.appendingPathComponent("softmax.onnx").path
        try OnnxFile.save(m, to: bad)
        try assertRefused(
            ["convert", bad, "--to", "qdq", "-o", tmp.appendingPathComponent("x.onnx").path],
            "\(bad): node Softmax 'relu1': Softmax on the quantized tensor 'conv1_Scaling_out0' has no quantized form qverify can place"
        )
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x.onnx").path))
    }

    func testOldOpsetsAndBadScalesAreUsageErrors() throws {
        try assertRefused(
            [
                "convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "--opset", "11", "-o",
                tmp.appendingPathComponent("x.onnx").path,
            ],
            "--opset 11: qverify writes opset 13 or later")
        let r = try runQVerify([
            "convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "--input-scale", "0", "-o", "x.onnx",
        ])
        XCTAssertEqual(r.exitCode, 2)
        XCTAssertTrue(r.stderr.contains("--input-scale must be a positive number"), r.stderr)
    }
}
