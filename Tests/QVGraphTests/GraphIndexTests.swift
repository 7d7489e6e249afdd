import QVGraph
import XCTest

final class GraphIndexTests: XCTestCase {
    func graph(_ nodes: [Node]) -> Graph {
        Graph(
            nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float, shape: nil)],
            outputs: [ValueInfo(name: "y", dtype: .float, shape: nil)])
    }

    func testTopologicalOrderPutsProducersFirstWhateverTheFileOrder() throws {
        let g = graph([
            Node(name: "b", opType: "Relu", inputs: ["a"], outputs: ["y"]),
            Node(name: "a", opType: "Relu", inputs: ["x"], outputs: ["a"]),
        ])
        XCTAssertEqual(try g.topologicalOrder(), [1, 0])
    }

    func testATensorWithTwoProducersIsRefusedNamingBothNodes() {
        let g = graph([
            Node(name: "p", opType: "Relu", inputs: ["x"], outputs: ["y"]),
            Node(name: "q", opType: "Relu", inputs: ["x"], outputs: ["y"]),
        ])
        XCTAssertThrowsError(try g.topologicalOrder()) { e in
            XCTAssertEqual("\(e)", "tensor 'y' is produced twice, by Relu 'p' and Relu 'q'")
        }
    }

    func testAnUndefinedGraphOutputIsRefused() {
        XCTAssertThrowsError(try graph([]).topologicalOrder())
    }
}
