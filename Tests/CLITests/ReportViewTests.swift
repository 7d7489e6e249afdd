import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

/// What a reader sees: the HTML report (graph, charts that fit, histograms, causes apart from
/// consequences, a sortable table with anchors), and the overlays for Netron and Model Explorer.
final class ReportViewTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-views-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    func testZeroBiasReportShowsTheCauseGraphAndOverlays() throws {
        let dir = tmp.appendingPathComponent("lenet").path,
            annotated = tmp.appendingPathComponent("lenet_annotated.onnx").path
        let r = try runQVerify([
            "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy",
            "--report-dir", dir, "--annotate", annotated,
        ])
        XCTAssertEqual(r.exitCode, 1, r.stderr)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(
            html.contains(
                "<title>qverify compare: Reference/lenet/aidge_quantized.onnx vs Reference/lenet/aidge_qdq.onnx</title>"
            ), "the title names both models")
        XCTAssertTrue(html.contains("aria-label=\"candidate graph\""), "a picture of the graph")
        XCTAssertTrue(
            html.contains("First divergence: <a href=\"#n-compare-conv_1\"><code>conv1_Scaling</code></a>"),
            "linked to its row")
        XCTAssertTrue(html.contains("<tr id=\"n-compare-conv_1\" class=\"diverges\""), "every point has an anchor")
        // The divergence, and what follows from it in turn (the later nodes), collapsed under the
        // zeroed bias that causes it.
        XCTAssertTrue(
            html.contains("<details><summary>2 consequence(s)</summary>"),
            "the divergence is collapsed under the zeroed bias that causes it")
        XCTAssertTrue(
            html.contains("5 later node(s) differ as a consequence"), "a consequence of a consequence is shown too")
        XCTAssertTrue(html.contains("Step differences (6 differing point(s))"), "one histogram per differing point")
        XCTAssertTrue(html.contains("77/80 elements differ (96.2%)"), "percentages read as percentages")
        XCTAssertTrue(html.contains("viewBox=\"0 0 1000 "), "the per-point chart scales to the page")
        for external in ["src=\"http", "href=\"http", "<link", "@import"] {
            XCTAssertFalse(html.contains(external), external)
        }
        // Model Explorer node data: the error of each compared node, keyed by its output tensor.
        let me =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: dir + "/model-explorer-compare.json"))) as! [String: Any]
        let results = me["results"] as! [String: [String: Any]]
        XCTAssertEqual(results["conv1_Scaling_out0"]?["value"] as? Double, 11)
        XCTAssertEqual(results["InputRescaling_out0"]?["value"] as? Double, 0)
        XCTAssertEqual(results.count, 7)
        XCTAssertNotNil(me["thresholds"])
        // Netron: the candidate with its verdicts in doc_string and metadata.
        let m = try OnnxFile.load(annotated)
        let conv = try XCTUnwrap(m.graph.nodes.first { $0.name == "conv1_Scaling" })
        XCTAssertTrue(
            conv.docString?.hasPrefix("qverify: diverges at conv#1; 2861/3200 elements differ, max 11 steps") == true,
            conv.docString ?? "")
        XCTAssertTrue(conv.metadata.contains(KeyValue("qverify.status", "diverges")))
        XCTAssertTrue(
            m.graph.nodes.first { $0.name == "conv1" }?.docString?.contains("qverify error bias-zeroed") == true)
        XCTAssertTrue(m.metadata.contains(KeyValue("qverify.verdict", "discrepancy")))
    }

    func testBigModelsSayWhatIsLeftOutAndDrawEveryPoint() throws {
        let dir = tmp.appendingPathComponent("mobilenet").path
        let r = try runQVerify([
            "verify", "Reference/mobilenet/aidge_quantized_folded.onnx", "--inputs",
            "Reference/mobilenet/calib_inputs.npy", "--targets", "none",
            "--aidge-scaling-factors", "Reference/mobilenet/aidge_quantized_folded.sf.json", "--to", "qdq",
            "--report-dir", dir,
        ])
        XCTAssertEqual(r.exitCode, 1, r.stderr)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("Step differences (37 differing point(s))"), "37 differing points")
        XCTAssertTrue(html.contains("13 more differing point(s) are not drawn"), "the ones left out are counted")
        let bars = html.components(separatedBy: "<rect").count - 1
        XCTAssertGreaterThan(bars, 60, "a bar per point, a box per node")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
            [
                "aidge_quantized_folded_qdq.onnx", "junit.xml", "model-explorer-qdq.json", "report.html", "report.json",
                "report.md",
            ])
    }
}

/// Polygraphy's vocabulary for float-vs-quantized comparisons, where steps mean nothing.
final class RealValuedToleranceTests: XCTestCase {
    let args = [
        "compare", "Reference/cnn/float.onnx", "Reference/cnn/ort_static_qdq.onnx", "--inputs",
        "Reference/cnn/calib_inputs.npy",
    ]

    /// --min-sqnr: the first point below is the error, later points are its consequences; the
    /// SQNR is onnxruntime's qdq_loss_debug's (relu2_out 36.487 dB in Reference/cnn/qdq_loss_debug.json).
    func testMinSqnrNamesTheFirstPointBelowAsTheCause() throws {
        let r = try runQVerify(args + ["--atol", "1", "--min-sqnr", "40"])
        XCTAssertEqual(r.exitCode, 1, r.stderr)
        XCTAssertTrue(
            r.stdout.contains(
                "  error sqnr-below [relu2_out_QuantizeLinear]: SQNR 36.49 dB at conv#2→Relu is below --min-sqnr 40 dB\n"
            ), r.stdout)
        XCTAssertTrue(
            r.stdout.contains("    ↳ error sqnr-below [relu5_out_QuantizeLinear]: SQNR 35.92 dB"),
            "relu5_out is 35.917 dB in qdq_loss_debug: \(r.stdout)")
        let ok = try runQVerify(args + ["--atol", "1", "--min-sqnr", "35", "--min-cosine", "0.999"])
        XCTAssertEqual(ok.exitCode, 0, ok.stdout)
        XCTAssertTrue(ok.stdout.hasPrefix("compare Reference/cnn/ort_static_qdq.onnx: equivalent\n"), ok.stdout)
    }

    /// --atol/--rtol: an element passes when |Δ| ≤ atol or |Δ| ≤ rtol·|reference|; the messages
    /// say which limit was crossed.
    func testAtolRtolReplaceStepsWhereASideIsFloat() throws {
        let r = try runQVerify(args + ["--atol", "0.1", "--rtol", "0.1"])
        XCTAssertEqual(r.exitCode, 1)
        XCTAssertTrue(r.stdout.contains("(conv#5→Relu): 2/131072 elements beyond --atol 0.1 / --rtol 0.1"), r.stdout)
        let steps = try runQVerify(args)
        XCTAssertTrue(steps.stdout.contains("(conv#1→Relu): 96264/524288 elements beyond 0 step(s)"), steps.stdout)
        XCTAssertEqual(try runQVerify(args + ["--atol", "-1"]).exitCode, 2)
    }
}
