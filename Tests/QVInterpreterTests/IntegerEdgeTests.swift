import QVGraph
import QVInterpreter
import XCTest

/// Integer edge cases onnxruntime cannot produce goldens for (it raises SIGFPE): they must give
/// the two's-complement answer, not trap the process.
final class IntegerEdgeTests: XCTestCase {
    func testInt64MinDividedByMinusOneWrapsInsteadOfTrapping() throws {
        var g = Graph(
            name: "div",
            inputs: [
                ValueInfo(name: "a", dtype: .int64, shape: [.value(3)]),
                ValueInfo(name: "b", dtype: .int64, shape: [.value(3)]),
            ],
            outputs: [ValueInfo(name: "y", dtype: .int64, shape: nil)])
        g.nodes = [Node(name: "div", opType: "Div", inputs: ["a", "b"], outputs: ["y"])]
        let a = Tensor(int64s: [Int64.min, -7, 7], shape: [3]), b = Tensor(int64s: [-1, 2, -1], shape: [3])
        let y = try Interpreter(model: Model(graph: g), semantics: .onnx).run(["a": a, "b": b]).outputs["y"]
        // C++ truncating division; Int64.min / −1 overflows and wraps to itself.
        XCTAssertEqual(y?.int64s, [Int64.min, -3, -7])
    }
}
