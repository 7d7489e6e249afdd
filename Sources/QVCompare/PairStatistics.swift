import Foundation
import QVGraph

/// One of the largest differences of an aligned pair: where it is and both values.
public struct WorstElement: Codable, Sendable, Equatable {
    public var sample: Int
    public var index: Int
    public var reference: Double
    public var candidate: Double
}

/// Fixed-size, mergeable statistics of an aligned pair over any number of samples: what the
/// harness keeps instead of the values. Computed per batch in a worker and merged in sample
/// order, so a report does not depend on the thread count (nor, for sharded runs, on the split).
public struct PairStatistics: Codable, Sendable, Equatable {
    public var count = 0
    /// |Δ| above the threshold (half a step when both sides are quantized).
    public var differing = 0
    /// Step difference beyond the tolerance.
    public var beyond = 0
    public var maxAbs = 0.0
    public var sumAbs = 0.0
    /// Σ r², Σ (r − c)², Σ r·c, Σ c²: SQNR and cosine.
    public var sumRefSquares = 0.0
    public var sumNoiseSquares = 0.0
    public var sumProducts = 0.0
    public var sumCandSquares = 0.0
    /// Among the elements beyond tolerance: exact half-up/half-even ties, near-ties (within a
    /// float32 ulp of a rounding boundary), and negatives the reference wrapped into an unsigned type.
    public var ties = 0
    public var nearTies = 0
    public var wraps = 0
    /// All elements (differing or not) whose reference value cannot be decided from the file:
    /// x·sf within a float32 ulp of a rounding boundary while Aidge's exact sf is unknown.
    public var ambiguous = 0
    /// Signed step difference (rounded) → count, for differing elements; |steps| above
    /// `histogramCap` fall in the "<-cap" / ">cap" bins, NaN in "nan".
    public var histogram: [String: Int] = [:]
    /// The `worstCount` largest |Δ|, largest first (earlier sample and index first among equals).
    public var worst: [WorstElement] = []

    public static let histogramCap = 1000
    public static let worstCount = 5

    public init() {}

    /// Adds one sample's elements. `candidate` values are snapped to the reference plus whole steps
    /// when both sides are quantized (scales that agree only to float precision).
    public mutating func add(
        sample: Int, reference ra: [Double], candidate rbIn: [Double], step: Double?, bothQuantized: Bool,
        limit: Double, realValued: (atol: Double, rtol: Double)? = nil,
        classify: ((Int, Double, Double) -> ElementCause?)? = nil
    ) {
        // A float side with --atol/--rtol: Polygraphy's element-wise check instead of steps.
        let real = bothQuantized ? nil : realValued
        let threshold = bothQuantized ? 0.5 * (step ?? 0) : 0
        // The histogram's bins are counted here by index and folded into `histogram` once, at the
        // end: a String key per element cost more than the rest of the element's statistics.
        var bins = BinCounts()
        defer { bins.fold(into: &histogram) }
        for j in 0..<min(ra.count, rbIn.count) {
            let r = ra[j]
            var c = rbIn[j]
            if bothQuantized, let st = step {
                let d = (c - r) / st, k = d.rounded(.toNearestOrEven)
                if abs(d - k) < 1e-3 { c = r + k * st }
            }
            let e = abs(r - c)
            count += 1
            if e > threshold { differing += 1 }
            maxAbs = max(maxAbs, e)
            sumAbs += e
            sumRefSquares += r * r
            sumNoiseSquares += e * e
            sumProducts += r * c
            sumCandSquares += c * c
            // The candidate's own value (not snapped), ranked by the snapped difference.
            if e > 0 || e.isNaN {
                noteWorst(WorstElement(sample: sample, index: j, reference: r, candidate: rbIn[j]), e)
            }
            if let real {
                if let st = step {
                    let ds = Harness.stepDifference(r, c, step: st, bothQuantized: false)
                    if ds != 0 { bins.add(ds) }
                }
                if !(e <= real.atol || e <= real.rtol * abs(r)) { beyond += 1 }
                continue
            }
            guard let st = step else { continue }
            let ds = Harness.stepDifference(r, c, step: st, bothQuantized: bothQuantized)
            if ds != 0 { bins.add(ds) }
            if abs(ds) > limit {
                beyond += 1
                switch classify?(j, r, c) {
                case .tie?: ties += 1
                case .nearTie?: nearTies += 1
                case .wrap?: wraps += 1
                case nil: break
                }
            }
        }
    }

