import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import XCTest
import _TestSupport

/// Running samples stacked as one batch must give exactly what one-by-one runs give.
final class BatchTests: XCTestCase {
    func check(_ rel: String, _ inputs: String, _ semantics: Semantics, expectBatched: Bool, line: UInt = #line) throws {
        let m = try OnnxFile.load(TestPaths.reference(rel))
        let interp = try Interpreter(model: m, semantics: semantics)
        XCTAssertEqual(interp.canBatch, expectBatched, rel, line: line)
        let samples = try InputSet.load(TestPaths.reference(inputs), inputs: m.graph.runtimeInputs)
        let batched = try interp.run(batch: samples, keepIntermediates: true)
        XCTAssertEqual(batched.count, samples.count, line: line)
        for (k, s) in samples.enumerated() {
            let one = try interp.run(s, keepIntermediates: true)
            XCTAssertEqual(one.outputs, batched[k].outputs, "\(rel) sample \(k) outputs", line: line)
            XCTAssertEqual(Set(one.intermediates.keys), Set(batched[k].intermediates.keys), line: line)
            for (name, t) in one.intermediates where t.dtype.isInteger {
                XCTAssertEqual(t, batched[k].intermediates[name], "\(rel) sample \(k) '\(name)'", line: line)
            }
        }
    }

    func testAidgeFormWithMaxPoolIndicesBatchesExactly() throws {
        try check("lenet/aidge_quantized_folded.onnx", "lenet/aidge_folded_inputs.npy", .aidge, expectBatched: true)
    }
    func testOnnxruntimeQOperatorModelBatchesExactly() throws {
        try check("residual/ort_static_qop.onnx", "residual/calib_inputs.npy", .onnx, expectBatched: true)
    }
    func testAidgesQdqWithIndicesAsAGraphOutputRunsOneByOne() throws {
        try check("lenet/aidge_qdq.onnx", "lenet/calib_inputs.npy", .onnx, expectBatched: false)
    }
}
