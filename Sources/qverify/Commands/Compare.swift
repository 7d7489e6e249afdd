import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO
import QVRecipe
import QVReport

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare any two models (Aidge-form, QDQ, QOP, float) node by node on calibration inputs.",
        discussion:
            "The first model is the reference. Exit 0: equivalent (within tolerance); 1: discrepancy; 2: bad input or usage."
    )

    @Argument(help: "The reference model.")
    var reference: String

    @Argument(help: "The candidate model.")
    var candidate: String

    @OptionGroup var options: HarnessOptions

    @Flag(
        help:
            "Refuse a candidate that is not valid ONNX (by default it runs with the obvious meaning of what onnxruntime would refuse, and check names each deviation as an error finding)."
    )
    var strict = false

    func run() throws {
        var report: Report?
        try runReportingErrors {
            let steps = try options.evaluation.knownSteps()
            let folder = try options.reportFolder()
            let a = try withContext(reference) { try GraphView(try OnnxFile.load(reference), knownSteps: steps) }
            let evaluation = options.evaluation
            let b = try withContext(candidate) { () throws -> GraphView in
                let m = try OnnxFile.load(candidate)
                let v = try GraphView(m)
                return v.kind == .aidgeForm ? v : try GraphView(try evaluation.deployed(m))
            }
            let samples = try options.source(for: a)
            let tolerance = try options.tolerance()
            var h = Harness(
                reference: a, candidate: b, referencePath: reference, candidatePath: candidate, tolerance: tolerance)
            h.referenceScalingFactors = try options.evaluation.scalingFactors()
            h.lenientCandidate = !strict
            h.candidateTarget = try evaluation.deploymentTarget()
            h.labels = try options.labelList()
            h.batchLimit = options.batch
            if let (k, n) = try options.shardSpec() {
                let records = try withContext("\(reference) vs \(candidate)") {
                    try h.runShard(
                        k, of: n, samples: samples, threads: options.evaluation.threadCount,
                        progress: progressPrinter("compare shard \(k + 1)/\(n)"))
                }
                try options.writeShard(
                    ["compare": records], command: "compare", arguments: Array(Invocation.arguments.dropFirst()))
                return
            }
            let c = try withContext("\(reference) vs \(candidate)") {
                try options.comparison(h, name: "compare", samples: samples, progress: progressPrinter("compare"))
            }
            try options.saveSampleFiles(
                reference: a, candidate: b, name: "candidate", target: h.candidateTarget,
                scalingFactors: h.referenceScalingFactors,
                into: folder?.staging)
            let r = Report(
                tool: "qverify \(QVerify.version)", command: "compare", model: candidate, inputs: options.inputs,
                tolerance: tolerance, findings: [], comparisons: [c])
            try options.publish(r, folder: folder, candidates: ["compare": b.model], samples: samples)
            report = r
        }
        if let r = report, options.exitCode(r) != 0 { throw ExitCode(options.exitCode(r)) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Static checks only: what onnx.checker/onnxruntime will refuse and what Aidge's exporter or recipe is known to get wrong.",
        discussion: "Exit 0: no error finding; 1: at least one error finding; 2: bad input or usage.")

    @Argument(help: "The model to check.")
    var model: String

    @Option(
        help: "A reference model (e.g. the Aidge-form source) for checks that compare the two, such as zeroed biases.")
    var reference: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the four report files here.")
    var reportDir: String?

    func run() throws {
        var failed = false
        try runReportingErrors {
            let folder = try reportDir.map { try ReportFolder($0) }
            let m = try OnnxFile.load(model)
            let ref = try reference.map { r in try withContext(r) { try GraphView(try OnnxFile.load(r)) } }
            let label = (model as NSString).lastPathComponent
            var findings = try withContext(model) {
                try StaticChecks.run(m, label: label, reference: ref) + StaticChecks.aidgeUnconfirmed(m, label: label)
            }
            // Findings that mean onnxruntime cannot load the model: there is no deployment to screen.
            let unloadable = findings.filter {
                $0.severity == .error
                    && ["float-zero-point", "int32-zero-point", "integer-scale", "dtype-not-allowed"].contains($0.code)
            }
            let aidgeForm = try ModelSummary(m).kind == .aidgeForm
            if !aidgeForm, let first = unloadable.first {
                findings.append(
                    Finding(
                        .info, "isa-saturation-risk", node: first.node, model: label,
                        "not screened: onnxruntime cannot load this model (\(first.code) at '\(first.node)', \(unloadable.count) such finding\(unloadable.count == 1 ? "" : "s"))"
                    ))
            } else if !aidgeForm {
                findings += try withContext(model) { try DeploymentCheck.screen(m, label: label) }
            } else {
                // check predicts what convert would refuse: the same recipe, both formats.
                for f in TargetFormat.allCases {
                    do { _ = try Recipe.convert(m, options: ConvertOptions(format: f)) } catch let e as QVError {
                        findings.append(
                            Finding(
                                .error, "convert-refused", node: "", model: label,
                                "qverify convert --to \(f.rawValue) refuses this model: \(e.description)"))
                    }
                }
            }
            let r = Report(
                tool: "qverify \(QVerify.version)", command: "check", model: model, inputs: nil, tolerance: Tolerance(),
                findings: findings, comparisons: [])
            if let folder {
                _ = try ReportWriter.write(r, to: folder.staging)
                try folder.commit()
            }
            if json { print(try ReportWriter.json(r), terminator: "") } else { summarize(r, reportDir: folder?.path) }
            failed = findings.contains { $0.severity == .error }
        }
        if failed { throw ExitCode(1) }
    }
}
