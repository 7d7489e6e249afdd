import Foundation
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import XCTest
import _TestSupport

/// qverify's onnxruntime targets against onnxruntime's own results recorded on hosts of each
/// kind, whatever host runs this test: `Reference/ort-isa/x86_64-avx2` (an AVX2-only AMD EPYC)
/// and the AVX-512 VNNI goldens beside each fixture. Every element must be equal, floats too.
final class DeploymentTargetTests: XCTestCase {
    struct Entry: Decodable {
        var fixture: String
        var model: String
        var origin: String
    }

    struct Manifest: Decodable {
        struct Host: Decodable { var tag: String }
        var host: Host
        var entries: [Entry]
    }

    static let avx2Dir = "ort-isa/x86_64-avx2"

    /// Runs `model` on the fixture's 8 calibration samples under a target and level.
    func run(
        _ model: Model, fixture: String, target: DeploymentTarget, level: OrtLevel, intermediates: Bool
    ) throws
        -> (outputs: [String: Tensor], intermediates: [String: Tensor])
    {
        let m = level == .enable ? try OrtGraphOptimizer.optimize(model).model : model
        let interp = try Interpreter(model: m, semantics: .onnx, target: target)
        let samples = try InputSet.load(
            TestPaths.reference("\(fixture)/calib_inputs.npy"), inputs: m.graph.runtimeInputs)
        var outs: [String: [Tensor]] = [:], inter: [String: [Tensor]] = [:]
        for r in try interp.run(batch: samples, keepIntermediates: intermediates) {
            for (k, v) in r.outputs { outs[k, default: []].append(v) }
            for (k, v) in r.intermediates { inter[k, default: []].append(v) }
        }
        return (try outs.mapValues { try Tensor.stack($0) }, try inter.mapValues { try Tensor.stack($0) })
    }

    /// Elements that differ at all (no float tolerance).
    func differing(_ a: Tensor, _ b: Tensor) -> Int {
        guard let x = a.asDoubles(), let y = b.asDoubles(), x.count == y.count else { return max(a.count, b.count) }
        return zip(x, y).filter { $0 != $1 }.count
    }

    func model(_ e: Entry) throws -> Model {
        let path =
            e.origin == "reference"
            ? TestPaths.reference("\(e.fixture)/\(e.model).onnx")
            : TestPaths.reference("\(Self.avx2Dir)/\(e.fixture)/\(e.model).onnx")
        return try OnnxFile.load(path)
    }

