import Foundation
import QVGraph
import QVQuant
import _QVPairStats

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
        if !bothQuantized, let real = realValued {
            addRealValued(sample: sample, ra, rbIn, step: step, real: real)
            return
        }
        let n = min(ra.count, rbIn.count)
        ra.withUnsafeBufferPointer { a in
            rbIn.withUnsafeBufferPointer { b in
                add(
                    sample: sample, PairValues(f64: a.baseAddress), PairValues(f64: b.baseAddress), count: n,
                    step: step, bothQuantized: bothQuantized, limit: limit, classify: classify)
            }
        }
    }

    /// Adds one sample's elements of two tensors, read in place (real values: (q − zero point)·step
    /// for quantized ones).
    public mutating func add(
        sample: Int, reference a: Tensor, _ qa: QuantInfo?, candidate b: Tensor, _ qb: QuantInfo?, step: Double?,
        bothQuantized: Bool, limit: Double, realValued: (atol: Double, rtol: Double)? = nil,
        classify: ((Int, Double, Double) -> ElementCause?)? = nil
    ) {
        if !bothQuantized, let real = realValued {
            addRealValued(sample: sample, Harness.real(a, qa), Harness.real(b, qb), step: step, real: real)
            return
        }
        PairValues.with(a, qa) { va in
            PairValues.with(b, qb) { vb in
                add(
                    sample: sample, va, vb, count: min(a.count, b.count), step: step, bothQuantized: bothQuantized,
                    limit: limit, classify: classify)
            }
        }
    }

    /// The step-based pass (both sides quantized, or no --atol/--rtol).
    private mutating func add(
        sample: Int, _ ra: PairValues, _ rb: PairValues, count n: Int, step: Double?, bothQuantized: Bool,
        limit: Double, classify: ((Int, Double, Double) -> ElementCause?)?
    ) {
        // The element loop runs in C (qv_pair_pass_run); the histogram's bins are counted there by
        // index and folded into `histogram` once, at the end.
        var p = qv_pair_pass()
        defer { qv_pair_pass_free(&p) }
        p.has_step = step == nil ? 0 : 1
        p.both_quantized = bothQuantized ? 1 : 0
        p.step = step ?? 1
        p.threshold = bothQuantized ? 0.5 * (step ?? 0) : 0
        p.limit = limit
        p.max_abs = maxAbs
        p.sum_abs = sumAbs
        p.sum_ref_sq = sumRefSquares
        p.sum_noise_sq = sumNoiseSquares
        p.sum_products = sumProducts
        p.sum_cand_sq = sumCandSquares
        // Room for every element beyond the limit, left uninitialized (only what the pass writes is
        // touched).
        let keepBeyond = classify != nil && step != nil
        let beyondIndex = UnsafeMutablePointer<Int64>.allocate(capacity: keepBeyond ? n : 0),
            beyondRef = UnsafeMutablePointer<Double>.allocate(capacity: keepBeyond ? n : 0),
            beyondCand = UnsafeMutablePointer<Double>.allocate(capacity: keepBeyond ? n : 0)
        defer {
            beyondIndex.deallocate()
            beyondRef.deallocate()
            beyondCand.deallocate()
        }
        p.cap = Int64(BinCounts.cap)
        p.beyond_index = keepBeyond ? beyondIndex : nil
        p.beyond_ref = keepBeyond ? beyondRef : nil
        p.beyond_cand = keepBeyond ? beyondCand : nil
        qv_pair_pass_run(&p, ra.c, rb.c, n)
        if let counts = p.bin_counts, let used = p.used {
            for k in 0..<Int(p.used_count) {
                let i = Int(used[k])
                histogram[BinCounts.label(i), default: 0] += Int(counts[i])
            }
        }
        self.count += Int(p.count)
        differing += Int(p.differing)
        beyond += Int(p.beyond)
        maxAbs = p.max_abs
        sumAbs = p.sum_abs
        sumRefSquares = p.sum_ref_sq
        sumNoiseSquares = p.sum_noise_sq
        sumProducts = p.sum_products
        sumCandSquares = p.sum_cand_sq
        // This sample's largest differences, largest first: noting them in turn keeps the same
        // records as noting every element (the order is total).
        withUnsafeBytes(of: p.worst_index) { idx in
            withUnsafeBytes(of: p.worst_key) { key in
                withUnsafeBytes(of: p.worst_ref) { ref in
                    withUnsafeBytes(of: p.worst_cand) { cand in
                        for k in 0..<Int(p.worst_n) {
                            let w = WorstElement(
                                sample: sample, index: Int(idx.load(fromByteOffset: 8 * k, as: Int64.self)),
                                reference: ref.load(fromByteOffset: 8 * k, as: Double.self),
                                candidate: cand.load(fromByteOffset: 8 * k, as: Double.self))
                            noteWorst(w, key.load(fromByteOffset: 8 * k, as: Double.self))
                        }
                    }
                }
            }
        }
        guard keepBeyond, let classify else { return }
        for k in 0..<Int(p.beyond) {
            switch classify(Int(beyondIndex[k]), beyondRef[k], beyondCand[k]) {
            case .tie?: ties += 1
            case .nearTie?: nearTies += 1
            case .wrap?: wraps += 1
            case nil: break
            }
        }
    }

    /// The element-wise |Δ| ≤ atol or ≤ rtol·|r| check of a float side (no snapping).
    private mutating func addRealValued(
        sample: Int, _ ra: [Double], _ rb: [Double], step: Double?, real: (atol: Double, rtol: Double)
    ) {
        var bins = BinCounts()
        defer { bins.fold(into: &histogram) }
        for j in 0..<min(ra.count, rb.count) {
            let r = ra[j], c = rb[j]
            let e = abs(r - c)
            count += 1
            if e > 0 { differing += 1 }
            maxAbs = max(maxAbs, e)
            sumAbs += e
            sumRefSquares += r * r
            sumNoiseSquares += e * e
            sumProducts += r * c
            sumCandSquares += c * c
            if e > 0 || e.isNaN {
                noteWorst(WorstElement(sample: sample, index: j, reference: r, candidate: c), e)
            }
            if let st = step {
                let ds = Harness.stepDifference(r, c, step: st, bothQuantized: false)
                if ds != 0 { bins.add(ds) }
            }
            if !(e <= real.atol || e <= real.rtol * abs(r)) { beyond += 1 }
        }
    }

    public enum ElementCause { case tie, nearTie, wrap }

    /// The histogram bin of a step difference: its nearest integer, "<-cap" / ">cap" beyond the
    /// cap, "nan".
    static func bin(_ ds: Double) -> String { BinCounts.label(BinCounts.index(ds)) }

    /// Counts per histogram bin by index (allocated at the first count), and which bins were used
    /// (the real-valued loop's; the C pass keeps its own, by the same indices).
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

