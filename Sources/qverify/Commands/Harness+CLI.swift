import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import QVQuant
import QVReport

enum FailOn: String, ExpressibleByArgument, CaseIterable { case warning, error }

/// Options shared by verify and compare.
/// How graphs are evaluated, for run, verify and compare: threads and Aidge's exact scaling factors.
struct EvaluationOptions: ParsableArguments {
    @Option(
        help: "Batches run on this many threads at once (default: all cores); results and reports do not depend on it.")
    var threads: Int?

    @Option(
        help:
            "JSON of Aidge's scaling factors by quantizer name, used in the Aidge-form model's quantizers instead of 1/scale, and optionally (\"steps\") the real input and weight steps a folded export does not carry (see README)."
    )
    var aidgeScalingFactors: String?

    @Option(
        help:
            "Whose numbers ONNX models get: onnx (the spec), ort-host (onnxruntime on this CPU, detected as MLAS does), ort-avx2, ort-avx512 or ort-vnni."
    )
    var target: TargetChoice = .onnx

    @Option(
        help:
            "onnxruntime's graph optimization level for an ort-* target: disable (ORT_DISABLE_ALL; BASIC too unless it quantizes a float-weight Conv/ConvTranspose/Gemm between DQ and Q) or enable (ORT_ENABLE_EXTENDED/ALL: weights of such nodes quantized, QDQ groups fused, int8 activations made uint8)."
    )
    var ortLevel: OrtLevel = .disable

    /// The target named by --target, with ort-host resolved to this CPU.
    func deploymentTarget() throws -> DeploymentTarget {
        try target.resolved()
    }

    /// A valid-ONNX model as the chosen target runs it: onnxruntime's optimized graph at --ort-level enable.
    func deployed(_ model: Model, log: ((String) -> Void)? = nil) throws -> Model {
        guard ortLevel == .enable else { return model }
        let r = try OrtGraphOptimizer.optimize(model)
        for line in r.log { log?(line) }
        return r.model
    }

    /// --threads, else every core.
    var threadCount: Int { threads ?? defaultThreadCount }

    /// The --aidge-scaling-factors file's table (empty without the option).
    func scalingFactors() throws -> [String: [Float]] {
        try aidgeScalingFactors.map(ScalingFactorFile.load) ?? [:]
    }

    /// The real steps in the --aidge-scaling-factors file (none without the option).
    func knownSteps() throws -> KnownSteps {
        try knownStepsFile(aidgeScalingFactors)
    }

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if ortLevel == .enable, target == .onnx {
            throw ValidationError(
                "--ort-level enable needs an onnxruntime --target (ort-host, ort-avx2, ort-avx512 or ort-vnni)")
        }
        if target == .ortHost { _ = try target.resolved() }
    }
}

enum TargetChoice: String, ExpressibleByArgument, CaseIterable {
    case onnx
    case ortHost = "ort-host"
    case ortAvx2 = "ort-avx2"
    case ortAvx512 = "ort-avx512"
    case ortVnni = "ort-vnni"

    func resolved() throws -> DeploymentTarget {
        switch self {
        case .onnx: return .onnx
        case .ortAvx2: return .ortAvx2
        case .ortAvx512: return .ortAvx512
        case .ortVnni: return .ortVnni
        case .ortHost:
            guard let h = DeploymentTarget.host else {
                throw ValidationError(
                    "--target ort-host: this CPU is not x86-64 with AVX2, for which onnxruntime's integer kernels are modelled; name a target"
                )
            }
            return h
        }
    }
}

extension OrtLevel: ExpressibleByArgument {}

struct HarnessOptions: ParsableArguments {
    @Option(
        name: .customLong("inputs"),
        help: "Calibration inputs: .npy, .npz keyed by input name, or an ONNX backend test folder (real values).")
    var inputsFile: String?

