import Foundation
import XCTest
import _TestSupport

final class VerifyTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-verify-\(UUID().uuidString)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testVerifyOfACleanModelExitsZeroAndWritesFourReportsInsideTheReportDir() throws {
        let dir = tmp.appendingPathComponent("rep").path
        let r = try runQVerify(["verify", "Reference/mlp/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy", "--report-dir", dir])
        XCTAssertEqual(r.exitCode, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("verify Reference/mlp/aidge_quantized.onnx: equivalent"), r.stdout)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        XCTAssertEqual(files, ["report.json", "report.md", "report.html", "junit.xml", "aidge_quantized_qdq.onnx", "aidge_quantized_qop.onnx"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report.json"))) as! [String: Any]
        XCTAssertEqual(json["schema"] as? Int, 1)
        XCTAssertEqual(json["verdict"] as? String, "equivalent")
        let comps = json["comparisons"] as! [[String: Any]]
        XCTAssertEqual(comps.map { $0["name"] as? String }, ["qdq", "qop"])
        let nodes = comps[0]["nodes"] as! [[String: Any]]
        XCTAssertEqual(nodes.map { $0["signature"] as? String }, ["input#0", "fc#1", "fc#1→Relu", "fc#2"])
        let junit = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("<testsuite name=\"qdq\" tests="), junit)
        XCTAssertFalse(junit.contains("<failure"), junit)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"), "charts are inline SVG")
        XCTAssertFalse(html.contains("http://") && html.contains("<script"), "self-contained")
    }

    func testCompareOfAidgesZeroBiasExportExitsOneWithJUnitFailures() throws {
        let dir = tmp.appendingPathComponent("zb").path
        let r = try runQVerify(["compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx",
                                "--inputs", "Reference/lenet/calib_inputs.npy", "--report-dir", dir])
        XCTAssertEqual(r.exitCode, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("first divergence at 'conv1_Scaling'"), r.stdout)
        let junit = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("name=\"bias-zeroed @ conv1\"><failure"), junit)
    }

    func testTolerancesAndFailOnWarning() throws {
        let args = ["verify", "Reference/single_shift/aidge_quantized_folded.onnx", "--inputs", "Reference/single_shift/calib_inputs.npy", "--to", "qdq"]
        XCTAssertEqual(try runQVerify(args).exitCode, 0, "ties are warnings")
        XCTAssertEqual(try runQVerify(args + ["--fail-on", "warning"]).exitCode, 1)
        XCTAssertEqual(try runQVerify(args + ["--tolerance-steps", "1", "--fail-on", "warning"]).exitCode, 0, "within tolerance: no warning")
        let uint8 = ["verify", "Reference/uint8_act/aidge_quantized.onnx", "--inputs", "Reference/uint8_act/calib_inputs.npy", "--to", "qop"]
        XCTAssertEqual(try runQVerify(uint8).exitCode, 1)
        XCTAssertEqual(try runQVerify(uint8 + ["--tolerance-steps", "255"]).exitCode, 0)
        let bad = try runQVerify(uint8 + ["--node-tolerance", "conv1_Scaling"])
        XCTAssertEqual(bad.exitCode, 2)
        XCTAssertTrue(bad.stderr.contains("--node-tolerance expects NAME=N"), bad.stderr)
    }

    func testCheckExitsOneOnErrorFindingsAndPrintsJson() throws {
        let r = try runQVerify(["check", "--json", "Reference/fake_quantize/aidge_quantized.onnx"])
        XCTAssertEqual(r.exitCode, 1)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let findings = json["findings"] as! [[String: Any]]
        XCTAssertEqual(findings.filter { $0["code"] as? String == "float-zero-point" }.count, 10)
        XCTAssertEqual(try runQVerify(["check", "Reference/lenet/aidge_qdq_biasfix.onnx"]).exitCode, 0)
        let zb = try runQVerify(["check", "Reference/lenet/aidge_qdq.onnx", "--reference", "Reference/lenet/aidge_quantized.onnx"])
        XCTAssertEqual(zb.exitCode, 1)
        XCTAssertTrue(zb.stdout.contains("error bias-zeroed [conv1]"), zb.stdout)
    }

    func testVerifyRefusesAValidOnnxModelAndBadInputs() throws {
        let r = try runQVerify(["verify", "Reference/lenet/aidge_qdq.onnx", "--inputs", "Reference/lenet/calib_inputs.npy"])
        XCTAssertEqual(r.exitCode, 2)
        XCTAssertTrue(r.stderr.contains("verify takes an Aidge-form model (this one is qdq); use qverify compare"), r.stderr)
        let b = try runQVerify(["verify", "Reference/lenet/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy"])
        XCTAssertEqual(b.exitCode, 2)
        XCTAssertTrue(b.stderr.contains("Reference/mlp/calib_inputs.npy: array for input 'InputRescaling_in0' has shape [8, 1, 16]; expected rank 4"), b.stderr)
    }
}
