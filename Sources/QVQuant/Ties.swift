import QVGraph

/// Whether an Aidge quantizer's pre-rounding value lands exactly halfway between two integers,
/// where Aidge (round half up) and ONNX (round half to even) may disagree by one step.
public enum TieRule {
    /// An Aidge quantizer with float scale s multiplies by sf = 1/s in float32 and rounds
    /// floor(v + 0.5): a tie is float32(v · sf) with fractional part exactly 0.5.
    case multiply(sf: Float)
    /// A single-shift quantizer (INT32 scale 2^shift) shifts right rounding half up: a tie is
    /// v mod 2^shift = 2^(shift−1).
    case shift(Int)

    /// Reads the rule from an Aidge QuantizeLinear's scale initializer.
    public init?(scale: Tensor) {
        if scale.dtype.isInteger, let v = scale.asInt64s()?.first, v > 0, v & (v - 1) == 0 {
            self = .shift(v.trailingZeroBitCount)
        } else if let f = scale.floats?.first, f > 0 {
            self = .multiply(sf: Float(1 / Double(f)))
        } else {
            return nil
        }
    }

    /// True when `value · sf` lies within one float32 ulp of a rounding boundary: Aidge's export
    /// stores only 1/sf rounded to float32, so 1/scale recovers sf to ±1 ulp and such a product
    /// may round either way. (Shift quantizers are exact: never near-ties.)
    public func isNearTie(_ value: Double) -> Bool {
        guard case .multiply(let sf) = self else { return false }
        let p = Float(value) * sf
        let frac = p - p.rounded(.down)
        return abs(frac - 0.5) <= 2 * p.magnitude.ulp
    }

    /// True when `value` (the quantizer's input element) is a rounding tie under this rule.
    public func isTie(_ value: Double) -> Bool {
        switch self {
        case .multiply(let sf):
            let p = Float(value) * sf
            return p - p.rounded(.down) == 0.5
        case .shift(let s):
            guard s > 0 else { return false }
            let m = Int64(1) << s
            let v = Int64(value)
            return ((v % m) + m) % m == m / 2
        }
    }
}
