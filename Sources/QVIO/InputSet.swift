import Foundation
import QVGraph

/// Calibration / evaluation inputs for a model: a list of samples, each a tensor per input name.
///
/// Accepted files:
/// - `.npy` for a single-input model; if its rank is the input's rank + 1, axis 0 counts samples;
/// - `.npz` keyed by input name (same rule per array; all arrays must have the same sample count);
/// - an ONNX backend-test folder: `test_data_set_N/input_K.pb` (or a folder of `input_K.pb`), one sample per set.
public enum InputSet {
    /// Samples produced one at a time. A single-input `.npy` with samples on axis 0 is read
    /// lazily from disk; other formats are loaded whole (they are small or keyed).
    public struct Stream {
        public let count: Int
        let fetch: (Int) throws -> [String: Tensor]
        public init(count: Int, fetch: @escaping (Int) throws -> [String: Tensor]) {
            self.count = count
            self.fetch = fetch
        }
        public func sample(_ i: Int) throws -> [String: Tensor] { try fetch(i) }
    }

    public static func stream(_ path: String, inputs: [ValueInfo]) throws -> Stream {
        if path.hasSuffix(".npy"), inputs.count == 1, let declared = inputs[0].shape {
            let reader = try Npy.Reader(path)
            if reader.shape.count == declared.count + 1 {
                guard reader.shape[0] > 0 else { throw QVError.badInput("\(path): no samples for input '\(inputs[0].name)'") }
                let name = inputs[0].name
                return Stream(count: reader.shape[0]) { i in try withContext(path) { [name: try reader.slice(i)] } }
            }
        }
        let all = try load(path, inputs: inputs)
        return Stream(count: all.count) { all[$0] }
    }

    public static func load(_ path: String, inputs: [ValueInfo]) throws -> [[String: Tensor]] {
        try withContext(path) {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw QVError.badInput("no such file") }
            if isDir.boolValue { return try backendFolder(path, inputs: inputs) }
            if path.hasSuffix(".npz") {
                let arrays = try Npy.loadArchive(path)
                for a in arrays where !inputs.contains(where: { $0.name == a.name }) {
                    throw QVError.badInput("array '\(a.name)' names no model input; inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))")
                }
                var perInput: [String: [Tensor]] = [:]
                for i in inputs {
                    guard let a = arrays.first(where: { $0.name == i.name }) else { throw QVError.badInput("no array for input '\(i.name)'") }
                    perInput[i.name] = try splitSamples(a.tensor, i)
                }
                let counts = Set(perInput.values.map(\.count))
                guard counts.count == 1 else { throw QVError.badInput("arrays have different sample counts: \(counts.sorted())") }
                return (0..<counts.first!).map { s in perInput.mapValues { $0[s] } }
            }
            guard inputs.count == 1 else {
                throw QVError.badInput("a .npy file can feed only a single-input model; this one has \(inputs.count) inputs (use .npz keyed by input name)")
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
        throw QVError.badInput("array for input '\(input.name)' has shape \(t.shape); expected rank \(declared.count) (one sample) or \(declared.count + 1) (samples on axis 0)")
    }

    static func backendFolder(_ path: String, inputs: [ValueInfo]) throws -> [[String: Tensor]] {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: path).sorted()
        let sets = entries.filter { $0.hasPrefix("test_data_set_") }
        let dirs = sets.isEmpty ? [path] : sets.map { (path as NSString).appendingPathComponent($0) }
        return try dirs.map { dir in
            let files = try fm.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }
                .sorted { Int($0.dropFirst(6).dropLast(3)) ?? 0 < Int($1.dropFirst(6).dropLast(3)) ?? 0 }
            guard files.count == inputs.count else { throw QVError.badInput("\(dir) has \(files.count) input_K.pb files, the model has \(inputs.count) inputs") }
            var sample: [String: Tensor] = [:]
            for (k, f) in files.enumerated() {
                let (name, t) = try OnnxFile.loadTensor((dir as NSString).appendingPathComponent(f))
                sample[name.isEmpty ? inputs[k].name : name] = t
            }
            return sample
        }
    }
}