    public enum ElementCause { case tie, nearTie, wrap }

    /// The histogram bin of a step difference: its nearest integer, "<-cap" / ">cap" beyond the
    /// cap, "nan".
    static func bin(_ ds: Double) -> String { BinCounts.label(BinCounts.index(ds)) }

    /// Counts per histogram bin by index (allocated at the first count), and which bins were used.
    struct BinCounts {
        static let cap = PairStatistics.histogramCap
        static let nan = 2 * cap + 1, above = 2 * cap + 2, below = 2 * cap + 3
        var counts: [Int] = []
        var used: [Int] = []

        static func index(_ ds: Double) -> Int {
            if ds.isNaN { return nan }
            let k = ds.rounded(.toNearestOrEven)
            if k > Double(cap) { return above }
            if k < -Double(cap) { return below }
            return Int(k) + cap
        }

        static func label(_ i: Int) -> String {
            switch i {
            case nan: "nan"
            case above: ">\(cap)"
            case below: "<-\(cap)"
            default: String(i - cap)
            }
        }

        mutating func add(_ ds: Double) {
            if counts.isEmpty { counts = Array(repeating: 0, count: 2 * Self.cap + 4) }
            let i = Self.index(ds)
            if counts[i] == 0 { used.append(i) }
            counts[i] += 1
        }

        func fold(into histogram: inout [String: Int]) {
            for i in used { histogram[Self.label(i), default: 0] += counts[i] }
        }
    }

    /// The ranking key of each listed worst element (its snapped |Δ|), in the same order; kept so
    /// that records merged from shards rank exactly as one run does.
    public var worstKeys: [Double] = []

    mutating func noteWorst(_ w: WorstElement, _ e: Double) {
        let key = e.isNaN ? Double.infinity : e
        if worst.count == Self.worstCount, worstKeys.count == worst.count, let last = worstKeys.last, last >= key {
            return
        }
        var items = Array(
            zip(worst, worstKeys.count == worst.count ? worstKeys : worst.map { abs($0.candidate - $0.reference) }))
        items.append((w, key))
        items.sort { a, b in a.1 != b.1 ? a.1 > b.1 : (a.0.sample, a.0.index) < (b.0.sample, b.0.index) }
        items = Array(items.prefix(Self.worstCount))
        worst = items.map(\.0)
        worstKeys = items.map(\.1)
    }

    /// Adds another record of later samples.
    public mutating func merge(_ o: PairStatistics) {
        count += o.count
        differing += o.differing
        beyond += o.beyond
        maxAbs = max(maxAbs, o.maxAbs)
        sumAbs += o.sumAbs
        sumRefSquares += o.sumRefSquares
        sumNoiseSquares += o.sumNoiseSquares
        sumProducts += o.sumProducts
        sumCandSquares += o.sumCandSquares
        ties += o.ties
        nearTies += o.nearTies
        ambiguous += o.ambiguous
        wraps += o.wraps
        for (k, v) in o.histogram { histogram[k, default: 0] += v }
        for (k, w) in o.worst.enumerated() {
            noteWorst(w, k < o.worstKeys.count ? o.worstKeys[k] : abs(w.candidate - w.reference))
        }
    }

    /// The summary the report prints.
    public func tensorStats(step: Double?) -> TensorStats {
        TensorStats(
            count: count, differing: differing, maxAbs: maxAbs, sumAbs: sumAbs, step: step, signal: sumRefSquares,
            noise: sumNoiseSquares, dot: sumProducts, candidateSquares: sumCandSquares)
    }
}

extension TensorStats {
    /// From running sums (see ``PairStatistics``).
    init(
        count: Int, differing: Int, maxAbs: Double, sumAbs: Double, step: Double?, signal: Double, noise: Double,
        dot: Double,
        candidateSquares: Double
    ) {
        self.count = count
        self.differing = differing
        self.maxAbs = maxAbs
        meanAbs = count == 0 ? 0 : sumAbs / Double(count)
        if let s = step, s > 0 {
            maxSteps = maxAbs / s
            meanSteps = meanAbs / s
        }
        sqnrDB = noise == 0 ? nil : (signal == 0 ? -Double.infinity : 10 * log10(signal / noise))
        cosine =
            (signal == 0 || candidateSquares == 0)
            ? (signal == candidateSquares ? 1 : 0) : dot / (signal.squareRoot() * candidateSquares.squareRoot())
    }
}
