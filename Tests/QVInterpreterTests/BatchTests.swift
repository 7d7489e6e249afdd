import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import XCTest
import _TestSupport

/// Running samples stacked as one batch must give exactly what one-by-one runs give.
final class BatchTests: XCTestCase {
    /// A tensor's values as bit patterns (floats by their bits: −0 ≠ 0, NaN = NaN).
    func bits(_ t: Tensor?) -> [UInt64]? {
        switch t?.storage {
        case .f32(let v): return v.map { UInt64($0.bitPattern) }
        case .f64(let v): return v.map { $0.bitPattern }
        case .i32(let v): return v.map { UInt64(UInt32(bitPattern: $0)) }
        case .i64(let v): return v.map { UInt64(bitPattern: $0) }
        case .u64(let v): return v
        default: return t.map { _ in [] }
        }
    }

    func check(
        _ rel: String, _ inputs: String, _ semantics: Semantics, expectBatched: Bool,
        target: DeploymentTarget = .onnx, enable: Bool = false, line: UInt = #line
    ) throws {
        let loaded = try OnnxFile.load(TestPaths.reference(rel))
        let m = enable ? try OrtGraphOptimizer.optimize(loaded).model : loaded
        let interp = try Interpreter(model: m, semantics: semantics, target: target)
        XCTAssertEqual(interp.canBatch, expectBatched, "\(rel): \(interp.batchBlocker ?? "batched")", line: line)
        let samples = try InputSet.load(TestPaths.reference(inputs), inputs: m.graph.runtimeInputs)
        let batched = try interp.run(batch: samples, keepIntermediates: true)
        XCTAssertEqual(batched.count, samples.count, line: line)
        for (k, s) in samples.enumerated() {
            let one = try interp.run(s, keepIntermediates: true)
            XCTAssertEqual(one.outputs, batched[k].outputs, "\(rel) sample \(k) outputs", line: line)
            XCTAssertEqual(Set(one.intermediates.keys), Set(batched[k].intermediates.keys), line: line)
            // Every tensor, float included, bit for bit: batching changes no summation order.
            for (name, t) in one.intermediates {
                XCTAssertEqual(
                    t.shape, batched[k].intermediates[name]?.shape, "\(rel) sample \(k) '\(name)'", line: line)
                XCTAssertEqual(
                    bits(t), bits(batched[k].intermediates[name]), "\(rel) sample \(k) '\(name)'", line: line)
            }
        }
    }

    /// Replacing a tensor per sample (the put-back pass's use) gives the same in a stacked batch
    /// as one by one: each sample's replacement sees its own slice, and what follows reads it.
    func testPerSampleReplacementsInABatchMatchOneByOneRuns() throws {
        let m = try OnnxFile.load(TestPaths.reference("residual/ort_static_qdq.onnx"))
        let interp = try Interpreter(model: m, semantics: .onnx)
        XCTAssertTrue(interp.canBatch)
        let samples = try InputSet.load(
            TestPaths.reference("residual/calib_inputs.npy"), inputs: m.graph.runtimeInputs)
        let name = try XCTUnwrap(
            m.graph.nodes.first { $0.opType == "QuantizeLinear" && $0.name != "input_QuantizeLinear" }
        )
        .outputs[0]
        // Sample k's tensor shifted by k + 1 (saturating): different per sample, so a mix-up shows.
        func replace(_ k: Int) -> [String: (Tensor) throws -> Tensor] {
            [
                name: { t in
                    let r = t.dtype.integerRange!
                    let v = t.asInt64s()!.map { Int32(min(max($0 + Int64(k + 1), r.lowerBound), r.upperBound)) }
                    return Tensor(v, shape: t.shape, dtype: t.dtype)
                }
            ]
        }
        let batched = try interp.run(batch: samples, keepIntermediates: true, replacing: replace)
        var changed = 0
        for (k, s) in samples.enumerated() {
            let one = try interp.run(s, keepIntermediates: true, replacing: replace(k))
            let plain = try interp.run(s)
            XCTAssertEqual(bits(one.outputs["output"]), bits(batched[k].outputs["output"]), "sample \(k)")
            XCTAssertEqual(
                bits(one.intermediates[name]), bits(batched[k].intermediates[name]), "sample \(k) '\(name)'")
            if bits(plain.outputs["output"]) != bits(one.outputs["output"]) { changed += 1 }
        }
        XCTAssertEqual(changed, samples.count, "every sample's replacement reaches the output")
    }

