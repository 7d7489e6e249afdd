import Foundation
import QVGraph
import QVIO
import XCTest
import _TestSupport

/// Every malformed input: exit code 2 and exactly one line on stderr naming the file and the problem.
final class BadInputTests: XCTestCase {
    func assertRefused(_ file: String, _ message: String, command: String = "inspect", line: UInt = #line) throws {
        let start = Date()
        let r = try runQVerify([command, file])
        XCTAssertEqual(r.exitCode, 2, "\(file): \(r.stderr)", line: line)
        XCTAssertEqual(r.stdout, "", line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(file): \(r.stderr)", line: line)
        XCTAssertTrue(r.stderr.hasPrefix("qverify: error: \(file): "), r.stderr, line: line)
        XCTAssertTrue(r.stderr.contains(message), "\(file): expected “\(message)” in \(r.stderr)", line: line)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "\(file) took too long", line: line)
    }

    func testMissingFile() throws { try assertRefused("Tests/Fixtures/bad/does_not_exist.onnx", "no such file") }
    func testEmptyFile() throws { try assertRefused("Tests/Fixtures/bad/empty.onnx", "empty file (0 bytes)") }
    func testGarbageBytes() throws { try assertRefused("Tests/Fixtures/bad/garbage.onnx", "not a valid ONNX protobuf") }
    func testTruncatedModel() throws {
        try assertRefused("Tests/Fixtures/bad/truncated.onnx", "not a valid ONNX protobuf")
    }
    func testNodeInputNothingProduces() throws {
        try assertRefused(
            "Tests/Fixtures/bad/dangling_input.onnx", "node Relu 'relu_dangling' reads 'nowhere', which no node")
    }
    func testCycle() throws {
        try assertRefused("Tests/Fixtures/bad/cycle.onnx", "the graph has a cycle through node Add 'add_a'")
    }
    func testUnknownDtypeNumber() throws {
        try assertRefused("Tests/Fixtures/bad/unknown_dtype.onnx", "initializer 'w': unknown element type number 99")
    }
    func testTensorDataLengthMismatch() throws {
        try assertRefused("Tests/Fixtures/bad/length_mismatch.onnx", "needs 16 bytes of raw_data, has 10")
    }
    func testAbsurdDimsAreRefusedBeforeAllocating() throws {
        try assertRefused(
            "Tests/Fixtures/bad/absurd_dims.onnx", "dims [1048576, 1048576] describe more than 2^31 elements")
    }
    /// A model whose external tensors would not fit is refused before the read (a clear error, not
    /// an out-of-memory kill): the limit is half the machine's memory, lowered here to 4,000 bytes
    /// for lenet's 8,528 bytes of external weights.
    func testExternalDataBeyondTheMemoryBudgetIsRefusedBeforeReading() throws {
        let r = try runQVerify(
            ["inspect", "Tests/Fixtures/external/lenet_external.onnx"],
            environment: ["QVERIFY_MAX_EXTERNAL_BYTES": "4000"])
        XCTAssertEqual(r.exitCode, 2, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("qverify: error: Tests/Fixtures/external/lenet_external.onnx: "), r.stderr)
        XCTAssertTrue(
            r.stderr.contains("external data 'lenet_external.weights': the model's external tensors need at least"),
            r.stderr)
        XCTAssertTrue(
            r.stderr.contains(
                "more than the 4000 qverify may hold (half this machine's memory; set QVERIFY_MAX_EXTERNAL_BYTES to change it)"
            ), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line")
        XCTAssertEqual(
            try runQVerify(["inspect", "Tests/Fixtures/external/lenet_external.onnx"]).exitCode, 0,
            "within the real budget")
    }
    /// Calibration files larger than memory: a .npy or a numpy.savez .npz (stored members) is read
    /// one sample at a time from disk, whatever its size; a savez_compressed .npz is read whole and
    /// refused beyond the budget (half the machine's memory, lowered here to 1,000 bytes for the
    /// fixtures' 4,736 bytes). All three give the same outputs.
    func testNpzInputsStreamAndOnlyCompressedOnesHaveAMemoryBudget() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-npz-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        var outputs: [[UInt8]] = []
        for (k, input) in [
            "Reference/lenet/calib_inputs.npy", "Tests/Fixtures/inputs/lenet_calib_savez.npz",
            "Tests/Fixtures/inputs/lenet_calib_savez_compressed.npz",
        ].enumerated() {
            let dir = tmp.appendingPathComponent("\(k)").path
            let r = try runQVerify(["run", "Reference/lenet/float.onnx", "--inputs", input, "--output-dir", dir])
            XCTAssertEqual(r.exitCode, 0, r.stderr)
            outputs.append(try XCTUnwrap(readFileBytes(dir + "/output.npy"), input))
        }
        XCTAssertEqual(outputs[1], outputs[0])
        XCTAssertEqual(outputs[2], outputs[0])
        let budget = ["QVERIFY_MAX_INPUT_BYTES": "1000"]
        let stored = try runQVerify(
            [
                "run", "Reference/lenet/float.onnx", "--inputs", "Tests/Fixtures/inputs/lenet_calib_savez.npz",
                "--output-dir", tmp.appendingPathComponent("s").path,
            ], environment: budget)
        XCTAssertEqual(stored.exitCode, 0, stored.stderr)
        let compressed = try runQVerify(
            [
                "run", "Reference/lenet/float.onnx", "--inputs",
                "Tests/Fixtures/inputs/lenet_calib_savez_compressed.npz",
                "--output-dir", tmp.appendingPathComponent("c").path,
            ], environment: budget)
        XCTAssertEqual(compressed.exitCode, 2)
        XCTAssertEqual(
            compressed.stderr.split(separator: "\n").last.map(String.init),
            "qverify: error: Tests/Fixtures/inputs/lenet_calib_savez_compressed.npz: a compressed .npz is read whole and this one holds 4736 bytes, more than the 1000 qverify may hold (half this machine's memory; QVERIFY_MAX_INPUT_BYTES changes it); save it with numpy.savez (uncompressed, read slice by slice) or as .npy"
        )
    }
    func testExternalDataOutsideTheModelFolderIsRefused() throws {
        try assertRefused("Tests/Fixtures/bad/external_escape.onnx", "is outside the model's folder; refused")
    }
    func testADirectoryIsNotAModel() throws { try assertRefused("Tests/Fixtures/bad", "is a directory") }
}

