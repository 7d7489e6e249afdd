import QVGraph

/// A replacement of some nodes by others, built by a rule without touching the graph.
public struct Patch: Sendable {
    /// Indices (in the current graph) of the nodes the patch replaces.
    public var remove: Set<Int> = []
    /// New nodes; the driver puts the graph back into topological order afterwards.
    public var add: [Node] = []
    public var setInitializers: [(name: String, tensor: Tensor)] = []
    /// Renames a tensor in every existing node (not in `add`) and in the graph outputs.
    public var renameTensors: [String: String] = [:]
    /// New graph output declarations by output name (for rules that change the interface).
    public var graphOutputs: [String: ValueInfo] = [:]
    /// Tensors still read outside the patch (node outputs it replaces, initializers it rewrites)
    /// whose element type the patch changes without changing their values: an integer type
    /// widened (int4 → int8), or float-valued integers (Aidge's fake-quantized tensors) given an
    /// integer type. Any other change of a read tensor's dtype or shape is refused.
    public var retypes: Set<String> = []
    public init() {}
}

/// What a rule sees: the current graph, the quantization plan and the conversion options.
public struct RewriteContext: Sendable {
    public var graph: Graph
    public var index: GraphIndex
    public var plan: QuantPlan
    public var options: ConvertOptions
    /// dtype/shape of every tensor, inferred once per driver iteration (nil when inference fails).
    public var inference: ShapeInference?
}

/// Fresh, readable names that collide with nothing in the graph. The driver owns the one allocator.
public final class NameAllocator: @unchecked Sendable {
    private var used: Set<String>
    init(_ g: Graph, reserved: [String] = []) {
        used = Set(g.nodes.map(\.name)).union(g.nodes.flatMap { $0.inputs + $0.outputs }).union(g.initializerOrder)
            .union(g.inputs.map(\.name)).union(g.outputs.map(\.name)).union(reserved)
    }
    public func fresh(_ base: String) -> String {
        var name = base, k = 1
        while used.contains(name) { name = "\(base)_\(k)"; k += 1 }
        used.insert(name)
        return name
    }
}

/// A rewrite rule: a stable name, the identity it applies, a match and a rewrite. `match` decides
/// whether the rule applies at a node and gathers what the rewrite needs, reading the graph only
/// (no names are allocated for a node the rule declines); `rewrite` builds the patch for a match.
public struct RewriteRule: Sendable {
    public var name: String
    public var identity: String
    /// True for rules allowed to change the graph's interface (graph input/output dtypes).
    public var changesInterface: Bool = false
    let match: @Sendable (_ ctx: RewriteContext, _ node: Int) throws -> (any Sendable)?
    let rewrite:
        @Sendable (_ ctx: RewriteContext, _ node: Int, _ match: any Sendable, _ names: NameAllocator) throws -> Patch

    public init<Match: Sendable>(
        name: String, identity: String, changesInterface: Bool = false,
        match: @escaping @Sendable (_ ctx: RewriteContext, _ node: Int) throws -> Match?,
        rewrite:
            @escaping @Sendable (_ ctx: RewriteContext, _ node: Int, _ match: Match, _ names: NameAllocator) throws ->
            Patch
    ) {
        self.name = name
        self.identity = identity
        self.changesInterface = changesInterface
        self.match = { ctx, i in try match(ctx, i) }
        self.rewrite = { ctx, i, m, names in try rewrite(ctx, i, m as! Match, names) }
    }

    /// The rule's patch at node `i`, or nil when it does not match there.
    public func apply(_ ctx: RewriteContext, _ i: Int, _ names: NameAllocator) throws -> Patch? {
        guard let m = try match(ctx, i) else { return nil }
        return try rewrite(ctx, i, m, names)
    }
}

/// Record of one applied patch, for reports and tests.
public struct RuleFiring: Sendable, Equatable {
    public var rule: String
    public var node: String
}

/// Applies rules to a fixpoint (with a cap), refusing patches that change the dtype or shape of
/// a tensor other nodes still read, and checking graph invariants after every patch.
public struct RewriteDriver {
    public var rules: [RewriteRule]
    public var maxPatches: Int

    public init(rules: [RewriteRule], maxPatches: Int = 2_000) {
        self.rules = rules
        self.maxPatches = maxPatches
    }

