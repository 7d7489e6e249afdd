import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

/// qverify reduce cuts a diverging pair down to the smallest slices that still diverge, fed the
/// reference's real values, with a repro that prints the divergence.
final class ReduceTests: XCTestCase {
    func testAidgesZeroBiasExportReducesToOneConvThatStillDiverges() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-reduce-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runQVerify([
            "reduce", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy", "-o", dir,
        ])
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        XCTAssertTrue(
            r.stdout.contains(
                "reduce: first divergence at conv#1 (reference 'conv1_Scaling' ↔ candidate 'conv1_Scaling'): 2861 elements, up to 11 steps"
            ), r.stdout)
        XCTAssertTrue(
            r.stdout.contains(
                "reduce: cut at input#0: 1 compute node(s) in the reference slice, 1 in the candidate's, 8 samples; still diverges: output 2861/3200 elements differ (max 11 steps)"
            ), r.stdout)
        for side in ["reference", "candidate"] {
            let g = try OnnxFile.load(dir + "/\(side).onnx").graph
            XCTAssertLessThanOrEqual(
                g.nodes.filter { ["Conv", "Gemm", "MatMul", "QLinearConv", "QGemm"].contains($0.opType) }.count, 3, side
            )
            XCTAssertLessThan(g.nodes.count, 10, side)
        }
        // The repro, as a user runs it (qverify on PATH): the same divergence, with its cause.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [dir + "/repro.sh"]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = TestPaths.qverify.deletingLastPathComponent().path + ":" + (env["PATH"] ?? "")
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, text)
        XCTAssertTrue(
            text.contains("first divergence at 'conv1_Scaling', output 2861/3200 elements differ (max 11 steps)"), text)
        XCTAssertTrue(text.contains("error bias-zeroed [conv1]"), text)
    }

    func testModelsThatAgreeHaveNothingToReduce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-reduce-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runQVerify([
            "reduce", "Reference/lenet/aidge_qdq.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy", "-o", dir,
        ])
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("do not diverge (equivalent"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/repro.sh"))
    }
}
