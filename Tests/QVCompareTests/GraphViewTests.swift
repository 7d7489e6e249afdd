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
        let expected = ["input#0", "conv#1", "conv#1→Relu", "conv#1→Relu→MaxPool", "conv#2", "conv#2→Relu", "conv#2→Relu→Flatten", "fc#1"]
        XCTAssertEqual(aidge.points.map(\.signature.description), expected)
        // Aidge's own recipe leaves Flatten in float (DQ → Flatten → Gemm): no point there.
        XCTAssertEqual(theirs.points.map(\.signature.description), expected.filter { $0 != "conv#2→Relu→Flatten" })
        XCTAssertEqual(ours.points.map(\.signature.description), expected)
        // Renamed graph input (Aidge's QDQ calls it InputRescaling_in0) still aligns by structure.
        XCTAssertEqual(theirs.points[0].tensor, "InputRescaling_out0")
        XCTAssertEqual(aidge.points[1].quant!.step, 0.016947, accuracy: 1e-6)
        XCTAssertEqual(ours.points[1].opType, "QLinearConv")
    }

    func testResidualRequantizerAndFloatModelAlign() throws {
        let aidge = try view("residual/aidge_quantized_folded.onnx")
        XCTAssertTrue(aidge.points.map(\.signature.description).contains("conv#1→Relu→requant"), "\(aidge.points.map(\.signature.description))")
        let float = try view("residual/float.onnx")
        XCTAssertEqual(float.points.map(\.signature.description), ["conv#1", "conv#1→Relu", "conv#2", "add#1", "add#1→Relu", "add#1→Relu→MaxPool", "add#1→Relu→MaxPool→Flatten", "fc#1"])
    }
}
