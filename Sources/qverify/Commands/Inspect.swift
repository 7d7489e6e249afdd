import ArgumentParser
import Foundation
import QVGraph
import QVIO

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract:
            "Describe a model: producer, opsets, inputs/outputs, ops, initializers, and what kind of quantized model it is."
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Flag(help: "Print the description as JSON (schema documented in README).")
    var json = false

    func run() throws {
        try runReportingErrors {
            let m = try OnnxFile.load(model)
            let s = try withContext(model) { try ModelSummary(m) }
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(s), as: UTF8.self))
            } else {
                print(Self.text(s, path: model))
            }
        }
    }

    static func text(_ s: ModelSummary, path: String) -> String {
        func shape(_ d: [String]?) -> String { d.map { "[" + $0.joined(separator: ", ") + "]" } ?? "[?]" }
        var out = [
            "model: \(path)",
            "producer: \(s.producer.isEmpty ? "(none)" : s.producer)    IR version: \(s.irVersion.map(String.init) ?? "?")    opsets: "
                + s.opsets.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.version)" }.joined(separator: ", "),
            "kind: \(s.verdict)",
            "inputs:",
        ]
        let w = (s.inputs + s.outputs).map(\.name.count).max() ?? 0
        func pad(_ n: String) -> String { n + String(repeating: " ", count: max(0, w - n.count)) }
        out += s.inputs.map { "  \(pad($0.name))  \($0.dtype) \(shape($0.shape))" }
        out.append("outputs:")
        out += s.outputs.map { "  \(pad($0.name))  \($0.dtype) \(shape($0.shape))" }
        out.append("nodes: \(s.nodeCount)")
        out += s.opCounts.sorted { $0.key < $1.key }.map { "  \($0.key) ×\($0.value)" }
        out.append("initializers: \(s.initializers.count)")
        let iw = s.initializers.map(\.name.count).max() ?? 0
        out += s.initializers.map {
            "  \($0.name)\(String(repeating: " ", count: iw - $0.name.count))  \($0.dtype) \($0.shape)"
        }
        return out.joined(separator: "\n")
    }
}