    @Option(
        help:
            "Instead of --inputs: N samples drawn uniformly from [0, 1) in the model's declared input shapes (for models without calibration data); see --seed."
    )
    var randomInputs: Int?

    @Option(
        help:
            "Seed of --random-inputs: sample i is the same for a given seed whatever --samples, --sample-indices or --shard select."
    )
    var seed: UInt64 = 0

    /// What report.json names as the inputs.
    var inputs: String { inputsFile ?? "random:\(randomInputs ?? 0):seed=\(seed)" }

    @Option(help: "Folder for report.json, report.md, report.html and junit.xml.")
    var reportDir: String?

    @Option(
        parsing: .unconditional,
        help: "Allowed difference in quantization steps, every node (≥ 0; fractions allowed, e.g. 0.5).")
    var toleranceSteps: Double = 0

    @Option(parsing: .singleValue, help: "Per-node tolerance NAME=N (node of either model); repeatable.")
    var nodeTolerance: [String] = []

    @Option(
        help:
            "Where a side is float (float vs quantized), where steps mean nothing: an element passes when |Δ| ≤ ATOL (Polygraphy's element-wise check, with --rtol)."
    )
    var atol: Double?

    @Option(help: "With a float side: an element passes when |Δ| ≤ RTOL·|reference| (or |Δ| ≤ --atol).")
    var rtol: Double?

    @Option(
        name: .customLong("min-sqnr"),
        help:
            "With a float side: every point's SQNR must be at least this many dB (the first point below is the error).")
    var minSQNR: Double?

    @Option(
        name: .customLong("min-cosine"),
        help: "With a float side: every point's cosine similarity must be at least this.")
    var minCosine: Double?

    @Option(help: "Exit 1 on findings of at least this severity: error (default) or warning.")
    var failOn: FailOn = .error

    @OptionGroup var evaluation: EvaluationOptions

    @Option(
        help:
            "Run only shard K of N (every N-th batch of samples, from the K-th) and write its statistics to --report-dir/shard-K-of-N.json; qverify merge folds all N into the report one run would write."
    )
    var shard: String?

    @Option(help: "Use only the first N samples of --inputs.")
    var samples: Int?

    @Option(
        help:
            "Write the candidate model with each node's verdict and numbers in its doc_string and metadata (for Netron) to this file; verify writes one per format, <name>_qdq.onnx and <name>_qop.onnx."
    )
    var annotate: String?

    @Flag(
        help:
            "Print the report's summary as JSON on stdout (verdict, exit code, each comparison's verdict, first divergence and output, every finding with its comparison and cause) instead of text."
    )
    var json = false

    @Option(
        help:
            "At most this many samples run together as one batch (inputs up to 1 MB per batch); memory grows with it, reports do not change. Shards of one run need the same value."
    )
    var batch: Int = 8

    @Option(
        help:
            "Write sample K of --inputs (its position in the file, e.g. the worst case named in report.json) with every tensor of both models to <report-dir>/sample_K/ (inputs.npz, reference.npz, <comparison>.npz)."
    )
    var saveSample: Int?

    @Option(
        help:
            "Class labels for --inputs (.npy of class indices, or one-hot rows): top-1 of every model, agreement and the samples whose prediction flips."
    )
    var labels: String?

    @Option(
        name: .customLong("float"),
        help: "The float model the quantized ones came from, to report its top-1 against --labels too.")
    var floatModel: String?

    /// The report folder, checked before any work: a shard writes its file into the folder (created
    /// if needed); a run replaces the folder as a unit at the end (nil without --report-dir).
    func reportFolder() throws -> ReportFolder? {
        guard let dir = reportDir else { return nil }
        if try shardSpec() != nil {
            try OutputPaths.folder(dir, option: "--report-dir")
            return nil
        }
        return try ReportFolder(dir)
    }

