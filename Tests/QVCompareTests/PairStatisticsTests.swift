import Foundation
@testable import QVCompare
import QVGraph
import QVQuant
import XCTest

/// The per-pair statistics the streaming harness keeps: step snapping, bins, sums, and merging.
final class PairStatisticsTests: XCTestCase {
    /// Both sides quantized with scales that agree only to float precision: a candidate within
    /// 1e-3 of a step of reference + k·step counts as exactly k steps.
    func testCandidatesSnapToWholeStepsWhenBothSidesAreQuantized() {
        var s = PairStatistics()
        let step = 0.25
        s.add(
            sample: 0, reference: [0.5, 0.5, 0.5, -0.25], candidate: [0.50000001, 0.75000001, 0.5 + 0.25 * 2.5, -0.25],
            step: step, bothQuantized: true, limit: 0)
        XCTAssertEqual(s.count, 4)
        XCTAssertEqual(s.differing, 2, "0.50000001 snaps to 0.5; 1 step and 2.5 steps differ")
        XCTAssertEqual(s.beyond, 2)
        XCTAssertEqual(s.histogram, ["1": 1, "2": 1], "2.5 steps (not snapped) rounds half to even")
        XCTAssertEqual(s.maxAbs, 0.625)
        XCTAssertEqual(s.worst.map(\.index), [2, 1])
        XCTAssertEqual(s.worst[1].candidate, 0.75000001, "the worst list keeps the candidate's own value")
        // Not both quantized: no snapping, the raw difference in steps.
        var f = PairStatistics()
        f.add(sample: 0, reference: [0.5], candidate: [0.50000001], step: step, bothQuantized: false, limit: 0.5)
        XCTAssertEqual(f.differing, 1)
        XCTAssertEqual(f.beyond, 0)
    }

    /// Tensors read in place (int32 storage as (q − z)·step) give the record their real values
    /// give: equal integers under steps that differ by float rounding take the C pass's
    /// equal-integer blocks, unequal ones, a far-out value and far-apart steps the general path.
    func testIntegerTensorsInPlaceMatchTheirRealValues() {
        var gen = LinearCongruential(seed: 7)
        for (sa, sb, tie) in [(0.0123, 0.0123, 0), (0.0123, 0.0123000001, 0), (0.0123, 0.0129, 0), (0.5, 0.5, 900)] {
            let n = 1500
            var a = [Int32](), b = [Int32]()
            for i in 0..<n {
                let q = Int32(gen.next() % 255) - 127
                a.append(i == tie ? Int32.max : q)
                // Equal in long runs (whole blocks), then a stretch with one- and two-step differences.
                b.append(i < 700 || i % 7 != 0 ? a[i] : a[i] + Int32(gen.next() % 5) - 2)
            }
            let qa = QuantInfo(dtype: .int32, step: sa, zeroPoint: 3),
                qb = QuantInfo(dtype: .int32, step: sb, zeroPoint: 3)
            let ta = Tensor(dtype: .int32, shape: [n], storage: .i32(a)),
                tb = Tensor(dtype: .int32, shape: [n], storage: .i32(b))
            for (both, limit) in [(true, 0.0), (false, 0.5)] {
                var inPlace = PairStatistics(), values = PairStatistics()
                var causesA = [Int](), causesB = [Int]()
                inPlace.add(
                    sample: 1, reference: ta, qa, candidate: tb, qb, step: sb, bothQuantized: both, limit: limit
                ) { j, _, _ in
                    causesA.append(j)
                    return j % 2 == 0 ? .tie : nil
                }
                values.add(
                    sample: 1, reference: Harness.real(ta, qa), candidate: Harness.real(tb, qb), step: sb,
                    bothQuantized: both, limit: limit
                ) { j, _, _ in
                    causesB.append(j)
                    return j % 2 == 0 ? .tie : nil
                }
                XCTAssertEqual(inPlace, values, "steps \(sa), \(sb), both quantized \(both)")
                XCTAssertEqual(causesA, causesB)
                XCTAssertGreaterThan(values.beyond, 0)
            }
        }
    }

