import Foundation
@testable import QVCompare
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
