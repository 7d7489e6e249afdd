import Foundation
import QVGraph

/// Calibration / evaluation inputs for a model: a list of samples, each a tensor per input name.
///
/// Accepted files:
/// - `.npy` for a single-input model; if its rank is the input's rank + 1, axis 0 counts samples;
/// - `.npz` keyed by input name (same rule per array; all arrays must have the same sample count);
/// - an ONNX backend-test folder: `test_data_set_N/input_K.pb` (or a folder of `input_K.pb`), one sample per set.
public enum InputSet {
    /// Samples produced one at a time. `.npy` files and `.npz` archives of stored (uncompressed,
    /// numpy's `savez`) members are read slice by slice from disk: memory does not grow with the
    /// file. A compressed `.npz` (`savez_compressed`) or a backend-test folder is loaded whole,
    /// refused with a clear error when it would exceed ``memoryBudget``.
    public struct Stream {
        public let count: Int
        let fetch: (Int) throws -> [String: Tensor]
        public init(count: Int, fetch: @escaping (Int) throws -> [String: Tensor]) {
            self.count = count
            self.fetch = fetch
        }
        public func sample(_ i: Int) throws -> [String: Tensor] { try fetch(i) }
    }

    /// Bytes of inputs qverify may load whole: half this machine's memory (QVERIFY_MAX_INPUT_BYTES
    /// overrides it). Streamed files have no limit.
    public static var memoryBudget: UInt64 {
        if let s = ProcessInfo.processInfo.environment["QVERIFY_MAX_INPUT_BYTES"], let v = UInt64(s) { return v }
        return ProcessInfo.processInfo.physicalMemory / 2
    }

    /// An array samples are cut from along axis 0: a `.npy` (or stored `.npz` member) read slice
    /// by slice, or a tensor already in memory.
    struct SampleArray {
        let name: String
        let shape: [Int]
        let slice: (Int) throws -> Tensor
        let whole: () throws -> Tensor

        init(_ name: String, reader: Npy.Reader) {
            self.name = name
            shape = reader.shape
            slice = reader.slice
            whole = reader.all
        }

        init(_ name: String, tensor: Tensor) {
            self.name = name
            shape = tensor.shape
            slice = { tensor.sample($0) }
            whole = { tensor }
        }
    }

    /// The samples of `path`, produced one at a time. (Errors of the readers name the file
    /// themselves; the rest get it as context.)
    public static func stream(_ path: String, inputs: [ValueInfo]) throws -> Stream {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw QVError.badInput("\(path): no such file")
        }
        if isDir.boolValue {
            let all = try withContext(path) { try backendFolder(path, inputs: inputs) }
            return Stream(count: all.count) { all[$0] }
        }
        if path.hasSuffix(".npz") { return try samples(try npzArrays(path), inputs: inputs, keyed: true, path: path) }
        guard inputs.count == 1 else {
            throw QVError.badInput(
                "\(path): a .npy file can feed only a single-input model; this one has \(inputs.count) inputs (use .npz keyed by input name)"
            )
        }
        return try samples(
            [SampleArray(inputs[0].name, reader: try Npy.Reader(path))], inputs: inputs, keyed: false, path: path)
    }

    /// Every sample of `path` in memory (for small files and tests; commands use ``stream(_:inputs:)``).
    public static func load(_ path: String, inputs: [ValueInfo]) throws -> [[String: Tensor]] {
        let s = try stream(path, inputs: inputs)
        return try (0..<s.count).map(s.sample)
    }

    /// A `.npz`'s arrays: stored members read in place; compressed ones extracted whole, within
    /// ``memoryBudget``.
    static func npzArrays(_ path: String) throws -> [SampleArray] {
        let members = try ZipDirectory(path).members.filter { !$0.name.hasSuffix("/") }
        if members.allSatisfy({ $0.method == 0 }) {
            return try members.map { m in
                let name = m.name.hasSuffix(".npy") ? String(m.name.dropLast(4)) : m.name
                return SampleArray(
                    name,
                    reader: try Npy.Reader(
                        path, offset: m.dataOffset, length: m.size, describedAs: "\(path): entry '\(m.name)'"))
            }
        }
        let size = members.reduce(0) { $0 + $1.size }
        guard size <= memoryBudget else {
            throw QVError.badInput(
                "\(path): a compressed .npz is read whole and this one holds \(size) bytes, more than the \(memoryBudget) qverify may hold (half this machine's memory; QVERIFY_MAX_INPUT_BYTES changes it); save it with numpy.savez (uncompressed, read slice by slice) or as .npy"
            )
        }
        return try Npy.loadArchive(path).map { SampleArray($0.name, tensor: $0.tensor) }
    }

    /// Samples cut from `arrays`: every input needs an array (`keyed`: named by input, a .npz;
    /// else the one array of a .npy feeds the one input), rank + 1 means samples on axis 0, and
    /// all arrays have the same sample count.
    static func samples(_ arrays: [SampleArray], inputs: [ValueInfo], keyed: Bool, path: String) throws -> Stream {
        try withContext(path) {
            for a in arrays where keyed {
                guard inputs.contains(where: { $0.name == a.name }) else {
                    throw QVError.badInput(
                        "array '\(a.name)' names no model input; inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))"
                    )
                }
            }
            var parts: [(name: String, array: SampleArray, perSample: Bool)] = []
            var counts = Set<Int>()
            for i in inputs {
                guard let a = keyed ? arrays.first(where: { $0.name == i.name }) : arrays.first else {
                    throw QVError.badInput("no array for input '\(i.name)'")
                }
                let perSample = i.shape.map { a.shape.count == $0.count + 1 } ?? false
                if let declared = i.shape, !perSample, a.shape.count != declared.count {
                    throw QVError.badInput(
                        "array for input '\(i.name)' has shape \(a.shape); expected rank \(declared.count) (one sample) or \(declared.count + 1) (samples on axis 0)"
                    )
                }
                if perSample && a.shape[0] == 0 { throw QVError.badInput("no samples for input '\(i.name)'") }
                parts.append((i.name, a, perSample))
                counts.insert(perSample ? a.shape[0] : 1)
            }
            guard counts.count == 1 else {
                throw QVError.badInput("arrays have different sample counts: \(counts.sorted())")
            }
            return Stream(count: counts.first!) { s in
                try withContext(path) {
                    var sample: [String: Tensor] = [:]
                    for p in parts { sample[p.name] = try p.perSample ? p.array.slice(s) : p.array.whole() }
                    return sample
                }
            }
        }
    }

    static func backendFolder(_ path: String, inputs: [ValueInfo]) throws -> [[String: Tensor]] {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: path).sorted()
        let sets = entries.filter { $0.hasPrefix("test_data_set_") }
        let dirs = sets.isEmpty ? [path] : sets.map { (path as NSString).appendingPathComponent($0) }
        return try dirs.map { dir in
            let files = try fm.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }
                .sorted { Int($0.dropFirst(6).dropLast(3)) ?? 0 < Int($1.dropFirst(6).dropLast(3)) ?? 0 }
            guard files.count == inputs.count else {
                throw QVError.badInput(
                    "\(dir) has \(files.count) input_K.pb files, the model has \(inputs.count) inputs")
            }
            var sample: [String: Tensor] = [:]
            for (k, f) in files.enumerated() {
                let (name, t) = try OnnxFile.loadTensor((dir as NSString).appendingPathComponent(f))
                sample[name.isEmpty ? inputs[k].name : name] = t
            }
            return sample
        }
    }
}
