import QVGraph
import QVIO
import QVQuant
@testable import QVRecipe
import XCTest
import _TestSupport

final class QuantPlanTests: XCTestCase {
    func testUnfoldedLenetStepsMatchTheManifestScales() throws {
        // Reference/AIDGE_FIXTURES.md: input 0.0078728, conv1 w 0.0067657, bias 5.3265e-05 (= x·w), y 0.016947.
        let plan = try QuantPlan(model: try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized.onnx")))
        XCTAssertEqual(plan.form, .unfolded)
        XCTAssertEqual(plan.tensors["InputRescaling_out0"]!.step, 0.0078728, accuracy: 1e-7)
        XCTAssertEqual(plan.tensors["conv1_w_ProducerScaling_out0"]!.step, 0.0067657, accuracy: 1e-7)
        XCTAssertEqual(plan.tensors["conv1_b_ProducerScaling_out0"]!.step, 5.3265e-05, accuracy: 1e-9)
        XCTAssertEqual(plan.tensors["conv1_Scaling_out0"]!.step, 0.016947, accuracy: 1e-6)
        XCTAssertEqual(plan.tensors["relu1_out0"], plan.tensors["conv1_Scaling_out0"], "Relu is transparent")
        XCTAssertEqual(plan.tensors["fc_Scaling_out0"]!.step, 0.01662815362215042, accuracy: 1e-7)
        XCTAssertEqual(plan.quantizerKinds["conv1_b_ProducerScaling"], .bias)
        XCTAssertEqual(plan.quantizerKinds["InputRescaling"], .input)
    }

    func testFoldedResidualSolvesTheSkipBranchWeightStepFromTheAdd() throws {
        let plan = try QuantPlan(model: try OnnxFile.load(TestPaths.reference("residual/aidge_quantized_folded.onnx")))
        XCTAssertEqual(plan.form, .folded)
        let a = plan.tensors["relu1_Res_out0"]!.step, b = plan.tensors["conv2_Scaling_out0"]!.step
        XCTAssertEqual(a, b, accuracy: 1e-12 * b)
        XCTAssertTrue(
            plan.notes.contains {
                $0.contains("conv2_w_ProducerScaling_CastOut_out0") && $0.contains("solved so a residual Add")
            })
    }

    /// A folded export keeps only integers; with the real steps (Aidge's unfolded export of the
    /// same quantization, written by scripts/aidge_scaling_factors.py --steps-from) nothing is
    /// assumed, and the output step is the one Aidge's unfolded export states — across plain,
    /// depthwise, residual (identity skips: no step is solved any more) and MLP graphs. Without
    /// them, the CNN's assumed output step is 165.96 where Aidge's is 0.02549.
    func testGivenStepsMakeTheFoldedOutputStepAidgesOwn() throws {
        var checked = 0
        for m in ["cnn", "depthwise", "digits", "lenet", "mlp", "mobilenet", "padded", "residual", "resnet"] {
            let folded = try OnnxFile.load(TestPaths.reference("\(m)/aidge_quantized_folded.onnx"))
            let file = try ScalingFactorFile.loadSteps(TestPaths.reference("\(m)/aidge_quantized_folded.sf.json"))
            let plan = try QuantPlan(model: folded, known: KnownSteps(inputs: file.inputs, weights: file.weights))
            XCTAssertTrue(plan.assumedSteps.isEmpty, "\(m): \(plan.assumedSteps)")
            XCTAssertFalse(
                plan.notes.contains { $0.contains("solved") || $0.contains("assumed") }, "\(m): \(plan.notes)")
            let unfolded = try OnnxFile.load(TestPaths.reference("\(m)/aidge_quantized.onnx"))
            let real = try QuantPlan(model: unfolded).tensors[unfolded.graph.outputs[0].name]!.step
            let ours = plan.tensors[folded.graph.outputs[0].name]!.step
            // The unfolded export's input scale is calibrated (e.g. 1/127.00088), the folded one's
            // is 1/127: the steps agree to that ratio.
            XCTAssertEqual(ours / real, 1, accuracy: 2e-5, "\(m): \(ours) vs Aidge's \(real)")
            checked += 1
        }
        XCTAssertEqual(checked, 9)
        let assumed = try QuantPlan(model: try OnnxFile.load(TestPaths.reference("cnn/aidge_quantized_folded.onnx")))
        XCTAssertEqual(assumed.tensors["fc_Scaling_out0"]?.step ?? 0, 165.96, accuracy: 0.01)
    }

    func testStepsForANodeTheModelLacksAreRefused() throws {
        let folded = try OnnxFile.load(TestPaths.reference("cnn/aidge_quantized_folded.onnx"))
        XCTAssertThrowsError(
            try QuantPlan(model: folded, known: KnownSteps(inputs: [1 / 127], weights: ["conv9": 0.01]))
        ) {
            XCTAssertTrue("\($0)".contains("'conv9', which is not a node of this model"), "\($0)")
        }
        XCTAssertThrowsError(try QuantPlan(model: folded, known: KnownSteps(inputs: [0.1, 0.2]))) {
            XCTAssertTrue("\($0)".contains("2 input step(s) for 1 input(s)"), "\($0)")
        }
    }

    func testBitShiftScalesMultiplyTheStepByTwoToTheShift() throws {
        let m = try OnnxFile.load(TestPaths.reference("single_shift/aidge_quantized.onnx"))
        let plan = try QuantPlan(model: m)
        let q = m.graph.nodes.first { $0.name == "conv1_Scaling" }!
        let shift = Double(m.graph.initializer(q.inputs[1])!.asInt64s()![0])
        XCTAssertEqual(
            plan.tensors["conv1_Scaling_out0"]!.step, plan.tensors["conv1_out0"]!.step * shift, accuracy: 1e-15)
    }

    func testAnOpWithoutAQuantizedFormIsRefusedNamingTheNode() throws {
        var m = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized_folded.onnx"))
        let i = m.graph.nodes.firstIndex { $0.name == "relu1" }!
        m.graph.nodes[i].opType = "Softmax"
        XCTAssertThrowsError(try QuantPlan(model: m)) { e in
            XCTAssertEqual(
                "\(e)",
                "node Softmax 'relu1': Softmax on the quantized tensor 'conv1_Scaling_out0' has no quantized form qverify can place"
            )
        }
    }
}
