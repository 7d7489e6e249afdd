import Foundation
import QVCompare
import QVGraph

/// Writes report.json, report.md, report.html and junit.xml into one directory, each atomically
/// (temporary file, then rename); nothing is written outside that directory.
public enum ReportWriter {
    /// `candidates`: each comparison's candidate model, drawn in report.html and overlaid for
    /// Model Explorer (`model-explorer-<comparison>.json`).
    public static func write(_ r: Report, to dir: String, candidates: [String: Model] = [:]) throws -> [String] {
        let graphs = candidates.mapValues(GraphSketch.init)
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw QVError.badInput("\(dir): cannot create report directory: \(error.localizedDescription)")
        }
        var files: [(String, String)] = [
            ("report.json", try json(r)), ("report.md", Markdown.render(r)),
            ("report.html", HTML.render(r, graphs: graphs)), ("junit.xml", JUnit.render(r)),
        ]
        for c in r.comparisons {
            if let m = candidates[c.name] {
                files.append(("model-explorer-\(c.name).json", try Overlays.modelExplorerNodeData(m, comparison: c)))
            }
        }
        var written: [String] = []
        for (name, text) in files {
            let path = (dir as NSString).appendingPathComponent(name)
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw QVError.badInput("\(path): cannot write: \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }

    /// What `--json` prints on stdout: the verdict and exit code, each comparison's verdict,
    /// first divergence and output statistics, and every finding with its comparison and cause
    /// (report.json has the per-node detail).
    public struct Summary: Codable, Sendable {
        public struct Comparison: Codable, Sendable {
            public var name: String
            public var verdict: Verdict
            public var firstDivergence: String?
            public var output: TensorStats?
            public var samples: Int
        }
        public struct Item: Codable, Sendable {
            public var severity: Severity
            public var code: String
            public var node: String
            public var comparison: String?
            public var cause: String?
            public var message: String
        }
        public var schema = 1
        public var command: String
        public var model: String
        public var verdict: Verdict
        public var exitCode: Int32
        public var reportDir: String?
        public var comparisons: [Comparison]
        public var findings: [Item]
    }

    public static func summaryJSON(_ r: Report, exitCode: Int32, reportDir: String?) throws -> String {
        let s = Summary(
            command: r.command, model: r.model, verdict: r.verdict, exitCode: exitCode, reportDir: reportDir,
            comparisons: r.comparisons.map {
                .init(
                    name: $0.name, verdict: $0.verdict, firstDivergence: $0.firstDivergence, output: $0.output,
                    samples: $0.samples)
            },
            findings: r.findings.map {
                .init(
                    severity: $0.severity, code: $0.code, node: $0.node, comparison: nil, cause: $0.cause,
                    message: $0.message)
            }
                + r.comparisons.flatMap { c in
                    c.findings.map {
                        .init(
                            severity: $0.severity, code: $0.code, node: $0.node, comparison: c.name, cause: $0.cause,
                            message: $0.message)
                    }
                })
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(s), as: UTF8.self) + "\n"
    }

    public static func json(_ r: Report) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(r), as: UTF8.self) + "\n"
    }
}

func fmt(_ d: Double?, _ digits: Int = 3) -> String { formatNumber(d, digits: digits) }

/// onnxruntime's levels as users name them.
func levelName(_ level: String) -> String {
    level == "enable" ? "ORT_ENABLE_EXTENDED/ALL" : "ORT_DISABLE_ALL/BASIC"
}

/// The report's headline: `check` has no reference to be equivalent to, so it counts findings.
public func headline(_ r: Report) -> String {
    guard r.command == "check" else { return verdictLine(r.verdict) }
    let e = r.findings.filter { $0.severity == .error }.count, w = r.findings.filter { $0.severity == .warning }.count
    return "\(e) error(s), \(w) warning(s)"
}

func verdictLine(_ v: Verdict) -> String {
    switch v {
    case .equivalent: "EQUIVALENT"
    case .equivalentWithWarnings: "EQUIVALENT (with warnings)"
    case .discrepancy: "DISCREPANCY"
    }
}

