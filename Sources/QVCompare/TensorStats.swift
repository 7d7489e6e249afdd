import Foundation
import QVGraph

/// How far a candidate tensor is from a reference tensor, in real units and in quantization
/// steps of the candidate's scale.
public struct TensorStats: Codable, Sendable, Equatable {
    public var count: Int
    public var differing: Int
    public var maxAbs: Double
    public var meanAbs: Double
    public var maxSteps: Double?
    public var meanSteps: Double?
    /// Signal-to-quantization-noise ratio of the candidate against the reference, dB (nil if equal).
    public var sqnrDB: Double?
    public var cosine: Double

    public var percentDiffering: Double { count == 0 ? 0 : 100 * Double(differing) / Double(count) }

    /// Compares real values `candidate` to `reference`; `step` converts differences to steps.
    /// An element differs when |Δ| exceeds `threshold` (half a step when both sides are quantized,
    /// so scales that agree only to float precision do not count).
    public init(reference: [Double], candidate: [Double], step: Double?, threshold: Double = 0) {
        precondition(reference.count == candidate.count)
        count = reference.count
        var diff = 0, maxA = 0.0, sumA = 0.0, sig = 0.0, noise = 0.0, dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<count {
            let r = reference[i], c = candidate[i], e = abs(r - c)
            if e > threshold { diff += 1 }
            maxA = max(maxA, e)
            sumA += e
            sig += r * r
            noise += e * e
            dot += r * c
            na += r * r
            nb += c * c
        }
        differing = diff
        maxAbs = maxA
        meanAbs = count == 0 ? 0 : sumA / Double(count)
        if let s = step, s > 0 {
            maxSteps = maxA / s
            meanSteps = meanAbs / s
        }
        sqnrDB = noise == 0 ? nil : (sig == 0 ? -Double.infinity : 10 * log10(sig / noise))
        cosine = (na == 0 || nb == 0) ? (na == nb ? 1 : 0) : dot / (na.squareRoot() * nb.squareRoot())
    }
}