    func testAVX2HostRecordReproducedAtBothLevels() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.reference("\(Self.avx2Dir)/manifest.json")))
        let manifest = try JSONDecoder().decode(Manifest.self, from: data)
        XCTAssertEqual(manifest.host.tag, "x86_64-avx2")
        var runs = 0, tensors = 0, elements = 0
        for e in manifest.entries {
            let m = try model(e)
            for level in OrtLevel.allCases {
                let label = "\(e.fixture)/\(e.model) ort-avx2 \(level.rawValue)"
                let golden = try Npy.loadArchive(
                    TestPaths.reference("\(Self.avx2Dir)/\(e.fixture)/\(e.model)__\(level.rawValue)_all.npz"))
                let (outs, inter) = try run(
                    m, fixture: e.fixture, target: .ortAvx2, level: level, intermediates: level == .disable)
                for (name, g) in golden {
                    guard let t = outs[name] ?? inter[name] else { XCTFail("\(label): no tensor '\(name)'"); continue }
                    XCTAssertEqual(t.count, g.count, label)
                    XCTAssertEqual(differing(t.reshaped(g.shape), g), 0, "\(label) '\(name)'")
                    tensors += 1
                    elements += g.count
                }
                runs += 1
            }
        }
        XCTAssertEqual(runs, 104)
        XCTAssertGreaterThanOrEqual(tensors, 450)
        print("ort-avx2: \(runs) runs, \(tensors) tensors, \(elements) elements equal to onnxruntime on the AVX2 host")
    }

    /// The same models under the VNNI rule give other numbers where the AVX2 host saturated: the
    /// emulation is what makes the record match (cnn's onnxruntime QOP output, 46 of 80 elements).
    func testVNNIRuleDiffersWhereTheAVX2HostSaturated() throws {
        let m = try OnnxFile.load(TestPaths.reference("cnn/ort_static_qop.onnx"))
        let golden = try Npy.loadArchive(TestPaths.reference("\(Self.avx2Dir)/cnn/ort_static_qop__disable_all.npz"))
        let out = try XCTUnwrap(golden.first { $0.name == "output" }?.tensor)
        let vnni = try run(m, fixture: "cnn", target: .ortVnni, level: .disable, intermediates: false).outputs[
            "output"]!
        let avx512 = try run(m, fixture: "cnn", target: .ortAvx512, level: .disable, intermediates: false).outputs[
            "output"]!
        XCTAssertEqual(differing(vnni.reshaped(out.shape), out), 46)
        XCTAssertEqual(
            differing(avx512.reshaped(out.shape), out), 0, "AVX-512 without VNNI takes the same vpmaddubsw path")
    }

    /// onnxruntime's own QDQ and QOP models on the VNNI host at ORT_ENABLE_ALL: exact under ort-vnni.
    func testVNNIHostEnabledOutputsReproduced() throws {
        var runs = 0
        for f in ["cnn", "residual", "depthwise"] {
            for q in ["qdq", "qop"] {
                let m = try OnnxFile.load(TestPaths.reference("\(f)/ort_static_\(q).onnx"))
                let golden = try Npy.load(TestPaths.reference("\(f)/ort_static_\(q)_enable_all.npy"))
                let ours = try XCTUnwrap(
                    try run(m, fixture: f, target: .ortVnni, level: .enable, intermediates: false).outputs[
                        m.graph.outputs[0].name])
                XCTAssertEqual(differing(ours.reshaped(golden.shape), golden), 0, "\(f) \(q)")
                runs += 1
            }
        }
        XCTAssertEqual(runs, 6)
    }

    /// The pair rule on the case the issue measured: mlp fc1, sample 5, neuron 11, k = (14, 15):
    /// activations (253, 228) × weights (−105, −71) = −42,753, which vpmaddubsw clamps to −32,768.
    func testOnePairSaturatesToInt16() throws {
        let a = Tensor([253, 228], shape: [1, 2], dtype: .uint8), b = Tensor([-105, -71], shape: [2, 1], dtype: .int8)
        let one = Tensor.scalar(1)
        // QGemm without y_scale: the accumulator times a_scale·b_scale = 1, as float.
        let g = Graph(
            nodes: [
                Node(
                    name: "mm", opType: "QGemm", domain: "com.microsoft", inputs: ["a", "s", "az", "b", "s", "bz"],
                    outputs: ["y"])
            ],
            inputs: [ValueInfo(name: "a", dtype: .uint8, shape: [.value(1), .value(2)])],
            outputs: [ValueInfo(name: "y", dtype: .float, shape: nil)],
            initializers: [
                ("b", b), ("s", one), ("az", Tensor([0], shape: [], dtype: .uint8)),
                ("bz", Tensor([0], shape: [], dtype: .int8)),
            ])
        let model = Model(
            opsetImports: [OpsetImport(domain: "", version: 21), OpsetImport(domain: "com.microsoft", version: 1)],
            graph: g)
        func y(_ t: DeploymentTarget) throws -> Float {
            try Interpreter(model: model, semantics: .onnx, target: t).run(["a": a]).outputs["y"]!.floats![0]
        }
        XCTAssertEqual(try y(.onnx), -42_753)
        XCTAssertEqual(try y(.ortVnni), -42_753)
        XCTAssertEqual(try y(.ortAvx2), -32_768)
        XCTAssertEqual(try y(.ortAvx512), -32_768)
    }
}

/// The saturating convolution against a naive model of MLAS's rule, on random shapes: padding
/// (read as x_zp), strides, dilations, groups, odd channel counts (pairs straddle kernel
/// positions), 1-D convs. Every output of a QLinearConv under ort-avx2 must equal
/// requantize(Σ exact + Σ_pairs sat16(p) − p) computed here element by element.
final class PairSaturationPropertyTests: XCTestCase {
    struct RNG {
        var s: UInt64;
        mutating func next(_ n: Int) -> Int {
            s = s &* 6364136223846793005 &+ 1442695040888963407; return Int((s >> 33) % UInt64(n))
        }
    }