/// Smoke tests through a real process: `main`'s own exit codes and output.
final class UsageTests: XCTestCase {
    func testUnknownSubcommandOrMissingArgumentExitsWithTwo() throws {
        XCTAssertEqual(try runQVerifyProcess(["frobnicate"]).exitCode, 2)
        XCTAssertEqual(try runQVerifyProcess(["run", "Reference/lenet/float.onnx"]).exitCode, 2)
        XCTAssertEqual(try runQVerifyProcess(["inspect"]).exitCode, 2)
    }

    func testHelpAndVersionExitWithZero() throws {
        let h = try runQVerifyProcess(["--help"])
        XCTAssertEqual(h.exitCode, 0)
        XCTAssertTrue(h.stdout.contains("inspect"), h.stdout)
        XCTAssertEqual(try runQVerifyProcess(["--version"]).exitCode, 0)
    }
}

/// A Reference model edited in memory and saved to a fresh temporary file; returns its path.
func savedMutant(of rel: String, _ edit: (inout Model) throws -> Void) throws -> String {
    var m = try OnnxFile.load(TestPaths.reference(rel))
    try edit(&m)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-mutant-\(UUID().uuidString).onnx")
        .path
    try OnnxFile.save(m, to: path)
    return path
}

/// Semantically invalid attributes found by mutation fuzzing: exit 2 naming the node, never a trap.
final class InvalidAttributeTests: XCTestCase {
    func mutated(_ rel: String, _ node: String, _ attr: Attribute) throws -> String {
        try savedMutant(of: rel) { m in
            let i = m.graph.nodes.firstIndex { $0.name == node }!
            m.graph.nodes[i].attributes.removeAll { $0.name == attr.name }
            m.graph.nodes[i].attributes.append(attr)
        }
    }

