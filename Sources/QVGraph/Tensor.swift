/// How the elements of a ``Tensor`` are held in memory.
public enum StorageKind: Sendable, Hashable {
    case f32, f64, i32, i64, u64, strings, bytes
}

/// Typed element storage. Integer types up to 32 bits, `bool` and the bit patterns of
/// 16/8/4-bit floats are widened to `Int32` (int4/uint4 unpacked, one element per value);
/// `int64` and `uint32` live in `Int64`; `uint64` in `UInt64`; complex types stay raw bytes.
public enum Storage: Sendable, Equatable {
    case f32([Float])
    case f64([Double])
    case i32([Int32])
    case i64([Int64])
    case u64([UInt64])
    case strings([[UInt8]])
    case bytes([UInt8])

    public var count: Int {
        switch self {
        case .f32(let a): a.count
        case .f64(let a): a.count
        case .i32(let a): a.count
        case .i64(let a): a.count
        case .u64(let a): a.count
        case .strings(let a): a.count
        case .bytes(let a): a.count
        }
    }

    public var kind: StorageKind {
        switch self {
        case .f32: .f32
        case .f64: .f64
        case .i32: .i32
        case .i64: .i64
        case .u64: .u64
        case .strings: .strings
        case .bytes: .bytes
        }
    }

    /// Zero-filled storage of `kind` for `count` elements.
    public static func zeros(_ kind: StorageKind, count: Int) -> Storage {
        switch kind {
        case .f32: .f32(Array(repeating: 0, count: count))
        case .f64: .f64(Array(repeating: 0, count: count))
        case .i32: .i32(Array(repeating: 0, count: count))
        case .i64: .i64(Array(repeating: 0, count: count))
        case .u64: .u64(Array(repeating: 0, count: count))
        case .strings: .strings(Array(repeating: [], count: count))
        case .bytes: .bytes(Array(repeating: 0, count: count))
        }
    }
}

/// How a tensor was stored in its ONNX file, kept so that a load → save round trip writes it
/// back the same way.
public struct TensorOrigin: Sendable, Equatable {
    public enum Encoding: Sendable, Equatable {
        /// `raw_data` (little-endian, sub-byte types packed).
        case raw
        /// The typed repeated field the spec assigns to the dtype (`float_data`, `int32_data`, …).
        case typed
        /// `data_location = EXTERNAL` with these `external_data` entries (location, offset, length…).
        case external([KeyValue])
    }
    public var encoding: Encoding
    public var docString: String?
    public var metadata: [KeyValue]

    public init(encoding: Encoding = .raw, docString: String? = nil, metadata: [KeyValue] = []) {
        self.encoding = encoding
        self.docString = docString
        self.metadata = metadata
    }
}

/// A string key/value pair (`StringStringEntryProto`).
public struct KeyValue: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// A dense tensor: element type, shape and typed storage. `storage.count` always equals
/// the product of `shape` (an empty shape is a scalar with one element).
public struct Tensor: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public var storage: Storage
    /// How it was written in its file; nil for tensors qverify computed.
    public var origin: TensorOrigin?

    public init(dtype: DType, shape: [Int], storage: Storage, origin: TensorOrigin? = nil) {
        precondition(
            storage.kind == dtype.storageKind || dtype == .undefined,
            "storage \(storage.kind) does not hold \(dtype)")
        precondition(
            Tensor.elementCount(shape) == storage.count,
            "shape \(shape) needs \(Tensor.elementCount(shape) ?? -1) elements, storage has \(storage.count)")
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.origin = origin
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Product of `shape`, nil if a dimension is negative or the product overflows `Int`.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = p
        }
        return n
    }

    // MARK: convenience constructors

    public init(_ values: [Float], shape: [Int]) { self.init(dtype: .float, shape: shape, storage: .f32(values)) }
    public init(_ values: [Double], shape: [Int]) { self.init(dtype: .double, shape: shape, storage: .f64(values)) }
    public init(int64s values: [Int64], shape: [Int], dtype: DType = .int64) {
        self.init(dtype: dtype, shape: shape, storage: .i64(values))
    }
    /// Integer tensor of a type held in `Int32` storage (int8, uint8, int32, int4, bool, …).
    public init(_ values: [Int32], shape: [Int], dtype: DType) {
        self.init(dtype: dtype, shape: shape, storage: .i32(values))
    }
    public static func scalar(_ v: Float) -> Tensor { Tensor([v], shape: []) }

    public static func zeros(_ dtype: DType, shape: [Int]) -> Tensor {
        Tensor(dtype: dtype, shape: shape, storage: .zeros(dtype.storageKind, count: elementCount(shape) ?? 0))
    }

    // MARK: typed views

    public var floats: [Float]? { if case .f32(let a) = storage { a } else { nil } }
    public var int32s: [Int32]? { if case .i32(let a) = storage { a } else { nil } }
    public var int64s: [Int64]? { if case .i64(let a) = storage { a } else { nil } }
    public var doubles: [Double]? { if case .f64(let a) = storage { a } else { nil } }
    public var uint64s: [UInt64]? { if case .u64(let a) = storage { a } else { nil } }
    public var stringValues: [[UInt8]]? { if case .strings(let a) = storage { a } else { nil } }
    public var rawBytes: [UInt8]? { if case .bytes(let a) = storage { a } else { nil } }

    /// Every element as Double (exact for all integer types up to 2^53 and for float/double);
    /// nil for strings, complex and raw float8/16 bit patterns.
    public func asDoubles() -> [Double]? {
        switch storage {
        case .f32(let a): return converted(a) { Double($0) }
        case .f64(let a): return a
        case .i32(let a): return dtype.isInteger || dtype == .bool ? converted(a) { Double($0) } : nil
        case .i64(let a): return converted(a) { Double($0) }
        case .u64(let a): return converted(a) { Double($0) }
        default: return nil
        }
    }

    /// Every element as Int64, for integer tensors (uint64 above Int64.max is refused).
    public func asInt64s() -> [Int64]? {
        switch storage {
        case .i32(let a) where dtype.isInteger || dtype == .bool: return converted(a) { Int64($0) }
        case .i64(let a): return a
        case .u64(let a): return a.allSatisfy({ $0 <= UInt64(Int64.max) }) ? a.map { Int64($0) } : nil
        default: return nil
        }
    }

    /// The integers a float tensor holds (every element whole and below 2^53 in magnitude), nil
    /// otherwise or for a non-float tensor: Aidge's exporter writes shapes, split sizes, axes and
    /// pads as FLOAT tensors.
    public func floatHeldIntegers() -> [Int64]? {
        guard dtype.isFloatingPoint, let v = asDoubles(),
            v.allSatisfy({ $0 == $0.rounded(.towardZero) && abs($0) < 9.0e15 })
        else { return nil }
        return v.map { Int64($0) }
    }

    /// A copy with a different shape over the same elements.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var t = self
        t.shape = newShape
        precondition(Tensor.elementCount(newShape) == count)
        return t
    }
}

