import Foundation
import QVIO
import XCTest
import _TestSupport

final class VerifyTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-verify-\(UUID().uuidString)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testVerifyOfACleanModelExitsZeroAndWritesFourReportsInsideTheReportDir() throws {
        let dir = tmp.appendingPathComponent("rep").path
        let r = try runQVerifyProcess([
            "verify", "Reference/mlp/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy",
            "--report-dir", dir,
            "--targets", "none",
        ])
        XCTAssertEqual(r.exitCode, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("verify Reference/mlp/aidge_quantized.onnx: equivalent\n"), r.stdout)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        XCTAssertEqual(
            files,
            [
                "report.json", "report.md", "report.html", "junit.xml", "aidge_quantized_qdq.onnx",
                "aidge_quantized_qop.onnx",
                "model-explorer-qdq.json", "model-explorer-qop.json",
            ])
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")))
            as! [String: Any]
        XCTAssertEqual(json["schema"] as? Int, 1)
        XCTAssertEqual(json["verdict"] as? String, "equivalent")
        let comps = json["comparisons"] as! [[String: Any]]
        XCTAssertEqual(comps.map { $0["name"] as? String }, ["qdq", "qop"])
        let nodes = comps[0]["nodes"] as! [[String: Any]]
        XCTAssertEqual(nodes.map { $0["signature"] as? String }, ["input#0", "fc#1", "fc#1→Relu", "fc#2"])
        let junit = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(
            junit.contains("<testsuite name=\"mlp/aidge_quantized.onnx: qdq\" tests="),
            "the model names the suite: \(junit)")
        XCTAssertFalse(junit.contains("<failure"), junit)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"), "charts are inline SVG")
        // Self-contained: nothing loaded from elsewhere (the SVG namespace URI is a name, not a fetch).
        for external in ["src=\"http", "href=\"http", "<link", "@import", "url(http"] {
            XCTAssertFalse(html.contains(external), "self-contained: \(external)")
        }
    }

    /// The conversion is exact against the source, but onnxruntime on x86 without VNNI saturates
    /// fc1's u8×s8 pairs once its optimizer fuses the QDQ groups: the numbers measured on a real
    /// AVX2 host (Reference/ort-isa), 45 of 80 outputs up to 21 steps, and 0 with either fix.
    func testVerifyReportsIsaSaturationPerTarget() throws {
        let dir = tmp.appendingPathComponent("isa").path
        let r = try runQVerify([
            "verify", "Reference/mlp/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy",
            "--report-dir", dir,
        ])
        XCTAssertEqual(r.exitCode, 0, r.stdout + r.stderr)
        XCTAssertTrue(
            r.stdout.contains(
                "warning isa-saturation [fc1]: on ort-avx2, ort-avx512 with ORT_ENABLE_EXTENDED/ALL, QGemm 'fc1' "),
            r.stdout)
        XCTAssertTrue(
            r.stdout.contains(
                "at the graph output 45/80 elements change and 45 differ from the reference, by up to 21 steps (0 on ort-vnni)"
            ), r.stdout)
        XCTAssertTrue(
            r.stdout.contains("qverify convert --to qdq --weight-type uint8: 0/80 output elements differ"), r.stdout)
        XCTAssertEqual(
            r.stdout.components(separatedBy: "isa-saturation").count - 1, 1, "only fc1 saturates; fc2 inherits")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")))
            as! [String: Any]
        let comps = json["comparisons"] as! [[String: Any]]
        let rows = try XCTUnwrap(comps[0]["targets"] as? [[String: Any]])
        XCTAssertEqual(
            rows.map { "\($0["target"]!) \($0["level"]!) \($0["outputDiffering"]!)" },
            [
                "ort-avx2 disable 0", "ort-avx512 disable 0", "ort-vnni disable 0", "ort-avx2 enable 45",
                "ort-avx512 enable 45", "ort-vnni enable 0",
            ])
        let qop = try XCTUnwrap(comps[1]["targets"] as? [[String: Any]])
        XCTAssertTrue(
            qop.allSatisfy { ($0["outputDiffering"] as? Int) == 0 }, "int8-activation QOP is exact on every target")
        // Deployed on an AVX2 host with optimizations on, the QDQ conversion is a discrepancy there.
        let d = try runQVerify([
            "verify", "Reference/mlp/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy", "--to", "qdq",
            "--target", "ort-avx2", "--ort-level", "enable", "--targets", "none",
        ])
        XCTAssertEqual(d.exitCode, 1, d.stdout + d.stderr)
        XCTAssertTrue(
            d.stdout.contains(
                "qdq: discrepancy, first divergence at 'fc1', output 45/80 elements differ (max 21 steps)"), d.stdout)
        let u = try runQVerify([
            "verify", "Reference/mlp/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy", "--to", "qdq",
            "--weight-type", "uint8", "--target", "ort-avx2", "--ort-level", "enable", "--targets", "none",
        ])
        XCTAssertEqual(u.exitCode, 0, u.stdout + u.stderr)
    }

    /// Top-1 (percent) of the outputs a real tool wrote, against Reference/digits/labels.npy.
    private func digitsTop1(_ file: String) throws -> Double {
        let labels = try Npy.load("Reference/digits/labels.npy").asInt64s()!
        let y = try Npy.load(file).asDoubles()!, n = labels.count, k = y.count / n
        let right = (0..<n).filter { i in
            let row = Array(y[(i * k)..<((i + 1) * k)])
            return Int64(row.firstIndex(of: row.max()!)!) == labels[i]
        }.count
        return 100 * Double(right) / Double(n)
    }

    /// Real data (scikit-learn digits, 360 held-out images): top-1 from --labels must be what
    /// Aidge's CPU backend's own outputs give, for the source and both conversions, and the float
    /// model's from onnxruntime's outputs; compare float vs Aidge lists the flipped samples.
    func testLabelAccuracyMatchesAidgeAndOnnxruntimeOutputs() throws {
        let top1Rate = digitsTop1
        let aidge = try top1Rate("Reference/digits/aidge_cpu_quantized.npy"),
            float = try top1Rate("Reference/digits/ort_float.npy")
        XCTAssertEqual(aidge, 96.39, accuracy: 0.005)
        let r = try runQVerify([
            "verify", "Reference/digits/aidge_quantized.onnx", "--inputs", "Reference/digits/calib_inputs.npy",
            "--labels", "Reference/digits/labels.npy", "--float", "Reference/digits/float.onnx", "--targets", "none",
        ])
        XCTAssertEqual(r.exitCode, 0, r.stdout + r.stderr)
        let a = String(format: "%.2f%%", aidge)
        XCTAssertTrue(
            r.stdout.contains(
                "qdq top-1: reference \(a), candidate \(a), agreement 100.00% over 360 samples; 0 prediction(s) flip"),
            r.stdout)
        XCTAssertTrue(
            r.stdout.contains(
                "qop top-1: reference \(a), candidate \(a), agreement 100.00% over 360 samples; 0 prediction(s) flip"),
            r.stdout)
        XCTAssertTrue(r.stdout.contains(String(format: "float top-1: %.2f%% over 360 samples", float)), r.stdout)
        let c = try runQVerify([
            "compare", "Reference/digits/float.onnx", "Reference/digits/aidge_quantized.onnx", "--inputs",
            "Reference/digits/calib_inputs.npy",
            "--labels", "Reference/digits/labels.npy", "--sample-indices", "341,258,0",
        ])
        XCTAssertTrue(c.stdout.contains("over 3 samples; 2 prediction(s) flip"), c.stdout)
        XCTAssertTrue(c.stdout.contains("sample 341: label 8, reference 9, candidate 8"), c.stdout)
        XCTAssertTrue(c.stdout.contains("sample 258: label 8, reference 8, candidate 7"), c.stdout)
        let bad = try runQVerify([
            "compare", "Reference/digits/float.onnx", "Reference/digits/aidge_quantized.onnx", "--inputs",
            "Reference/digits/calib_inputs.npy",
            "--sample-indices", "360",
        ])
        XCTAssertEqual(bad.exitCode, 2)
        XCTAssertTrue(bad.stderr.contains("--sample-indices names sample 360, the file has 360 (0…359)"), bad.stderr)
    }

    /// onnxruntime's own quantize_static models of the digits MLP (calibrated on the training
    /// split, evaluated on the 360 held-out images): the top-1 qverify reports for each is the one
    /// onnxruntime's outputs give, and the flips against the float model are the samples whose
    /// argmax differs in onnxruntime's outputs.
    func testLabelAccuracyOfOnnxruntimeQuantizedModelsMatchesOnnxruntime() throws {
        let float = try digitsTop1("Reference/digits/ort_float.npy")
        let labels = try Npy.load("Reference/digits/labels.npy").asInt64s()!
        let floatOut = try Npy.load("Reference/digits/ort_float.npy").asDoubles()!
        func argmaxes(_ y: [Double]) -> [Int] {
            stride(from: 0, to: y.count, by: 10).map { i in
                let row = Array(y[i..<(i + 10)])
                return row.firstIndex(of: row.max()!)!
            }
        }
        for (form, pinned) in [("qdq", 96.67), ("qop", 96.39)] {
            let golden = "Reference/digits/ort_static_\(form)_disable_all.npy"
            let ort = try digitsTop1(golden)
            XCTAssertEqual(ort, pinned, accuracy: 0.005, form)
            let floatTop = argmaxes(floatOut), ortTop = argmaxes(try Npy.load(golden).asDoubles()!)
            let flipped = (0..<360).filter { floatTop[$0] != ortTop[$0] }, flips = flipped.count
            let r = try runQVerify([
                "compare", "Reference/digits/float.onnx", "Reference/digits/ort_static_\(form).onnx", "--inputs",
                "Reference/digits/calib_inputs.npy", "--labels", "Reference/digits/labels.npy",
            ])
            let expected = String(
                format: "compare top-1: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over 360 samples; "
                    + "%d prediction(s) flip", float, ort, 100 * Double(360 - flips) / 360, flips)
            XCTAssertTrue(r.stdout.contains(expected), form + ": " + expected + "\n" + r.stdout)
            for i in flipped {
                let line = "sample \(i): label \(labels[i]), reference \(floatTop[i]), candidate \(ortTop[i])"
                XCTAssertTrue(r.stdout.contains(line), form + ": " + line + "\n" + r.stdout)
            }
        }
        XCTAssertEqual(try digitsTop1("Reference/digits/ort_static_qdq_enable_all.npy"), 96.67, accuracy: 0.005)
    }

    /// report.json names the worst element of each diverging point (sample, index, both values);
    /// --save-sample writes that sample's tensors, which hold exactly those values.
    func testWorstElementIsReproducibleFromTheSavedSample() throws {
        let dir = tmp.appendingPathComponent("worst").path
        _ = try runQVerify([
            "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy",
            "--report-dir", dir,
        ])
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")))
            as! [String: Any]
        let nodes = (json["comparisons"] as! [[String: Any]])[0]["nodes"] as! [[String: Any]]
        let first = try XCTUnwrap(nodes.first { $0["status"] as? String == "diverges" })
        let worst = try XCTUnwrap((first["worst"] as? [[String: Any]])?.first)
        let k = worst["sample"] as! Int, index = worst["index"] as! Int
        let saved = tmp.appendingPathComponent("saved").path
        let r = try runQVerify([
            "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx", "--inputs",
            "Reference/lenet/calib_inputs.npy",
            "--report-dir", saved, "--save-sample", String(k),
        ])
        XCTAssertEqual(r.exitCode, 1)
        let cand = try Npy.loadArchive(saved + "/sample_\(k)/candidate.npz")
        let tensor = try XCTUnwrap(
            cand.first { $0.name == ((first["candidate"] as! [String: Any])["tensor"] as! String) }?.tensor)
        let scale = (first["candidate"] as! [String: Any])["scale"] as! Double,
            zp = (first["candidate"] as! [String: Any])["zeroPoint"] as! Int
        XCTAssertEqual((tensor.asDoubles()![index] - Double(zp)) * scale, worst["candidate"] as! Double, accuracy: 1e-9)
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved + "/sample_\(k)/reference.npz"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved + "/sample_\(k)/inputs.npz"))
    }

    /// A real architecture quantized by real Aidge (ResNet-18-style: BatchNorm, identity and 1x1
    /// downsample skips, GlobalAveragePool): both exports convert and verify with 0 output
    /// differences. The downsample and main branches are aligned by structure (they used to pair
    /// conv#7 with the other branch's conv, "up to 167 steps"); the folded identity skips solve.
    func testResNetStyleExportsVerifyWithEqualOutputs() throws {
        for e in ["aidge_quantized", "aidge_quantized_folded"] {
            let r = try runQVerify([
                "verify", "Reference/resnet/\(e).onnx", "--inputs", "Reference/resnet/calib_inputs.npy", "--targets",
                "none",
                "--aidge-scaling-factors", "Reference/resnet/\(e).sf.json",
            ])
            XCTAssertEqual(r.exitCode, 0, e + r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("qop: equivalent, output 0/80 elements differ (max 0 steps)"), r.stdout)
            XCTAssertTrue(r.stdout.contains("output 0/80 elements differ (max 0 steps)\n  qop"), r.stdout)
            XCTAssertFalse(r.stdout.contains("divergence ["), r.stdout)
            // The only QDQ warning: one stem element whose x·sf is within an ulp of a rounding
            // boundary — the ONNX graph can only divide by float32(1/sf).
            XCTAssertTrue(r.stdout.contains("warning rounding-near-ties [stem_conv_Scaling]: 1 elements"), r.stdout)
        }
    }

    /// MobileNetV2-style, real Aidge: every departure of the folded export's conversions is a named
    /// rounding cause (near-ties at requantizations, a GAP mean exactly halfway, and ties of later
    /// quantizers found by the iterated put-back) with its consequences — which grow to two steps
    /// inside, so the verdict is a discrepancy that names them (tie-amplified); likewise the unfolded
    /// export's QDQ form (one near-tie, one step at the output, two and three inside).
    func testMobileNetStyleVerdicts() throws {
        // Aidge's exact sf without the real steps (the steps change the converted scales: below).
        let sfOnly = tmp.appendingPathComponent("mobilenet_folded_sf_only.json").path
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        var table =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "Reference/mobilenet/aidge_quantized_folded.sf.json")))
            as! [String: Any]
        XCTAssertNotNil(table.removeValue(forKey: "steps"))
        try JSONSerialization.data(withJSONObject: table).write(to: URL(fileURLWithPath: sfOnly))
        let f = try runQVerify([
            "verify", "Reference/mobilenet/aidge_quantized_folded.onnx", "--inputs",
            "Reference/mobilenet/calib_inputs.npy",
            "--targets", "none", "--aidge-scaling-factors", sfOnly,
        ])
        // Every difference is explained (no divergence), but some grow to two steps inside: tie-amplified.
        XCTAssertEqual(f.exitCode, 1, f.stdout + f.stderr)
        XCTAssertFalse(f.stdout.contains("error divergence"), f.stdout)
        XCTAssertTrue(
            f.stdout.contains(
                "error tie-amplified [ir4_expand_Scaling]: 34 elements differ by up to 2 steps at conv#10"), f.stdout)
        XCTAssertTrue(f.stdout.contains("warning rounding-ties [gap_quantize]: 3 elements"), f.stdout)
        // With the real steps too, the converted scales are Aidge's real ones, whose float32
        // products put 8 elements of ir2's requantization within an ulp of a boundary: still all
        // explained, with larger consequences (a fact of the deployed model, not of qverify).
        let s = try runQVerify([
            "verify", "Reference/mobilenet/aidge_quantized_folded.onnx", "--inputs",
            "Reference/mobilenet/calib_inputs.npy",
            "--targets", "none", "--aidge-scaling-factors", "Reference/mobilenet/aidge_quantized_folded.sf.json",
        ])
        XCTAssertEqual(s.exitCode, 1, s.stdout + s.stderr)
        XCTAssertFalse(s.stdout.contains("error divergence"), s.stdout)
        XCTAssertFalse(s.stdout.contains("scale-assumed"), s.stdout)
        XCTAssertTrue(s.stdout.contains("warning rounding-near-ties [ir2_project_Scaling]: 8 elements"), s.stdout)
        XCTAssertTrue(
            s.stdout.contains(
                "error tie-amplified [ir4_expand_Scaling]: 238 elements differ by up to 2 steps at conv#10"), s.stdout)
        let u = try runQVerify([
            "verify", "Reference/mobilenet/aidge_quantized.onnx", "--inputs", "Reference/mobilenet/calib_inputs.npy",
            "--targets", "none",
            "--aidge-scaling-factors", "Reference/mobilenet/aidge_quantized.sf.json", "--to", "qdq",
        ])
        XCTAssertEqual(u.exitCode, 1, u.stdout + u.stderr)
        // One near-tie at ir2's requantization and GAP means exactly halfway explain everything
        // (no divergence), but the consequences grow to two steps: tie-amplified.
        XCTAssertFalse(u.stdout.contains("error divergence"), u.stdout)
        XCTAssertTrue(u.stdout.contains("warning rounding-near-ties [ir2_project_Scaling]: 1 elements"), u.stdout)
        XCTAssertTrue(
            u.stdout.contains(
                "error tie-amplified [ir4_project_Scaling]: 16 elements differ by up to 2 steps at conv#12"), u.stdout)
        let tolerant = try runQVerify([
            "verify", "Reference/mobilenet/aidge_quantized.onnx", "--inputs", "Reference/mobilenet/calib_inputs.npy",
            "--targets", "none",
            "--aidge-scaling-factors", "Reference/mobilenet/aidge_quantized.sf.json", "--to", "qdq",
            "--tolerance-steps", "1",
        ])
        // The one-step departures grow to two steps inside the net (the output stays within one).
        XCTAssertEqual(tolerant.exitCode, 1, tolerant.stdout)
        XCTAssertTrue(tolerant.stdout.contains("first divergence at reference 'ir4_project_Scaling'"), tolerant.stdout)
        XCTAssertTrue(tolerant.stdout.contains("1/18432 elements beyond 1 step(s), up to 2 steps"), tolerant.stdout)
    }

    /// A run split with --shard K/N and folded by merge writes the report one run writes, byte
    /// for byte, whatever order the shards come in — here with rounding ties, so the merge also
    /// makes the put-back pass. Missing, repeated or foreign shards are refused with exit 2.
    func testShardedRunMergesToTheSingleRunsReportByteForByte() throws {
        // One sample per batch: 8 batches over 3 shards.
        let args = [
            "verify", "Reference/resnet/aidge_quantized.onnx", "--inputs", "Reference/resnet/calib_inputs.npy",
            "--targets", "none",
            "--aidge-scaling-factors", "Reference/resnet/aidge_quantized.sf.json", "--batch", "1",
        ]
        let single = tmp.appendingPathComponent("single").path, merged = tmp.appendingPathComponent("merged").path
        let one = try runQVerify(args + ["--report-dir", single])
        XCTAssertEqual(one.exitCode, 0, one.stderr)
        // The batch size changes no finding: all 8 samples in one batch report the same.
        let whole = try runQVerify(
            Array(args.dropLast(2)) + ["--report-dir", tmp.appendingPathComponent("whole").path])
        XCTAssertEqual(whole.stdout.replacingOccurrences(of: "/whole", with: "/single"), one.stdout)
        try FileManager.default.moveItem(atPath: single, toPath: merged + "_single")
        for k in [2, 3, 1] {
            let r = try runQVerify(
                args + ["--shard", "\(k)/3", "--report-dir", tmp.appendingPathComponent("s\(k)").path])
            XCTAssertEqual(r.exitCode, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("verify: shard \(k)/3: \(k == 3 ? 2 : 3) batch(es)"), r.stdout)
        }
        let m = try runQVerify([
            "merge", tmp.appendingPathComponent("s3").path, tmp.appendingPathComponent("s1").path,
            tmp.appendingPathComponent("s2").path,
            "--report-dir", single,
        ])
        XCTAssertEqual(m.exitCode, one.exitCode, m.stderr)
        XCTAssertEqual(m.stdout, one.stdout)
        XCTAssertTrue(one.stdout.contains("rounding-near-ties"), "the merge makes the put-back pass too: \(one.stdout)")
        for f in ["report.json", "report.md", "report.html", "junit.xml"] {
            XCTAssertEqual(
                try Data(contentsOf: URL(fileURLWithPath: single + "/" + f)),
                try Data(contentsOf: URL(fileURLWithPath: merged + "_single/" + f)), f)
        }
        let missing = try runQVerify([
            "merge", tmp.appendingPathComponent("s1").path, tmp.appendingPathComponent("s2").path,
        ])
        XCTAssertEqual(missing.exitCode, 2)
        XCTAssertTrue(missing.stderr.contains("shards [1, 2] of 3: each of 1…3 exactly once is needed"), missing.stderr)
        let other = try runQVerify(
            args + ["--tolerance-steps", "1", "--shard", "3/3", "--report-dir", tmp.appendingPathComponent("o3").path])
        XCTAssertEqual(other.exitCode, 0)
        let foreign = try runQVerify([
            "merge", tmp.appendingPathComponent("s1").path, tmp.appendingPathComponent("s2").path,
            tmp.appendingPathComponent("o3").path,
        ])
        XCTAssertEqual(foreign.exitCode, 2)
        XCTAssertTrue(foreign.stderr.contains("comes from another command line"), foreign.stderr)
    }

    /// A folded export keeps only integers: the real steps are qverify's assumption, said as a
    /// warning naming each tensor (verify, convert) and in the model's metadata — never silently.
    func testFoldedExportsSayWhichScalesAreAssumed() throws {
        let v = try runQVerify([
            "verify", "Reference/lenet/aidge_quantized_folded.onnx", "--inputs", "Reference/lenet/calib_inputs.npy",
            "--targets", "none",
        ])
        XCTAssertEqual(v.exitCode, 0)
        XCTAssertTrue(
            v.stdout.contains("verify Reference/lenet/aidge_quantized_folded.onnx: equivalent-with-warnings"), v.stdout)
        XCTAssertTrue(
            v.stdout.contains(
                "warning scale-assumed [input]: the file does not record the real step of 4 tensor(s); qverify assumed 'input' 0.00787402, 'conv1_w_ProducerScaling_CastOut_out0'"
            ), v.stdout)
        XCTAssertEqual(
            try runQVerify([
                "verify", "Reference/lenet/aidge_quantized_folded.onnx", "--inputs", "Reference/lenet/calib_inputs.npy",
                "--targets", "none", "--fail-on", "warning",
            ]).exitCode, 1)
        let out = tmp.appendingPathComponent("lenet_folded_qdq.onnx").path
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let c = try runQVerify(["convert", "Reference/lenet/aidge_quantized_folded.onnx", "--to", "qdq", "-o", out])
        XCTAssertEqual(c.exitCode, 0)
        XCTAssertTrue(
            c.stderr.contains("qverify: warning scale-assumed: the file does not record the real step of 4 tensor(s)"),
            c.stderr)
        let meta = try OnnxFile.load(out).metadata
        XCTAssertTrue(
            meta.contains {
                $0.key == "qverify.assumptions"
                    && $0.value.contains("weight 'conv1_w_ProducerScaling_CastOut_out0' step assumed")
            }, "\(meta)")
        // The unfolded export records its scales: nothing assumed.
        let u = try runQVerify([
            "verify", "Reference/lenet/aidge_quantized.onnx", "--inputs", "Reference/lenet/calib_inputs.npy",
            "--targets", "none",
        ])
        XCTAssertFalse(u.stdout.contains("scale-assumed"), u.stdout)
        // The same file as verify's --aidge-scaling-factors, with "steps": nothing assumed, and
        // convert writes Aidge's real output step (that of the unfolded export, 0.0254922).
        let sf = "Reference/cnn/aidge_quantized_folded.sf.json"
        let given = try runQVerify([
            "verify", "Reference/cnn/aidge_quantized_folded.onnx", "--inputs", "Reference/cnn/calib_inputs.npy",
            "--targets", "none",
            "--aidge-scaling-factors", sf, "--fail-on", "warning",
        ])
        XCTAssertFalse(given.stdout.contains("scale-assumed"), given.stdout)
        XCTAssertEqual(given.exitCode, 0, given.stdout)
        let cnnOut = tmp.appendingPathComponent("cnn_folded_qdq.onnx").path
        let cg = try runQVerify([
            "convert", "Reference/cnn/aidge_quantized_folded.onnx", "--to", "qdq", "-o", cnnOut,
            "--aidge-scaling-factors", sf,
        ])
        XCTAssertEqual(cg.exitCode, 0, cg.stderr)
        XCTAssertFalse(cg.stderr.contains("scale-assumed"), cg.stderr)
        let g = try OnnxFile.load(cnnOut).graph
        let last = g.nodes.first { $0.outputs == [g.outputs[0].name] }!
        XCTAssertEqual(Double(g.initializer(last.inputs[1])!.floats![0]), 0.0254922, accuracy: 2e-7)
        // A steps file naming a node the model lacks is bad input, named.
        let bad = tmp.appendingPathComponent("bad.sf.json").path
        try #"{"steps": {"inputs": [0.0078], "weights": {"conv9": 0.002}}}"#.write(
            toFile: bad, atomically: true, encoding: .utf8)
        let b = try runQVerify([
            "convert", "Reference/cnn/aidge_quantized_folded.onnx", "--to", "qdq", "-o", cnnOut,
            "--aidge-scaling-factors", bad,
        ])
        XCTAssertEqual(b.exitCode, 2)
        XCTAssertTrue(
            b.stderr.contains("the steps file names weights of 'conv9', which is not a node of this model"), b.stderr)
    }

    /// --random-inputs N --seed S: sample i depends only on (S, i): the same report twice, and the
    /// same sample whether reached whole or through --sample-indices; --inputs and --random-inputs
    /// exclude each other.
    func testRandomInputsAreReproducibleBySeedAndIndex() throws {
        let base = [
            "compare", "Reference/cnn/float.onnx", "Reference/cnn/ort_static_qdq.onnx", "--random-inputs", "4",
            "--seed", "7",
        ]
        let a = tmp.appendingPathComponent("ra").path, b = tmp.appendingPathComponent("rb").path
        _ = try runQVerify(base + ["--report-dir", a])
        _ = try runQVerify(base + ["--report-dir", b])
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: a + "/report.json")),
            try Data(contentsOf: URL(fileURLWithPath: b + "/report.json")))
        let json = try String(contentsOfFile: a + "/report.json", encoding: .utf8)
        XCTAssertTrue(json.contains("\"inputs\" : \"random:4:seed=7\""), json)
        let one = try runQVerify(
            base + [
                "--sample-indices", "3", "--save-sample", "3", "--report-dir", tmp.appendingPathComponent("r3").path,
            ])
        let whole = try runQVerify(
            base + ["--save-sample", "3", "--report-dir", tmp.appendingPathComponent("r4").path])
        XCTAssertEqual(one.exitCode, whole.exitCode)
        XCTAssertEqual(
            try Data(contentsOf: tmp.appendingPathComponent("r3/sample_3/inputs.npz")),
            try Data(contentsOf: tmp.appendingPathComponent("r4/sample_3/inputs.npz")))
        let both = try runQVerify(base + ["--inputs", "Reference/cnn/calib_inputs.npy"])
        XCTAssertEqual(both.exitCode, 2)
        XCTAssertTrue(both.stderr.contains("give either --inputs FILE or --random-inputs N"), both.stderr)
    }

    func testCompareOfAidgesZeroBiasExportExitsOneWithJUnitFailures() throws {
        let dir = tmp.appendingPathComponent("zb").path
        let r = try runQVerify([
            "compare", "Reference/lenet/aidge_quantized.onnx", "Reference/lenet/aidge_qdq.onnx",
            "--inputs", "Reference/lenet/calib_inputs.npy", "--report-dir", dir,
        ])
        XCTAssertEqual(r.exitCode, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("first divergence at 'conv1_Scaling'"), r.stdout)
        let junit = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("name=\"bias-zeroed @ conv1\"><failure"), junit)
    }

    func testTolerancesAndFailOnWarning() throws {
        // The unfolded export records every scale (a folded one adds a scale-assumed warning).
        let args = [
            "verify", "Reference/single_shift/aidge_quantized.onnx", "--inputs",
            "Reference/single_shift/calib_inputs.npy", "--to", "qdq", "--targets", "none",
        ]
        XCTAssertEqual(try runQVerify(args).exitCode, 0, "ties are warnings")
        XCTAssertEqual(try runQVerify(args + ["--fail-on", "warning"]).exitCode, 1)
        XCTAssertEqual(
            try runQVerify(args + ["--tolerance-steps", "1", "--fail-on", "warning"]).exitCode, 0,
            "within tolerance: no warning")
        let uint8 = [
            "verify", "Reference/uint8_act/aidge_quantized.onnx", "--inputs", "Reference/uint8_act/calib_inputs.npy",
            "--to", "qop",
        ]
        XCTAssertEqual(try runQVerify(uint8).exitCode, 1)
        XCTAssertEqual(try runQVerify(uint8 + ["--tolerance-steps", "255"]).exitCode, 0)
        let bad = try runQVerify(uint8 + ["--node-tolerance", "conv1_Scaling"])
        XCTAssertEqual(bad.exitCode, 2)
        XCTAssertTrue(bad.stderr.contains("--node-tolerance expects NAME=N"), bad.stderr)
    }

    func testCheckExitsOneOnErrorFindingsAndPrintsJson() throws {
        let r = try runQVerify(["check", "--json", "Reference/fake_quantize/aidge_quantized.onnx"])
        XCTAssertEqual(r.exitCode, 1)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let findings = json["findings"] as! [[String: Any]]
        XCTAssertEqual(findings.filter { $0["code"] as? String == "float-zero-point" }.count, 10)
        XCTAssertEqual(try runQVerify(["check", "Reference/lenet/aidge_qdq_biasfix.onnx"]).exitCode, 0)
        let zb = try runQVerify([
            "check", "Reference/lenet/aidge_qdq.onnx", "--reference", "Reference/lenet/aidge_quantized.onnx",
        ])
        XCTAssertEqual(zb.exitCode, 1)
        XCTAssertTrue(zb.stdout.contains("error bias-zeroed [conv1]"), zb.stdout)
    }

    func testVerifyRefusesAValidOnnxModelAndBadInputs() throws {
        let r = try runQVerify([
            "verify", "Reference/lenet/aidge_qdq.onnx", "--inputs", "Reference/lenet/calib_inputs.npy",
        ])
        XCTAssertEqual(r.exitCode, 2)
        XCTAssertTrue(
            r.stderr.contains("verify takes an Aidge-form model (this one is qdq); use qverify compare"), r.stderr)
        let b = try runQVerify([
            "verify", "Reference/lenet/aidge_quantized.onnx", "--inputs", "Reference/mlp/calib_inputs.npy",
        ])
        XCTAssertEqual(b.exitCode, 2)
        XCTAssertTrue(
            b.stderr.contains(
                "Reference/mlp/calib_inputs.npy: array for input 'InputRescaling_in0' has shape [8, 1, 16]; expected rank 4"
            ), b.stderr)
    }
}
