/// A dimension of a declared shape: a number, a symbolic name, or nothing known.
public enum Dim: Sendable, Equatable, Hashable, CustomStringConvertible {
    case value(Int)
    case param(String)
    case unknown

    public var description: String {
        switch self {
        case .value(let v): "\(v)"
        case .param(let p): p
        case .unknown: "?"
        }
    }
    public var value: Int? { if case .value(let v) = self { v } else { nil } }
}

/// A serialized protobuf message qverify does not model (a FunctionProto, a sparse tensor,
/// a non-tensor TypeProto, …); kept as bytes so load → save loses nothing.
public struct OpaqueProto: Sendable, Equatable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// The declared type of a graph input, output or intermediate (`ValueInfoProto`).
public struct ValueInfo: Sendable, Equatable {
    public enum TypeInfo: Sendable, Equatable {
        /// `tensor_type`; `shape` nil when the proto declares no shape at all.
        case tensor(elemType: Int32?, shape: [Dim]?, shapeDenotations: [String?])
        /// Any other TypeProto (sequence, map, optional, sparse), serialized.
        case other(OpaqueProto)
        /// No `type` field.
        case none
    }
    public var name: String
    public var type: TypeInfo
    public var typeDenotation: String?
    public var docString: String?
    public var metadata: [KeyValue]

    public init(
        name: String, type: TypeInfo, typeDenotation: String? = nil, docString: String? = nil, metadata: [KeyValue] = []
    ) {
        self.name = name
        self.type = type
        self.typeDenotation = typeDenotation
        self.docString = docString
        self.metadata = metadata
    }

    public init(name: String, dtype: DType, shape: [Dim]?) {
        self.init(
            name: name,
            type: .tensor(
                elemType: dtype.rawValue, shape: shape,
                shapeDenotations: Array(repeating: nil, count: shape?.count ?? 0)))
    }

    /// The element type if this is a tensor of a known type.
    public var dtype: DType? {
        if case .tensor(let e?, _, _) = type { return DType(onnx: e) }
        return nil
    }
    public var shape: [Dim]? {
        if case .tensor(_, let s, _) = type { return s }
        return nil
    }
    /// The shape if every dimension is a number.
    public var concreteShape: [Int]? {
        guard let s = shape else { return nil }
        let v = s.compactMap(\.value)
        return v.count == s.count ? v : nil
    }
}

/// A node attribute value (`AttributeProto`).
public indirect enum AttributeValue: Sendable, Equatable {
    case float(Float)
    case int(Int64)
    case string([UInt8])
    case tensor(Tensor)
    case graph(Graph)
    case floats([Float])
    case ints([Int64])
    case strings([[UInt8]])
    case tensors([Tensor])
    case graphs([Graph])
    /// Sparse tensors and type protos, serialized with the attribute type number.
    case other(type: Int32, OpaqueProto)
    /// An attribute that refers to an attribute of the enclosing function.
    case reference(type: Int32, String)
}

public struct Attribute: Sendable, Equatable {
    public var name: String
    public var value: AttributeValue
    public var docString: String?
    public init(name: String, value: AttributeValue, docString: String? = nil) {
        self.name = name
        self.value = value
        self.docString = docString
    }
}

/// One operator application (`NodeProto`). Inputs are tensor names; "" marks an omitted
/// optional input, as in ONNX.
public struct Node: Sendable, Equatable {
    public var name: String
    public var opType: String
    /// "" (or "ai.onnx") is the default ONNX domain.
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [Attribute]
    public var overload: String?
    public var docString: String?
    public var metadata: [KeyValue]
    /// Whether the proto had `name`/`domain` fields at all (kept for faithful round trips).
    public var hasName: Bool
    public var hasDomain: Bool