/// One side of an aligned pair as the C statistics read it, in place.
struct PairValues {
    var c: qv_values

    init(f64 p: UnsafePointer<Double>?) {
        c = qv_values(data: UnsafeRawPointer(p), kind: Int32(QV_VALUES_F64), zero: 0, step: 1)
    }

    /// Calls `body` with `t`'s real values (Harness.real's): int32 storage and float32/float64
    /// values in place, anything else converted first.
    static func with<R>(_ t: Tensor, _ q: QuantInfo?, _ body: (PairValues) -> R) -> R {
        switch t.storage {
        case .i32(let a) where t.dtype.isInteger || t.dtype == .bool:
            let zero = q.map { Double($0.zeroPoint) } ?? 0, step = q?.step ?? 1
            return a.withUnsafeBytes {
                body(PairValues(data: $0.baseAddress, kind: Int(QV_VALUES_I32), zero: zero, step: step))
            }
        case .f32(let a) where q == nil:
            return a.withUnsafeBytes {
                body(PairValues(data: $0.baseAddress, kind: Int(QV_VALUES_F32), zero: 0, step: 1))
            }
        case .f64(let a) where q == nil:
            return a.withUnsafeBytes {
                body(PairValues(data: $0.baseAddress, kind: Int(QV_VALUES_F64), zero: 0, step: 1))
            }
        default:
            let v = Harness.real(t, q)
            return v.withUnsafeBufferPointer { body(PairValues(f64: $0.baseAddress)) }
        }
    }

    private init(data: UnsafeRawPointer?, kind: Int, zero: Double, step: Double) {
        c = qv_values(data: data, kind: Int32(kind), zero: zero, step: step)
    }
}
