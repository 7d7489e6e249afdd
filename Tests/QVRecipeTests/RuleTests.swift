import QVCompare
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
@testable import QVRecipe
import XCTest
import _TestSupport

/// Each rule alone: it fires, the model computes the same integers afterwards (run with Aidge
/// semantics, which also covers the hybrid graph a single rule leaves), and a second pass is a no-op.
final class RuleTests: XCTestCase {
    /// Integer values, also of float tensors holding integers (Aidge fake-quantized values).
    func ints(_ t: Tensor) -> [Int64]? {
        if t.dtype.isInteger { return t.asInt64s() }
        guard let d = t.asDoubles(), d.allSatisfy({ $0 == $0.rounded() }) else { return nil }
        return d.map { Int64($0) }
    }

    func check(
        _ rule: RewriteRule, _ fixture: String, _ file: String, format: TargetFormat = .qdq, minFirings: Int = 1,
        line: UInt = #line
    ) throws {
        let source = try OnnxFile.load(TestPaths.reference("\(fixture)/\(file)"))
        let plan = try QuantPlan(model: source)
        let options = ConvertOptions(format: format)
        let (g, fired) = try RewriteDriver(rules: [rule]).run(source.graph, plan: plan, options: options)
        XCTAssertGreaterThanOrEqual(fired.count, minFirings, "\(rule.name) did not fire", line: line)
        XCTAssertTrue(fired.allSatisfy { $0.rule == rule.name }, line: line)
        var after = source
        after.graph = g
        // Same integers on every Aidge quantizer output and on the graph output.
        let x = try InputSet.load(
            TestPaths.reference("\(fixture)/calib_inputs.npy"), inputs: source.graph.runtimeInputs)
        let a = try Interpreter(model: source, semantics: .aidge), b = try Interpreter(model: after, semantics: .aidge)
        let interfaceChanged = rule.changesInterface
        for s in x.prefix(4) {
            var aIn: [String: Tensor] = [:]
            for (k, v) in s { aIn[k] = plan.quantizedInputs[k].map { Harness.aidgeInput(v, $0) } ?? v }
            let bIn = rule.name == "quantize-folded-input" ? s : aIn
            let ra = try a.run(aIn, keepIntermediates: true), rb = try b.run(bIn, keepIntermediates: true)
            for (name, q) in plan.tensors where q.dtype != .int32 {
                guard let ta = ra.intermediates[name], let tb = rb.intermediates[name], tb.dtype.isInteger else {
                    continue
                }
                XCTAssertEqual(ints(ta), ints(tb), "\(rule.name): '\(name)' changed", line: line)
            }
            let out = source.graph.outputs[0].name
            let ya = try XCTUnwrap(ints(ra.outputs[out]!), line: line)
            let yb = rb.outputs[out]!
            if interfaceChanged && yb.dtype == .float {
                let step = Double(Float(plan.tensors[out]!.step))
                XCTAssertEqual(ya, yb.floats!.map { Int64((Double($0) / step).rounded(.toNearestOrEven)) }, line: line)
            } else {
                XCTAssertEqual(ya, ints(yb), "\(rule.name): output changed", line: line)
            }
        }
        let (_, again) = try RewriteDriver(rules: [rule]).run(g, plan: plan, options: options)
        XCTAssertEqual(again, [], "\(rule.name): second pass fired", line: line)
    }

    func testFoldWeightQuantizer() throws {
        try check(ConstantRules.foldWeightQuantizer, "lenet", "aidge_quantized.onnx", minFirings: 3)
    }
    func testFoldBiasQuantizer() throws {
        try check(ConstantRules.foldBiasQuantizer, "lenet", "aidge_quantized.onnx", minFirings: 3)
    }
    func testQuantizeFoldedInput() throws {
        try check(InterfaceRules.quantizeFoldedInput, "lenet", "aidge_quantized_folded.onnx")
    }
    func testAffineToQDQ() throws {
        try check(AffineRules.affineToQDQ, "lenet", "aidge_quantized_folded.onnx", minFirings: 2)
    }
    func testAffineToQOp() throws {
        try check(AffineRules.affineToQOp, "depthwise", "aidge_quantized_folded.onnx", format: .qop, minFirings: 3)
    }
    func testSumToQDQ() throws { try check(ElementwiseRules.sumToQDQ, "residual", "aidge_quantized_folded.onnx") }
    func testSumToQLinearAdd() throws {
        try check(ElementwiseRules.sumToQOp, "residual", "aidge_quantized.onnx", format: .qop)
    }
    func testRequantizeToQDQ() throws {
        try check(ElementwiseRules.requantizeToQDQ, "residual", "aidge_quantized_folded.onnx")
    }
    func testTransparentToQDQ() throws {
        try check(ElementwiseRules.transparentToQDQ, "lenet", "aidge_quantized_folded.onnx", minFirings: 4)
    }
    func testFakeQuantizerToInteger() throws {
        try check(ConstantRules.fakeQuantizerToInteger, "fake_quantize", "aidge_quantized.onnx", minFirings: 10)
    }
    func testFakeConstantToInteger() throws {
        try check(ConstantRules.fakeConstantToInteger, "fake_quantize", "aidge_quantized_folded.onnx", minFirings: 3)
    }
    func testWidenNarrowQuantizer() throws {
        try check(ConstantRules.widenNarrowQuantizer, "lenet4bit", "aidge_quantized.onnx")
    }
    func testDequantizeGraphOutput() throws {
        try check(InterfaceRules.dequantizeOutputs, "mlp", "aidge_quantized_folded.onnx")
    }

