import Foundation
import QVGraph

/// Aidge's scaling factors, supplied by the user so that Aidge quantizers run with the exact sf
/// rather than float32(1/scale) from the export (which can name two float32 values).
///
/// File format (JSON): an object from quantizer node name to its sf — a number, or an array of
/// numbers for a per-channel quantizer:
///
///     {"InputRescaling": 127.0008773803711, "conv1_Scaling": [0.0018, 0.0021]}
///
/// `scripts/aidge_scaling_factors.py` writes one from an Aidge graph (or from a Reference manifest).
public enum ScalingFactorFile {
    public static func load(_ path: String) throws -> [String: [Float]] {
        try withContext(path) {
            guard let data = FileManager.default.contents(atPath: path) else { throw QVError.badInput("cannot read file") }
            guard let object = try? JSONSerialization.jsonObject(with: data), let table = object as? [String: Any] else {
                throw QVError.badInput("not a JSON object of quantizer name to scaling factor")
            }
            var out: [String: [Float]] = [:]
            for (name, value) in table {
                let numbers: [NSNumber]
                if let n = value as? NSNumber, !(value is Bool) {
                    numbers = [n]
                } else if let a = value as? [NSNumber], !a.isEmpty {
                    numbers = a
                } else {
                    throw QVError.badInput("'\(name)': expected a number or a non-empty array of numbers")
                }
                let floats = numbers.map { Float($0.doubleValue) }
                guard floats.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                    throw QVError.badInput("'\(name)': scaling factors must be finite and positive")
                }
                out[name] = floats
            }
            return out
        }
    }
}
