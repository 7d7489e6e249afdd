/// ONNX tensor element types, by their `TensorProto.DataType` number.
///
/// Every number the ONNX spec defines is recognized; which ones a kernel supports is the
/// kernel's business. In memory, all integer types of up to 32 bits (and `bool`) are held in
/// `Int32` storage, `int64`/`uint32` in `Int64`, so kernels see few storage kinds; see ``Storage``.
public enum DType: Int32, CaseIterable, Sendable, Hashable, Codable {
    case undefined = 0
    case float = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case double = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// Looks up an ONNX element-type number; nil for numbers the spec does not define.
    public init?(onnx number: Int32) { self.init(rawValue: number) }

    /// The spec's upper-case name (`FLOAT`, `INT8`, …).
    public var name: String {
        switch self {
        case .undefined: "UNDEFINED"
        case .float: "FLOAT"
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .int32: "INT32"
        case .int64: "INT64"
        case .string: "STRING"
        case .bool: "BOOL"
        case .float16: "FLOAT16"
        case .double: "DOUBLE"
        case .uint32: "UINT32"
        case .uint64: "UINT64"
        case .complex64: "COMPLEX64"
        case .complex128: "COMPLEX128"
        case .bfloat16: "BFLOAT16"
        case .float8e4m3fn: "FLOAT8E4M3FN"
        case .float8e4m3fnuz: "FLOAT8E4M3FNUZ"
        case .float8e5m2: "FLOAT8E5M2"
        case .float8e5m2fnuz: "FLOAT8E5M2FNUZ"
        case .uint4: "UINT4"
        case .int4: "INT4"
        case .float4e2m1: "FLOAT4E2M1"
        case .float8e8m0: "FLOAT8E8M0"
        case .uint2: "UINT2"
        case .int2: "INT2"
        }
    }

    /// Lower-case name as numpy spells it where one exists (`float32`, `int8`, …).
    public var shortName: String {
        switch self {
        case .float: "float32"
        case .double: "float64"
        default: name.lowercased()
        }
    }

    /// Bits one element occupies in `raw_data` (sub-byte types are packed, low nibble first).
    public var bitWidth: Int {
        switch self {
        case .undefined, .string: 0
        case .bool, .uint8, .int8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .float, .int32, .uint32: 32
        case .double, .int64, .uint64, .complex64: 64
        case .complex128: 128
        case .uint4, .int4, .float4e2m1: 4
        case .uint2, .int2: 2
        }
    }

    public var isInteger: Bool { integerRange != nil && self != .bool }
    public var isFloatingPoint: Bool {
        switch self {
        case .float, .double, .float16, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2,
            .float8e5m2fnuz, .float4e2m1, .float8e8m0:
            true
        default: false
        }
    }

    /// The saturation range of an integer type (the table QuantizeLinear, Cast and Clip use).
    public var integerRange: ClosedRange<Int64>? {
        switch self {
        case .bool: 0...1
        case .int2: -2...1
        case .uint2: 0...3
        case .int4: -8...7
        case .uint4: 0...15
        case .int8: -128...127
        case .uint8: 0...255
        case .int16: -32768...32767
        case .uint16: 0...65535
        case .int32: Int64(Int32.min)...Int64(Int32.max)
        case .uint32: 0...Int64(UInt32.max)
        case .int64: Int64.min...Int64.max
        case .uint64: 0...Int64.max  // values above Int64.max live in UInt64 storage
        default: nil
        }
    }

    /// Which in-memory storage holds this element type.
    public var storageKind: StorageKind {
        switch self {
        case .float: .f32
        case .double: .f64
        case .int64, .uint32: .i64
        case .uint64: .u64
        case .string: .strings
        case .complex64, .complex128, .undefined: .bytes
        default: .i32  // bool, ≤32-bit ints, and the bit patterns of 16/8/4-bit floats
        }
    }
}

extension DType: CustomStringConvertible {
    public var description: String { shortName }
}
