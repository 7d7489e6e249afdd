import QVCompare
import QVGraph
import QVIO
import QVRecipe
import XCTest
import _TestSupport

final class HarnessTests: XCTestCase {
    func load(_ rel: String) throws -> Model { try OnnxFile.load(TestPaths.reference(rel)) }

    func compare(_ a: Model, _ b: Model, fixture: String, tolerance: Tolerance = Tolerance()) throws -> ComparisonReport
    {
        let va = try GraphView(a)
        let samples = try InputSet.load(
            TestPaths.reference("\(fixture)/calib_inputs.npy"), inputs: a.graph.runtimeInputs)
        return try Harness(
            reference: va, candidate: try GraphView(b), referencePath: "a", candidatePath: "b", tolerance: tolerance
        ).run(name: "t", samples: samples)
    }

    func errors(_ r: ComparisonReport) -> [Finding] { r.findings.filter { $0.severity == .error } }
    func notable(_ r: ComparisonReport) -> [Finding] { r.findings.filter { $0.severity != .info } }

    // MARK: real cases

    func testLenetAndMlpConversionsVerifyCleanWithNoFinding() throws {
        for f in ["lenet", "mlp"] {
            for file in ["aidge_quantized_folded.onnx", "aidge_quantized.onnx"] {
                let src = try load("\(f)/\(file)")
                for format in TargetFormat.allCases {
                    let r = try compare(
                        src, try Recipe.convert(src, options: ConvertOptions(format: format)).model, fixture: f)
                    XCTAssertEqual(r.verdict, .equivalent, "\(f)/\(file) \(format): \(notable(r))")
                    XCTAssertEqual(notable(r), [])
                    XCTAssertNil(r.firstDivergence)
                    XCTAssertEqual(r.output?.differing, 0)
                    XCTAssertTrue(r.nodes.allSatisfy { $0.status == .ok }, "\(r.nodes.map(\.status))")
                }
            }
        }
    }

    func testAidgesOwnQdqIsCaughtOnEveryZeroedBiasAndDivergesAtTheFirstConv() throws {
        let r = try compare(try load("lenet/aidge_quantized.onnx"), try load("lenet/aidge_qdq.onnx"), fixture: "lenet")
        XCTAssertEqual(r.verdict, .discrepancy)
        XCTAssertEqual(Set(errors(r).filter { $0.code == "bias-zeroed" }.map(\.node)), ["conv1", "conv2", "fc"])
        XCTAssertEqual(r.firstDivergence, "conv1_Scaling")
        XCTAssertEqual(r.nodes.first { $0.status == .diverges }?.signature, "conv#1")
        // The manifest's own agreement figures for this file: 77 of 80 outputs differ, by up to 21 steps.
        XCTAssertEqual(r.output?.differing, 77)
        XCTAssertEqual(r.output?.maxSteps ?? 0, 21, accuracy: 1e-3)
    }

    func testAidgesBiasFixedQdqIsEquivalent() throws {
        for f in ["lenet", "mlp"] {
            let r = try compare(
                try load("\(f)/aidge_quantized.onnx"), try load("\(f)/aidge_qdq_biasfix.onnx"), fixture: f)
            XCTAssertEqual(r.verdict, .equivalent, "\(f): \(notable(r))")
        }
    }

    func testFakeQuantizeExportHasFloatZeroPointErrors() throws {
        let f = try StaticChecks.run(try load("fake_quantize/aidge_quantized.onnx"), label: "m")
        XCTAssertEqual(f.filter { $0.code == "float-zero-point" && $0.severity == .error }.count, 10)
    }

    func testUint8TaggedModelShowsWrapFindingsStaticallyAndDynamically() throws {
        let src = try load("uint8_act/aidge_quantized.onnx")
        let s = try StaticChecks.run(src, label: "m")
        XCTAssertEqual(
            Set(s.filter { $0.code == "unsigned-wraps-negatives" }.map(\.node)),
            ["conv1_Scaling", "conv2_Scaling", "fc_Scaling"])
        let r = try compare(
            src, try Recipe.convert(src, options: ConvertOptions(format: .qdq)).model, fixture: "uint8_act")
        XCTAssertEqual(r.firstDivergence, "conv1_Scaling")
        let wrap = try XCTUnwrap(r.findings.first { $0.code == "wrap-vs-saturate" })
        XCTAssertEqual(wrap.node, "conv1_Scaling")
        XCTAssertTrue(wrap.message.hasPrefix("1571 of them"), wrap.message)
    }

