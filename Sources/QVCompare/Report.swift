import QVGraph

public enum Severity: String, Codable, Sendable, Comparable {
    case info, warning, error
    public static func < (a: Severity, b: Severity) -> Bool {
        let order: [Severity] = [.info, .warning, .error]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// How qverify prints a number everywhere (findings, stdout, reports): whole numbers below 10^15
/// as integers, others with `digits` significant digits, infinities as ±∞, `missing` for none.
public func formatNumber(_ d: Double?, digits: Int = 3, missing: String = "–") -> String {
    guard let d else { return missing }
    if d.isInfinite { return d > 0 ? "∞" : "-∞" }
    if d == d.rounded(.towardZero) && abs(d) < 1e15 { return String(Int(d)) }
    return String(format: "%.\(digits)g", d)
}

/// One static or dynamic observation, tied to a node.
public struct Finding: Codable, Sendable, Equatable {
    public var severity: Severity
    /// Stable identifier (see README: finding codes).
    public var code: String
    /// Node name ("" for whole-model findings).
    public var node: String
    /// Which model: "reference", "candidate", or the model's file name.
    public var model: String
    public var message: String
    /// The finding this one is a consequence of (its "code @ node"), when it has one: consequences
    /// are reported under their cause (e.g. one JUnit failure per cause).
    public var cause: String?

    public init(
        _ severity: Severity, _ code: String, node: String, model: String, _ message: String, cause: String? = nil
    ) {
        self.severity = severity
        self.code = code
        self.node = node
        self.model = model
        self.message = message
        self.cause = cause
    }

    /// How a finding is named as a cause: "code @ node".
    public var key: String { node.isEmpty ? code : "\(code) @ \(node)" }
}

extension Array where Element == Finding {
    /// The findings that are no listed finding's consequence (causes, and findings on their own),
    /// in order, each with every finding that follows from it — directly or through another
    /// consequence (a first divergence under a zeroed bias, its wrap-vs-saturate under it) — in
    /// order. What stdout, report.html and junit.xml group by.
    public func byCause() -> [(cause: Finding, consequences: [Finding])] {
        let keys = Set(map(\.key))
        let direct = Dictionary(grouping: filter { $0.cause.map(keys.contains) == true }, by: { $0.cause! })
        func descendants(_ f: Finding, _ seen: inout Set<String>) -> [Finding] {
            guard seen.insert(f.key).inserted else { return [] }
            return (direct[f.key] ?? []).flatMap { [$0] + descendants($0, &seen) }
        }
        return filter { $0.cause.map(keys.contains) != true }.map { f in
            var seen = Set<String>()
            return (f, descendants(f, &seen))
        }
    }
}

/// A tensor on one side of an aligned pair.
public struct TensorRef: Codable, Sendable, Equatable {
    public var tensor: String
    public var node: String
    public var op: String
    public var dtype: String?
    public var scale: Double?
    public var zeroPoint: Int64?
}

public enum NodeStatus: String, Codable, Sendable {
    /// Equal (within tolerance).
    case ok
    /// The first node, in topological order, whose values differ beyond tolerance.
    case diverges
    /// Differs, after the first divergence.
    case downstream
    /// Differs only by half-up vs half-even ties (or their one-step consequences downstream).
    case ties
    /// Present in one model only.
    case unmatched
}

public struct NodeReport: Codable, Sendable {
    public var signature: String
    public var reference: TensorRef?
    public var candidate: TensorRef?
    public var status: NodeStatus
    public var stats: TensorStats?
    /// Elements whose difference exceeds the tolerance, in candidate steps.
    public var differingBeyondTolerance: Int
    public var toleranceSteps: Double
    public var ties: Int?
    public var wraps: Int?
    /// Histogram of signed step differences (candidate − reference), key = steps.
    public var stepHistogram: [String: Int]?
    /// The largest differences with their sample and element index (points that differ).
    public var worst: [WorstElement]?
}

public struct ModelRef: Codable, Sendable {
    public var path: String
    public var kind: String
    public var semantics: String
}

/// The comparison of one candidate model with the reference.
public struct ComparisonReport: Codable, Sendable {
    public var name: String
    public var reference: ModelRef
    public var candidate: ModelRef
    public var samples: Int
    public var verdict: Verdict
    public var firstDivergence: String?
    public var output: TensorStats?
    public var findings: [Finding]
    public var nodes: [NodeReport]
    public var unmatchedReference: [String]
    public var unmatchedCandidate: [String]
    /// How the candidate runs on each onnxruntime deployment target and level (verify; nil when not measured).
    public var targets: [TargetResult]?
    /// Top-1 against --labels (nil without labels).
    public var accuracy: LabelStatistics?

    /// Adds findings and recomputes the verdict.
    public mutating func add(_ more: [Finding]) {
        findings += more
        verdict = Verdict.from(findings)
    }
}

public enum Verdict: String, Codable, Sendable {
    case equivalent
    case equivalentWithWarnings = "equivalent-with-warnings"
    case discrepancy

    public static func from(_ findings: [Finding]) -> Verdict {
        if findings.contains(where: { $0.severity == .error }) { return .discrepancy }
        if findings.contains(where: { $0.severity == .warning }) { return .equivalentWithWarnings }
        return .equivalent
    }
}

/// What `verify`, `compare` and `check` write as report.json (schema 1, documented in README).
public struct Report: Codable, Sendable {
    public var schema = 1
    public var tool: String
    public var command: String
    public var model: String
    public var inputs: String?
    public var tolerance: Tolerance
    public var verdict: Verdict
    public var findings: [Finding]
    public var comparisons: [ComparisonReport]

    public init(
        tool: String, command: String, model: String, inputs: String?, tolerance: Tolerance, findings: [Finding],
        comparisons: [ComparisonReport]
    ) {
        self.tool = tool
        self.command = command
        self.model = model
        self.inputs = inputs
        self.tolerance = tolerance
        self.findings = findings
        self.comparisons = comparisons
        self.verdict = Verdict.from(findings + comparisons.flatMap(\.findings))
    }
}

/// Allowed differences, in quantization steps of the candidate.
public struct Tolerance: Codable, Sendable, Equatable {
    /// Allowed difference in steps (fractional allowed: 0.5 lets a float reference's rounding
    /// to the nearest step pass, 1.5 one step more).
    public var steps: Double = 0
    /// Per node (reference or candidate node name) overrides.
    public var perNode: [String: Double] = [:]
    /// For points where a side is float (float-vs-quantized, float-vs-float), where steps mean
    /// nothing: Polygraphy's element-wise check, an element passes when |Δ| ≤ atol or
    /// |Δ| ≤ rtol·|reference|. Nil: steps as for the rest.
    public var atol: Double?
    public var rtol: Double?
    /// Minimum SQNR (dB) and cosine similarity at every such point; the first point below is an
    /// error, later ones its consequences.
    public var minSQNR: Double?
    public var minCosine: Double?

    public init(
        steps: Double = 0, perNode: [String: Double] = [:], atol: Double? = nil, rtol: Double? = nil,
        minSQNR: Double? = nil, minCosine: Double? = nil
    ) {
        self.steps = steps
        self.perNode = perNode
        self.atol = atol
        self.rtol = rtol
        self.minSQNR = minSQNR
        self.minCosine = minCosine
    }

    /// Whether real-valued points use atol/rtol instead of steps.
    public var realValued: (atol: Double, rtol: Double)? {
        atol == nil && rtol == nil ? nil : (atol ?? 0, rtol ?? 0)
    }
    public func steps(for nodes: [String]) -> Double { nodes.compactMap { perNode[$0] }.max() ?? steps }

    /// A tolerance as people write it ("1", "0.5", "1e-05"): qverify's one number format, six
    /// significant digits.
    public static func describe(_ value: Double) -> String { formatNumber(value, digits: 6) }

    /// "--atol A / --rtol R" when real-valued points use them.
    public var realValuedText: String? {
        realValued.map { "--atol \(Self.describe($0.atol)) / --rtol \(Self.describe($0.rtol))" }
    }
}
