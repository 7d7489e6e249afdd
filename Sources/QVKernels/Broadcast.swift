/// The output of a numpy-broadcast binary op as runs of `inner` consecutive elements: run r reads
/// A from `aStart[r]` and B from `bStart[r]`, each stepping by 1 along the run or repeating one
/// value (step 0). Axes of extent 1 are dropped and neighbouring axes that broadcast alike merged,
/// so a bias add is one operand stepping and one repeating per row, a squeeze-excite gate
/// [N, C, 1, 1] × [N, C, H, W] one repeated gate value per H·W plane, and equal shapes one run.
struct BroadcastRuns {
    let inner: Int, aStep: Int, bStep: Int
    let aStart: [Int], bStart: [Int]

    init(_ a: [Int], _ b: [Int], to: [Int]) {
        let r = to.count
        let pa = Array(repeating: 1, count: r - a.count) + a, pb = Array(repeating: 1, count: r - b.count) + b
        func strides(_ s: [Int]) -> [Int] {
            var out = Array(repeating: 0, count: r)
            var step = 1
            for d in stride(from: r - 1, through: 0, by: -1) {
                out[d] = s[d] == 1 ? 0 : step
                step *= s[d]
            }
            return out
        }
        let sa = strides(pa), sb = strides(pb)
        // Axes of the output with extent > 1, neighbours merged while both operands stay linear.
        var ext: [Int] = [], da: [Int] = [], db: [Int] = []
        for d in 0..<r where to[d] != 1 {
            if let e = ext.last, da.last! == sa[d] * to[d], db.last! == sb[d] * to[d] {
                ext[ext.count - 1] = e * to[d]
                da[da.count - 1] = sa[d]
                db[db.count - 1] = sb[d]
            } else {
                ext.append(to[d]); da.append(sa[d]); db.append(sb[d])
            }
        }
        guard let last = ext.last else {
            (inner, aStep, bStep, aStart, bStart) = (1, 0, 0, [0], [0])
            return
        }
        (inner, aStep, bStep) = (last, da.last!, db.last!)
        let outer = Array(ext.dropLast())
        aStart = odometerOffsets(extents: outer, steps: Array(da.dropLast()))
        bStart = odometerOffsets(extents: outer, steps: Array(db.dropLast()))
    }

    /// y[i] = f(a[·], b[·]) over every output element, in order.
    @inline(__always)
    func apply<T, U>(
        _ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<U>,
        _ f: (T, T) -> U
    ) {
        guard inner > 0, let a0 = a.baseAddress, let b0 = b.baseAddress, let y0 = y.baseAddress else { return }
        let n = inner
        for r in 0..<aStart.count {
            let pa = a0 + aStart[r], pb = b0 + bStart[r], py = y0 + r * n
            switch (aStep, bStep) {
            case (0, 0):
                let v = f(pa[0], pb[0])
                for j in 0..<n { py[j] = v }
            case (0, _):
                let x = pa[0]
                for j in 0..<n { py[j] = f(x, pb[j]) }
            case (_, 0):
                let z = pb[0]
                for j in 0..<n { py[j] = f(pa[j], z) }
            default:
                for j in 0..<n { py[j] = f(pa[j], pb[j]) }
            }
        }
    }
}
