import QVGraph
import XCTest

final class QVErrorTests: XCTestCase {
    /// Each layer names where an error happened, once: a reader that already names its file is not
    /// prefixed with it again by the command that called it.
    func testContextIsAddedOncePerPlace() {
        let inner = QVError.badInput("m.onnx: no such file")
        XCTAssertEqual(inner.withContext("m.onnx").description, "m.onnx: no such file")
        XCTAssertEqual(inner.withContext("m").description, "m: m.onnx: no such file")
        XCTAssertEqual(
            QVError.badInput("bad shape").withContext("node Conv 'c1'").withContext("m.onnx").description,
            "m.onnx: node Conv 'c1': bad shape")
        XCTAssertThrowsError(try withContext("m.onnx") { () throws -> Int in throw inner }) { e in
            XCTAssertEqual("\(e)", "m.onnx: no such file")
        }
    }
}
