import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO
import QVInterpreter
import QVQuant

struct Reduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reduce",
        abstract:
            "Cut two models down to the smallest pair of subgraphs around their first divergence that still diverges, with a one-command repro.",
        discussion: """
            Writes to -o DIR: reference.onnx and candidate.onnx (the slices), inputs.npz (the \
            reference's real values at the cut, one row per sample), reference.sf.json (the \
            reference slice's real input steps and Aidge scaling factors) and repro.sh, which runs \
            qverify compare on them; ready to attach to a bug report. Exit 0 when it wrote a \
            repro or found nothing to reduce (the models do not diverge: it says so and writes \
            nothing), 2 on bad input.
            """)

    @Argument(help: "The reference model.")
    var reference: String

    @Argument(help: "The candidate model.")
    var candidate: String

    @Option(name: .shortAndLong, help: "Folder for the reduced models, inputs and repro.sh.")
    var output: String

    @OptionGroup var options: HarnessOptions

    func run() throws {
        try runReportingErrors {
            try OutputPaths.folder(output, option: "-o")
            let steps = try options.evaluation.knownSteps()
            let a = try withContext(reference) { try GraphView(try OnnxFile.load(reference), knownSteps: steps) }
            let b = try withContext(candidate) { try GraphView(try OnnxFile.load(candidate)) }
            let samples = try options.source(for: a)
            let factors = try options.evaluation.scalingFactors()
            var h = Harness(
                reference: a, candidate: b, referencePath: reference, candidatePath: candidate,
                tolerance: try options.tolerance())
            h.referenceScalingFactors = factors
            h.candidateTarget = try options.evaluation.deploymentTarget()
            let full = try withContext("\(reference) vs \(candidate)") {
                try h.run(name: "compare", samples: samples, threads: options.evaluation.threadCount)
            }
            guard let d = full.nodes.first(where: { $0.status == .diverges }), let ra = d.reference,
                let rb = d.candidate,
                let pa = a.points.first(where: { $0.tensor == ra.tensor }),
                let pb = b.points.first(where: { $0.tensor == rb.tensor })
            else {
                print(
                    "reduce: \(reference) and \(candidate) do not diverge (\(full.verdict.rawValue)); nothing to reduce"
                )
                return
            }
            print(
                "reduce: first divergence at \(d.signature) (reference '\(ra.node)' ↔ candidate '\(rb.node)'): \(d.differingBeyondTolerance) elements, up to \(d.stats?.maxSteps.map { Tolerance.describe($0) } ?? "?") steps"
            )
            let ia = try Interpreter(model: a.model, semantics: Harness.semantics(a), scalingFactors: factors)
            let order = a.model.graph.runtimeInputs.map(\.name)
            // Cut one point back; if the slices no longer diverge, one more.
            for depth in 1...4 {
                let cut = try Reducer.cut(before: (pa, pb), reference: a, candidate: b, depth: depth)
                let (sa, sb) = try Reducer.slices(reference: a, candidate: b, target: (pa, pb), cut: cut)
                // The reference's real values at the cut, every sample.
                var rows: [[String: Tensor]] = []
                for i in 0..<samples.count {
                    let r = try ia.run(
                        batch: [Harness.feeds(try samples.sample(i), order, a)], keepIntermediates: true,
                        only: Set(cut.map(\.reference.tensor)))[0]
                    var row: [String: Tensor] = [:]
                    for (k, c) in cut.enumerated() {
                        guard let t = r.intermediates[c.reference.tensor] ?? r.outputs[c.reference.tensor] else {
                            throw QVError.internalError("the reference run did not keep '\(c.reference.tensor)'")
                        }
                        row[sa.inputs[k]] = Tensor(Harness.real(t, c.reference.quant).map { Float($0) }, shape: t.shape)
                    }
                    rows.append(row)
                }
                let va = try GraphView(sa.model, knownSteps: KnownSteps(inputs: sa.inputSteps ?? [], weights: [:]))
                let vb = try GraphView(sb.model)
                let sliceFactors = factors.filter { name, _ in sa.model.graph.nodes.contains { $0.name == name } }
                var hs = Harness(
                    reference: va, candidate: vb, referencePath: "reference.onnx", candidatePath: "candidate.onnx",
                    tolerance: try options.tolerance())
                hs.referenceScalingFactors = sliceFactors
                hs.candidateTarget = h.candidateTarget
                let small = try hs.run(
                    name: "compare", samples: SampleSource(rows), threads: options.evaluation.threadCount)
                guard small.verdict == .discrepancy, small.nodes.contains(where: { $0.status == .diverges }) else {
                    print(
                        "reduce: cut at \(cut.map(\.signature).joined(separator: ", ")): the slices agree; cutting one point further back"
                    )
                    continue
                }
                try write(sa, sb, rows: rows, steps: sa.inputSteps, factors: sliceFactors)
                let o = small.output
                print(
                    "reduce: cut at \(cut.map(\.signature).joined(separator: ", ")): \(sa.computeNodes) compute node(s) in the reference slice, \(sb.computeNodes) in the candidate's, \(rows.count) samples; still diverges: output \(o.map { "\($0.differing)/\($0.count)" } ?? "?") elements differ (max \(o?.maxSteps.map { Tolerance.describe($0) } ?? "?") steps)"
                )
                print(
                    "reduce: wrote \(output)/reference.onnx, candidate.onnx, inputs.npz, reference.sf.json, repro.sh; reproduce with: sh \(output)/repro.sh"
                )
                return
            }
            throw QVError.unsupported(
                "no slice up to 4 points back diverges on its own: the divergence needs more of the model than qverify cuts"
            )
        }
    }

    func write(
        _ a: Reducer.Side, _ b: Reducer.Side, rows: [[String: Tensor]], steps: [Double]?, factors: [String: [Float]]
    ) throws {
        let dir = output
        func path(_ f: String) -> String { (dir as NSString).appendingPathComponent(f) }
        try OnnxFile.save(a.model, to: path("reference.onnx"))
        try OnnxFile.save(b.model, to: path("candidate.onnx"))
        let stacked = try a.inputs.map { name in (name: name, tensor: try Tensor.stack(rows.map { $0[name]! })) }
        try Npy.saveArchive(stacked, to: path("inputs.npz"))
        var sf: [String: Any] = factors.mapValues { $0.map(Double.init) }
        if let steps { sf["steps"] = ["inputs": steps, "weights": [String: Double]()] }
        let json = try JSONSerialization.data(withJSONObject: sf, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: path("reference.sf.json")))
        let script = """
            #!/bin/sh
            # The smallest slices of \((reference as NSString).lastPathComponent) (reference) and \((candidate as NSString).lastPathComponent) (candidate)
            # around their first divergence, fed the reference's real values at the cut (written by qverify reduce).
            cd "$(dirname "$0")" && exec qverify compare reference.onnx candidate.onnx --inputs inputs.npz --aidge-scaling-factors reference.sf.json "$@"

            """
        try script.write(toFile: path("repro.sh"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path("repro.sh"))
    }
}
