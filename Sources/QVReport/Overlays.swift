import Foundation
import QVCompare
import QVGraph

/// The comparison laid over the viewers people already use: Netron (the candidate model with each
/// node's verdict in its doc_string and metadata) and Google's Model Explorer (its node-data
/// format: results keyed by output tensor name, coloured per status).
public enum Overlays {
    /// What one point says about the node that produces it.
    static func summary(_ n: NodeReport) -> String {
        let s = n.stats
        var parts = ["qverify: \(n.status.rawValue) at \(n.signature)"]
        if let s {
            parts.append(
                "\(s.differing)/\(s.count) elements differ, max \(fmt(s.maxSteps)) steps, mean \(fmt(s.meanSteps)) steps, max |Δ| \(fmt(s.maxAbs))"
            )
            if let q = s.sqnrDB { parts.append("SQNR \(fmt(q)) dB, cosine \(fmt(s.cosine, 6))") }
        }
        if let r = n.reference {
            parts.append(
                "reference '\(r.node.isEmpty ? r.tensor : r.node)' \(r.dtype ?? "float32") scale \(fmt(r.scale)) zp \(r.zeroPoint.map(String.init) ?? "–")"
            )
        }
        return parts.joined(separator: "; ")
    }

    /// The candidate model with each compared node's verdict in its doc_string and metadata
    /// (`qverify.status`, `qverify.max_steps`, …), every finding on its node too, and the
    /// verdict in the model's metadata: open it in Netron and click a node.
    public static func annotated(_ model: Model, comparison c: ComparisonReport) -> Model {
        var m = model
        var byNode: [String: NodeReport] = [:]
        for n in c.nodes { if let node = n.candidate?.node { byNode[node] = n } }
        let findings = Dictionary(grouping: c.findings.filter { !$0.node.isEmpty }, by: \.node)
        for i in m.graph.nodes.indices {
            let name = m.graph.nodes[i].name
            var lines: [String] = []
            var meta = m.graph.nodes[i].metadata.filter { !$0.key.hasPrefix("qverify.") }
            if let n = byNode[name] {
                lines.append(summary(n))
                meta.append(KeyValue("qverify.status", n.status.rawValue))
                meta.append(KeyValue("qverify.point", n.signature))
                if let s = n.stats {
                    meta.append(KeyValue("qverify.max_steps", fmt(s.maxSteps)))
                    meta.append(KeyValue("qverify.differing", "\(s.differing)/\(s.count)"))
                    if let q = s.sqnrDB { meta.append(KeyValue("qverify.sqnr_db", fmt(q))) }
                }
            }
            for f in findings[name] ?? [] {
                lines.append(
                    "qverify \(f.severity.rawValue) \(f.code): \(f.message)"
                        + (f.cause.map { " (consequence of \($0))" } ?? ""))
                meta.append(KeyValue("qverify.finding.\(f.code)", f.severity.rawValue))
            }
            guard !lines.isEmpty else { continue }
            let previous = m.graph.nodes[i].docString.map { $0.isEmpty ? "" : $0 + "\n" } ?? ""
            m.graph.nodes[i].docString = previous + lines.joined(separator: "\n")
            m.graph.nodes[i].metadata = meta
        }
        m.metadata =
            m.metadata.filter { !$0.key.hasPrefix("qverify.verdict") && !$0.key.hasPrefix("qverify.first_divergence") }
            + [KeyValue("qverify.verdict", c.verdict.rawValue)]
            + (c.firstDivergence.map { [KeyValue("qverify.first_divergence", $0)] } ?? [])
        return m
    }

    /// Model Explorer node data (GraphNodeData): each compared node's max error in steps, keyed
    /// by its output tensor name, coloured as report.html colours it (green equal, amber rounding
    /// ties, red darker with the steps); thresholds colour any value the result colours do not.
    public static func modelExplorerNodeData(_ model: Model, comparison c: ComparisonReport) throws -> String {
        var results: [String: Any] = [:]
        let outputs = Dictionary(
            model.graph.nodes.map { ($0.name, $0.outputs.first ?? "") }, uniquingKeysWith: { a, _ in a })
        for n in c.nodes {
            guard let cand = n.candidate, n.status != .unmatched else { continue }
            let key = outputs[cand.node].flatMap { $0.isEmpty ? nil : $0 } ?? cand.tensor
            let v = n.stats?.maxSteps ?? 0
            let color = HTML.statusColor(n)  // the report's colours, so both views agree
            // Steps are integers up to float noise (11.000000000000004): six significant digits.
            let value = v.isFinite ? Double(String(format: "%.6g", v))! : 1e30
            results[key] = ["value": value, "bgColor": color, "textColor": "#ffffff"]
        }
        let data: [String: Any] = [
            "results": results,
            "thresholds": [
                ["value": 0, "bgColor": "#2da44e"], ["value": 1, "bgColor": "#d4a72c"],
                ["value": 10, "bgColor": "#cf222e"], ["value": 1e30, "bgColor": "#82071e"],
            ],
        ]
        return String(
            decoding: try JSONSerialization.data(withJSONObject: data, options: [.prettyPrinted, .sortedKeys]),
            as: UTF8.self) + "\n"
    }
}