    public init(
        name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
        attributes: [Attribute] = [], overload: String? = nil, docString: String? = nil,
        metadata: [KeyValue] = [], hasName: Bool = true, hasDomain: Bool? = nil
    ) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.overload = overload
        self.docString = docString
        self.metadata = metadata
        self.hasName = hasName
        self.hasDomain = hasDomain ?? !domain.isEmpty
    }

    /// The domain with the default spelled "" (ONNX treats "ai.onnx" and "" alike).
    public var normalizedDomain: String { domain == "ai.onnx" ? "" : domain }

    /// "Conv 'conv1'", or "Conv #3" for an unnamed node — how errors name a node.
    public func label(index: Int? = nil) -> String {
        if !name.isEmpty { return "\(opType) '\(name)'" }
        if let i = index { return "\(opType) #\(i)" }
        return "\(opType) (unnamed, output '\(outputs.first ?? "")')"
    }

    public func attribute(_ name: String) -> AttributeValue? { attributes.first { $0.name == name }?.value }
}

/// A computation graph (`GraphProto`). Initializers keep their file order.
public struct Graph: Sendable, Equatable {
    public var name: String
    public var nodes: [Node]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var valueInfo: [ValueInfo]
    public var initializers: [(name: String, tensor: Tensor)] {
        get { initializerOrder.map { ($0, initializerTable[$0]!) } }
        set {
            initializerOrder = newValue.map(\.name)
            initializerTable = Dictionary(newValue.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, b in b })
        }
    }
    public private(set) var initializerOrder: [String]
    public private(set) var initializerTable: [String: Tensor]
    public var docString: String?
    public var metadata: [KeyValue]
    public var sparseInitializers: [OpaqueProto]
    public var quantizationAnnotations: [OpaqueProto]

    public init(
        name: String = "", nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
        valueInfo: [ValueInfo] = [], initializers: [(name: String, tensor: Tensor)] = [],
        docString: String? = nil, metadata: [KeyValue] = [],
        sparseInitializers: [OpaqueProto] = [], quantizationAnnotations: [OpaqueProto] = []
    ) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.valueInfo = valueInfo
        self.initializerOrder = initializers.map(\.name)
        self.initializerTable = Dictionary(initializers.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, b in b })
        self.docString = docString
        self.metadata = metadata
        self.sparseInitializers = sparseInitializers
        self.quantizationAnnotations = quantizationAnnotations
    }

    public func initializer(_ name: String) -> Tensor? { initializerTable[name] }

    /// Adds or replaces an initializer (a new one goes last).
    public mutating func setInitializer(_ name: String, _ tensor: Tensor) {
        if initializerTable[name] == nil { initializerOrder.append(name) }
        initializerTable[name] = tensor
    }

    /// Graph inputs that are not initializers: what a caller must feed.
    public var runtimeInputs: [ValueInfo] { inputs.filter { initializerTable[$0.name] == nil } }

    public static func == (a: Graph, b: Graph) -> Bool {
        a.name == b.name && a.nodes == b.nodes && a.inputs == b.inputs && a.outputs == b.outputs
            && a.valueInfo == b.valueInfo && a.initializerOrder == b.initializerOrder
            && a.initializerTable == b.initializerTable && a.docString == b.docString && a.metadata == b.metadata
            && a.sparseInitializers == b.sparseInitializers && a.quantizationAnnotations == b.quantizationAnnotations
    }
}

public struct OpsetImport: Sendable, Equatable, Hashable {
    public var domain: String
    public var version: Int64
    public init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }
}

/// A whole model file (`ModelProto`).
public struct Model: Sendable, Equatable {
    public var irVersion: Int64?
    public var opsetImports: [OpsetImport]
    public var producerName: String?
    public var producerVersion: String?
    public var domain: String?
    public var modelVersion: Int64?
    public var docString: String?
    public var graph: Graph
    public var metadata: [KeyValue]
    public var functions: [OpaqueProto]

    public init(
        irVersion: Int64? = 8, opsetImports: [OpsetImport] = [OpsetImport(domain: "", version: 21)],
        producerName: String? = nil, producerVersion: String? = nil, domain: String? = nil,
        modelVersion: Int64? = nil, docString: String? = nil, graph: Graph,
        metadata: [KeyValue] = [], functions: [OpaqueProto] = []
    ) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.graph = graph
        self.metadata = metadata
        self.functions = functions
    }

    /// The opset version imported for `domain` ("" and "ai.onnx" are the same domain).
    public func opset(_ domain: String = "") -> Int64? {
        let d = domain == "ai.onnx" ? "" : domain
        return opsetImports.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == d }?.version
    }
}
