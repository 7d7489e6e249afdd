import Foundation
import Dispatch
import QVGraph
@testable import QVKernels
import XCTest

/// Zero-sized tensors through the kernels on several threads at once. Every kernel makes its
/// output with `Array.uninitialized`, which gives `[]` for zero elements: Swift's own
/// uninitialized-capacity initializer would write the shared empty array's count from each
/// thread (ThreadSanitizer found it in MaxPool; scripts/sanitize.sh thread runs this test).
final class ZeroSizedTensorTests: XCTestCase {
    func testZeroSizedTensorsRunOnManyThreadsAtOnce() throws {
        let ctx = KernelContext(semantics: .onnx, opset: 21)
        func make(_ op: String, domain: String = "", _ inputs: [String], _ attrs: [Attribute] = []) throws -> any Kernel
        {
            try Registry.make(
                Node(name: op, opType: op, domain: domain, inputs: inputs, outputs: ["y"], attributes: attrs), ctx)
        }
        let empty = Tensor([Float](), shape: [0, 3])
        let emptyInt8 = Tensor(dtype: .int8, shape: [0, 3], storage: .i32([]))
        let s = Tensor([Float(0.5)], shape: []), z = Tensor(dtype: .int8, shape: [], storage: .i32([3]))
        let cases: [(any Kernel, [Tensor?])] = [
            (try make("QuantizeLinear", ["x", "s", "z"]), [empty, s, z]),
            (try make("DequantizeLinear", ["x", "s", "z"]), [emptyInt8, s, z]),
            (try make("Relu", ["x"]), [empty]),
            (try make("Add", ["a", "b"]), [empty, empty]),
            (try make("Cast", ["x"], [Attribute(name: "to", value: .int(Int64(DType.int32.rawValue)))]), [empty]),
            (
                try make("QLinearAdd", domain: "com.microsoft", ["a", "as", "az", "b", "bs", "bz", "cs", "cz"]),
                [emptyInt8, s, z, emptyInt8, s, z, s, z]
            ),
        ]
        final class Shapes: @unchecked Sendable {
            var perThread = [[[Int]]](repeating: [], count: 8)
            let lock = NSLock()
        }
        let shapes = Shapes()
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            var got: [[Int]] = []
            for (k, inputs) in cases {
                for _ in 0..<50 { got = (try? k.run(inputs).map(\.shape)) ?? [[-1]] }
                shapes.lock.lock(); shapes.perThread[t].append(got[0]); shapes.lock.unlock()
            }
        }
        for t in 0..<8 {
            XCTAssertEqual(shapes.perThread[t], Array(repeating: [0, 3], count: cases.count), "thread \(t)")
        }
    }
}
