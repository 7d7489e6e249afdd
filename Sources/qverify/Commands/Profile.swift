import ArgumentParser
import Foundation
import QVGraph
import QVIO
import QVInterpreter
import QVKernels
import QVYardstick

/// Per-node time of one sample, and each Conv's GFLOPS next to a same-size sgemm timed in the same run.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract:
            "Per-op time of the interpreter on the first input sample, with conv GFLOPS against a same-size sgemm.",
        shouldDisplay: false)

    @Argument var model: String
    @Option var inputs: String
    @Option(name: .customLong("repeat")) var repetitions: Int = 10
    @Option var semantics: SemanticsChoice = .auto

    func run() throws {
        try runReportingErrors {
            BLAS.setThreads(1)
            let (m, interp) = try prepare(model, semantics, announce: false)
            let sample = try InputSet.stream(inputs, inputs: m.graph.runtimeInputs).sample(0)
            _ = try interp.run(sample)
            var times: [Double]? = Array(repeating: 0, count: m.graph.nodes.count)
            for _ in 0..<max(1, repetitions) { _ = try interp.run(sample, nodeSeconds: &times) }
            let per = times!.map { $0 / Double(max(1, repetitions)) }
            let total = per.reduce(0, +)
            let facts = try ShapeInference(
                m.graph,
                inputFacts: Dictionary(
                    uniqueKeysWithValues: sample.map {
                        ($0.key, TensorFact(dtype: $0.value.dtype, shape: $0.value.shape))
                    })
            ).facts
            print(
                "per-op time, \(model), one sample, mean of \(repetitions) runs: total \(String(format: "%.3f", total * 1e3)) ms"
            )
            print("samples \(interp.batchBlocker.map { "run one by one: \($0)" } ?? "run stacked in batches")")
            print("| node | op | ms | % | conv M×N×K | conv GFLOPS | same-size sgemm GFLOPS | conv / sgemm |")
            print("|---|---|---|---|---|---|---|---|")
            for i in try m.graph.topologicalOrder() {
                let n = m.graph.nodes[i]
                var extra = "| | | |"
                if ["Conv", "QLinearConv"].contains(n.opType), let x = facts[n.inputs[0]]?.shape,
                    let w = n.input(n.opType == "Conv" ? "W" : "w").flatMap({ facts[$0]?.shape }),
                    let y = facts[n.outputs[0]]?.shape, y.count == 4
                {
                    let g = n.int("group", default: 1)
                    let mm = w[0] / g, nn = y[2] * y[3], kk = w[1] * w[2] * w[3]
                    let flops = 2.0 * Double(mm * nn * kk * g * x[0])
                    let gf = flops / per[i] / 1e9
                    let sg = Self.sgemmGflops(m: mm, n: nn, k: kk, groups: g * x[0])
                    extra =
                        "| \(mm)×\(nn)×\(kk)\(g > 1 ? " ×\(g) groups" : "") | \(String(format: "%.1f", gf)) | \(String(format: "%.1f", sg)) | \(String(format: "%.0f%%", 100 * gf / sg)) |"
                }
                print(
                    "| \(n.name) | \(n.opType) | \(String(format: "%.4f", per[i] * 1e3)) | \(String(format: "%.1f", 100 * per[i] / total)) \(extra)"
                )
            }
        }
    }

    /// GFLOPS of `groups` sgemm calls of m×n×k (the conv's GEMM work), timed for ≥ 50 ms.
    static func sgemmGflops(m: Int, n: Int, k: Int, groups: Int) -> Double {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var reps = 0
        let t0 = Interpreter.now()
        repeat {
            a.withUnsafeBufferPointer { ab in
                b.withUnsafeBufferPointer { bb in
                    c.withUnsafeMutableBufferPointer { cb in
                        for _ in 0..<groups {
                            BLAS.sgemm(
                                m: m, n: n, k: k, a: ab.baseAddress!, lda: k, b: bb.baseAddress!, ldb: n,
                                c: cb.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            reps += 1
        } while Interpreter.now() - t0 < 0.05
        return 2.0 * Double(m * n * k * groups * reps) / (Interpreter.now() - t0) / 1e9
    }
}