    func testConcatToQDQ() throws {
        try check(ElementwiseRules.concatToQDQ, "fire", "aidge_quantized.onnx", minFirings: 2)
        try check(ElementwiseRules.concatToQDQ, "unet", "aidge_quantized_folded.onnx")
    }
    func testTransparentToQDQMovesSplitOutputsAndNearestResize() throws {
        try check(ElementwiseRules.transparentToQDQ, "shuffle", "aidge_quantized_folded.onnx", minFirings: 4)
        try check(ElementwiseRules.transparentToQDQ, "unet", "aidge_quantized.onnx", minFirings: 4)
    }
    func testSumToQDQTakesTheSqueezeExciteMul() throws {
        try check(ElementwiseRules.sumToQDQ, "se_block", "aidge_quantized.onnx", minFirings: 2)
        try check(ElementwiseRules.sumToQOp, "se_block", "aidge_quantized_folded.onnx", format: .qop, minFirings: 2)
    }
    func testFloatShapeToInt64() throws {
        try check(ConstantRules.floatShapeToInt64, "shuffle", "aidge_quantized.onnx", minFirings: 3)
    }
    func testRescaleToDequantize() throws {
        try check(InterfaceRules.rescaleToDequantize, "float_island", "aidge_quantized.onnx", minFirings: 2)
        try check(InterfaceRules.rescaleToDequantize, "float_island", "aidge_quantized_folded.onnx", minFirings: 2)
    }

    func testEveryRuleHasAStableNameAndAnIdentity() {
        let all = Recipe.rules(for: .qop) + Recipe.rules(for: .qdq)
        let names = Set(all.map(\.name))
        XCTAssertEqual(
            names,
            [
                "fake-quantizer-to-integer", "fake-constant-to-integer", "widen-narrow-quantizer",
                "fold-weight-quantizer", "fold-bias-quantizer", "quantize-folded-input", "affine-to-qop",
                "sum-to-qlinearadd",
                "affine-to-qdq", "sum-to-qdq", "requantize-to-qdq", "transparent-to-qdq", "dequantize-graph-output",
                "global-average-pool-to-qlinear", "concat-to-qdq", "float-shape-to-int64", "rescale-to-dequantize",
            ])
        XCTAssertTrue(all.allSatisfy { !$0.identity.isEmpty })
    }

    /// A rule replacing relu1 of the folded LeNet by a Cast to `to`, declaring `relu1_out0`
    /// retyped or not.
    func castRelu(to: DType, declared: Bool) -> RewriteRule {
        RewriteRule(
            name: "retype-relu", identity: "Relu(x) -> Cast(x, \(to))",
            match: { ctx, i in ctx.graph.nodes[i].name == "relu1" ? true : nil }
        ) { ctx, i, _, _ in
            let n = ctx.graph.nodes[i]
            var p = Patch()
            p.remove = [i]
            p.add = [
                Node(
                    name: "relu1_cast", opType: "Cast", inputs: n.inputs, outputs: n.outputs,
                    attributes: [Attribute(name: "to", value: .int(Int64(to.rawValue)))])
            ]
            if declared { p.retypes = [n.outputs[0]] }
            return p
        }
    }

    func testAPatchThatChangesATensorOthersReadIsRefusedNamingTheRule() throws {
        let source = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized_folded.onnx"))
        let plan = try QuantPlan(model: source)
        XCTAssertThrowsError(
            try RewriteDriver(rules: [castRelu(to: .float, declared: false)]).run(
                source.graph, plan: plan, options: ConvertOptions(format: .qdq))
        ) { e in
            XCTAssertEqual(
                "\(e)",
                "rule retype-relu on node Relu 'relu1': internal error: patch changes 'relu1_out0' from int8[1, 4, 10, 10] to float32[1, 4, 10, 10]; refused"
            )
        }
        // Declaring it is not enough: the new type must hold the old integers as integers.
        XCTAssertThrowsError(
            try RewriteDriver(rules: [castRelu(to: .float, declared: true)]).run(
                source.graph, plan: plan, options: ConvertOptions(format: .qdq))
        ) { e in
            XCTAssertEqual(
                "\(e)",
                "rule retype-relu on node Relu 'relu1': internal error: patch retypes 'relu1_out0' from int8[1, 4, 10, 10] to float32[1, 4, 10, 10]: not an integer type at least as wide, nor float-valued integers made integer; refused"
            )
        }
        XCTAssertThrowsError(
            try RewriteDriver(rules: [castRelu(to: .uint8, declared: true)]).run(
                source.graph, plan: plan, options: ConvertOptions(format: .qdq)))
        // A declared widening is applied.
        let (g, fired) = try RewriteDriver(rules: [castRelu(to: .int16, declared: true)]).run(
            source.graph, plan: plan, options: ConvertOptions(format: .qdq))
        XCTAssertEqual(fired, [RuleFiring(rule: "retype-relu", node: "relu1")])
        XCTAssertEqual(g.nodes.first { $0.name == "relu1_cast" }?.opType, "Cast")
    }

    /// Declining never costs a name: match reads the graph only, so a conversion's names do not
    /// depend on how many rules looked at a node first.
    func testRulesThatDeclineAllocateNoNames() throws {
        let source = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized.onnx"))
        let plan = try QuantPlan(model: source)
        let ctx = RewriteContext(
            graph: source.graph, index: try GraphIndex(source.graph), plan: plan, options: ConvertOptions(format: .qdq),
            inference: try ShapeInference(source.graph))
        for rule in Recipe.rules(for: .qop) + Recipe.rules(for: .qdq) {
            for i in source.graph.nodes.indices where try rule.match(ctx, i) == nil {
                let names = NameAllocator(source.graph)
                XCTAssertNil(try rule.apply(ctx, i, names))
                XCTAssertEqual(names.fresh("probe"), "probe", "\(rule.name) at \(source.graph.nodes[i].name)")
            }
        }
    }
}
