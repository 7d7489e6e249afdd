/// What qverify knows about an operator family, in one place: ONNX's versions and input names,
/// the output dtype/shape rule, whether samples stacked on axis 0 can run as one batch, and how
/// exactly qverify's kernel reproduces onnxruntime. One file per family under `Ops/`, named as
/// the family's kernel file in QVKernels (`Ops/Conv.swift` ↔ `QVKernels/Conv.swift`); each spec
/// names its kernel type and the tests that hold it. Shape inference, the interpreter's batching,
/// the static checks, the comparison's alignment and `profile` read inputs by these names.
///
/// `OpSpecTests` holds every spec to ONNX's own schema registry (`Tests/Fixtures/op_schemas.json`,
/// written by `scripts/make_op_schemas.py` from onnx and onnxruntime) and to the kernel registry.
public struct OpSpec: Sendable {
    /// "" for the ONNX domain, else e.g. "com.microsoft".
    public let domain: String
    /// The op type.
    public let op: String
    /// The opset versions at which ONNX (or onnxruntime, for com.microsoft) changed the op.
    public let since: [Int]
    /// Input names in position order, as the schema names them. A variadic input is last.
    public let inputs: [String]
    public let batching: Batching
    public let exactness: Exactness
    /// The QVKernels type that runs it (`Registry`), or nil when qverify infers it but does not run it.
    public let kernel: String?
    /// Where it is tested: test classes (`OpSuiteTests`) and fixture folders under Tests/Fixtures.
    public let tests: [String]
    public let infer: @Sendable (inout InferenceContext) throws -> [TensorFact]

    /// An ONNX-domain op.
    public init(
        _ op: String, since: [Int], inputs: [String], batching: Batching, exactness: Exactness,
        kernel: String?, tests: [String], infer: @escaping @Sendable (inout InferenceContext) throws -> [TensorFact]
    ) {
        self.init(
            "", op, since: since, inputs: inputs, batching: batching, exactness: exactness, kernel: kernel,
            tests: tests, infer: infer)
    }

    public init(
        _ domain: String, _ op: String, since: [Int], inputs: [String], batching: Batching, exactness: Exactness,
        kernel: String?, tests: [String], infer: @escaping @Sendable (inout InferenceContext) throws -> [TensorFact]
    ) {
        self.domain = domain
        self.op = op
        self.since = since
        self.inputs = inputs
        self.batching = batching
        self.exactness = exactness
        self.kernel = kernel
        self.tests = tests
        self.infer = infer
    }

    /// The position of the input named `name`, if the op has one.
    public func position(of name: String) -> Int? { inputs.firstIndex(of: name) }
}

/// Whether samples stacked on axis 0 can go through the op as one batch.
public enum Batching: Sendable {
    /// Axis 0 is an independent batch dimension whatever the attributes.
    case perSample
    /// Only when this holds of the node (attributes, initializers, who reads its outputs).
    case when(@Sendable (Node, BatchQuery) -> Bool)
    /// Never (reshapes, gathers, shape arithmetic).
    case never
}

/// What a batching condition may look at.
public struct BatchQuery {
    public let graph: Graph
    /// Whether a tensor is read by a node or is a graph output.
    public let isRead: (String) -> Bool
    /// A tensor's shape for one sample, where shape inference knows it.
    public let shape: (String) -> [Int]?
    /// The value of an initializer or of a constant-folded tensor.
    public let constant: (String) -> Tensor?
    public init(
        graph: Graph, isRead: @escaping (String) -> Bool, shape: @escaping (String) -> [Int]? = { _ in nil },
        constant: ((String) -> Tensor?)? = nil
    ) {
        self.graph = graph
        self.isRead = isRead
        self.shape = shape
        self.constant = constant ?? { graph.initializer($0) }
    }

    /// Whether `axis` (negative counts from the end) of the node's input `input` is the sample
    /// axis 0; nil when its rank is unknown.
    public func isSampleAxis(_ axis: Int, of input: String) -> Bool? {
        guard let r = shape(input)?.count else { return axis == 0 ? true : nil }
        return axis == 0 || axis == -r
    }

    /// True when `axis` of `input` is known not to be the sample axis.
    public func keepsSamples(_ axis: Int, of input: String) -> Bool { isSampleAxis(axis, of: input) == false }

    /// The integer values of a constant input (initializer or folded), if it has them (Aidge's
    /// FLOAT shapes, axes and pads read as the integers they hold).
    public func constantInts(_ name: String) -> [Int]? {
        guard !name.isEmpty, let t = constant(name) else { return nil }
        return (t.asInt64s() ?? t.floatHeldIntegers())?.map { Int($0) }
    }

