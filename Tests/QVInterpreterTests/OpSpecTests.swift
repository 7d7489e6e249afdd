import Foundation
import QVGraph
import QVIO
@testable import QVKernels
import XCTest
import _TestSupport

/// The op specs (`Sources/QVGraph/Ops/`) against what is outside them: ONNX's and onnxruntime's
/// schema registries (Tests/Fixtures/op_schemas.json, scripts/make_op_schemas.py), the kernel
/// registry, the op suite, and the ops the Reference models use.
final class OpSpecTests: XCTestCase {
    struct Schema: Decodable {
        var since: [Int]
        var inputs: [String]
    }
    struct Schemas: Decodable {
        var ops: [String: Schema]
    }

    /// The README's table of supported operators is written from the specs: every op with a kernel,
    /// its versions, how exactly it reproduces onnxruntime and what tests it. Run with
    /// QVERIFY_WRITE_README=1 to rewrite the table after changing a spec.
    func testReadmeOpTableIsTheSpecs() throws {
        let rows = OpSpecs.all.filter { $0.kernel != nil }
            .sorted { ($0.domain, $0.op) < ($1.domain, $1.op) }
            .map { s in
                "| \(s.domain.isEmpty ? "ai.onnx" : s.domain) | \(s.op) | \(s.since.map(String.init).joined(separator: ", ")) | \(s.exactness.rawValue) | \(s.tests.map { "`\($0)`" }.joined(separator: ", ")) |"
            }
        let table =
            (["| domain | op | opset versions | exactness | tests |", "|---|---|---|---|---|"] + rows).joined(
                separator: "\n") + "\n"
        let url = TestPaths.root.appendingPathComponent("README.md")
        let readme = try String(contentsOf: url, encoding: .utf8)
        let begin = "<!-- ops:begin (generated from Sources/QVGraph/Ops by OpSpecTests) -->\n",
            end = "<!-- ops:end -->"
        let start = try XCTUnwrap(readme.range(of: begin), "README has no generated op table")
        let stop = try XCTUnwrap(readme.range(of: end, range: start.upperBound..<readme.endIndex))
        if ProcessInfo.processInfo.environment["QVERIFY_WRITE_README"] == "1" {
            try (String(readme[..<start.upperBound]) + table + String(readme[stop.lowerBound...])).write(
                to: url, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(
            String(readme[start.upperBound..<stop.lowerBound]), table,
            "README's op table is stale: run the test with QVERIFY_WRITE_README=1")
        XCTAssertEqual(rows.count, Registry.supported.count)
    }

    func testSinceVersionsAndInputNamesAreOnnxs() throws {
        let data = try Data(contentsOf: TestPaths.root.appendingPathComponent("Tests/Fixtures/op_schemas.json"))
        let schemas = try JSONDecoder().decode(Schemas.self, from: data).ops
        XCTAssertGreaterThan(OpSpecs.all.count, 60)
        for s in OpSpecs.all {
            let key = "\(s.domain)::\(s.op)"
            guard let schema = schemas[key] else { XCTFail("\(key): not in ONNX's or onnxruntime's schemas"); continue }
            XCTAssertEqual(s.since, schema.since, "\(key) since-versions")
            XCTAssertEqual(s.inputs, schema.inputs, "\(key) input names")
        }
    }

    func testEachKernelIsNamedByASpecAndEachNamedKernelExists() {
        let named = Set(OpSpecs.all.compactMap(\.kernel))
        XCTAssertEqual(named, Set(Registry.kernelsByName.keys))
        XCTAssertEqual(Registry.supported.count, OpSpecs.all.filter { $0.kernel != nil }.count)
        // 55 when the specs first named the kernels; then Split, HardSigmoid, HardSwish, Resize.
        XCTAssertEqual(Registry.supported.count, 69)
    }

    /// Each spec with a kernel lists op-suite cases, and each listed case runs that op (so the
    /// list is where a reader finds the op's tests); every op-suite case's ops have specs.
    func testEachRunnableOpHasOpSuiteCasesThatUseIt() throws {
        let folder = TestPaths.root.appendingPathComponent("Tests/Fixtures/ops")
        var opsByCase: [String: Set<String>] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".onnx") {
            let m = try OnnxFile.load(folder.appendingPathComponent(file).path)
            opsByCase[String(file.dropLast(5))] = Set(m.graph.nodes.map { "\($0.normalizedDomain)::\($0.opType)" })
        }
        for s in OpSpecs.all where s.kernel != nil {
            let key = "\(s.domain)::\(s.op)"
            XCTAssertFalse(s.tests.isEmpty, "\(key) lists no op-suite case")
            for t in s.tests {
                XCTAssertTrue(
                    opsByCase[t]?.contains(key) == true,
                    "\(key): op-suite case '\(t)' \(opsByCase[t] == nil ? "does not exist" : "does not use it")")
            }
        }
        for (name, ops) in opsByCase {
            for op in ops {
                let parts = op.components(separatedBy: "::")
                XCTAssertNotNil(
                    OpSpecs.spec(domain: parts[0], op: parts[1])?.kernel, "\(name): \(op) has no spec naming a kernel")
            }
        }
    }

    func testEveryOpOfEveryReferenceModelHasASpec() throws {
        var seen = Set<String>()
        for rel in TestPaths.referenceModels() {
            let m = try OnnxFile.load(TestPaths.reference(rel))
            for n in m.graph.nodes {
                seen.insert(n.opType)
                XCTAssertNotNil(n.spec, "\(rel): \(n.normalizedDomain)::\(n.opType)")
            }
        }
        XCTAssertGreaterThanOrEqual(seen.count, 15)
    }

    /// Named inputs follow the schema, absent and empty inputs alike.
    func testNamedInputsReadTheSchemasPositions() {
        let q = Node(
            name: "n", opType: "QLinearConv", inputs: ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"],
            outputs: ["y"])
        XCTAssertEqual(q.input("B"), "bias")
        XCTAssertEqual(q.input("w_zero_point"), "wz")
        XCTAssertNil(q.input("C"))
        let g = Node(name: "n", opType: "Gemm", domain: "", inputs: ["a", "b", ""], outputs: ["y"])
        XCTAssertNil(g.input("C"))
        let d = Node(name: "n", opType: "DequantizeLinear", inputs: ["q", "s"], outputs: ["x"])
        XCTAssertEqual(d.quantizerScale, "s")
        XCTAssertNil(d.quantizerZeroPoint)
        XCTAssertNil(Node(name: "n", opType: "NoSuchOp", inputs: ["a"], outputs: ["b"]).input("A"))
    }
}