    /// Puts a finished report where it goes: the report folder and --annotate files, then stdout
    /// (the JSON summary, or the text summary and the float model's top-1 with --float).
    func publish(_ r: Report, folder: ReportFolder?, candidates: [String: Model], samples: SampleSource) throws {
        if let folder {
            _ = try ReportWriter.write(r, to: folder.staging, candidates: candidates)
            try folder.commit()
        }
        try writeAnnotated(r, candidates: candidates)
        if json {
            print(try ReportWriter.summaryJSON(r, exitCode: exitCode(r), reportDir: folder?.path), terminator: "")
            return
        }
        summarize(r, reportDir: folder?.path)
        if let fm = floatModel, let labels = try labelList() {
            let (ok, n) = try floatTop1(fm, samples: samples, labels: labels, threads: evaluation.threadCount)
            print(
                String(
                    format: "  float top-1: %.2f%% over %d samples (%@)", 100 * Double(ok) / Double(max(1, n)), n, fm))
        }
    }

    /// --annotate: the candidate of each comparison with its verdicts, for Netron.
    func writeAnnotated(_ r: Report, candidates: [String: Model]) throws {
        guard let out = annotate else { return }
        for c in r.comparisons {
            guard let m = candidates[c.name] else { continue }
            let path =
                r.comparisons.count == 1
                ? out
                : ((out as NSString).deletingPathExtension + "_\(c.name)."
                    + ((out as NSString).pathExtension.isEmpty ? "onnx" : (out as NSString).pathExtension))
            try OutputPaths.file(path, option: "--annotate")
            try OnnxFile.save(Overlays.annotated(m, comparison: c), to: path)
        }
    }

    /// --labels as class indices by sample position (one-hot rows become their argmax).
    func labelList() throws -> [Int]? {
        guard let path = labels else { return nil }
        return try withContext(path) {
            let t = try Npy.load(path)
            guard let v = t.asDoubles(), !v.isEmpty else { throw QVError.badInput("labels must be a numeric array") }
            switch t.rank {
            case 1:
                return try v.map { x in
                    guard x >= 0, x == x.rounded(.towardZero), x < 1e9 else {
                        throw QVError.badInput("label \(x) is not a class index")
                    }
                    return Int(x)
                }
            case 2:
                let n = t.shape[1]
                return (0..<t.shape[0]).map { top1(Array(v[($0 * n)..<(($0 + 1) * n)])) }
            default:
                throw QVError.badInput("labels must be 1-D class indices or 2-D one-hot rows, got shape \(t.shape)")
            }
        }
    }

    @Option(help: "Use only these samples of --inputs (comma-separated 0-based indices, in this order), e.g. 3,17,42.")
    var sampleIndices: String?

    func sampleIndexList() throws -> [Int]? {
        try sampleIndices.map { list in
            try list.split(separator: ",").map { part in
                guard let i = Int(part.trimmingCharacters(in: .whitespaces)), i >= 0 else {
                    throw ValidationError("--sample-indices takes comma-separated sample numbers ≥ 0, got '\(part)'")
                }
                return i
            }
        }
    }

    /// The --inputs samples for `view`, streamed, with --samples / --sample-indices applied.
    func source(for view: GraphView) throws -> SampleSource {
        var base: SampleSource
        if let n = randomInputs {
            base = try randomSamples(n, seed: seed, inputs: view.model.graph.runtimeInputs)
        } else {
            return try sampleSource(inputs, for: view, first: samples, indices: try sampleIndexList())
        }
        if let indices = try sampleIndexList() {
            if let bad = indices.first(where: { $0 >= base.count }) {
                throw QVError.badInput("--sample-indices names sample \(bad), --random-inputs makes \(base.count)")
            }
            base = base.subset(indices)
        }
        if let first = samples { base = base.subset(Array(0..<min(first, base.count))) }
        return base
    }