    /// A node's integer list from its attribute `name`, or else from its constant input `k`
    /// (opset 13/18 moved axes and pads from attributes to inputs).
    public func ints(_ n: Node, _ name: String, orInput k: Int) -> [Int]? {
        n.ints(name) ?? (n.inputs.count > k ? constantInts(n.inputs[k]) : nil)
    }
}

/// How exactly qverify's kernel reproduces onnxruntime's result.
public enum Exactness: String, Sendable {
    /// Integer arithmetic, or values only moved: equal in any order of computation.
    case exactInteger = "exact integer"
    /// One correctly rounded IEEE operation per element: equal on any conforming machine.
    case correctlyRounded = "correctly rounded"
    /// Float sums in onnxruntime's (MLAS's) order: equal bit for bit because the order is copied.
    case onnxruntimeOrder = "onnxruntime order"
    /// Transcendental functions or tables built from them: libm-dependent, compared with a tolerance.
    case approximate
}

/// Everything a spec's inference rule reads, and where it records Aidge-form exceptions.
public struct InferenceContext {
    public let node: Node
    /// Facts of the node's inputs by position (nil: absent or unknown).
    public let inputs: [TensorFact?]
    public let graph: Graph
    let spec: OpSpec?
    public internal(set) var exceptions: [InferenceException] = []

    /// The first input's fact.
    public var x: TensorFact? { inputs.first ?? nil }
    /// One output like the first input.
    public var same: [TensorFact] { [TensorFact(dtype: x?.dtype, shape: x?.shape)] }
    public func input(_ k: Int) -> TensorFact? { k < inputs.count ? inputs[k] : nil }
    /// The fact of the input the schema calls `name`.
    public func input(_ name: String) -> TensorFact? { spec?.position(of: name).flatMap { input($0) } }
    public func int(_ name: String) -> Int? { if case .int(let v) = node.attribute(name) { Int(v) } else { nil } }
    public func ints(_ name: String) -> [Int]? { node.ints(name) }
    /// Input `k` as integers when it is an initializer.
    public func constInts(_ k: Int) -> [Int]? {
        guard k < node.inputs.count, let t = graph.initializer(node.inputs[k]) else { return nil }
        return t.asInt64s()?.map { Int($0) }
    }
    /// Input `k` (a shape, sizes, axes or pads) as integers when it is an initializer. Aidge's
    /// exporter writes these as FLOAT tensors holding integers: not ONNX, so each is recorded as
    /// an exception and read as the integers it holds.
    public mutating func shapeInts(_ k: Int) -> [Int]? {
        if let v = constInts(k) { return v }
        guard k < node.inputs.count, let v = graph.initializer(node.inputs[k])?.floatHeldIntegers() else { return nil }
        exceptions.append(
            InferenceException(node: node.name, rule: "Aidge-form: \(node.opType) reads '\(node.inputs[k])' as FLOAT"))
        return v.map { Int($0) }
    }
    /// Aidge-form Conv/Gemm/MatMul on integer data or weights accumulate in int32: not ONNX, so
    /// every use is recorded as an exception.
    public mutating func accumulatorType(_ data: DType?, _ weight: DType?) -> DType? {
        if let d = data, let w = weight, d.isInteger || w.isInteger {
            exceptions.append(
                InferenceException(
                    node: node.name, rule: "Aidge-form: \(node.opType) on \(d)×\(w) accumulates in int32"))
            return .int32
        }
        return data ?? weight
    }
}

/// Every op family's specs, and lookup by node.
public enum OpSpecs {
    public static let all: [OpSpec] =
        elementwiseSpecs + quantizeSpecs + convSpecs + gemmSpecs + poolSpecs + qlinearSpecs + shapeSpecs + reduceSpecs

    static let byKey: [String: OpSpec] = {
        var t: [String: OpSpec] = [:]
        for s in all {
            precondition(t["\(s.domain)::\(s.op)"] == nil, "two specs for \(s.domain)::\(s.op)")
            t["\(s.domain)::\(s.op)"] = s
        }
        return t
    }()

    public static func spec(domain: String, op: String) -> OpSpec? {
        byKey["\(domain == "ai.onnx" ? "" : domain)::\(op)"]
    }
}

extension Node {
    /// This node's spec, if qverify knows the op.
    public var spec: OpSpec? { OpSpecs.spec(domain: normalizedDomain, op: opType) }

    /// The tensor wired to the input the op's schema calls `name`; nil when the op has no such
    /// input or it is left out (absent or "").
    public func input(_ name: String) -> String? {
        guard let k = spec?.position(of: name), k < inputs.count, !inputs[k].isEmpty else { return nil }
        return inputs[k]
    }
}
