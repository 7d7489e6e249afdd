import QVGraph

/// Every operator qverify runs: (domain, op type) → kernel constructor. One line per op.
public enum Registry {
    public typealias Factory = @Sendable (Node, KernelContext) throws -> any Kernel

    static let table: [String: Factory] = {
        var t: [String: Factory] = [:]
        func add(_ domain: String, _ ops: [String], _ f: @escaping Factory) { for op in ops { t["\(domain)::\(op)"] = f } }
        add("", ["Conv"]) { try ConvKernel(node: $0, ctx: $1) }
        add("", ["Gemm"]) { try GemmKernel(node: $0, ctx: $1) }
        add("", ["MatMul"]) { try MatMulKernel(node: $0, ctx: $1) }
        add("", ["QuantizeLinear"]) { try QuantizeLinearKernel(node: $0, ctx: $1) }
        add("", ["DequantizeLinear"]) { try DequantizeLinearKernel(node: $0, ctx: $1) }
        add("", ["QLinearConv"]) { try QLinearConvKernel(node: $0, ctx: $1) }
        add("", ["QLinearMatMul"]) { try QLinearMatMulKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QGemm"]) { try QGemmKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QLinearAdd", "QLinearMul"]) { try QLinearBinaryKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QLinearLeakyRelu", "QLinearSigmoid"]) { try QLinearLookupKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QLinearGlobalAveragePool"]) { try QLinearGlobalAveragePoolKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QLinearAveragePool"]) { try QLinearAveragePoolKernel(node: $0, ctx: $1) }
        add("com.microsoft", ["QLinearConcat"]) { try QLinearConcatKernel(node: $0, ctx: $1) }
        add("", ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"]) { try BinaryKernel(node: $0, ctx: $1) }
        add("", Array(UnaryKernel.ops)) { try UnaryKernel(node: $0, ctx: $1) }
        add("", ["Clip"]) { try ClipKernel(node: $0, ctx: $1) }
        add("", ["Cast"]) { try CastKernel(node: $0, ctx: $1) }
        add("", ["BitShift"]) { try BitShiftKernel(node: $0, ctx: $1) }
        add("", ["Softmax"]) { try SoftmaxKernel(node: $0, ctx: $1) }
        add("", ["BatchNormalization"]) { try BatchNormKernel(node: $0, ctx: $1) }
        add("", ["MaxPool"]) { try MaxPoolKernel(node: $0, ctx: $1) }
        add("", ["AveragePool"]) { try AveragePoolKernel(node: $0, ctx: $1) }
        add("", ["GlobalAveragePool", "GlobalMaxPool"]) { try GlobalPoolKernel(node: $0, ctx: $1) }
        add("", Array(ShapeKernel.ops)) { try ShapeKernel(node: $0, ctx: $1) }
        return t
    }()

    /// "domain::Op" names of every supported operator, sorted.
    public static var supported: [String] { table.keys.sorted() }

    public static func isSupported(_ node: Node) -> Bool { table["\(node.normalizedDomain)::\(node.opType)"] != nil }

    public static func make(_ node: Node, _ ctx: KernelContext) throws -> any Kernel {
        guard let f = table["\(node.normalizedDomain)::\(node.opType)"] else {
            throw QVError.unsupported("unsupported op \(node.opType) in domain '\(node.domain)'")
        }
        return try f(node, ctx)
    }
}