extension Tensor {
    /// Stacks same-typed, same-shaped tensors along a new leading axis.
    public static func stack(_ ts: [Tensor]) throws -> Tensor {
        guard let first = ts.first else { throw QVError.internalError("stack of no tensors") }
        guard ts.allSatisfy({ $0.dtype == first.dtype && $0.shape == first.shape }) else {
            throw QVError.badInput(
                "cannot stack tensors of different types or shapes: \(Set(ts.map { "\($0.dtype)\($0.shape)" }).sorted())"
            )
        }
        let storage: Storage
        switch first.storage {
        case .f32: storage = .f32(ts.flatMap { $0.floats! })
        case .f64: storage = .f64(ts.flatMap { $0.doubles! })
        case .i32: storage = .i32(ts.flatMap { $0.int32s! })
        case .i64: storage = .i64(ts.flatMap { $0.int64s! })
        case .u64: storage = .u64(ts.flatMap { $0.uint64s! })
        case .strings: storage = .strings(ts.flatMap { $0.stringValues! })
        case .bytes: storage = .bytes(ts.flatMap { $0.rawBytes! })
        }
        return Tensor(dtype: first.dtype, shape: [ts.count] + first.shape, storage: storage)
    }

    /// Sample `i` of a tensor whose leading axis counts samples.
    public func sample(_ i: Int) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        let r = (i * inner)..<((i + 1) * inner)
        let s: Storage
        switch storage {
        case .f32(let a): s = .f32(Array(a[r]))
        case .f64(let a): s = .f64(Array(a[r]))
        case .i32(let a): s = .i32(Array(a[r]))
        case .i64(let a): s = .i64(Array(a[r]))
        case .u64(let a): s = .u64(Array(a[r]))
        case .strings(let a): s = .strings(Array(a[r]))
        case .bytes(let a): s = .bytes(Array(a[r]))
        }
        return Tensor(dtype: dtype, shape: Array(shape.dropFirst()), storage: s)
    }
}

/// Element-wise conversion into a buffer of known size: vectorizes, where Array.map grows its
/// result one element at a time (that was 7% of an Aidge-form CNN's time). For activations.
@inlinable @inline(__always)
public func converted<T, U>(_ a: [T], _ f: (T) -> U) -> [U] {
    [U].uninitialized(a.count) { buf, n in
        a.withUnsafeBufferPointer { ab in for i in 0..<ab.count { buf[i] = f(ab[i]) } }
        n = a.count
    }
}

extension Array {
    /// `Array(unsafeUninitializedCapacity:initializingWith:)`, except that a capacity of 0 gives
    /// `[]` without calling `body`. An uninitialized-capacity array of 0 elements is Swift's shared
    /// empty array, and its initializer writes that shared object's count: kernels running on
    /// several threads (a zero-sized tensor, a MaxPool without indices) then race on it, as
    /// ThreadSanitizer reports. Every uninitialized buffer in qverify is made here.
    @inlinable
    public static func uninitialized(
        _ capacity: Int, _ body: (inout UnsafeMutableBufferPointer<Element>, inout Int) throws -> Void
    ) rethrows -> [Element] {
        capacity == 0 ? [] : try Array(unsafeUninitializedCapacity: capacity, initializingWith: body)
    }
}
