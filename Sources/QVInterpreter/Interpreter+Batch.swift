import QVGraph
import QVKernels

extension Interpreter {
    /// Input bytes per batch: late convolutions with 2×2 to 8×8 outputs fill the kernel's vector
    /// lanes only when a batch's images share its panels (ResNet-style float 0.5× → 1.07×
    /// onnxruntime at 64 KB → 1 MB); larger batches gain nothing and cost memory.
    public static let batchInputBytes = 1 << 20

    /// Samples per batch for inputs of `bytesPerSample` bytes: as many as fit in
    /// ``batchInputBytes``, between 1 and `limit`. Fixed by the inputs alone, so batch numbering
    /// (and a sharded run's batches) is the same on every run.
    public static func samplesPerBatch(bytesPerSample: Int, limit: Int) -> Int {
        max(1, min(limit, batchInputBytes / max(1, bytesPerSample)))
    }

    /// Why samples cannot be stacked along axis 0 and run as one batch, or nil when they can:
    /// every runtime input and output must be declared with a leading dimension of 1 and every
    /// node's spec must say axis 0 is an independent batch for it (`OpSpec.batching`: reshapes
    /// that keep a leading 1, no per-axis quantization along axis 0, no axis-0 concat, no MaxPool
    /// indices read). `facts`: one sample's shapes; `constants`: folded tensors by name.
    static func batchBlocker(
        _ g: Graph, _ index: GraphIndex, folded: Set<Int>, facts: [String: TensorFact], constants: [String: Tensor]
    ) -> String? {
        guard !g.runtimeInputs.isEmpty else { return "the graph has no runtime input" }
        for v in g.runtimeInputs + g.outputs {
            guard let s = v.shape, let d0 = s.first,
                d0.value == 1 || (d0.value == nil && g.outputs.contains { $0.name == v.name })
            else { return "'\(v.name)' is not declared with a leading dimension of 1" }
        }
        let outputs = Set(g.outputs.map(\.name))
        let query = BatchQuery(
            graph: g, isRead: { outputs.contains($0) || index.consumers[$0] != nil },
            shape: { facts[$0]?.shape }, constant: { g.initializer($0) ?? constants[$0] })
        for (i, n) in g.nodes.enumerated() where !folded.contains(i) {
            switch n.spec?.batching {
            case .perSample: continue
            case .when(let holds):
                if !holds(n, query) { return "node '\(n.name)' (\(n.opType)) does not keep samples apart here" }
            case .never, nil: return "node '\(n.name)' (\(n.opType)) never batches"
            }
        }
        return nil
    }

    /// Runs several samples. When the graph is batchable they go through as one batch stacked on
    /// axis 0 (results identical to one-by-one runs, MaxPool indices included); otherwise one by one.
    /// `only`: with `keepIntermediates`, keep just these tensors.
    ///
    /// `replacing(k)`: sample k's replacements, as in ``run(_:keepIntermediates:replacing:only:)``
    /// (each maps that sample's computed tensor to the one later nodes see). A stacked batch hands
    /// each sample its own slice and stacks the results again.
    public func run(
        batch samples: [[String: Tensor]], keepIntermediates: Bool = false, only: Set<String>? = nil,
        replacing: ((Int) -> [String: (Tensor) throws -> Tensor])? = nil
    ) throws -> [Result] {
        let perSample = samples.indices.map { replacing?($0) ?? [:] }
        func oneByOne() throws -> [Result] {
            try samples.enumerated().map { k, s in
                try checkInputs(s)
                var unused: [Double]? = nil
                return try execute(
                    s, keepIntermediates: keepIntermediates, nodeSeconds: &unused, replacing: perSample[k], only: only)
            }
        }
        guard canBatch, samples.count > 1 else { return try oneByOne() }
        for s in samples { try checkInputs(s) }
        var stacked: [String: Tensor] = [:]
        for name in samples[0].keys {
            let ts = samples.map { $0[name]! }
            let t = try Tensor.stack(ts)
            stacked[name] = t.reshaped([ts.count * ts[0].shape[0]] + Array(ts[0].shape.dropFirst()))
        }
        let b = samples.count
        // A replaced tensor must split into the batch's samples; one that does not (a constant,
        // a tensor without the batch axis) sends the whole batch through one by one.
        struct NotPerSample: Error {}
        var stackedReplacing: [String: (Tensor) throws -> Tensor] = [:]
        for name in Set(perSample.flatMap(\.keys)) {
            stackedReplacing[name] = { t in
                guard t.rank > 0, t.shape[0] == b else { throw NotPerSample() }
                let parts = try (0..<b).map { k -> Tensor in
                    var p = t.sample(k)
                    p.shape = [1] + p.shape
                    return try perSample[k][name].map { try $0(p) } ?? p
                }
                let joined = try Tensor.stack(parts)
                return joined.reshaped([b * parts[0].shape[0]] + Array(parts[0].shape.dropFirst()))
            }
        }
        let r: Result
        do {
            var unused: [Double]? = nil
            r = try execute(
                stacked, keepIntermediates: keepIntermediates, nodeSeconds: &unused, samples: b,
                replacing: stackedReplacing, only: only)
        } catch is NotPerSample {
            return try oneByOne()
        }
        func split(_ t: Tensor, _ name: String) -> [Tensor] {
            guard t.rank > 0, t.shape[0] == b, folded[name] == nil else { return Array(repeating: t, count: b) }
            var parts = (0..<b).map { k -> Tensor in
                var p = t.sample(k)
                p.shape = [1] + p.shape
                return p
            }
            // MaxPool indices are flat over the whole input: remove the other samples' offset.
            if let per = maxPoolIndexStride[name], case .i64 = t.storage {
                for k in 0..<b {
                    parts[k] = Tensor(int64s: parts[k].int64s!.map { $0 - Int64(k * per) }, shape: parts[k].shape)
                }
            }
            return parts
        }
        var results = Array(repeating: Result(outputs: [:], intermediates: [:]), count: b)
        for (name, t) in r.outputs { for (k, p) in split(t, name).enumerated() { results[k].outputs[name] = p } }
        for (name, t) in r.intermediates {
            for (k, p) in split(t, name).enumerated() { results[k].intermediates[name] = p }
        }
        return results
    }
}