enum Markdown {
    static func render(_ r: Report) -> String {
        var s = [
            "# qverify \(r.command): \(r.model)", "",
            "**Verdict: \(headline(r))**" + (r.inputs.map { " — inputs `\($0)`" } ?? "")
                + ", tolerance \(Tolerance.describe(r.tolerance.steps)) step(s)", "",
        ]
        let all = r.findings + r.comparisons.flatMap(\.findings)
        s += ["## Findings", ""]
        if all.isEmpty {
            s.append("None.")
        } else {
            s += ["| severity | code | model | node | message |", "|---|---|---|---|---|"]
            for f in all.sorted(by: { $0.severity > $1.severity }) {
                s.append(
                    "| \(f.severity.rawValue) | `\(f.code)` | \(f.model) | \(f.node.isEmpty ? "–" : "`\(f.node)`") | \(f.message.replacingOccurrences(of: "|", with: "\\|")) |"
                )
            }
        }
        for c in r.comparisons {
            s += [
                "", "## \(c.name): \(verdictLine(c.verdict))", "",
                "Reference `\(c.reference.path)` (\(c.reference.kind), \(c.reference.semantics) semantics) vs candidate `\(c.candidate.path)` (\(c.candidate.kind), \(c.candidate.semantics) semantics), \(c.samples) samples.",
            ]
            if let f = c.firstDivergence { s.append("First divergence: `\(f)`.") }
            if let o = c.output {
                s.append(
                    "Graph output: \(o.differing)/\(o.count) elements differ, max \(fmt(o.maxSteps)) steps, SQNR \(fmt(o.sqnrDB)) dB."
                )
            }
            if let a = c.accuracy {
                s.append(
                    String(
                        format:
                            "Top-1 against the labels: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over %d samples; %d prediction(s) flip",
                        100 * a.referenceTop1, 100 * a.candidateTop1, 100 * a.agreement, a.samples, a.flipCount)
                        + (a.flips.isEmpty
                            ? "."
                            : ": "
                                + a.flips.prefix(20).map {
                                    "sample \($0.sample) (label \($0.label): \($0.reference) → \($0.candidate))"
                                }.joined(separator: ", ") + "."))
            }
            if let rows = c.targets, !rows.isEmpty {
                s += [
                    "", "### Deployment targets (onnxruntime, graph output vs the reference)", "",
                    "| target | optimizations | output differs | max steps | changed by int16 saturation | saturating nodes |",
                    "|---|---|---|---|---|---|",
                ]
                for t in rows {
                    s.append(
                        "| \(t.target) | \(levelName(t.level)) | \(t.outputDiffering)/\(t.outputCount) | \(fmt(t.outputMaxSteps)) | \(t.outputChangedBySaturation) | \(t.saturating.isEmpty ? "–" : t.saturating.map { "`\($0.node)` (\($0.outputsChanged)/\($0.outputElements))" }.joined(separator: ", ")) |"
                    )
                }
            }
            s += [
                "",
                "| point | reference | candidate | scale (ref → cand) | max Δ | max steps | mean steps | differ | SQNR dB | cosine | status |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for n in c.nodes {
                let st = n.stats
                s.append(
                    "| \(n.signature) | \(n.reference.map { "`\($0.node.isEmpty ? $0.tensor : $0.node)` \($0.dtype ?? "")" } ?? "–") | \(n.candidate.map { "`\($0.node)` \($0.dtype ?? "")" } ?? "–") | \(fmt(n.reference?.scale)) → \(fmt(n.candidate?.scale)) | \(fmt(st?.maxAbs)) | \(fmt(st?.maxSteps)) | \(fmt(st?.meanSteps)) | \(st.map { "\($0.differing)/\($0.count)" } ?? "–") | \(fmt(st?.sqnrDB)) | \(fmt(st?.cosine, 6)) | \(n.status.rawValue) |"
                )
            }
        }
        return s.joined(separator: "\n") + "\n"
    }
}

