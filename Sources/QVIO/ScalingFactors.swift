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
/// A folded export keeps only integers, so the real steps of its input and weights are not in
/// it; the optional key `steps` gives them (the steps Aidge's unfolded export of the same
/// quantization writes): input steps by input position, weight steps by Conv/Gemm/MatMul name.
///
///     {"conv1_Scaling": 0.0018, "steps": {"inputs": [0.00787396], "weights": {"conv1": 0.00233}}}
///
/// `scripts/aidge_scaling_factors.py` writes one from an Aidge graph (or from a Reference
/// manifest), with `--steps-from` Aidge's unfolded export for the steps.
public enum ScalingFactorFile {
    /// The key of the real steps in the file (not a quantizer name).
    public static let stepsKey = "steps"

    /// The file's `steps`: input steps by position and weight steps by node name (empty when absent).
    public static func loadSteps(_ path: String) throws -> (inputs: [Double], weights: [String: Double]) {
        try withContext(path) {
            guard let bytes = readFileBytes(path) else { throw QVError.badInput("cannot read file") }
            let data = Data(bytes)
            guard let object = try? JSONSerialization.jsonObject(with: data), let table = object as? [String: Any]
            else {
                throw QVError.badInput("not a JSON object of quantizer name to scaling factor")
            }
            guard let raw = table[stepsKey] else { return ([], [:]) }
            func step(_ v: Any, _ what: String) throws -> Double {
                guard let n = v as? NSNumber, !(v is Bool), n.doubleValue.isFinite, n.doubleValue > 0 else {
                    throw QVError.badInput("steps: \(what) must be a positive number")
                }
                return n.doubleValue
            }
            guard let s = raw as? [String: Any], Set(s.keys).isSubset(of: ["inputs", "weights"]) else {
                throw QVError.badInput(
                    "steps: expected an object with \"inputs\" (a list) and \"weights\" (node name to step)")
            }
            guard let i = (s["inputs"] ?? [Any]()) as? [Any] else {
                throw QVError.badInput("steps: \"inputs\" must be a list")
            }
            guard let w = (s["weights"] ?? [String: Any]()) as? [String: Any] else {
                throw QVError.badInput("steps: \"weights\" must be an object")
            }
            let inputs = try i.enumerated().map { try step($1, "input \($0)") }
            var weights: [String: Double] = [:]
            for (k, v) in w { weights[k] = try step(v, "weight '\(k)'") }
            return (inputs, weights)
        }
    }

    public static func load(_ path: String) throws -> [String: [Float]] {
        try withContext(path) {
            guard let bytes = readFileBytes(path) else { throw QVError.badInput("cannot read file") }
            let data = Data(bytes)
            guard let object = try? JSONSerialization.jsonObject(with: data), let table = object as? [String: Any]
            else {
                throw QVError.badInput("not a JSON object of quantizer name to scaling factor")
            }
            var out: [String: [Float]] = [:]
            for (name, value) in table where name != stepsKey {
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
