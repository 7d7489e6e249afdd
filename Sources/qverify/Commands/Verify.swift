import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO
import QVRecipe
import QVReport

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Convert an Aidge-form model to QDQ/QOP, run all of them on calibration inputs and report, node by node, where the conversions depart from the original.",
        discussion: "Exit 0: equivalent (within tolerance); 1: discrepancy; 2: bad input or usage.")

    @Argument(help: "The Aidge-form ONNX model (folded or unfolded export).")
    var model: String

    @Option(name: .customLong("to"), parsing: .singleValue, help: "Formats to convert to and verify: qdq, qop, or qdq,qop (default).")
    var formats: [String] = ["qdq,qop"]

    @OptionGroup var options: HarnessOptions

    @Option(help: "How 4-bit tensors are written (see convert).")
    var narrow: NarrowTypes = .clip

    func targetFormats() throws -> [TargetFormat] {
        let names = formats.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        return try names.map { n in
            guard let f = TargetFormat(rawValue: n) else { throw ValidationError("--to takes qdq and/or qop, got '\(n)'") }
            return f
        }
    }

    func validate() throws { _ = try targetFormats() }

    func run() throws {
        var report: Report?
        try runReportingErrors {
            let source = try OnnxFile.load(model)
            let view = try withContext(model) { try GraphView(source) }
            guard view.kind == .aidgeForm else {
                throw QVError.badInput("\(model): verify takes an Aidge-form model (this one is \(view.kind.rawValue)); use qverify compare")
            }
            let bytes = Array(FileManager.default.contents(atPath: model) ?? Data())
            let samples = try loadSamples(options.inputs, for: view)
            let tolerance = try options.tolerance()
            let factors = try options.evaluation.scalingFactors()
            var comparisons: [ComparisonReport] = []
            let base = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
            for f in try targetFormats() {
                let c = try withContext(model) { try Recipe.convert(source, sourceBytes: bytes, options: ConvertOptions(format: f, narrow: narrow)) }
                var candidatePath = "(in memory) \(base)_\(f.rawValue).onnx"
                if let dir = options.reportDir {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    candidatePath = (dir as NSString).appendingPathComponent("\(base)_\(f.rawValue).onnx")
                    try OnnxFile.save(c.model, to: candidatePath)
                }
                var h = Harness(reference: view, candidate: try GraphView(c.model), referencePath: model, candidatePath: candidatePath, tolerance: tolerance)
                h.referenceScalingFactors = factors
                comparisons.append(try withContext(model) { try h.run(name: f.rawValue, samples: samples, threads: options.evaluation.threadCount, progress: progressPrinter("verify \(f.rawValue)")) })
            }
            let r = Report(tool: "qverify \(QVerify.version)", command: "verify", model: model, inputs: options.inputs, tolerance: tolerance, findings: [], comparisons: comparisons)
            if let dir = options.reportDir { _ = try ReportWriter.write(r, to: dir) }
            summarize(r, reportDir: options.reportDir)
            report = r
        }
        if let r = report, options.exitCode(r) != 0 { throw ExitCode(options.exitCode(r)) }
    }
}