enum JUnit {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        ).replacingOccurrences(of: "\"", with: "&quot;")
    }
    /// JUnit XML for CI (the Jenkins/xunit junit-10 layout that CI report parsers read): one
    /// suite per comparison, named with the model, so reports of several models do not collide.
    /// A cause is one testcase (failed when it is an error); its consequences (findings that name
    /// it as their cause, and for a first divergence the nodes that differ after it) are that
    /// testcase's system-out, not failures of their own. Nodes that match are passing testcases.
    static func render(_ r: Report) -> String {
        let parts = r.model.split(separator: "/")
        let model = parts.suffix(2).joined(separator: "/")
        var suites: [String] = []
        var totalTests = 0, totalFailures = 0
        func suite(_ name: String, _ cases: [String], failures: Int, skipped: Int) {
            totalTests += cases.count
            totalFailures += failures
            suites.append(
                "  <testsuite name=\"\(esc(name))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\">\n"
                    + cases.joined() + "  </testsuite>\n")
        }
        func testcase(_ classname: String, _ name: String, _ body: String) -> String {
            "    <testcase classname=\"\(esc(classname))\" name=\"\(esc(name))\">\(body)</testcase>\n"
        }
        /// One testcase per cause: findings naming a cause go under it.
        func causeCases(
            _ fs: [Finding], classname: String, extra: (Finding) -> [String]
        ) -> (cases: [String], failures: Int) {
            var failures = 0, cases: [String] = []
            for (f, following) in fs.byCause() {
                let under =
                    following.flatMap { c in ["\(c.severity.rawValue) \(c.key): \(c.message)"] + extra(c) } + extra(f)
                let out =
                    under.isEmpty
                    ? ""
                    : "<system-out>\(esc("consequences (\(under.count)):\n" + under.joined(separator: "\n")))</system-out>"
                // A cause fails when it, or what it leads to, is an error (ties amplified past
                // the tolerance fail under the tie that caused them).
                if f.severity < .error, let first = following.first(where: { $0.severity == .error }) {
                    failures += 1
                    cases.append(
                        testcase(
                            classname, f.key,
                            "<failure message=\"\(esc("\(f.severity.rawValue): \(f.message) — leads to: \(first.message)"))\" type=\"\(esc(first.code))\"/>"
                                + out))
                    continue
                }
                switch f.severity {
                case .error:
                    failures += 1
                    cases.append(
                        testcase(
                            classname, f.key, "<failure message=\"\(esc(f.message))\" type=\"\(esc(f.code))\"/>" + out))
                case .warning:
                    cases.append(
                        testcase(
                            classname, f.key,
                            "<system-out>\(esc("warning: " + f.message + (under.isEmpty ? "" : "\nconsequences (\(under.count)):\n" + under.joined(separator: "\n"))))</system-out>"
                        ))
                case .info: cases.append(testcase(classname, f.key, "<system-out>\(esc(f.message))</system-out>"))
                }
            }
            return (cases, failures)
        }
        if !r.findings.isEmpty {
            let (c, f) = causeCases(r.findings, classname: "\(model).static") { _ in [] }
            suite("\(model): static checks", c, failures: f, skipped: 0)
        }
        for comp in r.comparisons {
            let classname = "\(model).\(comp.name)"
            var skipped = 0
            // Passing and skipped node testcases; differing nodes are reported under their cause.
            var cases = comp.nodes.compactMap { n -> String? in
                let name = "\(n.signature) \(n.reference?.node ?? "–") ↔ \(n.candidate?.node ?? "–")"
                switch n.status {
                case .ok: return testcase(classname + ".nodes", name, "")
                case .ties:
                    return testcase(
                        classname + ".nodes", name,
                        "<system-out>\(esc("\(n.differingBeyondTolerance) elements differ by rounding ties"))</system-out>"
                    )
                case .unmatched:
                    skipped += 1
                    return testcase(
                        classname + ".nodes", name, "<skipped message=\"no counterpart in the other model\"/>")
                case .diverges, .downstream: return nil
                }
            }
            let differing = comp.nodes.filter { $0.status == .diverges || $0.status == .downstream }.map {
                "node \($0.signature) \($0.reference?.node ?? "–") ↔ \($0.candidate?.node ?? "–"): \($0.status.rawValue), \($0.differingBeyondTolerance) elements beyond \(Tolerance.describe($0.toleranceSteps)) step(s), max \(fmt($0.stats?.maxSteps)) steps"
            }
            let (fc, ff) = causeCases(comp.findings, classname: classname) { f in
                f.code == "first-divergence" ? differing : []
            }
            cases += fc
            suite("\(model): \(comp.name)", cases, failures: ff, skipped: skipped)
        }
        return
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"qverify \(esc(r.command)) \(esc(model))\" tests=\"\(totalTests)\" failures=\"\(totalFailures)\" errors=\"0\">\n"
            + suites.joined() + "</testsuites>\n"
    }
}