    /// A small deterministic generator for test data.
    struct LinearCongruential {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
    }

    func testHistogramBinsCapAndNaN() {
        XCTAssertEqual(PairStatistics.bin(3.4), "3")
        XCTAssertEqual(PairStatistics.bin(-2.5), "-2")
        XCTAssertEqual(PairStatistics.bin(1000), "1000")
        XCTAssertEqual(PairStatistics.bin(1001), ">1000")
        XCTAssertEqual(PairStatistics.bin(-5000), "<-1000")
        XCTAssertEqual(PairStatistics.bin(.nan), "nan")
    }

    /// Counts per bin across the elements of one call (repeated bins, both overflow bins, NaN)
    /// and across calls: each call folds its counts into the record's histogram.
    func testHistogramCountsRepeatsAndAccumulatesAcrossSamples() {
        var s = PairStatistics()
        let step = 1.0
        let reference = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        s.add(
            sample: 0, reference: reference, candidate: [1, 1, -3, 5000, -5000, .nan, 0], step: step,
            bothQuantized: true, limit: 0)
        XCTAssertEqual(s.histogram, ["1": 2, "-3": 1, ">1000": 1, "<-1000": 1, "nan": 1])
        s.add(
            sample: 1, reference: reference, candidate: [1, 2, 0, 0, 0, 0, 0], step: step, bothQuantized: true,
            limit: 0)
        XCTAssertEqual(s.histogram, ["1": 3, "2": 1, "-3": 1, ">1000": 1, "<-1000": 1, "nan": 1])
        XCTAssertEqual(s.count, 14)
    }

    /// SQNR and cosine from the running sums, against the formulas on the same values.
    func testSqnrAndCosineFromRunningSums() throws {
        let r = [1.0, -2.0, 3.0, 0.5], c = [1.1, -2.0, 2.7, 0.5]
        var s = PairStatistics()
        s.add(sample: 0, reference: r, candidate: c, step: nil, bothQuantized: false, limit: 0)
        let t = s.tensorStats(step: nil)
        let signal = r.map { $0 * $0 }.reduce(0, +)
        let noise = zip(r, c).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        let cosine = zip(r, c).map(*).reduce(0, +) / (signal.squareRoot() * c.map { $0 * $0 }.reduce(0, +).squareRoot())
        XCTAssertEqual(try XCTUnwrap(t.sqnrDB), 10 * log10(signal / noise), accuracy: 1e-9)
        XCTAssertEqual(t.cosine, cosine, accuracy: 1e-12)
        XCTAssertEqual(t.meanAbs, 0.4 / 4, accuracy: 1e-12)
    }

    /// Records of consecutive batches merged in order equal one record of all samples, the worst
    /// elements (ties broken by sample and index) included: what makes sharded runs merge byte for byte.
    func testMergingBatchRecordsEqualsOneRecord() {
        let samples: [[Double]] = (0..<6).map { k in (0..<50).map { j in Double((k * 50 + j) % 17) * 0.25 } }
        let cands: [[Double]] = samples.enumerated().map { k, v in
            v.enumerated().map { j, x in x + (j % 7 == k ? 0.25 * Double(k) : 0) }
        }
        var whole = PairStatistics()
        for k in 0..<6 {
            whole.add(sample: k, reference: samples[k], candidate: cands[k], step: 0.25, bothQuantized: true, limit: 0)
        }
        var merged = PairStatistics()
        for batch in [0..<2, 2..<5, 5..<6] {
            var part = PairStatistics()
            for k in batch {
                part.add(
                    sample: k, reference: samples[k], candidate: cands[k], step: 0.25, bothQuantized: true, limit: 0)
            }
            merged.merge(part)
        }
        XCTAssertEqual(merged, whole)
        XCTAssertEqual(whole.worst.count, PairStatistics.worstCount)
        XCTAssertEqual(whole.worst.first?.sample, 5, "the largest difference (5 steps) is sample 5's")
    }
}
