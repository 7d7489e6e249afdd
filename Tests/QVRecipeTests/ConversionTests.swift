import Foundation
import QVCompare
import QVGraph
import QVIO
import QVInterpreter
@testable import QVRecipe
import XCTest
import _TestSupport

/// Every Aidge-form Reference model converted to QDQ and QOP and compared by the harness — the
/// one comparison engine, as `verify` runs it — against the original (Aidge semantics, itself
/// bit-exact with Aidge's CPU backend, see GoldenTests): outputs equal, or every difference is a
/// named rounding tie or Aidge's wrap-around.
final class ConversionTests: XCTestCase {
    static let fixtures = [
        "lenet", "mlp", "residual", "padded", "depthwise", "single_shift", "lenet4bit", "fake_quantize", "uint8_act",
        "fire", "unet", "shuffle", "float_island", "yolo", "se_block", "pooling",
    ]

    func samples(_ fixture: String, _ model: Model) throws -> [[String: Tensor]] {
        try InputSet.load(TestPaths.reference("\(fixture)/calib_inputs.npy"), inputs: model.graph.runtimeInputs)
    }

    /// Through the harness, the engine `verify` uses (Aidge semantics vs ONNX semantics).
    func check(_ source: Model, _ converted: Model, _ fixture: String) throws -> ComparisonReport {
        try Harness(
            reference: try GraphView(source), candidate: try GraphView(converted), referencePath: "source",
            candidatePath: "converted",
            tolerance: Tolerance()
        ).run(name: "t", samples: try samples(fixture, source))
    }

    func testEveryConversionEqualsTheAidgeGraphUpToCountedTies() throws {
        var table: [String] = []
        for f in Self.fixtures {
            for file in ["aidge_quantized_folded.onnx", "aidge_quantized.onnx"] {
                let source = try OnnxFile.load(TestPaths.reference("\(f)/\(file)"))
                for format in TargetFormat.allCases {
                    let label = "\(f)/\(file) → \(format.rawValue)"
                    let c = try Recipe.convert(source, options: ConvertOptions(format: format))
                    // What the user gets is a saved file: check the written bytes too.
                    let converted = try OnnxFile.decode(try OnnxFile.encode(c.model))
                    let r = try check(source, converted, f)
                    let out = try XCTUnwrap(r.output, label)
                    // Where Aidge's CPU backend could not run the export (no golden; its manifest has the
                    // error), the report says no Aidge run confirms the reference.
                    let unconfirmed =
                        (file == "aidge_quantized.onnx" && ["fire", "unet", "shuffle"].contains(f)) || f == "yolo"
                    XCTAssertEqual(r.findings.contains { $0.code == "aidge-unconfirmed" }, unconfirmed, label)
                    let golden = file == "aidge_quantized.onnx" ? "aidge_cpu_quantized.npy" : "aidge_cpu_folded.npy"
                    if unconfirmed {
                        XCTAssertFalse(
                            FileManager.default.fileExists(atPath: TestPaths.reference("\(f)/\(golden)")), label)
                    }
                    XCTAssertEqual(out.count, try Npy.load(TestPaths.reference("\(f)/ort_float.npy")).count, label)
                    switch f {
                    case "single_shift":  // proven half-up vs half-even ties, and their one-step consequences
                        XCTAssertFalse(r.findings.contains { $0.severity == .error }, "\(label): \(r.findings)")
                        XCTAssertTrue(r.findings.contains { $0.code == "rounding-ties" }, label)
                    case "shuffle", "se_block", "pooling":
                        // a GlobalAveragePool over 256 (16) integers whose mean is exactly halfway between two
                        // steps: Aidge's running mean in double lands on either side, ONNX cannot follow
                        // (se_block's folded form meets no such tie)
                        guard let first = r.nodes.first(where: { $0.status != .ok && $0.status != .unmatched }) else {
                            XCTAssertEqual(out.differing, 0, label)
                            XCTAssertEqual(r.verdict, .equivalent, label)
                            break
                        }
                        XCTAssertEqual(first.status, .ties, label)
                        XCTAssertEqual(first.reference?.op, "GlobalAveragePool", label)
                        XCTAssertEqual(first.ties, first.differingBeyondTolerance, label)
                        XCTAssertTrue(r.findings.contains { $0.code == "rounding-ties" }, label)
                        XCTAssertLessThanOrEqual(out.maxSteps ?? 0, 3, label)
                    case "yolo":
                        // Aidge's integer LeakyRelu casts its slope 0.1 to 0 (a Relu); the conversion keeps
                        // LeakyRelu(0.1): the first divergence is the first LeakyRelu, with its cause.
                        let first = try XCTUnwrap(r.nodes.first { $0.status == .diverges }, label)
                        XCTAssertEqual(first.reference?.op, "LeakyRelu", label)
                        XCTAssertTrue(r.findings.contains { $0.code == "aidge-integer-slope" }, label)
                        XCTAssertEqual(r.verdict, .discrepancy, label)
                    case "uint8_act":
                        // every differing element at the first divergence is Aidge's wrap-around or a tie
                        let first = try XCTUnwrap(r.nodes.first { $0.status == .diverges }, label)
                        XCTAssertGreaterThan(first.wraps ?? 0, 0, label)
                        XCTAssertEqual((first.wraps ?? 0) + (first.ties ?? 0), first.differingBeyondTolerance, label)
                    default:
                        XCTAssertEqual(out.differing, 0, label)
                        XCTAssertNotEqual(r.verdict, .discrepancy, "\(label): \(r.findings)")
                    }
                    table.append(
                        "\(label): \(out.differing)/\(out.count) outputs differ (max \(out.maxSteps ?? 0) steps), \(r.verdict.rawValue)"
                    )
                }
            }
        }
        print(table.joined(separator: "\n"))
    }

