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

    // Built from running sums by PairStatistics.tensorStats(step:).
}
