import QVGraph
import QVIO
import XCTest
import _TestSupport

final class ShapeInferenceTests: XCTestCase {
    func testInferredOutputsMatchTheDeclaredOutputsOfEveryReferenceModel() throws {
        for rel in TestPaths.referenceModels() {
            let m = try OnnxFile.load(TestPaths.reference(rel))
            let inf = try ShapeInference(m.graph)
            for o in m.graph.outputs {
                let f = try XCTUnwrap(inf.facts[o.name], "\(rel): no fact for \(o.name)")
                XCTAssertEqual(f.dtype, o.dtype, "\(rel): dtype of \(o.name)")
                if let s = o.concreteShape { XCTAssertEqual(f.shape, s, "\(rel): shape of \(o.name)") }
            }
            XCTAssertEqual(inf.unresolved, [], "\(rel)")
        }
    }

    func testAidgeIntegerConvAndGemmAreInferredInt32AndRecordedAsExceptions() throws {
        let m = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized_folded.onnx"))
        let inf = try ShapeInference(m.graph)
        XCTAssertEqual(inf.facts["conv1_out0"], TensorFact(dtype: .int32, shape: [1, 4, 10, 10]))
        XCTAssertEqual(inf.facts["conv1_Scaling_out0"], TensorFact(dtype: .int8, shape: [1, 4, 10, 10]))
        XCTAssertEqual(inf.facts["pool1_out1"], TensorFact(dtype: .int64, shape: [1, 4, 5, 5]))
        XCTAssertEqual(inf.exceptions.map(\.node), ["conv1", "conv2", "fc"])
    }

    func testValidOnnxModelsNeedNoException() throws {
        for rel in ["lenet/aidge_qdq.onnx", "lenet/float.onnx", "residual/ort_static_qop.onnx"] {
            let inf = try ShapeInference(try OnnxFile.load(TestPaths.reference(rel)).graph)
            XCTAssertEqual(inf.exceptions, [], rel)
        }
    }

    func testSameUpperPaddingMatchesTheSpecFormula() throws {
        let n = Node(
            name: "c", opType: "Conv", inputs: [], outputs: [],
            attributes: [
                Attribute(name: "auto_pad", value: .string(Array("SAME_UPPER".utf8))),
                Attribute(name: "strides", value: .ints([2, 2])),
            ])
        let (out, pads) = try ShapeInference.windowOutput(n, input: [7, 8], kernel: [3, 3])
        XCTAssertEqual(out, [4, 4])
        XCTAssertEqual(pads, [1, 0, 1, 1])
    }

    func testBroadcastRefusesIncompatibleShapes() {
        XCTAssertEqual(try ShapeInference.broadcast([[2, 1, 3], [4, 1]]), [2, 4, 3])
        XCTAssertThrowsError(try ShapeInference.broadcast([[2, 3], [4]]))
    }
}
