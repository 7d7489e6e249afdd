import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

final class OnnxRoundTripTests: XCTestCase {
    func testEveryReferenceModelIsReadAndWrittenBackByteForByte() throws {
        let models = TestPaths.referenceModels()
        XCTAssertGreaterThanOrEqual(models.count, 25, "Reference/ lost models")
        for rel in models {
            let path = TestPaths.reference(rel)
            let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let model = try OnnxFile.load(path)
            let written = try OnnxFile.encode(model)
            XCTAssertEqual(written, original, "\(rel): re-encoded bytes differ")
            XCTAssertEqual(try OnnxFile.decode(written), model, "\(rel): IR changes across load → save → load")
        }
    }

    func testFoldedLenetInitializersHaveTheDtypesAidgeWrote() throws {
        let m = try OnnxFile.load(TestPaths.reference("lenet/aidge_quantized_folded.onnx"))
        let w = try XCTUnwrap(m.graph.initializer("conv1_w_ProducerScaling_CastOut_out0"))
        XCTAssertEqual(w.dtype, .int8)
        XCTAssertEqual(w.shape, [4, 1, 3, 3])
        // The manifest records the int8 weight range Aidge produced: [-127, 87].
        XCTAssertEqual(w.int32s?.min(), -127)
        XCTAssertEqual(w.int32s?.max(), 87)
        let b = try XCTUnwrap(m.graph.initializer("conv1_b_ProducerScaling_CastOut_out0"))
        XCTAssertEqual(b.dtype, .int32)
        XCTAssertEqual(b.int32s?.min(), -1038)
        XCTAssertEqual(b.int32s?.max(), 3250)
        let s = try XCTUnwrap(m.graph.initializer("conv1_Scaling_scale_tensor"))
        // Exported scale is 1/sf with sf = 0.003143465146422386 (manifest).
        XCTAssertEqual(Double(s.floats![0]), 1 / 0.003143465146422386, accuracy: 1e-3)
        XCTAssertEqual(m.opset(), 21)
        XCTAssertEqual(m.producerName, "aidge_onnx")
    }

    func testSingleShiftExportStoresItsScalesAsInt32PowersOfTwo() throws {
        let m = try OnnxFile.load(TestPaths.reference("single_shift/aidge_quantized_folded.onnx"))
        let scales = m.graph.nodes.filter { $0.opType == "QuantizeLinear" }.compactMap {
            m.graph.initializer($0.inputs[1])
        }
        XCTAssertEqual(scales.count, 3)
        for s in scales {
            XCTAssertEqual(s.dtype, .int32)
            let v = try XCTUnwrap(s.int32s?.first)
            XCTAssertTrue(v > 0 && v & (v - 1) == 0, "scale \(v) is not a power of two")
        }
    }

    func testComputedTensorsAreWrittenAsRawDataAndReadBackEqual() throws {
        var g = Graph(
            name: "t", inputs: [ValueInfo(name: "x", dtype: .float, shape: [.value(2)])],
            outputs: [ValueInfo(name: "y", dtype: .float, shape: [.value(2)])])
        g.nodes = [Node(name: "add", opType: "Add", inputs: ["x", "c"], outputs: ["y"])]
        g.setInitializer("c", Tensor([Float](arrayLiteral: 1.5, -2.25), shape: [2]))
        g.setInitializer("q", Tensor([Int32](arrayLiteral: -8, 7, 0, -1, 3), shape: [5], dtype: .int4))
        g.setInitializer("u", Tensor([Int32](arrayLiteral: 0, 15, 9), shape: [3], dtype: .uint4))
        let m = Model(graph: g)
        let back = try OnnxFile.decode(try OnnxFile.encode(m))
        XCTAssertEqual(back.graph.initializer("c")?.floats, [1.5, -2.25])
        XCTAssertEqual(back.graph.initializer("q")?.int32s, [-8, 7, 0, -1, 3])
        XCTAssertEqual(back.graph.initializer("u")?.int32s, [0, 15, 9])
    }
}

final class ExternalDataTests: XCTestCase {
    func testWeightsStoredBesideTheModelLoadToTheSameValuesAsTheInlineModel() throws {
        let ext = try OnnxFile.load(
            TestPaths.root.appendingPathComponent("Tests/Fixtures/external/lenet_external.onnx").path)
        let inline = try OnnxFile.load(TestPaths.reference("lenet/float.onnx"))
        XCTAssertEqual(ext.graph.initializerOrder, inline.graph.initializerOrder)
        for name in inline.graph.initializerOrder {
            let a = try XCTUnwrap(ext.graph.initializer(name)), b = try XCTUnwrap(inline.graph.initializer(name))
            XCTAssertEqual(a.floats, b.floats, name)
            guard case .external(let entries)? = a.origin?.encoding else { return XCTFail("\(name) not external") }
            XCTAssertEqual(entries.first { $0.key == "location" }?.value, "lenet_external.weights")
        }
        // Saved copies stand alone: external tensors are written inline.
        let standalone = try OnnxFile.decode(try OnnxFile.encode(ext.inliningExternalData()))
        XCTAssertEqual(standalone.graph.initializer("conv1_w")?.floats, inline.graph.initializer("conv1_w")?.floats)
    }
}
