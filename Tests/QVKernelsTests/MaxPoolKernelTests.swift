import QVGraph
import XCTest
import _TestSupport

@testable import QVKernels

/// MaxPool's interior windows run 16 outputs at a time on AVX-512 (stride 1 or 2). onnxruntime's
/// goldens have no NaN or tie between equal values of different signs; these hold every path to
/// a direct loop of the rule (the window's first element, replaced by each later one in row-major
/// order that is greater: NaN never replaces, a leading NaN stays) on seeded float and int8
/// planes with NaN, ±∞, ±0 and repeated values, over strides, dilations and pads.
final class MaxPoolKernelTests: XCTestCase {
    struct Case {
        var h, w, k, stride, pad, dilation: Int
    }

    static func reference<T: Comparable>(_ x: [T], planes: Int, h: Int, w: Int, _ c: Case) -> [T] {
        let oh = (h + 2 * c.pad - ((c.k - 1) * c.dilation + 1)) / c.stride + 1
        let ow = (w + 2 * c.pad - ((c.k - 1) * c.dilation + 1)) / c.stride + 1
        var y: [T] = []
        for p in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best: T? = nil
                    for i in 0..<c.k {
                        for j in 0..<c.k {
                            let iy = oy * c.stride - c.pad + i * c.dilation, ix = ox * c.stride - c.pad + j * c.dilation
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            let e = x[(p * h + iy) * w + ix]
                            if best == nil || e > best! { best = e }
                        }
                    }
                    y.append(best!)
                }
            }
        }
        return y
    }

    func testInteriorVectorsEqualTheDirectRuleOnEveryPath() throws {
        let cases = [
            Case(h: 17, w: 37, k: 3, stride: 2, pad: 1, dilation: 1),  // ResNet's stem pool, odd sizes
            Case(h: 9, w: 40, k: 3, stride: 1, pad: 1, dilation: 1),
            Case(h: 12, w: 45, k: 2, stride: 2, pad: 0, dilation: 1),
            Case(h: 11, w: 50, k: 3, stride: 2, pad: 2, dilation: 2),
            Case(h: 8, w: 21, k: 5, stride: 1, pad: 0, dilation: 1),
        ]
        var rng = SplitMix64(seed: 7)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 1, 1]
        var checked = 0
        let paths = try forEveryKernelPath { path in
            for c in cases {
                let planes = 3, n = planes * c.h * c.w
                let xf = (0..<n).map { _ -> Float in
                    let r = rng.next()
                    return r % 9 == 0 ? specials[Int(r / 9 % 7)] : Float(Int(r % 41) - 20) * 0.25
                }
                let xi = (0..<n).map { _ in Int32(Int(rng.next() % 256) - 128) }
                let attrs = [
                    Attribute(name: "kernel_shape", value: .ints([Int64(c.k), Int64(c.k)])),
                    Attribute(name: "strides", value: .ints([Int64(c.stride), Int64(c.stride)])),
                    Attribute(name: "pads", value: .ints(Array(repeating: Int64(c.pad), count: 4))),
                    Attribute(name: "dilations", value: .ints([Int64(c.dilation), Int64(c.dilation)])),
                ]
                let pool = try Registry.make(
                    Node(name: "pool", opType: "MaxPool", inputs: ["x"], outputs: ["y"], attributes: attrs),
                    KernelContext(semantics: .onnx, opset: 12))
                let yf = try pool.run([Tensor(xf, shape: [1, planes, c.h, c.w])])[0].floats!
                let wantF = Self.reference(xf, planes: planes, h: c.h, w: c.w, c)
                XCTAssertEqual(yf.map(\.bitPattern), wantF.map(\.bitPattern), "\(path) float \(c)")
                let yi = try pool.run([
                    Tensor(dtype: .int8, shape: [1, planes, c.h, c.w], storage: .i32(xi))
                ])[0].asInt64s()!
                XCTAssertEqual(yi, Self.reference(xi, planes: planes, h: c.h, w: c.w, c).map { Int64($0) })
                checked += yf.count + yi.count
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertGreaterThan(checked, 0)
    }
}