    func testAidgeFormWithMaxPoolIndicesBatchesExactly() throws {
        try check("lenet/aidge_quantized_folded.onnx", "lenet/aidge_folded_inputs.npy", .aidge, expectBatched: true)
    }
    func testOnnxruntimeQOperatorModelBatchesExactly() throws {
        try check("residual/ort_static_qop.onnx", "residual/calib_inputs.npy", .onnx, expectBatched: true)
    }
    /// Late ResNet/MobileNet convs have 2×2 to 8×8 outputs: a batch's images share the conv
    /// kernel's panels (stride 1 and 2, padded and 1×1/2 downsample), on every kernel path.
    func testSmallOutputConvsShareOnePanelAcrossImagesOnEveryKernelPath() throws {
        let paths = try forEveryKernelPath { _ in
            try check("resnet/float.onnx", "resnet/calib_inputs.npy", .onnx, expectBatched: true)
            try check("resnet/ort_static_qop.onnx", "resnet/calib_inputs.npy", .onnx, expectBatched: true)
            try check("mobilenet/ort_static_qdq.onnx", "mobilenet/calib_inputs.npy", .onnx, expectBatched: true)
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
    }
    /// The small-output conv paths (AVX-512 and AVX2 broadcast blocks, shared panels, the portable
    /// panels) against onnxruntime's own tensors (ORT_DISABLE_ALL, one thread): every stored
    /// tensor of ResNet's and MobileNet's onnxruntime-quantized models, bit for bit, on each path.
    func testEveryKernelPathMatchesOnnxruntimeOnRealArchitectures() throws {
        var compared = 0
        let paths = try forEveryKernelPath { path in
            // Float models too: their sums must keep onnxruntime's order (integer sums are exact in any order).
            for rel in [
                "resnet/float", "mobilenet/float", "resnet/ort_static_qdq", "resnet/ort_static_qop",
                "mobilenet/ort_static_qop",
            ] {
                let m = try OnnxFile.load(TestPaths.reference(rel + ".onnx"))
                let interp = try Interpreter(model: m, semantics: .onnx)
                let samples = try InputSet.load(
                    TestPaths.reference(rel.split(separator: "/")[0] + "/calib_inputs.npy"),
                    inputs: m.graph.runtimeInputs)
                let results = try interp.run(batch: samples, keepIntermediates: true)
                for (name, golden) in try Npy.loadArchive(TestPaths.reference(rel + "_ort_exact.npz")) {
                    let per = golden.count / samples.count
                    let g = try XCTUnwrap(golden.asDoubles())
                    for (k, r) in results.enumerated() {
                        guard let t = r.intermediates[name] ?? r.outputs[name] else { continue }
                        XCTAssertEqual(
                            try XCTUnwrap(t.asDoubles()), Array(g[(k * per)..<((k + 1) * per)]),
                            "\(path) \(rel) '\(name)' sample \(k)")
                        compared += 1
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(paths, 1)
        XCTAssertGreaterThan(compared, 100 * paths)
    }
    /// The architecture families batch through their reshapes (a leading 1 kept), transposes
    /// (axis 0 left in place), pads and resizes (none on axis 0), Split/Concat/QLinearConcat,
    /// Softmax, LayerNorm and ReduceMean on later axes, and constant-exponent Pow: every tensor of
    /// every form, at both of onnxruntime's levels, equals the one-by-one run.
    func testArchitectureFamiliesBatchExactlyInEveryForm() throws {
        let host = DeploymentTarget.host ?? .ortAvx2
        for family in [
            "vit", "mixed_ops", "mbv3", "se_block", "shuffle", "yolo", "unet", "unet_convt", "fire", "pooling",
        ] {
            for form in ["float", "ort_static_qdq", "ort_static_qop"] {
                let rel = "\(family)/\(form).onnx", inputs = "\(family)/calib_inputs.npy"
                try check(rel, inputs, .onnx, expectBatched: true)
                try check(rel, inputs, .onnx, expectBatched: true, target: host, enable: true)
            }
            for form in ["aidge_quantized", "aidge_quantized_folded"]
            where FileManager.default.fileExists(atPath: TestPaths.reference("\(family)/\(form).onnx")) {
                let folded = TestPaths.reference("\(family)/aidge_folded_inputs.npy")
                let inputs =
                    form.hasSuffix("folded") && FileManager.default.fileExists(atPath: folded)
                    ? "\(family)/aidge_folded_inputs.npy" : "\(family)/calib_inputs.npy"
                // Aidge exports MaxPool's indices as graph outputs (read: one by one).
                try check("\(family)/\(form).onnx", inputs, .aidge, expectBatched: family != "fire")
            }
        }
    }

    func testAidgesQdqWithIndicesAsAGraphOutputRunsOneByOne() throws {
        try check("lenet/aidge_qdq.onnx", "lenet/calib_inputs.npy", .onnx, expectBatched: false)
    }
}