    func testSingleShiftDifferencesAreTiesOfTheBitShift() throws {
        let source = try OnnxFile.load(TestPaths.reference("single_shift/aidge_quantized_folded.onnx"))
        let r = try check(
            source, try Recipe.convert(source, options: ConvertOptions(format: .qdq)).model, "single_shift")
        let ties = try XCTUnwrap(r.findings.first { $0.code == "rounding-ties" })
        XCTAssertEqual(ties.node, "conv1_Scaling")
        XCTAssertTrue(
            ties.message.contains("every one an exact half-up (Aidge) vs half-to-even (ONNX) tie"), ties.message)
        XCTAssertGreaterThan(
            try XCTUnwrap(r.output).differing, 0, "bit-shift ties are expected to reach the output on these inputs")
    }

    func testUint8TaggedActivationsDifferOnlyWhereAidgeWrapsNegatives() throws {
        let source = try OnnxFile.load(TestPaths.reference("uint8_act/aidge_quantized.onnx"))
        let r = try check(source, try Recipe.convert(source, options: ConvertOptions(format: .qdq)).model, "uint8_act")
        XCTAssertEqual(r.firstDivergence, "conv1_Scaling")
        let first = try XCTUnwrap(r.nodes.first { $0.status == .diverges })
        XCTAssertEqual((first.wraps ?? 0) + (first.ties ?? 0), first.differingBeyondTolerance)
        XCTAssertTrue(
            try XCTUnwrap(r.findings.first { $0.code == "wrap-vs-saturate" }).message.hasPrefix(
                "\(first.wraps ?? 0) of them"))
    }

    func testFoldedFakeQuantizeWeightsBecomeInt8AndBiasesInt32() throws {
        let source = try OnnxFile.load(TestPaths.reference("fake_quantize/aidge_quantized_folded.onnx"))
        let c = try Recipe.convert(source, options: ConvertOptions(format: .qop))
        let conv = try XCTUnwrap(c.model.graph.nodes.first { $0.opType == "QLinearConv" })
        XCTAssertEqual(c.model.graph.initializer(conv.inputs[3])?.dtype, .int8)
        XCTAssertEqual(c.model.graph.initializer(conv.inputs[8])?.dtype, .int32)
        XCTAssertTrue(c.plan.notes.contains { $0.contains("fake_quantize export") })
    }

    func testTheConvertedGraphIsAFixpoint() throws {
        for (f, file) in [
            ("lenet", "aidge_quantized_folded.onnx"), ("residual", "aidge_quantized.onnx"),
            ("lenet4bit", "aidge_quantized.onnx"),
        ] {
            let source = try OnnxFile.load(TestPaths.reference("\(f)/\(file)"))
            for format in TargetFormat.allCases {
                let options = ConvertOptions(format: format)
                let c = try Recipe.convert(source, options: options)
                let (_, again) = try RewriteDriver(rules: Recipe.rules(for: format)).run(
                    c.model.graph, plan: c.plan, options: options)
                XCTAssertEqual(again, [], "\(f) \(format): a second pass fired \(again)")
            }
        }
    }

    func testBiasesAreComputedNeverZeroed() throws {
        let source = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized.onnx"))
        let c = try Recipe.convert(source, options: ConvertOptions(format: .qdq))
        let golden = try Npy.loadArchive(TestPaths.reference("lenet/aidge_cpu_quantized_intermediates.npz"))
        let aidgeBias = try XCTUnwrap(golden.first { $0.name == "conv1_b_ProducerScaling_out0" }?.tensor)
        let bias = try XCTUnwrap(c.model.graph.initializers.first { $0.name.hasPrefix("conv1_bias_quantized") }?.tensor)
        XCTAssertEqual(bias.dtype, .int32)
        XCTAssertEqual(bias.asInt64s(), Array(aidgeBias.asInt64s()!.prefix(4)), "Aidge's own int32 bias for sample 0")
        XCTAssertTrue(bias.asInt64s()!.contains { $0 != 0 })
    }

    func testMetadataRecordsVersionSourceHashAndOptions() throws {
        let path = TestPaths.reference("lenet/aidge_quantized_folded.onnx")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let c = try Recipe.convert(try OnnxFile.load(path), sourceBytes: bytes, options: ConvertOptions(format: .qop))
        let meta = Dictionary(uniqueKeysWithValues: c.model.metadata.map { ($0.key, $0.value) })
        XCTAssertEqual(meta["qverify.version"], Recipe.version)
        // The manifest's sha256 of the source model.
        XCTAssertEqual(
            meta["qverify.source_sha256"], "8af6bba546eded697e281a6178f1c82a08199c999f360a6a1f9dfc7ef67dff74")
        XCTAssertEqual(meta["qverify.options"], "format=qop opset=21 weights=int8 narrow=clip")
        XCTAssertEqual(meta["qverify.source_form"], "folded")
        XCTAssertNotNil(meta["qverify.assumptions"])
    }

    func testNodeNamesTraceBackToTheAidgeNodes() throws {
        let c = try Recipe.convert(
            try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized.onnx")), options: ConvertOptions(format: .qop))
        let names = Set(c.model.graph.nodes.map(\.name))
        XCTAssertTrue(
            names.isSuperset(of: ["conv1_quant", "conv2_quant", "fc_quant", "relu1", "pool1", "relu2"]),
            "\(names.sorted())")
        XCTAssertEqual(
            Set(c.model.graph.nodes.map(\.opType)),
            ["QuantizeLinear", "QLinearConv", "Relu", "MaxPool", "Flatten", "QGemm", "DequantizeLinear"])
    }
}
