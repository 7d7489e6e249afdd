import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO
import QVInterpreter
import QVReport

enum FailOn: String, ExpressibleByArgument, CaseIterable { case warning, error }

/// Options shared by verify and compare.
/// How graphs are evaluated, for run, verify and compare: threads and Aidge's exact scaling factors.
struct EvaluationOptions: ParsableArguments {
    @Option(help: "Batches run on this many threads at once (default: all cores); results and reports do not depend on it.")
    var threads: Int?

    @Option(help: "JSON of Aidge's scaling factors by quantizer name, used in the Aidge-form model's quantizers instead of 1/scale (see README).")
    var aidgeScalingFactors: String?

    /// --threads, else every core.
    var threadCount: Int { threads ?? defaultThreadCount }

    /// The --aidge-scaling-factors file's table (empty without the option).
    func scalingFactors() throws -> [String: [Float]] {
        try aidgeScalingFactors.map(ScalingFactorFile.load) ?? [:]
    }

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

struct HarnessOptions: ParsableArguments {
    @Option(help: "Calibration inputs: .npy, .npz keyed by input name, or an ONNX backend test folder (real values).")
    var inputs: String

    @Option(help: "Folder for report.json, report.md, report.html and junit.xml.")
    var reportDir: String?

    @Option(help: "Allowed difference in quantization steps, every node.")
    var toleranceSteps: Int = 0

    @Option(parsing: .singleValue, help: "Per-node tolerance NAME=N (node of either model); repeatable.")
    var nodeTolerance: [String] = []

    @Option(help: "Exit 1 on findings of at least this severity: error (default) or warning.")
    var failOn: FailOn = .error

    @OptionGroup var evaluation: EvaluationOptions

    func validate() throws {
        if toleranceSteps < 0 { throw ValidationError("--tolerance-steps must be 0 or more") }
        _ = try tolerance()
    }

    func tolerance() throws -> Tolerance {
        var per: [String: Int] = [:]
        for t in nodeTolerance {
            let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let n = Int(parts[1]), n >= 0 else {
                throw ValidationError("--node-tolerance expects NAME=N with N ≥ 0, got '\(t)'")
            }
            per[parts[0]] = n
        }
        return Tolerance(steps: toleranceSteps, perNode: per)
    }

    func exitCode(_ r: Report) -> Int32 {
        switch r.verdict {
        case .discrepancy: 1
        case .equivalentWithWarnings: failOn == .warning ? 1 : 0
        case .equivalent: 0
        }
    }
}

/// Loads real-valued samples for `model`; integer samples for a folded Aidge graph (Aidge's own
/// input convention) are turned back into real values with the input step.
func loadSamples(_ path: String, for view: GraphView) throws -> [[String: Tensor]] {
    let samples = try InputSet.load(path, inputs: view.model.graph.runtimeInputs)
    guard let plan = view.plan, !plan.quantizedInputs.isEmpty else { return samples }
    return samples.map { s in
        var out = s
        for (k, t) in s where t.dtype.isInteger {
            if let q = plan.quantizedInputs[k], let v = t.asDoubles() { out[k] = Tensor(v.map { Float($0 * q.step) }, shape: t.shape) }
        }
        return out
    }
}

func progressPrinter(_ label: String) -> ((Int, Int) -> Void)? {
    guard isatty(2) != 0 else { return nil }
    return { k, n in
        FileHandle.standardError.write(Data("\r\(label): sample \(k + 1)/\(n)\(k + 1 == n ? "\n" : "")".utf8))
    }
}

func summarize(_ r: Report, reportDir: String?) {
    print("\(r.command) \(r.model): \(r.verdict.rawValue)")
    for c in r.comparisons {
        var line = "  \(c.name): \(c.verdict.rawValue)"
        if let f = c.firstDivergence { line += ", first divergence at '\(f)'" }
        if let o = c.output { line += ", output \(o.differing)/\(o.count) elements differ (max \(o.maxSteps.map { String(format: "%.3g", $0) } ?? "?") steps)" }
        print(line)
    }
    for f in (r.findings + r.comparisons.flatMap(\.findings)) where f.severity != .info {
        print("  \(f.severity.rawValue) \(f.code)\(f.node.isEmpty ? "" : " [\(f.node)]"): \(f.message)")
    }
    if let d = reportDir { print("  report: \(d)/report.html (also report.json, report.md, junit.xml)") }
}
