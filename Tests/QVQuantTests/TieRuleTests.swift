import QVGraph
import QVQuant
import XCTest

/// The tie and near-tie rules against their definitions, exhaustively on the integer ranges a
/// quantizer sees, and the near-tie rule against the fact it stands for: two float32 sf that the
/// export stores as the same scale round some products differently, and each of those is flagged.
final class TieRuleTests: XCTestCase {
    func testMultiplyTiesAreExactlyTheHalfwayProducts() throws {
        // sf = 1/4 (scale 4): v·sf has fraction .5 exactly when v ≡ 2 (mod 4).
        let rule = try XCTUnwrap(TieRule(scale: Tensor([Float(4)], shape: [])))
        for v in -4096...4096 {
            XCTAssertEqual(rule.isTie(Double(v)), ((v % 4) + 4) % 4 == 2, "v = \(v)")
        }
        // sf = float32(1/0.4) = 2.5: odd v are ties; the definition in float32, element by element.
        let r2 = try XCTUnwrap(TieRule(scale: Tensor([Float(0.4)], shape: [])))
        let sf = Float(1 / Double(Float(0.4)))
        var ties = 0
        for v in -20000...20000 {
            let p = Float(v) * sf
            let expected = p - p.rounded(.down) == 0.5
            XCTAssertEqual(r2.isTie(Double(v)), expected, "v = \(v)")
            if expected { ties += 1 }
        }
        XCTAssertGreaterThan(ties, 0, "the range holds ties")
    }

    func testShiftTiesIncludeNegativeValues() throws {
        let rule = try XCTUnwrap(TieRule(scale: Tensor([Int32(8)], shape: [], dtype: .int32)))
        for v in -2000...2000 {
            // v / 8 exactly halfway between integers.
            let q = Double(v) / 8
            XCTAssertEqual(rule.isTie(Double(v)), q - q.rounded(.down) == 0.5, "v = \(v)")
            XCTAssertFalse(rule.isNearTie(Double(v)), "a shift is exact")
        }
    }

    /// 127.00087 and 127.00088 are both stored as scale 0.007873962 (float32): a product that the
    /// two sf round to different integers (half up) is exactly what the rule must flag.
    func testNearTiesCoverEveryValueTheStoredScaleCannotDecide() throws {
        let a = Float(127.00087), b = Float(127.00088)
        XCTAssertEqual(Float(1 / Double(a)), Float(1 / Double(b)), "the export cannot tell them apart")
        let rule = try XCTUnwrap(TieRule(scale: Tensor([Float(1 / Double(a))], shape: [])))
        var disagreements = 0, flagged = 0
        // Inputs in [0, 1) on a fine grid around many half-integer boundaries.
        for i in 0..<400_000 {
            let x = Double(i) / 400_000
            let ra = (Float(x) * a + 0.5).rounded(.down), rb = (Float(x) * b + 0.5).rounded(.down)
            if rule.isNearTie(x) { flagged += 1 }
            guard ra != rb else { continue }
            disagreements += 1
            XCTAssertTrue(rule.isNearTie(x), "x = \(x): sf \(a) → \(ra), sf \(b) → \(rb), not flagged")
        }
        XCTAssertGreaterThan(disagreements, 0, "the grid must hit values the two sf round apart")
        XCTAssertLessThan(flagged, 4_000, "near-ties stay rare (\(flagged) of 400,000)")
    }
}