    func assertRefused(_ path: String, _ message: String, line: UInt = #line) throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        for args in [
            ["inspect", path],
            [
                "run", path, "--inputs", "Reference/lenet/calib_inputs.npy", "--output-dir",
                NSTemporaryDirectory() + "qv-mut-out",
            ],
        ] {
            let r = try runQVerify(args)
            XCTAssertEqual(r.exitCode, 2, "\(args[0]): \(r.stderr)", line: line)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, line: line)
            XCTAssertTrue(r.stderr.contains(message), "\(args[0]): expected “\(message)” in \(r.stderr)", line: line)
        }
    }

    func testZeroConvStridesAreRefusedNotDividedBy() throws {
        try assertRefused(
            try mutated("lenet/float.onnx", "conv1", Attribute(name: "strides", value: .ints([0, 0]))),
            "node Conv 'conv1': invalid window")
    }

    func testZeroPoolStridesAreRefused() throws {
        try assertRefused(
            try mutated("lenet/float.onnx", "pool1", Attribute(name: "strides", value: .ints([0, 0]))),
            "node MaxPool 'pool1': invalid window")
    }

    func testABiasThatDoesNotMatchTheOutputChannelsIsRefusedEvenByConvert() throws {
        let path = try savedMutant(of: "lenet/aidge_quantized_folded.onnx") { m in
            let conv = m.graph.nodes.first { $0.name == "conv1" }!
            m.graph.setInitializer(conv.inputs[2], Tensor([Int32](arrayLiteral: 1, 2), shape: [2], dtype: .int32))
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(
            "qverify-bias-out-\(UUID().uuidString).onnx"
        ).path
        let r = try runQVerify(["convert", path, "--to", "qop", "-o", out])
        XCTAssertEqual(r.exitCode, 2, r.stderr)
        XCTAssertTrue(
            r.stderr.contains("node Conv 'conv1': bias of shape [2] does not match 4 output channels"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no file written")
    }

    func testOutOfRangeFlattenAxisIsRefused() throws {
        try assertRefused(
            try mutated("lenet/float.onnx", "flatten", Attribute(name: "axis", value: .int(9))),
            "node Flatten 'flatten': Flatten axis 9 is out of range for rank 5")
    }
}

/// Degenerate quantizer parameters found by scripts/fuzz_values.py: `verify` (the recipe) must
/// refuse them with exit 2 and one line naming the node, not trap converting to an integer.
final class DegenerateQuantizerTests: XCTestCase {
    func mutatedInitializer(_ rel: String, node: String, input: Int, _ value: Tensor) throws -> String {
        try savedMutant(of: rel) { m in
            let n = try XCTUnwrap(m.graph.nodes.first { $0.name == node })
            m.graph.setInitializer(n.inputs[input], value)
        }
    }

    func assertVerifyRefuses(_ path: String, inputs: String, _ message: String, line: UInt = #line) throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runQVerify([
            "verify", path, "--inputs", TestPaths.reference(inputs), "--report-dir",
            NSTemporaryDirectory() + "qv-degenerate",
        ])
        XCTAssertEqual(r.exitCode, 2, r.stderr, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.contains("error") }.count, 1, r.stderr, line: line)
        XCTAssertTrue(r.stderr.contains(message), "expected “\(message)” in \(r.stderr)", line: line)
    }

    func testATinyScaleWhoseBiasOverflowsInt32IsRefused() throws {
        // conv1's output scale 318.17 → 1e-30 makes conv2's bias step x_scale·w_scale ≈ 3.6e-37.
        let path = try mutatedInitializer(
            "lenet/aidge_quantized.onnx", node: "conv1_Scaling", input: 1, Tensor([Float(1e-30)], shape: []))
        try assertVerifyRefuses(
            path, inputs: "lenet/calib_inputs.npy", "rule affine-to-qdq on node Conv 'conv2': bias value")
    }

    func testAnInfiniteFakeQuantizeZeroPointIsRefused() throws {
        let path = try mutatedInitializer(
            "fake_quantize/aidge_quantized_folded.onnx", node: "conv1_Scaling", input: 2,
            Tensor([Float.infinity], shape: []))
        try assertVerifyRefuses(
            path, inputs: "fake_quantize/aidge_folded_inputs.npy",
            "node QuantizeLinear 'conv1_Scaling': float zero point that is not an int32 integer")
    }

    func testAZeroActivationScaleInTheCandidateIsReportedAsADiscrepancy() throws {
        // 0 · inf = NaN and 10^18-step differences once made the harness and the HTML histogram trap.
        let path = try savedMutant(of: "depthwise/ort_static_qdq.onnx") { m in
            XCTAssertNotNil(m.graph.initializer("relu3_out_scale"))
            m.graph.setInitializer("relu3_out_scale", Tensor([Float(0)], shape: []))
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = NSTemporaryDirectory() + "qv-zero-scale-\(UUID().uuidString)"
        let r = try runQVerify([
            "compare", TestPaths.reference("depthwise/ort_static_qdq.onnx"), path,
            "--inputs", TestPaths.reference("depthwise/calib_inputs.npy"), "--report-dir", dir,
        ])
        XCTAssertEqual(r.exitCode, 1, r.stderr)
        for f in ["report.html", "report.json", "report.md", "junit.xml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + f), f)
        }
    }
}