    func testSingleShiftTiesAreWarningsNotErrors() throws {
        let src = try load("single_shift/aidge_quantized_folded.onnx")
        let r = try compare(
            src, try Recipe.convert(src, options: ConvertOptions(format: .qdq)).model, fixture: "single_shift")
        XCTAssertEqual(r.verdict, .equivalentWithWarnings, "\(notable(r))")
        XCTAssertEqual(r.findings.first { $0.code == "rounding-ties" }?.node, "conv1_Scaling")
        XCTAssertEqual(errors(r), [])
    }

    /// Two independent tie causes: conv1's ties, and with their values put back, one element of
    /// conv2 that is a tie of conv2's own quantizer. The put-back pass iterates: conv2 becomes a
    /// cause of its own and everything after it is a consequence (no divergence error).
    func testASecondTieCauseDownstreamIsFoundByIteratedPutBack() throws {
        let src = try load("single_shift/aidge_quantized.onnx")
        let r = try compare(
            src, try Recipe.convert(src, options: ConvertOptions(format: .qdq)).model, fixture: "single_shift")
        XCTAssertEqual(errors(r), [])
        let ties = r.findings.filter { $0.code == "rounding-ties" }
        XCTAssertEqual(ties.map(\.node), ["conv1_Scaling", "conv2_Scaling"])
        XCTAssertTrue(
            ties[1].message.hasPrefix("1 elements differ by one step at reference 'conv2_Scaling'"), ties[1].message)
        XCTAssertTrue(r.findings.contains { $0.code == "tie-consequences" })
        XCTAssertFalse(r.nodes.contains { $0.status == .downstream })
    }

    func testFloatModelAgainstItsQuantizationReportsErrorPerLayerInSteps() throws {
        let r = try compare(
            try load("lenet/float.onnx"), try load("lenet/aidge_qdq_biasfix.onnx"), fixture: "lenet",
            tolerance: Tolerance(steps: 2))
        // Manifest: quantized vs float, max 0.0297 (1.79 steps) at the output.
        XCTAssertEqual(r.output?.maxAbs ?? 0, 0.0297, accuracy: 5e-4)
        XCTAssertEqual(r.output?.maxSteps ?? 0, 1.79, accuracy: 0.03)
        // Aligned: conv#1 (pre-Relu), →Relu, →MaxPool, conv#2, →Relu, fc#1; Aidge's QDQ keeps Flatten in float.
        XCTAssertEqual(
            r.nodes.filter { $0.status != .unmatched }.map(\.signature),
            ["conv#1", "conv#1→Relu", "conv#1→Relu→MaxPool", "conv#2", "conv#2→Relu", "fc#1"])
    }

    // MARK: seeded faults, each on the right node

    func cleanQdq(_ rel: String = "lenet/aidge_quantized.onnx", narrow: NarrowTypes = .clip) throws -> (Model, Model) {
        let src = try load(rel)
        return (src, try Recipe.convert(src, options: ConvertOptions(format: .qdq, narrow: narrow)).model)
    }

    func mutateInitializer(_ m: inout Model, _ name: String, _ f: (Tensor) -> Tensor) {
        m.graph.setInitializer(name, f(m.graph.initializer(name)!))
    }

    func testCleanConversionHasNoStaticFinding() throws {
        let (src, qdq) = try cleanQdq()
        XCTAssertEqual(
            try StaticChecks.run(qdq, label: "c", reference: try GraphView(src)).filter { $0.severity != .info }, [])
    }

    func testSeededBiasScaleTimes1_01IsCaughtOnThatConv() throws {
        var (src, m) = try cleanQdq()
        let dq = m.graph.nodes.first { $0.name.hasPrefix("conv2_bias_dequantize") }!
        mutateInitializer(&m, dq.inputs[1]) { Tensor($0.floats!.map { $0 * 1.01 }, shape: $0.shape) }
        let f = try StaticChecks.run(m, label: "c", reference: try GraphView(src))
        XCTAssertEqual(f.filter { $0.code == "bias-scale-mismatch" }.map(\.node), ["conv2"])
        let r = try compare(src, m, fixture: "lenet")
        XCTAssertTrue(errors(r).contains { $0.code == "bias-scale-mismatch" && $0.node == "conv2" })
    }

