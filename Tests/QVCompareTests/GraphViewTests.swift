import QVCompare
import QVGraph
import QVIO
import QVRecipe
import XCTest
import _TestSupport

final class GraphViewTests: XCTestCase {
    func view(_ rel: String) throws -> GraphView { try GraphView(try OnnxFile.load(TestPaths.reference(rel))) }

    func testLenetPointsAlignAcrossAidgeFormAidgeQdqAndOurConversions() throws {
        let aidge = try view("lenet/aidge_quantized.onnx")
        let theirs = try view("lenet/aidge_qdq.onnx")
        let ours = try GraphView(try Recipe.convert(aidge.model, options: ConvertOptions(format: .qop)).model)
        let expected = [
            "input#0", "conv#1", "conv#1→Relu", "conv#1→Relu→MaxPool", "conv#2", "conv#2→Relu", "conv#2→Relu→Flatten",
            "fc#1",
        ]
        XCTAssertEqual(aidge.points.map(\.signature.description), expected)
        // Aidge's own recipe leaves Flatten in float (DQ → Flatten → Gemm): no point there.
        XCTAssertEqual(theirs.points.map(\.signature.description), expected.filter { $0 != "conv#2→Relu→Flatten" })
        XCTAssertEqual(ours.points.map(\.signature.description), expected)
        // Renamed graph input (Aidge's QDQ calls it InputRescaling_in0) still aligns by structure.
        XCTAssertEqual(theirs.points[0].tensor, "InputRescaling_out0")
        XCTAssertEqual(aidge.points[1].quant!.step, 0.016947, accuracy: 1e-6)
        XCTAssertEqual(ours.points[1].opType, "QLinearConv")
    }

    /// A ViT block (float vs onnxruntime's QDQ): a quantizer clamping at zero after a value that is
    /// never negative (Softmax, a variance, variance + ε) is no folded Relu, and x − mean(x) is a
    /// new value, not x moved by an offset: attention, the residual and the decomposed LayerNorm
    /// pair up with their own quantizers.
    func testAttentionAndNormalizationPointsAlign() throws {
        let float = try view("vit/float.onnx"), qdq = try view("vit/ort_static_qdq.onnx")
        let f = Dictionary(float.points.map { ($0.signature, $0.node) }, uniquingKeysWith: { a, _ in a })
        let q = Dictionary(qdq.points.map { ($0.signature, $0.node) }, uniquingKeysWith: { a, _ in a })
        var paired: [String: String] = [:]
        for (s, n) in f { if let m = q[s] { paired[n] = m } }
        XCTAssertEqual(paired["attn"], "attn_out_QuantizeLinear")
        XCTAssertEqual(paired["res1"], "res1_out_QuantizeLinear")
        XCTAssertEqual(paired["ln2_var"], "ln2_var_out_QuantizeLinear")
        XCTAssertEqual(paired["ln2_eps"], "ln2_eps_out_QuantizeLinear")
        XCTAssertEqual(paired["ln2_norm"], "ln2_norm_out_QuantizeLinear")
        XCTAssertEqual(paired["qk"], "qk_out_QuantizeLinear")
        XCTAssertEqual(paired["av"], "av_out_QuantizeLinear")
        XCTAssertEqual(paired["pool"], "pool_out_QuantizeLinear")
    }

    /// Points are numbered by the graph's structure, not by the order nodes are listed or
    /// scheduled: the same ResNet with its node list reversed, or converted (which emits the
    /// downsample and main branches in another order), gives each conv the same signature and
    /// the same weights.
    func testSignaturesDoNotDependOnNodeOrder() throws {
        let m = try OnnxFile.load(TestPaths.reference("resnet/aidge_quantized_folded.onnx"))
        var reversed = m
        reversed.graph.nodes.reverse()
        let a = try GraphView(m), b = try GraphView(reversed)
        XCTAssertEqual(a.points.map(\.signature), b.points.map(\.signature))
        XCTAssertEqual(a.points.map(\.tensor), b.points.map(\.tensor))
        let converted = try GraphView(try Recipe.convert(m, options: ConvertOptions(format: .qop)).model)
        XCTAssertEqual(a.computeOps.count, 29, "20 convs, 8 adds, 1 fc")
        for (sig, op) in a.computeOps where sig.kind == "conv" {
            let other = try XCTUnwrap(converted.computeOps[sig], "\(sig)")
            // The conversion keeps Aidge's node names as prefixes (conv → conv_quant): same layer.
            XCTAssertTrue(other.node.hasPrefix(op.node), "\(sig): \(op.node) vs \(other.node)")
        }
    }

    func testResidualRequantizerAndFloatModelAlign() throws {
        let aidge = try view("residual/aidge_quantized_folded.onnx")
        XCTAssertTrue(
            aidge.points.map(\.signature.description).contains("conv#1→Relu→requant"),
            "\(aidge.points.map(\.signature.description))")
        let float = try view("residual/float.onnx")
        XCTAssertEqual(
            float.points.map(\.signature.description),
            [
                "conv#1", "conv#1→Relu", "conv#2", "add#1", "add#1→Relu", "add#1→Relu→MaxPool",
                "add#1→Relu→MaxPool→Flatten", "fc#1",
            ])
    }
}
