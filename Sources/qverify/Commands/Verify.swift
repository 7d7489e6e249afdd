import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVKernels
import QVIO
import QVRecipe
import QVReport

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Convert an Aidge-form model to QDQ/QOP, run all of them on calibration inputs and report, node by node, where the conversions depart from the original.",
        discussion: "Exit 0: equivalent (within tolerance); 1: discrepancy; 2: bad input or usage.")

    @Argument(help: "The Aidge-form ONNX model (folded or unfolded export).")
    var model: String

    @Option(
        name: .customLong("to"), parsing: .singleValue,
        help: "Formats to convert to and verify: qdq, qop, or qdq,qop (default).")
    var formats: [String] = ["qdq,qop"]

    @OptionGroup var options: HarnessOptions

    @Option(help: "How 4-bit tensors are written (see convert).")
    var narrow: NarrowTypes = .clip

    @Option(help: "QDQ weight type (see convert): int8 or uint8.")
    var weightType: WeightType = .int8

    @Option(
        help:
            "onnxruntime targets to report on, per conversion: a comma-separated list of ort-avx2, ort-avx512, ort-vnni, ort-host, or none."
    )
    var targets: String = "ort-avx2,ort-avx512,ort-vnni"

    @Option(help: "onnxruntime optimization levels to report on for those targets: disable, enable or disable,enable.")
    var ortLevels: String = "disable,enable"

    func deploymentTargets() throws -> [DeploymentTarget] {
        if targets == "none" { return [] }
        var out: [DeploymentTarget] = []
        for n in targets.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard let c = TargetChoice(rawValue: n), c != .onnx else {
                throw ValidationError("--targets takes ort-avx2, ort-avx512, ort-vnni, ort-host or none, got '\(n)'")
            }
            let t = try c.resolved()
            if !out.contains(t) { out.append(t) }
        }
        return out
    }

    func levels() throws -> [OrtLevel] {
        try ortLevels.split(separator: ",").map { n in
            guard let l = OrtLevel(rawValue: n.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--ort-levels takes disable and/or enable, got '\(n)'")
            }
            return l
        }
    }

    func targetFormats() throws -> [TargetFormat] {
        let names = formats.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        return try names.map { n in
            guard let f = TargetFormat(rawValue: n) else {
                throw ValidationError("--to takes qdq and/or qop, got '\(n)'")
            }
            return f
        }
    }

    func validate() throws {
        _ = try targetFormats()
        _ = try deploymentTargets()
        _ = try levels()
    }

    func run() throws {
        var report: Report?
        try runReportingErrors {
            let (source, bytes) = try OnnxFile.loadWithBytes(model)
            let steps = try options.evaluation.knownSteps()
            let view = try withContext(model) { try GraphView(source, knownSteps: steps) }
            guard view.kind == .aidgeForm else {
                throw QVError.badInput(
                    "\(model): verify takes an Aidge-form model (this one is \(view.kind.rawValue)); use qverify compare"
                )
            }
            let samples = try options.source(for: view)
            let labels = try options.labelList()
            let tolerance = try options.tolerance()
            let factors = try options.evaluation.scalingFactors()
            var comparisons: [ComparisonReport] = []
            let base = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
            let deployTargets = try deploymentTargets(), deployLevels = try levels()
            let evaluation = options.evaluation
            let candidateTarget = try evaluation.deploymentTarget()
            var shardRecords: [String: [Harness.BatchRecord]] = [:]
            var candidates: [String: Model] = [:]
            let shard = try options.shardSpec()
            let folder = try options.reportFolder()
            for f in try targetFormats() {
                let convertOptions = ConvertOptions(
                    format: f, narrow: narrow, weightType: f == .qdq ? weightType : .int8, knownSteps: steps)
                let c = try withContext(model) {
                    try Recipe.convert(source, sourceBytes: bytes, options: convertOptions)
                }
                var candidatePath = "(in memory) \(base)_\(f.rawValue).onnx"
                if let folder {
                    let file = "\(base)_\(f.rawValue).onnx"
                    candidatePath = (folder.path as NSString).appendingPathComponent(file)
                    try OnnxFile.save(c.model, to: (folder.staging as NSString).appendingPathComponent(file))
                }
                let deployed = try withContext(model) { try evaluation.deployed(c.model) }
                candidates[f.rawValue] = deployed
                var h = Harness(
                    reference: view, candidate: try GraphView(deployed), referencePath: model,
                    candidatePath: candidatePath, tolerance: tolerance)
                h.referenceScalingFactors = factors
                h.candidateTarget = candidateTarget
                h.labels = labels
                h.batchLimit = options.batch
                if let (k, n) = shard {
                    shardRecords[f.rawValue] = try withContext(model) {
                        try h.runShard(
                            k, of: n, samples: samples, threads: evaluation.threadCount,
                            progress: progressPrinter("verify \(f.rawValue) shard \(k + 1)/\(n)"))
                    }
                    continue
                }
                var comparison = try withContext(model) {
                    try options.comparison(
                        h, name: f.rawValue, samples: samples, progress: progressPrinter("verify \(f.rawValue)"))
                }
                if !deployTargets.isEmpty && !deployLevels.isEmpty {
                    var dc = DeploymentCheck(reference: view)
                    dc.referenceScalingFactors = factors
                    dc.tolerance = tolerance.steps
                    dc.batchLimit = options.batch
                    let measure = { (m: Model) in
                        try withContext(model) {
                            try dc.run(
                                candidate: m, targets: deployTargets, levels: deployLevels, samples: samples,
                                threads: evaluation.threadCount)
                        }
                    }
                    let rows = try measure(c.model)
                    var fixes: [(label: String, rows: [TargetResult])] = []
                    if rows.contains(where: { !$0.saturating.isEmpty }) {
                        // The forms that avoid u8×s8 products, converted and run the same way.
                        if f == .qdq && convertOptions.weightType == .int8 {
                            let u = try Recipe.convert(
                                source, sourceBytes: bytes,
                                options: ConvertOptions(format: .qdq, narrow: narrow, weightType: .uint8))
                            fixes.append(("qverify convert --to qdq --weight-type uint8", try measure(u.model)))
                        }
                        if f == .qdq {
                            let q = try Recipe.convert(
                                source, sourceBytes: bytes, options: ConvertOptions(format: .qop, narrow: narrow))
                            fixes.append(("qverify convert --to qop (int8 activations)", try measure(q.model)))
                        }
                    }
                    comparison.targets = rows
                    comparison.add(
                        DeploymentCheck.findings(
                            rows, fixes: fixes,
                            notes: [
                                "onnxruntime session option session.x64quantprecision=\"1\" gives the exact (ort-vnni) numbers with ORT_ENABLE_EXTENDED/ALL, changes nothing with ORT_DISABLE_ALL, and makes session creation fail for int8-activation QOP models (onnxruntime 1.32, recorded on the AVX2 host)",
                                "weights within ±64 (7-bit weights) cannot saturate, but change the model",
                            ]))
                }
                try options.saveSampleFiles(
                    reference: view, candidate: try GraphView(deployed), name: f.rawValue, target: candidateTarget,
                    scalingFactors: factors,
                    into: folder?.staging)
                comparisons.append(comparison)
            }
            if shard != nil {
                try options.writeShard(
                    shardRecords, command: "verify", arguments: Array(Invocation.arguments.dropFirst()))
                return
            }
            let r = Report(
                tool: "qverify \(QVerify.version)", command: "verify", model: model, inputs: options.inputs,
                tolerance: tolerance,
                findings: scaleAssumedFindings(view.plan, label: (model as NSString).lastPathComponent),
                comparisons: comparisons)
            try options.publish(r, folder: folder, candidates: candidates, samples: samples)
            report = r
        }
        if let r = report, options.exitCode(r) != 0 { throw ExitCode(options.exitCode(r)) }
    }
}