    func testSeededZeroPointOffByOneIsCaughtOnThatDequantize() throws {
        var (src, m) = try cleanQdq()
        let dq = m.graph.nodes.first {
            $0.name.hasPrefix("pool1_dequantize") || $0.name.hasPrefix("conv2_input_dequantize")
        }!
        mutateInitializer(&m, dq.inputs[2]) { Tensor([$0.int32s![0] + 1], shape: $0.shape, dtype: $0.dtype) }
        let f = try StaticChecks.run(m, label: "c")
        XCTAssertEqual(f.filter { $0.code == "qdq-zero-point-mismatch" }.map(\.node), [dq.name])
        let r = try compare(src, m, fixture: "lenet")
        XCTAssertEqual(r.verdict, .discrepancy)
    }

    func testSeededInt8ToUint8SwapDivergesAtThatQuantizer() throws {
        var (src, m) = try cleanQdq()
        let q = m.graph.nodes.first { $0.name == "conv1_Scaling" }!
        let zpName = q.inputs[2]
        let swapped = Tensor([Int32(0)], shape: [], dtype: .uint8)
        m.graph.setInitializer(zpName, swapped)
        // Its consumers' DequantizeLinear zero points follow, as a careless edit would do.
        for n in m.graph.nodes where n.opType == "DequantizeLinear" && n.inputs[0] == q.outputs[0] {
            m.graph.setInitializer(n.inputs[2], swapped)
        }
        let r = try compare(src, m, fixture: "lenet")
        XCTAssertEqual(r.firstDivergence, "conv1_Scaling")
        XCTAssertTrue(errors(r).contains { $0.code == "first-divergence" && $0.node == "conv1_Scaling" })
    }

    func testSeededQdqScalePairDisagreementIsCaughtOnThatDequantize() throws {
        var (_, m) = try cleanQdq()
        let dq = m.graph.nodes.first { $0.name.hasPrefix("relu1_dequantize") }!
        mutateInitializer(&m, dq.inputs[1]) { Tensor($0.floats!.map { $0 * 1.5 }, shape: $0.shape) }
        let f = try StaticChecks.run(m, label: "c")
        XCTAssertEqual(f.filter { $0.code == "qdq-scale-mismatch" }.map(\.node), [dq.name])
        XCTAssertEqual(f.first { $0.code == "qdq-scale-mismatch" }?.severity, .error)
    }

    /// Severity follows the effect: a scale pair that differs by float32 rounding (1e-7 relative,
    /// as Aidge's int4 exports write 1/sf twice) cannot move an element: info, and the model verifies.
    func testFloat32RoundingOfAScalePairIsInfoNotError() throws {
        var (src, m) = try cleanQdq()
        let dq = m.graph.nodes.first { $0.name.hasPrefix("relu1_dequantize") }!
        mutateInitializer(&m, dq.inputs[1]) { Tensor($0.floats!.map { $0.nextUp }, shape: $0.shape) }
        let mismatch = try XCTUnwrap(try StaticChecks.run(m, label: "c").first { $0.code == "qdq-scale-mismatch" })
        XCTAssertEqual(mismatch.severity, .info)
        XCTAssertTrue(mismatch.message.contains("by float32 rounding only"), mismatch.message)
        XCTAssertEqual(try compare(src, m, fixture: "lenet").verdict, .equivalent)
    }

    func testSeededDroppedClipOnA4BitModelDivergesAtThatLayer() throws {
        var (src, m) = try cleanQdq("lenet4bit/aidge_quantized.onnx")
        let clip = m.graph.nodes.first { $0.opType == "Clip" && $0.name.hasPrefix("conv2_Scaling") }!
        m.graph.nodes.removeAll { $0.name == clip.name }
        // Rewire readers of the clipped tensor to the unclipped one.
        for i in m.graph.nodes.indices {
            m.graph.nodes[i].inputs = m.graph.nodes[i].inputs.map { $0 == clip.outputs[0] ? clip.inputs[0] : $0 }
        }
        let r = try compare(src, m, fixture: "lenet4bit")
        XCTAssertEqual(r.verdict, .discrepancy)
        XCTAssertEqual(errors(r).filter { $0.code == "clip-range-lost" }.map(\.node), ["conv2_Scaling"])
    }
}
