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

    /// (Errors of the readers name the file themselves; the rest get it as context.)
    public static func stream(_ path: String, inputs: [ValueInfo]) throws -> Stream {
        do {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw QVError.badInput("\(path): no such file")
            }
            if !isDir.boolValue && path.hasSuffix(".npy") {
                guard inputs.count == 1 else {
                    throw QVError.badInput(
                        "\(path): a .npy file can feed only a single-input model; this one has \(inputs.count) inputs (use .npz keyed by input name)"
                    )
                }
                return try streamed([(inputs[0].name, try Npy.Reader(path))], inputs: inputs, keyed: false)
            }
            if !isDir.boolValue && path.hasSuffix(".npz") {
                let members = try ZipDirectory(path).members.filter { !$0.name.hasSuffix("/") }
                if members.allSatisfy({ $0.method == 0 }) {
                    let readers = try members.map { m -> (String, Npy.Reader) in
                        let name = m.name.hasSuffix(".npy") ? String(m.name.dropLast(4)) : m.name
                        return (
                            name,
                            try Npy.Reader(
                                path, offset: m.dataOffset, length: m.size, describedAs: "\(path): entry '\(m.name)'")
                        )
                    }
                    return try streamed(readers, inputs: inputs, keyed: true)
                }
                let size = members.reduce(0) { $0 + $1.size }
                guard size <= memoryBudget else {
                    throw QVError.badInput(
                        "\(path): a compressed .npz is read whole and this one holds \(size) bytes, more than the \(memoryBudget) qverify may hold (half this machine's memory; QVERIFY_MAX_INPUT_BYTES changes it); save it with numpy.savez (uncompressed, read slice by slice) or as .npy"
                    )
                }
            }
            let all = try load(path, inputs: inputs)
            return Stream(count: all.count) { all[$0] }
        }
    }

    /// Samples read slice by slice from `.npy` readers keyed by input name (the rules of `load`:
    /// every input needs an array, rank + 1 means samples on axis 0, equal sample counts).
    /// `keyed`: arrays named by input (a .npz); else one .npy for the one input.
    static func streamed(
        _ readers: [(name: String, reader: Npy.Reader)], inputs: [ValueInfo], keyed: Bool
    ) throws -> Stream {
        let path = readers.first?.reader.path ?? ""
        return try withContext(path) { try validated(readers, inputs, keyed) }
    }

    static func validated(
        _ readers: [(name: String, reader: Npy.Reader)], _ inputs: [ValueInfo], _ keyed: Bool
    ) throws -> Stream {
        for r in readers where keyed {
            guard inputs.contains(where: { $0.name == r.name }) else {
                throw QVError.badInput(
                    "array '\(r.name)' names no model input; inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))"
                )
            }
        }
        var parts: [(name: String, reader: Npy.Reader, perSample: Bool)] = []
        var counts = Set<Int>()
        for i in inputs {
            // A lone .npy feeds the single input whatever its name.
            guard let r = keyed ? readers.first(where: { $0.name == i.name })?.reader : readers.first?.reader else {
                throw QVError.badInput("no array for input '\(i.name)'")
            }
            guard let declared = i.shape else { parts.append((i.name, r, false)); counts.insert(1); continue }
            if r.shape.count == declared.count + 1 {
                guard r.shape[0] > 0 else { throw QVError.badInput("no samples for input '\(i.name)'") }
                parts.append((i.name, r, true))
                counts.insert(r.shape[0])
            } else if r.shape.count == declared.count {
                parts.append((i.name, r, false))
                counts.insert(1)
            } else {
                throw QVError.badInput(
                    "array for input '\(i.name)' has shape \(r.shape); expected rank \(declared.count) (one sample) or \(declared.count + 1) (samples on axis 0)"
                )
            }
        }
        guard counts.count == 1 else {
            throw QVError.badInput("arrays have different sample counts: \(counts.sorted())")
        }
        let path = readers.first?.reader.path ?? ""
        return Stream(count: counts.first!) { s in
            try withContext(path) {
                var sample: [String: Tensor] = [:]
                for p in parts { sample[p.name] = try p.perSample ? p.reader.slice(s) : p.reader.all() }
                return sample
            }
        }
    }

    public static func load(_ path: String, inputs: [ValueInfo]) throws -> [[String: Tensor]] {
        try withContext(path) {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw QVError.badInput("no such file")
            }
            if isDir.boolValue { return try backendFolder(path, inputs: inputs) }
            if path.hasSuffix(".npz") {
                let arrays = try Npy.loadArchive(path)
                for a in arrays where !inputs.contains(where: { $0.name == a.name }) {
                    throw QVError.badInput(
                        "array '\(a.name)' names no model input; inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))"
                    )
                }
                var perInput: [String: [Tensor]] = [:]
                for i in inputs {
                    guard let a = arrays.first(where: { $0.name == i.name }) else {
                        throw QVError.badInput("no array for input '\(i.name)'")
                    }
                    perInput[i.name] = try splitSamples(a.tensor, i)
                }
                let counts = Set(perInput.values.map(\.count))
                guard counts.count == 1 else {
                    throw QVError.badInput("arrays have different sample counts: \(counts.sorted())")
                }
                return (0..<counts.first!).map { s in perInput.mapValues { $0[s] } }
            }
            guard inputs.count == 1 else {
                throw QVError.badInput(
                    "a .npy file can feed only a single-input model; this one has \(inputs.count) inputs (use .npz keyed by input name)"
                )
            }
            let t = try Npy.load(path)
            return try splitSamples(t, inputs[0]).map { [inputs[0].name: $0] }
        }
    }

    static func splitSamples(_ t: Tensor, _ input: ValueInfo) throws -> [Tensor] {
        guard let declared = input.shape else { return [t] }
        if t.rank == declared.count + 1 {
            guard t.shape[0] > 0 else { throw QVError.badInput("no samples for input '\(input.name)'") }
            return (0..<t.shape[0]).map { t.sample($0) }
        }
        if t.rank == declared.count { return [t] }
        throw QVError.badInput(
            "array for input '\(input.name)' has shape \(t.shape); expected rank \(declared.count) (one sample) or \(declared.count + 1) (samples on axis 0)"
        )
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