    /// --save-sample: runs the reference and a candidate on that one sample and writes every tensor.
    func saveSampleFiles(
        reference: GraphView, candidate: GraphView, name: String, target: DeploymentTarget,
        scalingFactors: [String: [Float]], into folder: String?
    ) throws {
        guard let k = saveSample else { return }
        guard let dir = folder else { throw QVError.badInput("--save-sample needs --report-dir") }
        let all =
            try randomInputs.map { try randomSamples($0, seed: seed, inputs: reference.model.graph.runtimeInputs) }
            ?? sampleSource(inputs, for: reference)
        guard k >= 0, k < all.count else {
            throw QVError.badInput("\(inputs): --save-sample \(k), the file has \(all.count) samples")
        }
        let sample = try all.sample(k)
        let out = (dir as NSString).appendingPathComponent("sample_\(k)")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let order = reference.model.graph.runtimeInputs.map(\.name)
        func dump(_ view: GraphView, _ file: String, target: DeploymentTarget, factors: [String: [Float]]) throws {
            let semantics = Harness.semantics(view)
            let interp = try Interpreter(
                model: view.model, semantics: semantics, scalingFactors: factors,
                target: semantics == .onnx ? target : .onnx)
            let feeds = Harness.feeds(sample, order, view)
            let r = try interp.run(feeds, keepIntermediates: true)
            var all = r.intermediates.merging(r.outputs) { a, _ in a }
            for (k, v) in feeds { all[k] = v }
            try Npy.saveArchive(
                all.keys.sorted().map { (name: $0, tensor: all[$0]!) },
                to: (out as NSString).appendingPathComponent(file))
        }
        try Npy.saveArchive(
            sample.keys.sorted().map { (name: $0, tensor: sample[$0]!) },
            to: (out as NSString).appendingPathComponent("inputs.npz"))
        if !FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("reference.npz")) {
            try dump(reference, "reference.npz", target: .onnx, factors: scalingFactors)
        }
        try dump(candidate, "\(name).npz", target: target, factors: [:])
    }

    func validate() throws {
        if (inputsFile == nil) == (randomInputs == nil) {
            throw ValidationError("give either --inputs FILE or --random-inputs N")
        }
        if let n = randomInputs, n < 1 { throw ValidationError("--random-inputs must be at least 1") }
        if let n = samples, n < 1 { throw ValidationError("--samples must be at least 1") }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if let k = saveSample, k < 0 { throw ValidationError("--save-sample must be a sample number ≥ 0") }
        if saveSample != nil, reportDir == nil { throw ValidationError("--save-sample needs --report-dir") }
        if try shardSpec() != nil, reportDir == nil {
            throw ValidationError("--shard needs --report-dir (where the shard's statistics go)")
        }
        _ = try sampleIndexList()
        for (name, v) in [("--atol", atol), ("--rtol", rtol)] {
            if let v, !(v >= 0 && v.isFinite) { throw ValidationError("\(name) must be a number ≥ 0, got \(v)") }
        }
        if let c = minCosine, !(c >= -1 && c <= 1) {
            throw ValidationError("--min-cosine must be between -1 and 1, got \(c)")
        }
        if !(toleranceSteps >= 0 && toleranceSteps.isFinite) {
            throw ValidationError("--tolerance-steps must be a number ≥ 0, got \(Tolerance.describe(toleranceSteps))")
        }
        _ = try tolerance()
    }

    func tolerance() throws -> Tolerance {
        var per: [String: Double] = [:]
        for t in nodeTolerance {
            let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let n = Double(parts[1]), n >= 0, n.isFinite else {
                throw ValidationError("--node-tolerance expects NAME=N with N ≥ 0, got '\(t)'")
            }
            per[parts[0]] = n
        }
        return Tolerance(
            steps: toleranceSteps, perNode: per, atol: atol, rtol: rtol, minSQNR: minSQNR, minCosine: minCosine)
    }

    func exitCode(_ r: Report) -> Int32 {
        switch r.verdict {
        case .discrepancy: 1
        case .equivalentWithWarnings: failOn == .warning ? 1 : 0
        case .equivalent: 0
        }
    }
}