    public func run(_ graph: Graph, plan: QuantPlan, options: ConvertOptions) throws -> (Graph, [RuleFiring]) {
        var g = graph
        let names = NameAllocator(g, reserved: Array(plan.quantizedInputNames.values))
        var fired: [RuleFiring] = []
        var changed = true
        // The index and inference of `g` that the last patch's checks already built.
        var known: (index: GraphIndex, inference: ShapeInference)?
        while changed {
            changed = false
            let index = try known?.index ?? GraphIndex(g)
            // One shape inference per iteration, shared by every rule's dtype/shape queries.
            let ctx = RewriteContext(
                graph: g, index: index, plan: plan, options: options,
                inference: known?.inference ?? (try? ShapeInference(g)))
            known = nil
            search: for rule in rules {
                for i in index.topologicalOrder {
                    let node = g.nodes[i]
                    let context = "rule \(rule.name) on node \(node.label(index: i))"
                    guard let patch = try withContext(context, { try rule.apply(ctx, i, names) }) else { continue }
                    let checked = try withContext(context) {
                        try Self.checkedApply(patch, to: g, rule: rule, before: ctx.inference)
                    }
                    g = checked.graph
                    known = (checked.index, checked.inference)
                    fired.append(RuleFiring(rule: rule.name, node: node.name))
                    guard fired.count <= maxPatches else {
                        throw QVError.internalError(
                            "rewriting did not converge after \(maxPatches) patches (last: rule \(rule.name) on \(node.label(index: i)))"
                        )
                    }
                    changed = true
                    break search
                }
            }
        }
        return (g, fired)
    }

    /// Applies one patch and checks it: every tensor read outside the patch keeps its dtype and
    /// shape (ONNX inference with the Aidge-form exceptions) unless the patch declares it retyped
    /// (``Patch/retypes``) and the new type holds every old value; the graph stays well formed.
    /// `before`: the iteration's inference of `g`, when it succeeded.
    static func apply(
        _ patch: Patch, to g: Graph, rule: RewriteRule, before known: ShapeInference? = nil
    ) throws -> Graph {
        try checkedApply(patch, to: g, rule: rule, before: known).graph
    }

    /// ``apply(_:to:rule:before:)`` with the index and inference of the patched graph its checks
    /// built (the driver's next iteration starts from them).
    static func checkedApply(
        _ patch: Patch, to g: Graph, rule: RewriteRule, before known: ShapeInference? = nil
    ) throws -> (graph: Graph, index: GraphIndex, inference: ShapeInference) {
        let before = try known ?? ShapeInference(g)
        var out = g
        var kept: [Node] = []
        for (i, n) in g.nodes.enumerated() where !patch.remove.contains(i) {
            var n = n
            n.inputs = n.inputs.map { patch.renameTensors[$0] ?? $0 }
            n.outputs = n.outputs.map { patch.renameTensors[$0] ?? $0 }
            kept.append(n)
        }
        out.nodes = kept + patch.add
        for (name, t) in patch.setInitializers { out.setInitializer(name, t) }
        out.outputs = out.outputs.map { o in
            patch.graphOutputs[o.name] ?? o
        }
        let index = try GraphIndex(out)
        out.nodes = index.topologicalOrder.map { out.nodes[$0] }
        let sortedIndex = try Invariants.verify(out)
        // Tensors produced by removed nodes, and initializers rewritten, that the rest still reads.
        let removedOutputs = Set(patch.remove.flatMap { g.nodes[$0].outputs }.filter { !$0.isEmpty })
        let rewritten = Set(patch.setInitializers.map(\.name).filter { g.initializer($0) != nil })
        let readers = Set(kept.flatMap(\.inputs)).union(g.outputs.map(\.name))
        let after = try ShapeInference(out)
        for t in removedOutputs.union(rewritten).intersection(readers).sorted() {
            let renamed = patch.renameTensors[t] ?? t
            let isOutput = g.outputs.contains { $0.name == t }
            if isOutput && rule.changesInterface { continue }
            guard let a = after.facts[renamed], let b = before.facts[t] else {
                throw QVError.internalError("patch lost tensor '\(t)'")
            }
            if a.dtype == b.dtype && a.shape == b.shape { continue }
            guard patch.retypes.contains(t) else {
                throw QVError.internalError("patch changes '\(t)' from \(b) to \(a); refused")
            }
            guard a.shape == b.shape, let from = b.dtype, let to = a.dtype, Self.holdsEveryValue(of: from, in: to)
            else {
                throw QVError.internalError(
                    "patch retypes '\(t)' from \(b) to \(a): not an integer type at least as wide, nor float-valued integers made integer; refused"
                )
            }
        }
        return (out, sortedIndex, after)
    }

    /// Whether a tensor of type `from` keeps its values as `to`: an integer type into one at least
    /// as wide, or float-valued integers (Aidge's fake-quantized tensors) into an integer type.
    static func holdsEveryValue(of from: DType, in to: DType) -> Bool {
        if from.isFloatingPoint { return to.isInteger }
        guard let f = from.integerRange, let t = to.integerRange else { return false }
        return t.lowerBound <= f.lowerBound && t.upperBound >= f.upperBound
    }
}

/// Invariants every intermediate graph of the recipe satisfies.
public enum Invariants {
    /// Returns the graph's index, which the check builds.
    @discardableResult
    public static func verify(_ g: Graph) throws -> GraphIndex {
        let index = try GraphIndex(g)
        var seen = Set<String>()
        for n in g.nodes where !n.name.isEmpty {
            guard seen.insert(n.name).inserted else { throw QVError.internalError("two nodes are named '\(n.name)'") }
        }
        // Dangling inputs are GraphIndex's check above (every input has a producer, a graph input
        // or an initializer), in one pass; the nested scan here repeated it in O(N²).
        return index
    }
}