    func testRandomConvolutionsMatchTheNaiveRule() throws {
        var rng = RNG(s: 7)
        var departing = 0, departingAtBorder = 0
        for trial in 0..<60 {
            let oneD = trial % 7 == 0
            let group = [1, 1, 2][rng.next(3)], cg = 1 + rng.next(5), mg = 1 + rng.next(3)
            let c = cg * group, m = mg * group
            let kh = oneD ? 1 : 1 + rng.next(3), kw = 1 + rng.next(3)
            let h = oneD ? 1 : kh + rng.next(6), w = kw + rng.next(7)
            let sh = 1 + rng.next(2), sw = 1 + rng.next(2), dh = oneD ? 1 : 1 + rng.next(2), dw = 1 + rng.next(2)
            let ph = oneD ? 0 : rng.next(2), pw = rng.next(3)
            let ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1
            guard h + 2 * ph >= ekh, w + 2 * pw >= ekw else { continue }
            let oh = (h + 2 * ph - ekh) / sh + 1, ow = (w + 2 * pw - ekw) / sw + 1
            let xzp = [0, 128, 255][rng.next(3)]
            let x = (0..<(c * h * w)).map { _ in Int32(rng.next(4) == 0 ? 255 : rng.next(256)) }
            let wt = (0..<(m * cg * kh * kw)).map { _ in
                Int32(rng.next(4) == 0 ? (rng.next(2) == 0 ? 127 : -128) : rng.next(256) - 128)
            }
            // Naive: exact accumulator plus the pair departures in (ky, kx, channel) order.
            var expected = [Int64](repeating: 0, count: m * oh * ow)
            for mi in 0..<m {
                let g = mi / mg
                var taps: [(c: Int, ky: Int, kx: Int, w: Int64)] = []
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        for ci in 0..<cg { taps.append((ci, ky, kx, Int64(wt[((mi * cg + ci) * kh + ky) * kw + kx]))) }
                    }
                }
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        func value(_ t: (c: Int, ky: Int, kx: Int, w: Int64)) -> Int64 {
                            let iy = oy * sh - ph + t.ky * dh, ix = ox * sw - pw + t.kx * dw
                            return iy >= 0 && iy < h && ix >= 0 && ix < w
                                ? Int64(x[((g * cg + t.c) * h + iy) * w + ix]) : Int64(xzp)
                        }
                        var acc: Int64 = 0
                        for t in taps { acc += (value(t) - Int64(xzp)) * t.w }
                        var k = 0, departure: Int64 = 0
                        while k + 1 < taps.count {
                            let p = value(taps[k]) * taps[k].w + value(taps[k + 1]) * taps[k + 1].w
                            departure += min(max(p, -32768), 32767) - p
                            k += 2
                        }
                        acc += departure
                        if departure != 0 {
                            departing += 1
                            let border =
                                oy * sh < ph || ox * sw < pw || oy * sh - ph + ekh > h || ox * sw - pw + ekw > w
                            if border { departingAtBorder += 1 }
                        }
                        expected[(mi * oh + oy) * ow + ox] = acc
                    }
                }
            }
            // qverify's QLinearConv with unit scales and a y_scale that keeps every accumulator in the int8 range.
            let maxAbs = max(1, expected.map { abs($0) }.max()!)
            let yScale = Float(maxAbs) / 100  // |acc / yScale| ≤ 100: no clamping, and rounding is checked below
            let dims: [Int] = oneD ? [] : [h]
            let node = Node(
                name: "conv", opType: "QLinearConv", inputs: ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                outputs: ["y"],
                attributes: [
                    Attribute(name: "group", value: .int(Int64(group))),
                    Attribute(name: "strides", value: .ints((oneD ? [sw] : [sh, sw]).map(Int64.init))),
                    Attribute(name: "dilations", value: .ints((oneD ? [dw] : [dh, dw]).map(Int64.init))),
                    Attribute(name: "pads", value: .ints((oneD ? [pw, pw] : [ph, pw, ph, pw]).map(Int64.init))),
                ])
            let xShape = [1, c] + dims + [w], wShape = [m, cg] + (oneD ? [] : [kh]) + [kw]
            let g = Graph(
                nodes: [node], inputs: [ValueInfo(name: "x", dtype: .uint8, shape: xShape.map { .value($0) })],
                outputs: [ValueInfo(name: "y", dtype: .int8, shape: nil)],
                initializers: [
                    ("w", Tensor(wt, shape: wShape, dtype: .int8)), ("xs", .scalar(1)), ("ws", .scalar(1)),
                    ("ys", .scalar(yScale)),
                    ("xz", Tensor([Int32(xzp)], shape: [], dtype: .uint8)),
                    ("wz", Tensor([0], shape: [], dtype: .int8)),
                    ("yz", Tensor([0], shape: [], dtype: .int8)),
                ])
            let y = try Interpreter(model: Model(graph: g), semantics: .onnx, target: .ortAvx2)
                .run(["x": Tensor(x, shape: xShape, dtype: .uint8)]).outputs["y"]!.asInt64s()!
            let mult = Float(1) * Float(1) / yScale
            for i in 0..<expected.count {
                let want = Int64((Float(Int32(truncatingIfNeeded: expected[i])) * mult).rounded(.toNearestOrEven))
                XCTAssertEqual(y[i], want, "trial \(trial) output \(i): accumulator \(expected[i])")
            }
        }
        // The rule is exercised, including windows that read padding.
        XCTAssertGreaterThan(departing, 200)
        XCTAssertGreaterThan(departingAtBorder, 50)
        print(
            "pair saturation: \(departing) outputs depart from the exact sum (\(departingAtBorder) reading padding), all matched"
        )
    }
}