/// Streams real-valued samples for `view` (one file read per sample where the format allows);
/// integer samples for a folded Aidge graph (Aidge's own input convention) are turned back into
/// real values with the input step. `first`/`indices` select samples (--samples, --sample-indices).
func sampleSource(_ path: String, for view: GraphView, first: Int? = nil, indices: [Int]? = nil) throws -> SampleSource
{
    let stream = try InputSet.stream(path, inputs: view.model.graph.runtimeInputs)
    let box = UncheckedBox(stream)
    let steps = view.plan?.quantizedInputs.mapValues(\.step) ?? [:]
    // Inputs the file gives as Aidge's integers become real values here (every model is fed
    // real values); which ones, decided once from the first sample (Harness.integerInputs).
    var integers = Set<String>()
    if !steps.isEmpty, stream.count > 0 {
        let inputs = view.model.graph.runtimeInputs
        let (names, notice) = Harness.integerInputs(
            try stream.sample(0), inputs.map(\.name), inputs: inputs, quantized: view.plan?.quantizedInputs ?? [:])
        integers = names
        if let notice { FileHandle.standardError.write(Data("qverify: \(path): \(notice)\n".utf8)) }
    }
    var source = SampleSource(count: stream.count) { [integers] i in
        var s = try box.value.sample(i)
        for (k, t) in s where integers.contains(k) {
            if let step = steps[k], let v = t.asDoubles() { s[k] = Tensor(v.map { Float($0 * step) }, shape: t.shape) }
        }
        return s
    }
    if let indices {
        if let bad = indices.first(where: { $0 < 0 || $0 >= stream.count }) {
            throw QVError.badInput(
                "\(path): --sample-indices names sample \(bad), the file has \(stream.count) (0…\(stream.count - 1))")
        }
        source = source.subset(indices)
    }
    if let first { source = source.subset(Array(0..<min(first, source.count))) }
    return source
}

/// `count` samples of uniform [0, 1) floats in the declared input shapes; sample i depends only on
/// (seed, i) (SplitMix64), so any subset or shard draws the same values.
func randomSamples(_ count: Int, seed: UInt64, inputs: [ValueInfo]) throws -> SampleSource {
    var shapes: [(String, [Int])] = []
    for i in inputs {
        guard let s = i.concreteShape, i.dtype == .float else {
            throw QVError.badInput(
                "--random-inputs needs float inputs with fixed shapes; input '\(i.name)' is \(i.dtype.map { "\($0)" } ?? "untyped") \(i.shape.map { "\($0)" } ?? "of unknown shape")"
            )
        }
        shapes.append((i.name, s))
    }
    let fixed = shapes
    return SampleSource(count: count) { k in
        var state = seed &+ UInt64(k) &* 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float(((z ^ (z >> 31)) >> 40)) / Float(1 << 24)
        }
        var sample: [String: Tensor] = [:]
        for (name, shape) in fixed { sample[name] = Tensor((0..<shape.reduce(1, *)).map { _ in next() }, shape: shape) }
        return sample
    }
}

/// Lets a reader that is used from one thread at a time (``inOrderParallel``'s prepare) cross into a @Sendable closure.
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

/// Progress on stderr when it is a terminal: samples done, rate and time left.
func progressPrinter(_ label: String) -> ((Int, Int) -> Void)? {
    guard isatty(2) != 0 else { return nil }
    let start = Interpreter.now()
    return { k, n in
        let done = k + 1, elapsed = max(1e-9, Interpreter.now() - start)
        let rate = Double(done) / elapsed, left = Double(n - done) / max(rate, 1e-9)
        let eta =
            left >= 60 ? String(format: "%dm%02ds", Int(left) / 60, Int(left) % 60) : String(format: "%.0fs", left)
        FileHandle.standardError.write(
            Data(
                "\r\(label): \(done)/\(n) samples, \(String(format: "%.1f", rate))/s, \(done == n ? "done    \n" : "\(eta) left   ")"
                    .utf8))
    }
}

