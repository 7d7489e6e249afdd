/// Attribute access with the spec's defaults (what every operator, rule and check reads).

extension Node {
    public func int(_ name: String, default d: Int) -> Int {
        if case .int(let v) = attribute(name) { return Int(v) }
        return d
    }
    public func float(_ name: String, default d: Float) -> Float {
        if case .float(let v) = attribute(name) { return v }
        return d
    }
    public func ints(_ name: String) -> [Int]? {
        if case .ints(let v) = attribute(name) { return v.map { Int($0) } }
        return nil
    }
    public func string(_ name: String, default d: String) -> String {
        if case .string(let v) = attribute(name) { return String(decoding: v, as: UTF8.self) }
        return d
    }
}
