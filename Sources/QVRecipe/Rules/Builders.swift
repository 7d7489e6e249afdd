import QVGraph
import QVKernels

/// Small constructors shared by the rules. They only build values; nothing is mutated.
struct PatchBuilder {
    var patch = Patch()
    let names: NameAllocator
    let options: ConvertOptions

    init(names: NameAllocator, options: ConvertOptions) {
        self.names = names
        self.options = options
    }

    mutating func constant(_ base: String, _ t: Tensor) -> String {
        let n = names.fresh(base)
        patch.setInitializers.append((n, t))
        return n
    }
    mutating func scale(_ base: String, _ v: Float) -> String { constant(base, Tensor([v], shape: [])) }
    /// The zero point of `q`, in the type the tensor is written with (see ``ConvertOptions/written(_:)``).
    mutating func zeroPoint(_ base: String, _ q: QuantInfo) -> String {
        let t = options.written(q.dtype).dtype
        return constant(
            base,
            Tensor(
                dtype: t, shape: [], storage: t.storageKind == .i64 ? .i64([q.zeroPoint]) : .i32([Int32(q.zeroPoint)])))
    }
    mutating func node(
        _ op: String, _ base: String, _ inputs: [String], _ outputs: [String], domain: String = "",
        attributes: [Attribute] = []
    ) {
        patch.add.append(
            Node(
                name: names.fresh(base), opType: op, domain: domain, inputs: inputs, outputs: outputs,
                attributes: attributes))
    }
    /// DequantizeLinear of `tensor` with its plan quantization; returns the float tensor's name.
    mutating func dequantize(_ tensor: String, _ q: QuantInfo, base: String, scale: Float? = nil) -> String {
        let out = names.fresh("\(tensor)_dequantized")
        let s = self.scale("\(base)_scale", scale ?? Float(q.step))
        let z = zeroPoint("\(base)_zero_point", q)
        node("DequantizeLinear", base, [tensor, s, z], [out])
        return out
    }
    /// QuantizeLinear of float `tensor` into `output` with quantization `q`; a type narrower than
    /// 8 bits written as int8/uint8 gets an integer Clip to its range.
    mutating func quantize(_ tensor: String, into output: String, _ q: QuantInfo, name: String) {
        let s = scale("\(name)_scale", Float(q.step))
        let z = zeroPoint("\(name)_zero_point", q)
        let (t, clip) = options.written(q.dtype)
        guard let clip else {
            patch.add.append(Node(name: name, opType: "QuantizeLinear", inputs: [tensor, s, z], outputs: [output]))
            return
        }
        let wide = names.fresh("\(output)_unclipped")
        patch.add.append(Node(name: name, opType: "QuantizeLinear", inputs: [tensor, s, z], outputs: [wide]))
        clipInteger(wide, into: output, t, clip, name: "\(name)_clip")
    }

    /// `op` recomputed in float on `inputs`, its result quantized into `output` by a
    /// QuantizeLinear named `quantizerName` (the Aidge quantizer it replaces).
    mutating func floatOp(
        _ op: Node, inputs: [String], quantizeInto output: String, _ q: QuantInfo, quantizerName: String
    ) {
        let result = names.fresh("\(op.name)_out_float")
        var f = op
        f.inputs = inputs
        f.outputs = [result]
        patch.add.append(f)
        quantize(result, into: output, q, name: quantizerName)
    }

    mutating func clipInteger(
        _ tensor: String, into output: String, _ t: DType, _ range: ClosedRange<Int64>, name: String
    ) {
        let lo = constant("\(name)_min", Tensor([Int32(range.lowerBound)], shape: [], dtype: t))
        let hi = constant("\(name)_max", Tensor([Int32(range.upperBound)], shape: [], dtype: t))
        node("Clip", name, [tensor, lo, hi], [output])
    }
}

extension RewriteContext {
    /// The current dtype of a tensor (initializer, input or inferred), nil if unknown.
    func dtype(_ name: String) -> DType? {
        if let t = graph.initializer(name) { return t.dtype }
        if let i = graph.inputs.first(where: { $0.name == name }) { return i.dtype }
        return inference?.facts[name]?.dtype
    }
    /// The current shape of a tensor when inference knows it.
    func shape(_ name: String) -> [Int]? {
        if let t = graph.initializer(name) { return t.shape }
        return inference?.facts[name]?.shape
    }

    /// Elements averaged per output of a GlobalAveragePool on `input` (nil when the shape is unknown).
    func averagedCount(_ input: String) -> Int? {
        guard let s = shape(input), s.count >= 3 else { return nil }
        return s[2...].reduce(1, *)
    }

    func consumers(_ tensor: String) -> [Int] { index.consumers[tensor] ?? [] }
    func producer(_ tensor: String) -> Int? { index.producer[tensor] }
    /// The Aidge quantizer that alone reads `tensor` (an accumulator), with its output's quantization.
    func soleQuantizer(after tensor: String) -> (index: Int, output: String, quant: QuantInfo)? {
        guard let qi = soleConsumer(tensor) else { return nil }
        let q = graph.nodes[qi]
        guard q.opType == "QuantizeLinear", q.inputs[0] == tensor, let yq = plan.tensors[q.outputs[0]] else {
            return nil
        }
        return (qi, q.outputs[0], yq)
    }

    /// The single consumer of a tensor, if it has exactly one and is not a graph output.
    func soleConsumer(_ tensor: String) -> Int? {
        let c = consumers(tensor)
        guard c.count == 1, !graph.outputs.contains(where: { $0.name == tensor }) else { return nil }
        return c[0]
    }
}

/// Runs an Aidge quantizer on a constant, exactly as Aidge's CPU backend does
/// (x · (1/scale), round half up, clip to the signed width, wrapping cast), then stores the
/// integers in the type they are written with.
func aidgeQuantizeConstant(_ x: Tensor, scale: Tensor, zeroPoint: Tensor?, options: ConvertOptions) throws -> Tensor {
    let node = Node(name: "fold", opType: "QuantizeLinear", inputs: ["x", "s", "z"], outputs: ["y"])
    let k = try Registry.make(node, KernelContext(semantics: .aidge, opset: 21))
    var y = try k.run([x, scale, zeroPoint])[0]
    y.dtype = options.written(y.dtype).dtype
    return y
}
