import Foundation
import XCTest
import _TestSupport

final class InspectTests: XCTestCase {
    func testEveryReferenceModelIsDescribedWithItsKind() throws {
        let expected: [(suffix: String, kind: String)] = [
            ("aidge_quantized_folded.onnx", "kind: Aidge-form, folded (not valid ONNX)"),
            ("aidge_quantized.onnx", "kind: Aidge-form, unfolded (not valid ONNX)"),
            ("aidge_qdq.onnx", "kind: QDQ"), ("aidge_qdq_biasfix.onnx", "kind: QDQ"),
            ("ort_static_qdq.onnx", "kind: QDQ"),
            ("aidge_qop.onnx", "kind: QOP"), ("aidge_qop_biasfix.onnx", "kind: QOP"),
            ("ort_static_qop.onnx", "kind: QOP"),
            ("float.onnx", "kind: float"),
            // ort-isa/: qverify's conversions as recorded on another host.
            ("qverify_aidge_quantized_qdq.onnx", "kind: QDQ"), ("qverify_aidge_quantized_folded_qdq.onnx", "kind: QDQ"),
            ("qverify_aidge_quantized_qop.onnx", "kind: QOP"), ("qverify_aidge_quantized_folded_qop.onnx", "kind: QOP"),
        ]
        for rel in TestPaths.referenceModels() {
            let r = try runQVerify(["inspect", "Reference/\(rel)"])
            XCTAssertEqual(r.exitCode, 0, "\(rel): \(r.stderr)")
            let file = URL(fileURLWithPath: rel).lastPathComponent
            let want = try XCTUnwrap(expected.first { $0.suffix == file }?.kind, rel)
            XCTAssertTrue(r.stdout.contains(want), "\(rel): \(r.stdout)")
        }
    }

    func testFoldedLenetIsCountedAsTwoIntegerConvsAndOneIntegerGemm() throws {
        let r = try runQVerify(["inspect", "Reference/lenet/aidge_quantized_folded.onnx"])
        XCTAssertTrue(
            r.stdout.contains("kind: Aidge-form, folded (not valid ONNX): 2 integer Conv, 1 integer Gemm\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("fc_Scaling_out0  int8 [1, 10]"), r.stdout)
    }

    func testBitShiftScalesAndInt32ZeroPointsAreNamed() throws {
        let r = try runQVerify(["inspect", "Reference/single_shift/aidge_quantized.onnx"])
        XCTAssertTrue(
            r.stdout.contains("3 QuantizeLinear with int32 zero point, 3 QuantizeLinear with INT32 scale"), r.stdout)
    }

    func testJsonOutputIsStableAndDecodable() throws {
        let r = try runQVerify(["inspect", "--json", "Reference/residual/ort_static_qop.onnx"])
        XCTAssertEqual(r.exitCode, 0)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["kind"] as? String, "qop")
        XCTAssertEqual(obj["schema"] as? Int, 1)
        let counts = try XCTUnwrap(obj["opCounts"] as? [String: Int])
        XCTAssertEqual(counts["QLinearConv"], 2)
        XCTAssertEqual(counts["com.microsoft::QLinearAdd"], 1)
        // aidgeExportForm is omitted for models that are not Aidge-form.
        let keys: Set<String> = [
            "schema", "producer", "irVersion", "opsets", "inputs", "outputs", "nodeCount",
            "opCounts", "initializers", "kind", "invalidFeatures", "verdict",
        ]
        XCTAssertEqual(Set(obj.keys), keys)
    }
}
