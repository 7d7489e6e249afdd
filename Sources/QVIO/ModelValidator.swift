import QVGraph

/// Structural checks every loaded model must pass before qverify uses it: the graph is
/// connected and acyclic (see ``GraphIndex``), names are unique, node domains are imported.
public enum ModelValidator {
    public static func validate(_ model: Model) throws {
        guard !model.opsetImports.isEmpty || model.graph.nodes.isEmpty else {
            throw QVError.badInput("model imports no opset")
        }
        try validate(model.graph)
        let domains = Set(model.opsetImports.map { $0.domain == "ai.onnx" ? "" : $0.domain })
        for (i, n) in model.graph.nodes.enumerated() where !domains.contains(n.normalizedDomain) {
            throw QVError.badInput(
                "node \(n.label(index: i)) is in domain '\(n.domain)', which the model does not import")
        }
    }

    public static func validate(_ graph: Graph) throws {
        var seen = Set<String>()
        for i in graph.inputs where !seen.insert(i.name).inserted {
            throw QVError.badInput("graph input '\(i.name)' is declared twice")
        }
        _ = try GraphIndex(graph)
        for (i, n) in graph.nodes.enumerated() {
            for a in n.attributes {
                if case .graph(let g) = a.value {
                    try withContext("subgraph '\(a.name)' of node \(n.label(index: i))") {
                        try validateSubgraph(g, outer: graph)
                    }
                }
            }
        }
    }

    /// Subgraphs may read outer-scope names; only check they have no internal cycle or duplicate.
    static func validateSubgraph(_ g: Graph, outer: Graph) throws {
        var g2 = g
        let outerNames = Set(outer.inputs.map(\.name)).union(outer.initializerOrder).union(
            outer.nodes.flatMap(\.outputs))
        let declared = Set(g.inputs.map(\.name))
        g2.inputs += outerNames.subtracting(declared).sorted().map { ValueInfo(name: $0, type: .none) }
        _ = try GraphIndex(g2)
    }
}
