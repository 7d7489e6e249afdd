/// Producer/consumer lookup and ordering over a graph's tensor names.
public struct GraphIndex: Sendable {
    /// Tensor name → index of the node that produces it.
    public let producer: [String: Int]
    /// Tensor name → indices of the nodes that read it (in node order, one entry per use).
    public let consumers: [String: [Int]]
    /// Node indices in an order where every node comes after the producers of its inputs.
    public let topologicalOrder: [Int]

    /// Builds the index and checks the graph is well formed: every node input is produced by a
    /// node, a graph input or an initializer; no tensor has two producers; there is no cycle;
    /// every graph output is defined. Errors name the node.
    public init(_ graph: Graph) throws {
        var producer: [String: Int] = [:]
        let external = Set(graph.inputs.map(\.name)).union(graph.initializerOrder)
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if let j = producer[o] {
                    throw QVError.badInput(
                        "tensor '\(o)' is produced twice, by \(graph.nodes[j].label(index: j)) and \(n.label(index: i))"
                    )
                }
                producer[o] = i
            }
        }
        var consumers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for inp in n.inputs where !inp.isEmpty {
                if producer[inp] == nil && !external.contains(inp) {
                    throw QVError.badInput(
                        "node \(n.label(index: i)) reads '\(inp)', which no node, graph input or initializer produces")
                }
                consumers[inp, default: []].append(i)
            }
        }
        for o in graph.outputs where producer[o.name] == nil && !external.contains(o.name) {
            throw QVError.badInput("graph output '\(o.name)' is not produced by any node")
        }
        // Kahn's algorithm, stable in file order.
        var indegree = graph.nodes.map { n in Set(n.inputs.filter { producer[$0] != nil }).count }
        var dependents = Array(repeating: [Int](), count: graph.nodes.count)
        for (i, n) in graph.nodes.enumerated() {
            for p in Set(n.inputs.compactMap({ producer[$0] })) { dependents[p].append(i) }
        }
        var ready = (0..<graph.nodes.count).filter { indegree[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(graph.nodes.count)
        while let i = ready.popLast() {
            order.append(i)
            for d in dependents[i].reversed() {
                indegree[d] -= 1
                if indegree[d] == 0 { ready.append(d) }
            }
        }
        if order.count != graph.nodes.count {
            let stuck = (0..<graph.nodes.count).first { indegree[$0] > 0 }!
            throw QVError.badInput("the graph has a cycle through node \(graph.nodes[stuck].label(index: stuck))")
        }
        self.producer = producer
        self.consumers = consumers
        self.topologicalOrder = order
    }
}

extension Graph {
    /// Node indices in topological order; throws on undefined inputs or cycles.
    public func topologicalOrder() throws -> [Int] { try GraphIndex(self).topologicalOrder }
}