func summarize(_ r: Report, reportDir: String?) {
    print("\(r.command) \(r.model): \(r.command == "check" ? headline(r) : r.verdict.rawValue)")
    for c in r.comparisons {
        var line = "  \(c.name): \(c.verdict.rawValue)"
        if let f = c.firstDivergence { line += ", first divergence at '\(f)'" }
        if let o = c.output {
            line +=
                ", output \(o.differing)/\(o.count) elements differ (max \(o.maxSteps.map { String(format: "%.3g", $0) } ?? "?") steps)"
        }
        print(line)
    }
    func line(_ f: Finding, _ comparison: String?) -> String {
        "\(comparison.map { "[\($0)] " } ?? "")\(f.severity.rawValue) \(f.code)\(f.node.isEmpty ? "" : " [\(f.node)]"): \(f.message)"
    }
    for f in r.findings where f.severity != .info { print("  " + line(f, nil)) }
    // Per comparison (qdq, qop, …), each consequence under the cause it comes from.
    for c in r.comparisons {
        let name = r.comparisons.count > 1 || r.command != "compare" ? c.name : nil
        for (f, under) in c.findings.byCause() {
            let shown = under.filter { $0.severity != .info }
            guard f.severity != .info else {
                // An info finding is not printed; what follows from it stands on its own.
                for g in shown { print("  " + line(g, name)) }
                continue
            }
            print("  " + line(f, name))
            for g in shown { print("    ↳ " + line(g, nil)) }
        }
    }
    for c in r.comparisons {
        guard let a = c.accuracy else { continue }
        print(
            String(
                format:
                    "  %@ top-1: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over %d samples; %d prediction(s) flip",
                c.name, 100 * a.referenceTop1, 100 * a.candidateTop1, 100 * a.agreement, a.samples, a.flipCount))
        for f in a.flips.prefix(20) {
            print("    sample \(f.sample): label \(f.label), reference \(f.reference), candidate \(f.candidate)")
        }
        if a.flipCount > 20 { print("    … \(a.flipCount - 20) more in report.json") }
    }
    if let d = reportDir { print("  report: \(d)/report.html (also report.json, report.md, junit.xml)") }
}

/// Top-1 of a (float) model against labels, streamed.
func floatTop1(
    _ path: String, samples: SampleSource, labels: [Int], threads: Int
) throws -> (correct: Int, samples: Int) {
    let model = try OnnxFile.load(path)
    let interp = try withContext(path) { try Interpreter(model: model, semantics: .onnx) }
    let out = model.graph.outputs[0].name
    let order = model.graph.runtimeInputs.map(\.name)
    var correct = 0, n = 0
    try inOrderParallel(
        count: samples.count, chunk: 16, threads: threads,
        prepare: { r in
            try r.map { i -> [String: Tensor] in
                let s = try samples.sample(i)
                // Inputs by position (the float model's input may be named differently).
                return Dictionary(uniqueKeysWithValues: zip(order, s.keys.sorted().map { s[$0]! }))
            }
        }, work: { try interp.run(batch: $0) },
        consume: { r, _, results in
            for (j, res) in results.enumerated() {
                let k = samples.position(r.lowerBound + j)
                guard k < labels.count else {
                    throw QVError.badInput("--labels has \(labels.count) labels; there is no label for sample \(k)")
                }
                if top1(res.outputs[out]?.asDoubles() ?? []) == labels[k] { correct += 1 }
                n += 1
            }
        })
    return (correct, n)
}

/// The `steps` of an --aidge-scaling-factors file as the plan takes them (none without a file).
func knownStepsFile(_ path: String?) throws -> KnownSteps {
    guard let path else { return KnownSteps() }
    let s = try ScalingFactorFile.loadSteps(path)
    return KnownSteps(inputs: s.inputs, weights: s.weights)
}
