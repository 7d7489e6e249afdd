import Foundation
import QVCompare
import QVGraph
import QVInterpreter
import QVIO
import QVKernels
import XCTest
import _TestSupport

/// `check`'s data-independent screen against what actually saturates: every model onnxruntime
/// ran on the AVX2 host (Reference/ort-isa), run under ort-avx2 at both levels on its fixture's
/// calibration samples. A node that saturated must have been flagged (no miss).
final class SaturationScreenTests: XCTestCase {
    /// (fixture, model, path) of every model onnxruntime ran on the AVX2 host (Reference/ort-isa).
    static func avx2Records() throws -> [(String, String, String)] {
        let dir = "ort-isa/x86_64-avx2"
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestPaths.reference("\(dir)/manifest.json"))))
            as! [String: Any]
        return (manifest["entries"] as! [[String: Any]]).map { e in
            let (fx, name) = (e["fixture"] as! String, e["model"] as! String)
            let path =
                e["origin"] as? String == "reference"
                ? TestPaths.reference("\(fx)/\(name).onnx") : TestPaths.reference("\(dir)/\(fx)/\(name).onnx")
            return (fx, name, path)
        }
    }

    func testScreenFlagsEveryNodeThatSaturates() throws {
        var flagged = 0, saturated = 0, products = 0
        for (fx, name, path) in try Self.avx2Records() {
            let model = try OnnxFile.load(path)
            let screen = try DeploymentCheck.screen(model, label: name)
            let risky = Set(screen.filter { $0.severity == .warning }.map(\.node))
            products += screen.count
            flagged += risky.count
            for level in OrtLevel.allCases {
                let m = level == .enable ? try OrtGraphOptimizer.optimize(model).model : model
                let log = SaturationLog()
                let interp = try Interpreter(model: m, semantics: .onnx, target: .ortAvx2, saturationLog: log)
                _ = try interp.run(
                    batch: try InputSet.load(
                        TestPaths.reference("\(fx)/calib_inputs.npy"), inputs: m.graph.runtimeInputs))
                for (node, c) in log.byNode where c.pairSums > 0 {
                    XCTAssertTrue(
                        risky.contains(node),
                        "\(fx)/\(name) \(level.rawValue): '\(node)' saturated \(c.pairSums) pair sums but was not flagged"
                    )
                    saturated += 1
                }
            }
        }
        XCTAssertGreaterThan(saturated, 20)
        print(
            "screen: \(products) u8×s8 products, \(flagged) flagged, \(saturated) node-level runs saturated on the calibration samples, none missed"
        )
    }

    /// What saturation changes at a node is counted on that node's own input: for every node that
    /// saturates under ort-avx2, the logged `outputsChanged` equals the differences between its
    /// output and the exact (VNNI) result of the same node fed the very same input tensor (the
    /// saturating run's), sample by sample — never a difference inherited from upstream.
    func testOutputsChangedAreCountedOnTheNodesOwnInput() throws {
        var nodes = 0, changed: Int64 = 0, inherited = 0
        for (fx, name, path) in try Self.avx2Records() {
            for level in OrtLevel.allCases {
                let written = try OnnxFile.load(path)
                let model = level == .enable ? try OrtGraphOptimizer.optimize(written).model : written
                let log = SaturationLog()
                let sat = try Interpreter(model: model, semantics: .onnx, target: .ortAvx2, saturationLog: log)
                let exact = try Interpreter(model: model, semantics: .onnx, target: .ortVnni)
                let samples = try InputSet.load(
                    TestPaths.reference("\(fx)/calib_inputs.npy"), inputs: model.graph.runtimeInputs)
                let satRuns = try samples.map { try sat.run($0, keepIntermediates: true) }
                let exactRuns = try samples.map { try exact.run($0, keepIntermediates: true) }
                for n in model.graph.nodes where (log.byNode[n.name]?.pairSums ?? 0) > 0 {
                    var own: Int64 = 0, whole = 0
                    for (k, s) in samples.enumerated() {
                        let input = try XCTUnwrap(satRuns[k].intermediates[n.inputs[0]] ?? s[n.inputs[0]])
                        let fed = try exact.run(
                            s, keepIntermediates: true, replacing: [n.inputs[0]: { _ in input }], only: [n.outputs[0]])
                        let mine = try XCTUnwrap(
                            satRuns[k].intermediates[n.outputs[0]] ?? satRuns[k].outputs[n.outputs[0]])
                        let theirs = try XCTUnwrap(fed.intermediates[n.outputs[0]] ?? fed.outputs[n.outputs[0]])
                        own += Int64(zip(mine.asInt64s()!, theirs.asInt64s()!).filter { $0 != $1 }.count)
                        let free = try XCTUnwrap(
                            exactRuns[k].intermediates[n.outputs[0]] ?? exactRuns[k].outputs[n.outputs[0]])
                        whole += zip(mine.asInt64s()!, free.asInt64s()!).filter { $0 != $1 }.count
                    }
                    XCTAssertEqual(log.byNode[n.name]?.outputsChanged, own, "\(fx)/\(name) \(level) '\(n.name)'")
                    nodes += 1
                    changed += own
                    if Int64(whole) > own { inherited += 1 }
                }
            }
        }
        print(
            "saturation: \(nodes) node runs saturate, \(changed) outputs changed on their own input, \(inherited) also inherit"
        )
        XCTAssertGreaterThan(nodes, 40)
        XCTAssertGreaterThan(changed, 0)
        // Nodes downstream of another saturating node differ from the exact graph by more than
        // their own saturation changes: those are what the count must leave out.
        XCTAssertGreaterThan(inherited, 0)
    }
}
