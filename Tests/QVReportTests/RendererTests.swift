@testable import QVCompare
import QVGraph
@testable import QVReport
import XCTest

/// The report writers on a report built by hand: JUnit fails once per cause and names the model,
/// the HTML anchors every point and collapses consequences, numbers print one way everywhere.
final class RendererTests: XCTestCase {
    func node(_ sig: String, _ status: NodeStatus, steps: Double, tensor: String) -> NodeReport {
        NodeReport(
            signature: sig,
            reference: TensorRef(
                tensor: tensor, node: tensor, op: "QuantizeLinear", dtype: "int8", scale: 0.1, zeroPoint: 0),
            candidate: TensorRef(
                tensor: tensor, node: tensor, op: "QuantizeLinear", dtype: "int8", scale: 0.1, zeroPoint: 0),
            status: status,
            stats: TensorStats(
                count: 10, differing: status == .ok ? 0 : 4, maxAbs: steps * 0.1, meanAbs: 0.01, maxSteps: steps,
                meanSteps: 0.1, sqnrDB: 30, cosine: 0.99),
            differingBeyondTolerance: status == .ok ? 0 : 4, toleranceSteps: 0,
            stepHistogram: status == .ok ? nil : ["-1": 2, "1": 2])
    }

    func report() -> Report {
        let cause = Finding(.error, "bias-zeroed", node: "conv1", model: "candidate", "every int32 bias value is 0")
        let first = Finding(
            .error, "first-divergence", node: "c1", model: "candidate", "first divergence at conv#1", cause: cause.key)
        let other = Finding(.error, "bias-zeroed", node: "conv2", model: "candidate", "every int32 bias value is 0")
        let c = ComparisonReport(
            name: "qdq", reference: ModelRef(path: "a.onnx", kind: "aidge-form", semantics: "aidge"),
            candidate: ModelRef(path: "b.onnx", kind: "qdq", semantics: "onnx"), samples: 2, verdict: .discrepancy,
            firstDivergence: "c1", output: nil, findings: [cause, first, other],
            nodes: [
                node("input#0", .ok, steps: 0, tensor: "in"), node("conv#1", .diverges, steps: 11, tensor: "c1"),
                node("conv#1→Relu", .downstream, steps: 11, tensor: "r1"),
            ],
            unmatchedReference: [], unmatchedCandidate: [], targets: nil, accuracy: nil)
        return Report(
            tool: "qverify test", command: "verify", model: "Reference/lenet/aidge_quantized.onnx", inputs: "x.npy",
            tolerance: Tolerance(),
            findings: [], comparisons: [c])
    }

    func testJUnitFailsOncePerCauseWithConsequencesAsItsOutput() {
        let xml = JUnit.render(report())
        XCTAssertEqual(
            xml.components(separatedBy: "<failure ").count - 1, 2,
            "two causes (the zeroed biases), not three findings plus two nodes")
        XCTAssertTrue(
            xml.contains("<testsuite name=\"lenet/aidge_quantized.onnx: qdq\" tests=\"3\" failures=\"2\""), xml)
        XCTAssertTrue(xml.contains("classname=\"lenet/aidge_quantized.onnx.qdq\" name=\"bias-zeroed @ conv1\""), xml)
        XCTAssertTrue(
            xml.contains("error first-divergence @ c1: first divergence at conv#1"),
            "the divergence is the cause's output")
        XCTAssertTrue(
            xml.contains("node conv#1→Relu r1 ↔ r1: downstream, 4 elements beyond 0 step(s), max 11 steps"),
            "so are the later nodes")
    }

    func testHtmlAnchorsPointsAndCollapsesConsequences() {
        let html = HTML.render(report())
        XCTAssertTrue(html.contains("<tr id=\"n-qdq-conv_1\" class=\"diverges\""))
        XCTAssertTrue(html.contains("<tr id=\"n-qdq-conv_1_Relu\" class=\"downstream\""))
        XCTAssertTrue(html.contains("<details><summary>1 consequence(s)</summary>"))
        XCTAssertTrue(html.contains("Step differences (2 differing point(s))"))
        XCTAssertEqual(HTML.percent(575, 576), "99.8%")
        XCTAssertEqual(HTML.percent(5759, 5760), ">99.9%")
        XCTAssertEqual(HTML.percent(0, 576), "0%")
        XCTAssertEqual(HTML.percent(1, 3), "33.3%")
    }

    /// A consequence of a consequence stays under the first cause (it was dropped from stdout and
    /// the HTML table when grouping went one level deep).
    func testConsequencesOfConsequencesStayUnderTheirCause() {
        let bias = Finding(.error, "bias-zeroed", node: "conv1", model: "candidate", "zeroed")
        let first = Finding(.error, "first-divergence", node: "c1", model: "candidate", "diverges", cause: bias.key)
        let wrap = Finding(.error, "wrap-vs-saturate", node: "c1", model: "candidate", "wraps", cause: first.key)
        let alone = Finding(.warning, "per-layer-gain", node: "c2", model: "candidate", "gain")
        let grouped = [wrap, bias, alone, first].byCause()
        XCTAssertEqual(grouped.map(\.cause.key), ["bias-zeroed @ conv1", "per-layer-gain @ c2"])
        XCTAssertEqual(grouped[0].consequences.map(\.code), ["first-divergence", "wrap-vs-saturate"])
        XCTAssertEqual(grouped[1].consequences.count, 0)
    }

    func testNumbersPrintOneWay() {
        XCTAssertEqual(formatNumber(11.0), "11")
        XCTAssertEqual(formatNumber(1e7), "10000000")
        XCTAssertEqual(formatNumber(2.73e-8), "2.73e-08")
        XCTAssertEqual(formatNumber(.infinity), "∞")
        XCTAssertEqual(formatNumber(nil), "–")
        XCTAssertEqual(formatNumber(nil, missing: "?"), "?")
        XCTAssertEqual(Tolerance.describe(0.5), "0.5")
        XCTAssertEqual(Tolerance.describe(2), "2")
    }
}
