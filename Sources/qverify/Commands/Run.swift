import ArgumentParser
import Foundation
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import QVCompare
import QVRecipe

enum SemanticsChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, onnx, aidge
}

/// Loads a model and picks its semantics (`auto`: aidge for Aidge-form graphs, else onnx).
func prepare(
    _ path: String, _ choice: SemanticsChoice, announce: Bool = true, scalingFactors: String? = nil,
    evaluation: EvaluationOptions? = nil, lenient: Bool = false
) throws -> (Model, Interpreter) {
    var model = try OnnxFile.load(path)
    let semantics: Semantics
    switch choice {
    case .onnx: semantics = .onnx
    case .aidge: semantics = .aidge
    case .auto:
        let kind = try withContext(path) { try ModelSummary(model).kind }
        semantics = kind == .aidgeForm ? .aidge : .onnx
        if announce {
            printErr(
                "qverify: \(path): semantics \(semantics.rawValue) (\(kind == .aidgeForm ? "Aidge-form model" : "valid ONNX model"))"
            )
        }
    }
    let factors = try scalingFactors.map(ScalingFactorFile.load) ?? [:]
    var target = DeploymentTarget.onnx
    if let evaluation, semantics == .onnx {
        target = try evaluation.deploymentTarget()
        model = try withContext(path) {
            try evaluation.deployed(model, log: announce ? { printErr("qverify: onnxruntime optimizer: \($0)") } : nil)
        }
        if announce, target != .onnx {
            printErr(
                "qverify: \(path): target \(target.rawValue), onnxruntime optimizations \(evaluation.ortLevel.rawValue)"
            )
        }
    }
    let interp = try withContext(scalingFactors.map { "\(path) with \($0)" } ?? path) {
        try Interpreter(model: model, semantics: semantics, scalingFactors: factors, target: target, lenient: lenient)
    }
    return (model, interp)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model in qverify's reference interpreter and write its outputs as .npy files.")

    @Argument(help: "The ONNX model file (Aidge-form, QDQ, QOP or float).")
    var model: String

    @Option(
        help:
            "Inputs: .npy (single-input model; axis 0 counts samples when rank = input rank + 1), .npz keyed by input name, or an ONNX backend test folder."
    )
    var inputs: String

    @Option(help: "Folder for <output name>.npy files (samples stacked on axis 0).")
    var outputDir: String

    @Flag(help: "Also write intermediates.npz with every tensor of the graph.")
    var intermediates = false

    @Option(help: "auto (aidge for Aidge-form graphs, else onnx), onnx or aidge.")
    var semantics: SemanticsChoice = .auto

    @OptionGroup var evaluation: EvaluationOptions

    @Flag(
        help:
            "Run what onnxruntime would refuse but whose meaning is obvious (DequantizeLinear of a float tensor, float zero points); qverify check names each deviation."
    )
    var lenient = false

    @Option(
        help:
            "At most this many samples run together as one batch when the graph allows it, capped so a batch's inputs stay within 1 MB (1 = one by one)."
    )
    var batch: Int = 64

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            try OutputPaths.folder(outputDir, option: "--output-dir")
            let (model, interp) = try prepare(
                model, semantics, scalingFactors: evaluation.aidgeScalingFactors, evaluation: evaluation,
                lenient: lenient)
            let stream = try InputSet.stream(inputs, inputs: model.graph.runtimeInputs)
            // One input convention for every command: real values; a folded Aidge export gets
            // Aidge's integer input round_half_up(x / step), as verify feeds it (integer files too).
            let known = try evaluation.knownSteps()
            let steps =
                interp.semantics == .aidge
                ? ((try? QuantPlan(model: model, known: known))?.quantizedInputs ?? [:]) : [:]
            // Which inputs the file gives as Aidge's integers, decided once from its first sample
            // (Harness.integerInputs); the others are real values, quantized as verify feeds them.
            var integers = Set<String>()
            if !steps.isEmpty, stream.count > 0 {
                let inputs = model.graph.runtimeInputs
                let (names, notice) = Harness.integerInputs(
                    try stream.sample(0), inputs.map(\.name), inputs: inputs, quantized: steps)
                integers = names
                if let notice { FileHandle.standardError.write(Data("qverify: \(self.model): \(notice)\n".utf8)) }
            }
            let samples =
                steps.isEmpty
                ? stream
                : InputSet.Stream(count: stream.count) { [integers] i in
                    var s = try stream.sample(i)
                    for (k, t) in s {
                        guard let q = steps[k] else { continue }
                        s[k] =
                            integers.contains(k) && t.dtype == .float
                            ? Tensor(t.floats!.map { Int32($0) }, shape: t.shape, dtype: q.dtype)
                            : Harness.aidgeInput(t, q)
                    }
                    return s
                }
            var outs: [String: [Tensor]] = [:]
            var inter: [String: [Tensor]] = [:]
            let bytesPerSample =
                samples.count > 0
                ? try samples.sample(0).values.map { $0.count * max(1, $0.dtype.bitWidth / 8) }.reduce(0, +) : 1
            let effectiveBatch = Interpreter.samplesPerBatch(bytesPerSample: bytesPerSample, limit: batch)
            let keep = intermediates, path = self.model
            try inOrderParallel(
                count: samples.count, chunk: effectiveBatch, threads: evaluation.threadCount,
                prepare: { range in (range, try range.map { try samples.sample($0) }) },
                work: { range, chunk in
                    try withContext("\(path): samples \(range.lowerBound)..<\(range.upperBound)") {
                        try interp.run(batch: chunk, keepIntermediates: keep)
                    }
                },
                consume: { _, _, rs in
                    for r in rs {
                        for (k, v) in r.outputs { outs[k, default: []].append(v) }
                        for (k, v) in r.intermediates { inter[k, default: []].append(v) }
                    }
                })
            for o in model.graph.outputs {
                let file = (outputDir as NSString).appendingPathComponent(
                    o.name.replacingOccurrences(of: "/", with: "_") + ".npy")
                try Npy.save(try Tensor.stack(outs[o.name]!), to: file)
            }
            if intermediates {
                let items = try inter.keys.sorted().map { (name: $0, tensor: try Tensor.stack(inter[$0]!)) }
                try Npy.saveArchive(items, to: (outputDir as NSString).appendingPathComponent("intermediates.npz"))
            }
            printErr(
                "qverify: ran \(samples.count) sample\(samples.count == 1 ? "" : "s") with \(interp.semantics.rawValue) semantics; wrote \(model.graph.outputs.count) output\(model.graph.outputs.count == 1 ? "" : "s")\(intermediates ? " and intermediates.npz" : "") to \(outputDir)"
            )
        }
    }
}
