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
    func testScreenFlagsEveryNodeThatSaturates() throws {
        let dir = "ort-isa/x86_64-avx2"
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestPaths.reference("\(dir)/manifest.json"))))
            as! [String: Any]
        var flagged = 0, saturated = 0, products = 0
        for e in manifest["entries"] as! [[String: Any]] {
            let (fx, name) = (e["fixture"] as! String, e["model"] as! String)
            let path =
                e["origin"] as? String == "reference"
                ? TestPaths.reference("\(fx)/\(name).onnx") : TestPaths.reference("\(dir)/\(fx)/\(name).onnx")
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
}
