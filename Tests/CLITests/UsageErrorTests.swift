import Foundation
import XCTest
import _TestSupport

/// Every usage or filesystem mistake is one `qverify: error:` line naming what is wrong, with
/// exit 2 (never 1, which means "discrepancy"); a broken contract inside qverify is exit 3 and
/// says it is a bug. Each case: the exact message and code.
final class UsageErrorTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-usage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    let lenet = ["Reference/lenet/aidge_quantized.onnx", "--inputs", "Reference/lenet/calib_inputs.npy"]

    func expect(
        _ args: [String], exit code: Int32, stderr line: String, environment: [String: String] = [:],
        file: StaticString = #filePath, line l: UInt = #line
    ) throws {
        let r = try runQVerify(args, environment: environment)
        XCTAssertEqual(r.exitCode, code, r.stderr, file: file, line: l)
        XCTAssertTrue(r.stderr.contains(line), "expected \(line)\ngot \(r.stderr)", file: file, line: l)
        XCTAssertFalse(
            r.stderr.contains("NSCocoaErrorDomain") || r.stderr.contains("Error Domain"), r.stderr, file: file, line: l)
    }

    func testFilesystemMistakesAreOneLineWithExitTwo() throws {
        let file = tmp.appendingPathComponent("a-file").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try expect(
            ["verify"] + lenet + ["--report-dir", file], exit: 2,
            stderr: "qverify: error: \(file): is a file; --report-dir needs a folder\n")
        try expect(
            [
                "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
                "Reference/lenet/calib_inputs.npy", "--report-dir", file,
            ],
            exit: 2, stderr: "qverify: error: \(file): is a file; --report-dir needs a folder\n")
        try expect(
            ["run"] + lenet + ["--output-dir", file], exit: 2,
            stderr: "qverify: error: \(file): is a file; --output-dir needs a folder\n")
        let dir = tmp.path + "/"
        try expect(
            ["convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "-o", dir], exit: 2,
            stderr: "qverify: error: \(dir): is a folder; -o needs a file name (e.g. \(tmp.path)/model.onnx)\n")
        try expect(
            ["convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "-o", file + "/x.onnx"], exit: 2,
            stderr: "qverify: error: \(file): is a file; -o needs a folder\n")
        // A missing folder for -o or --output-dir is created, as for --report-dir.
        let deep = tmp.appendingPathComponent("new/sub/lenet_qdq.onnx").path
        XCTAssertEqual(
            try runQVerify(["convert", "Reference/lenet/aidge_quantized.onnx", "--to", "qdq", "-o", deep]).exitCode, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: deep))
        let out = tmp.appendingPathComponent("runs/one").path
        XCTAssertEqual(try runQVerify(["run"] + lenet + ["--output-dir", out]).exitCode, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/fc_Scaling_out0.npy"))
    }

    func testNamesAreCheckedWithTheNearestSuggested() throws {
        try expect(
            ["verify", "Reference/lenet/aidge_quantized.onnx", "--inptus", "Reference/lenet/calib_inputs.npy"], exit: 2,
            stderr: "qverify: error: unknown option '--inptus' for qverify verify; did you mean '--inputs'?\n")
        try expect(
            ["verfy", "Reference/lenet/aidge_quantized.onnx"], exit: 2,
            stderr:
                "qverify: error: unknown command 'verfy'; did you mean 'verify'? (commands: verify, compare, check, convert, run, inspect, reduce, merge)\n"
        )
        try expect(
            ["help", "nosuch"], exit: 2,
            stderr:
                "qverify: error: unknown command 'nosuch' (commands: verify, compare, check, convert, run, inspect, reduce, merge)\n"
        )
        XCTAssertEqual(try runQVerify(["help", "verify"]).exitCode, 0)
        try expect(
            ["verify"] + lenet + ["--tolerance-steps", "-1"], exit: 2,
            stderr: "Error: --tolerance-steps must be a number ≥ 0, got -1\n")
        try expect(
            ["verify"] + lenet + ["--node-tolerance", "conv1=-2"], exit: 2,
            stderr: "Error: --node-tolerance expects NAME=N with N ≥ 0, got 'conv1=-2'\n")
    }

    func testABrokenContractIsExitThreeAndSaysItIsABug() throws {
        try expect(
            ["inspect", "Reference/lenet/aidge_quantized.onnx"], exit: 3,
            stderr:
                "qverify: internal error: fault injected by QVERIFY_FAULT=internal\nqverify: this is a bug in qverify, not in your model; please report it with the command that shows it:\n  qverify inspect Reference/lenet/aidge_quantized.onnx\n",
            environment: ["QVERIFY_FAULT": "internal"])
    }

    /// The report folder is written as a unit: a run that fails leaves the previous report whole
    /// (and no partial folder), and a rerun leaves no file of the earlier run (a *_qop.onnx after
    /// --to qdq).
    func testTheReportFolderIsReplacedWholeOrNotAtAll() throws {
        let dir = tmp.appendingPathComponent("report").path
        XCTAssertEqual(try runQVerify(["verify"] + lenet + ["--targets", "none", "--report-dir", dir]).exitCode, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/report.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/aidge_quantized_qop.onnx"))
        let failed = try runQVerify([
            "verify", "Reference/lenet/aidge_quantized.onnx", "--inputs", "Reference/cnn/calib_inputs.npy", "--targets",
            "none", "--report-dir", dir,
        ])
        XCTAssertEqual(failed.exitCode, 2, failed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")), before)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted(), ["report"], "no partial folder left"
        )
        XCTAssertEqual(
            try runQVerify(["verify"] + lenet + ["--targets", "none", "--to", "qdq", "--report-dir", dir]).exitCode, 0)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
            [
                "aidge_quantized_qdq.onnx", "junit.xml", "model-explorer-qdq.json", "report.html", "report.json",
                "report.md",
            ])
    }

    /// --json prints the summary (verdict, exit code, findings with their comparison and cause);
    /// check, which has no reference, counts findings instead of saying "equivalent".
    func testJsonSummaryAndCheckHeadline() throws {
        let r = try runQVerify([
            "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy", "--json",
        ])
        XCTAssertEqual(r.exitCode, 1)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["verdict"] as? String, "discrepancy")
        XCTAssertEqual(j["exitCode"] as? Int, 1)
        let findings = try XCTUnwrap(j["findings"] as? [[String: Any]])
        let first = try XCTUnwrap(findings.first { $0["code"] as? String == "first-divergence" })
        XCTAssertEqual(
            first["cause"] as? String, "bias-zeroed @ conv1", "the zeroed bias is what the divergence comes from")
        XCTAssertEqual(first["comparison"] as? String, "compare")
        let v = try runQVerify(["verify"] + lenet + ["--targets", "none", "--json"])
        let vj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(v.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((vj["comparisons"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["qdq", "qop"])
        XCTAssertEqual(vj["exitCode"] as? Int, 0)
        let c = try runQVerify(["check", "Reference/lenet/aidge_qdq.onnx"])
        XCTAssertTrue(c.stdout.hasPrefix("check Reference/lenet/aidge_qdq.onnx: 0 error(s), 5 warning(s)\n"), c.stdout)
        XCTAssertFalse(c.stdout.contains("equivalent"), c.stdout)
    }
}
