import QVGraph

/// The kernels qverify runs. Which op each one runs is written in the op's spec
/// (`QVGraph/Ops/<Family>.swift`, `OpSpec.kernel`), not here: an op runs when its spec names one
/// of these types.
public enum Registry {
    /// Every kernel type. `OpSpecTests` checks that each is named by a spec and each spec's
    /// kernel is one of these.
    static let kernels: [any Kernel.Type] = [
        ConvKernel.self, ConvTransposeKernel.self, GemmKernel.self, MatMulKernel.self,
        QuantizeLinearKernel.self, DequantizeLinearKernel.self,
        QLinearConvKernel.self, QLinearMatMulKernel.self, QGemmKernel.self,
        QLinearBinaryKernel.self, QLinearLookupKernel.self, QLinearGlobalAveragePoolKernel.self,
        QLinearAveragePoolKernel.self,
        QLinearConcatKernel.self, QLinearSoftmaxKernel.self,
        BinaryKernel.self, UnaryKernel.self, ClipKernel.self, CastKernel.self, BitShiftKernel.self, SoftmaxKernel.self,
        GeluKernel.self,
        BatchNormKernel.self,
        MaxPoolKernel.self, AveragePoolKernel.self, GlobalPoolKernel.self,
        ShapeKernel.self, ResizeKernel.self, ReduceMeanKernel.self, LayerNormKernel.self,
    ]

    /// Kernel types by their name.
    public static let kernelsByName: [String: any Kernel.Type] =
        Dictionary(uniqueKeysWithValues: kernels.map { (String(describing: $0), $0) })

    /// "domain::Op" → the kernel type its spec names.
    static let table: [String: any Kernel.Type] = {
        var t: [String: any Kernel.Type] = [:]
        for s in OpSpecs.all {
            if let name = s.kernel, let k = kernelsByName[name] { t["\(s.domain)::\(s.op)"] = k }
        }
        return t
    }()

    /// "domain::Op" names of every supported operator, sorted.
    public static var supported: [String] { table.keys.sorted() }

    public static func isSupported(_ node: Node) -> Bool { table["\(node.normalizedDomain)::\(node.opType)"] != nil }

    public static func make(_ node: Node, _ ctx: KernelContext) throws -> any Kernel {
        guard let k = table["\(node.normalizedDomain)::\(node.opType)"] else {
            throw QVError.unsupported("unsupported op \(node.opType) in domain '\(node.domain)'")
        }
        return try k.init(node: node, ctx: ctx)
    }
}
