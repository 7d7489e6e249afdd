import ArgumentParser
import Foundation
import QVGraph
import QVIO
import QVRecipe
import QVCompare

extension TargetFormat: ExpressibleByArgument {}
extension WeightStorage: ExpressibleByArgument {}
extension NarrowTypes: ExpressibleByArgument {}
extension WeightType: ExpressibleByArgument {}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert an Aidge-form model (folded or unfolded export) to QDQ or QOP ONNX.")

    @Argument(help: "The Aidge-form ONNX model.")
    var model: String

    @Option(name: .customLong("to"), help: "qdq or qop.")
    var format: TargetFormat

    @Option(name: .shortAndLong, help: "Where to write the converted model.")
    var output: String

    @Option(help: "ONNX opset of the output (13 or later; 4-bit models need 21).")
    var opset: Int64 = 21

    @Option(help: "Real step of the folded export's integer input (default 1/(2^(n-1)-1), Aidge's convention).")
    var inputScale: Double?

    @Option(
        help:
            "The --aidge-scaling-factors file of verify and compare: its \"steps\" give the folded export's real input and weight steps (scripts/aidge_scaling_factors.py --steps-from writes them from Aidge's unfolded export)."
    )
    var aidgeScalingFactors: String?

    @Option(help: "int8: fold weights to integer initializers; runtime: keep float weights behind QuantizeLinear.")
    var weights: WeightStorage = .int8

    @Option(
        help:
            "How 4-bit tensors are written: clip (int8 + integer Clip; robust in onnxruntime) or int4 (INT4 types, opset 21)."
    )
    var narrow: NarrowTypes = .clip

    @Option(
        help:
            "QDQ weights as int8 (default) or uint8 with zero point + 128: the same integers, exact in onnxruntime on every x86 host at every optimization level (see README: deployment targets)."
    )
    var weightType: WeightType = .int8

    func validate() throws {
        if weightType == .uint8, format == .qop {
            throw ValidationError(
                "--weight-type uint8 applies to --to qdq (the QOP form's int8 products are already exact on x86)")
        }
        if let s = inputScale, !(s > 0 && s.isFinite) {
            throw ValidationError("--input-scale must be a positive number")
        }
    }

    func run() throws {
        try runReportingErrors {
            try OutputPaths.file(output, option: "-o")
            let (source, bytes) = try OnnxFile.loadWithBytes(model)
            let options = ConvertOptions(
                format: format, opset: opset, inputScale: inputScale, weights: weights, narrow: narrow,
                weightType: weightType,
                knownSteps: try knownStepsFile(aidgeScalingFactors))
            let c = try withContext(model) { try Recipe.convert(source, sourceBytes: bytes, options: options) }
            try OnnxFile.save(c.model, to: output)
            let counts = Dictionary(grouping: c.firings, by: \.rule).mapValues(\.count)
            printErr(
                "qverify: \(model) (\(c.plan.form.rawValue) Aidge export) -> \(output) [\(format.rawValue), opset \(opset)]: "
                    + counts.keys.sorted().map { "\($0) ×\(counts[$0]!)" }.joined(separator: ", "))
            for n in c.plan.notes { printErr("qverify: note: \(n)") }
            for f in scaleAssumedFindings(c.plan, label: (model as NSString).lastPathComponent) {
                printErr("qverify: \(f.severity.rawValue) \(f.code): \(f.message)")
            }
        }
    }
}

/// scale-assumed: a folded export keeps only integers, so the real value of a step is qverify's
/// assumption; the converted model's integers are right, its real-valued outputs are off by the
/// ratio to Aidge's true steps. One warning naming each assumed tensor.
func scaleAssumedFindings(_ plan: QuantPlan?, label: String) -> [Finding] {
    guard let plan, !plan.assumedSteps.isEmpty else { return [] }
    let list = plan.assumedSteps.prefix(8).map { "'\($0.tensor)' \(String(format: "%.6g", $0.step))" }.joined(
        separator: ", ")
    return [
        Finding(
            .warning, "scale-assumed", node: plan.assumedSteps[0].tensor, model: label,
            "the file does not record the real step of \(plan.assumedSteps.count) tensor(s); qverify assumed \(list)\(plan.assumedSteps.count > 8 ? ", …" : ""). The converted model's integers are verified, but its dequantized outputs scale with these assumptions: give the real steps with --aidge-scaling-factors (a file with \"steps\", see scripts/aidge_scaling_factors.py --steps-from) or --input-scale, or convert Aidge's unfolded export, whose scales are in the file (the assumptions are in the model's qverify.assumptions metadata)"
        )
    ]
}
