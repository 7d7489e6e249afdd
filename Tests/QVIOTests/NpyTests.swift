import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

final class NpyTests: XCTestCase {
    func testAidgeFoldedInputsAreCalibrationInputsScaledBy127RoundedHalfUp() throws {
        // Both files were written by the fixture generator with numpy; this checks our reader
        // against Aidge's input convention: round_half_up(x · (2^(n-1) − 1)).
        let x = try Npy.load(TestPaths.reference("lenet/calib_inputs.npy"))
        let q = try Npy.load(TestPaths.reference("lenet/aidge_folded_inputs.npy"))
        XCTAssertEqual(x.dtype, .float)
        XCTAssertEqual(x.shape, [8, 1, 1, 12, 12])
        XCTAssertEqual(q.dtype, .int8)
        XCTAssertEqual(q.shape, [8, 1, 1, 12, 12])
        let expected = x.floats!.map { Int32((Double($0) * 127 + 0.5).rounded(.down)) }
        XCTAssertEqual(q.int32s!, expected)
    }

    func testNpyEncodeDecodeKeepsDtypeShapeAndValues() throws {
        let t = Tensor(int64s: [1, -2, 3, 4, 5, -6], shape: [2, 3])
        XCTAssertEqual(try Npy.decode(Npy.encode(t)), t)
        let s = Tensor([Float](repeating: 0.25, count: 1), shape: [])
        XCTAssertEqual(try Npy.decode(Npy.encode(s)), s)
    }

    func testNpzOfIntermediatesListsEveryAidgeTensor() throws {
        let z = try Npy.loadArchive(TestPaths.reference("lenet/aidge_cpu_folded_intermediates.npz"))
        let byName = Dictionary(uniqueKeysWithValues: z.map { ($0.name, $0.tensor) })
        XCTAssertEqual(byName["conv1_out0"]?.dtype, .int32)
        XCTAssertEqual(byName["conv1_out0"]?.shape, [8, 1, 4, 10, 10])
        XCTAssertEqual(byName["pool1_out1"]?.dtype, .int64)
        XCTAssertEqual(byName.count, 10)
    }

    func testNpzWrittenOverAnExistingArchiveReplacesIt() throws {
        // `qverify run --intermediates` into the same directory twice failed every second time.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("intermediates.npz").path
        for value: Int64 in [1, 2, 3] {
            try Npy.saveArchive([(name: "t", tensor: Tensor(int64s: [value, -value], shape: [2]))], to: path)
            let back = try Npy.loadArchive(path)
            XCTAssertEqual(back.map(\.name), ["t"])
            XCTAssertEqual(back.first?.tensor, Tensor(int64s: [value, -value], shape: [2]))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["intermediates.npz"])
    }

    func testTruncatedNpyIsABadInput() throws {
        var b = Npy.encode(Tensor([Float](arrayLiteral: 1, 2, 3, 4), shape: [4]))
        b.removeLast(3)
        XCTAssertThrowsError(try Npy.decode(b)) { e in
            XCTAssertTrue("\(e)".contains("needs 16"), "\(e)")
        }
        XCTAssertThrowsError(try Npy.decode(Array("not numpy".utf8)))
    }
}
