import Foundation
import QVCompare
import QVGraph

/// Writes report.json, report.md, report.html and junit.xml into one directory, each atomically
/// (temporary file, then rename); nothing is written outside that directory.
public enum ReportWriter {
    public static func write(_ r: Report, to dir: String) throws -> [String] {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw QVError.badInput("\(dir): cannot create report directory: \(error.localizedDescription)")
        }
        let files: [(String, String)] = [
            ("report.json", try json(r)), ("report.md", Markdown.render(r)), ("report.html", HTML.render(r)), ("junit.xml", JUnit.render(r)),
        ]
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

    public static func json(_ r: Report) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(r), as: UTF8.self) + "\n"
    }
}

func fmt(_ d: Double?, _ digits: Int = 3) -> String {
    guard let d else { return "–" }
    if d.isInfinite { return d > 0 ? "∞" : "-∞" }
    if d == 0 { return "0" }
    if d == d.rounded(.towardZero) && abs(d) < 1e6 { return String(Int(d)) }
    return String(format: "%.\(digits)g", d)
}

/// onnxruntime's levels as users name them.
func levelName(_ level: String) -> String {
    level == "enable" ? "ORT_ENABLE_EXTENDED/ALL" : "ORT_DISABLE_ALL/BASIC"
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
        var s = ["# qverify \(r.command): \(r.model)", "",
                 "**Verdict: \(verdictLine(r.verdict))**" + (r.inputs.map { " — inputs `\($0)`" } ?? "") + ", tolerance \(r.tolerance.steps) step(s)", ""]
        let all = r.findings + r.comparisons.flatMap(\.findings)
        s += ["## Findings", ""]
        if all.isEmpty { s.append("None.") } else {
            s += ["| severity | code | model | node | message |", "|---|---|---|---|---|"]
            for f in all.sorted(by: { $0.severity > $1.severity }) {
                s.append("| \(f.severity.rawValue) | `\(f.code)` | \(f.model) | \(f.node.isEmpty ? "–" : "`\(f.node)`") | \(f.message.replacingOccurrences(of: "|", with: "\\|")) |")
            }
        }
        for c in r.comparisons {
            s += ["", "## \(c.name): \(verdictLine(c.verdict))", "",
                  "Reference `\(c.reference.path)` (\(c.reference.kind), \(c.reference.semantics) semantics) vs candidate `\(c.candidate.path)` (\(c.candidate.kind), \(c.candidate.semantics) semantics), \(c.samples) samples."]
            if let f = c.firstDivergence { s.append("First divergence: `\(f)`.") }
            if let o = c.output { s.append("Graph output: \(o.differing)/\(o.count) elements differ, max \(fmt(o.maxSteps)) steps, SQNR \(fmt(o.sqnrDB)) dB.") }
            if let a = c.accuracy {
                s.append(String(format: "Top-1 against the labels: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over %d samples; %d prediction(s) flip",
                                100 * a.referenceTop1, 100 * a.candidateTop1, 100 * a.agreement, a.samples, a.flipCount)
                         + (a.flips.isEmpty ? "." : ": " + a.flips.prefix(20).map { "sample \($0.sample) (label \($0.label): \($0.reference) → \($0.candidate))" }.joined(separator: ", ") + "."))
            }
            if let rows = c.targets, !rows.isEmpty {
                s += ["", "### Deployment targets (onnxruntime, graph output vs the reference)", "",
                      "| target | optimizations | output differs | max steps | changed by int16 saturation | saturating nodes |", "|---|---|---|---|---|---|"]
                for t in rows {
                    s.append("| \(t.target) | \(levelName(t.level)) | \(t.outputDiffering)/\(t.outputCount) | \(fmt(t.outputMaxSteps)) | \(t.outputChangedBySaturation) | \(t.saturating.isEmpty ? "–" : t.saturating.map { "`\($0.node)` (\($0.outputsChanged)/\($0.outputElements))" }.joined(separator: ", ")) |")
                }
            }
            s += ["", "| point | reference | candidate | scale (ref → cand) | max Δ | max steps | mean steps | differ | SQNR dB | cosine | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
            for n in c.nodes {
                let st = n.stats
                s.append("| \(n.signature) | \(n.reference.map { "`\($0.node.isEmpty ? $0.tensor : $0.node)` \($0.dtype ?? "")" } ?? "–") | \(n.candidate.map { "`\($0.node)` \($0.dtype ?? "")" } ?? "–") | \(fmt(n.reference?.scale)) → \(fmt(n.candidate?.scale)) | \(fmt(st?.maxAbs)) | \(fmt(st?.maxSteps)) | \(fmt(st?.meanSteps)) | \(st.map { "\($0.differing)/\($0.count)" } ?? "–") | \(fmt(st?.sqnrDB)) | \(fmt(st?.cosine, 6)) | \(n.status.rawValue) |")
            }
        }
        return s.joined(separator: "\n") + "\n"
    }
}

enum JUnit {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    static func render(_ r: Report) -> String {
        var suites: [String] = []
        func suite(_ name: String, _ cases: [String], failures: Int) -> String {
            "  <testsuite name=\"\(esc(name))\" tests=\"\(cases.count)\" failures=\"\(failures)\">\n" + cases.joined() + "  </testsuite>\n"
        }
        func findingCases(_ fs: [Finding], prefix: String) -> ([String], Int) {
            var failures = 0
            let cases = fs.map { f -> String in
                let head = "    <testcase classname=\"\(esc(prefix)).findings\" name=\"\(esc(f.code))\(f.node.isEmpty ? "" : " @ " + esc(f.node))\">"
                switch f.severity {
                case .error: failures += 1; return head + "<failure message=\"\(esc(f.message))\"/></testcase>\n"
                case .warning: return head + "<system-out>warning: \(esc(f.message))</system-out></testcase>\n"
                case .info: return head + "<system-out>\(esc(f.message))</system-out></testcase>\n"
                }
            }
            return (cases, failures)
        }
        if !r.findings.isEmpty {
            let (c, f) = findingCases(r.findings, prefix: "model")
            suites.append(suite("\(r.model) static checks", c, failures: f))
        }
        for comp in r.comparisons {
            var failures = 0
            var cases = comp.nodes.map { n -> String in
                let name = "\(n.signature) \(n.reference?.node ?? "–") ↔ \(n.candidate?.node ?? "–")"
                let head = "    <testcase classname=\"\(esc(comp.name)).nodes\" name=\"\(esc(name))\">"
                switch n.status {
                case .ok: return head + "</testcase>\n"
                case .ties: return head + "<system-out>warning: \(n.differingBeyondTolerance) elements differ by rounding ties</system-out></testcase>\n"
                case .unmatched: return head + "<skipped message=\"no counterpart in the other model\"/></testcase>\n"
                case .diverges, .downstream:
                    failures += 1
                    return head + "<failure message=\"\(esc("\(n.status.rawValue): \(n.differingBeyondTolerance) elements beyond \(n.toleranceSteps) step(s), max \(fmt(n.stats?.maxSteps)) steps"))\"/></testcase>\n"
                }
            }
            let (fc, ff) = findingCases(comp.findings, prefix: comp.name)
            cases += fc
            failures += ff
            suites.append(suite(comp.name, cases, failures: failures))
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"qverify \(esc(r.command)) \(esc(r.model))\">\n" + suites.joined() + "</testsuites>\n"
    }
}
