import QVCompare

/// A self-contained HTML report: no scripts, no network, charts as inline SVG.
enum HTML {
    static func esc(_ s: String) -> String { JUnit.esc(s) }

    static func render(_ r: Report) -> String {
        let color: String = switch r.verdict {
        case .equivalent: "#1a7f37"
        case .equivalentWithWarnings: "#9a6700"
        case .discrepancy: "#cf222e"
        }
        var b = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>qverify \(esc(r.command)): \(esc(r.model))</title>
        <style>
        body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2328;max-width:1400px}
        h1{font-size:20px;margin:0 0 8px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
        .verdict{display:inline-block;padding:4px 12px;border-radius:6px;color:#fff;font-weight:600;background:\(color)}
        table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
        th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums} code{font-size:12px}
        .error{color:#cf222e;font-weight:600}.warning{color:#9a6700;font-weight:600}.info{color:#57606a}
        tr.diverges td,tr.downstream td{background:#fff1f0} tr.ties td{background:#fff8e6} tr.unmatched td{color:#8c959f}
        .charts{display:flex;flex-wrap:wrap;gap:16px} figure{margin:0} figcaption{font-size:12px;color:#57606a}
        </style></head><body>
        <h1>qverify \(esc(r.command)): <code>\(esc(r.model))</code></h1>
        <p><span class="verdict">\(esc(headline(r)))</span> &nbsp; \(r.inputs.map { "inputs <code>\(esc($0))</code>," } ?? "") tolerance \(Tolerance.describe(r.tolerance.steps)) step(s), report schema \(r.schema), \(esc(r.tool))</p>
        """
        let all = r.findings + r.comparisons.flatMap(\.findings)
        b += "<h2>Findings (\(all.count))</h2>"
        if all.isEmpty { b += "<p>None.</p>" } else {
            b += "<table><tr><th>severity</th><th>code</th><th>model</th><th>node</th><th>message</th></tr>"
            for f in all.sorted(by: { $0.severity > $1.severity }) {
                b += "<tr><td class=\"\(f.severity.rawValue)\">\(f.severity.rawValue)</td><td><code>\(esc(f.code))</code></td><td>\(esc(f.model))</td><td><code>\(esc(f.node))</code></td><td>\(esc(f.message))</td></tr>"
            }
            b += "</table>"
        }
        for c in r.comparisons {
            b += "<h2>\(esc(c.name)): \(esc(verdictLine(c.verdict)))</h2>"
            b += "<p>Reference <code>\(esc(c.reference.path))</code> (\(esc(c.reference.kind)), \(esc(c.reference.semantics)) semantics) vs candidate <code>\(esc(c.candidate.path))</code> (\(esc(c.candidate.kind)), \(esc(c.candidate.semantics)) semantics), \(c.samples) samples."
            if let f = c.firstDivergence { b += " First divergence: <code>\(esc(f))</code>." }
            if let o = c.output { b += " Graph output: \(o.differing)/\(o.count) elements differ, max \(fmt(o.maxSteps)) steps, SQNR \(fmt(o.sqnrDB)) dB." }
            if let a = c.accuracy {
                b += String(format: " Top-1 against the labels: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over %d samples; %d prediction(s) flip",
                            100 * a.referenceTop1, 100 * a.candidateTop1, 100 * a.agreement, a.samples, a.flipCount)
                b += a.flips.isEmpty ? "." : ": " + a.flips.prefix(20).map { "sample \($0.sample) (label \($0.label): \($0.reference) → \($0.candidate))" }.joined(separator: ", ") + "."
            }
            b += "</p>"
            if let rows = c.targets, !rows.isEmpty {
                b += "<h3>Deployment targets</h3><p>The candidate as onnxruntime runs it on each x86 instruction set and optimization level, graph output against the reference (see README: deployment targets).</p>"
                b += "<table><tr><th>target</th><th>optimizations</th><th>output differs</th><th>max steps</th><th>changed by int16 saturation</th><th>saturating nodes (outputs changed)</th></tr>"
                for t in rows {
                    let cls = t.outputDiffering > 0 ? " class=\"diverges\"" : ""
                    b += "<tr\(cls)><td><code>\(esc(t.target))</code></td><td>\(levelName(t.level))</td><td class=\"num\">\(t.outputDiffering)/\(t.outputCount)</td><td class=\"num\">\(fmt(t.outputMaxSteps))</td><td class=\"num\">\(t.outputChangedBySaturation)</td>"
                    b += "<td>\(t.saturating.isEmpty ? "–" : t.saturating.map { "<code>\(esc($0.node))</code> \($0.outputsChanged)/\($0.outputElements)" }.joined(separator: ", "))</td></tr>"
                }
                b += "</table>"
            }
            b += "<div class=\"charts\">" + layerPlot(c) + c.nodes.filter { $0.stepHistogram != nil && $0.status != .ok }.prefix(6).map(histogram).joined() + "</div>"
            b += "<table><tr><th>point</th><th>reference</th><th>candidate</th><th>dtype</th><th>scale ref → cand</th><th>zp</th><th>max |Δ|</th><th>mean |Δ|</th><th>max steps</th><th>mean steps</th><th>differ</th><th>SQNR dB</th><th>cosine</th><th>status</th></tr>"
            for n in c.nodes {
                let s = n.stats
                b += "<tr class=\"\(n.status.rawValue)\"><td><code>\(esc(n.signature))</code></td><td><code>\(esc(n.reference.map { $0.node.isEmpty ? $0.tensor : $0.node } ?? "–"))</code></td><td><code>\(esc(n.candidate?.node ?? "–"))</code></td>"
                b += "<td>\(esc(n.reference?.dtype ?? "–")) → \(esc(n.candidate?.dtype ?? "–"))</td><td class=\"num\">\(fmt(n.reference?.scale)) → \(fmt(n.candidate?.scale))</td><td class=\"num\">\(n.reference?.zeroPoint.map(String.init) ?? "–") → \(n.candidate?.zeroPoint.map(String.init) ?? "–")</td>"
                b += "<td class=\"num\">\(fmt(s?.maxAbs))</td><td class=\"num\">\(fmt(s?.meanAbs))</td><td class=\"num\">\(fmt(s?.maxSteps))</td><td class=\"num\">\(fmt(s?.meanSteps))</td>"
                b += "<td class=\"num\">\(s.map { "\($0.differing)/\($0.count) (\(fmt($0.percentDiffering, 2))%)" } ?? "–")</td><td class=\"num\">\(fmt(s?.sqnrDB))</td><td class=\"num\">\(fmt(s?.cosine, 6))</td><td>\(n.status.rawValue)</td></tr>"
            }
            b += "</table>"
        }
        return b + "</body></html>\n"
    }

    /// Max error in steps per aligned point, as bars on a log-like scale.
    static func layerPlot(_ c: ComparisonReport) -> String {
        let nodes = c.nodes.filter { $0.stats != nil }
        guard !nodes.isEmpty else { return "" }
        let w = max(360, nodes.count * 44 + 60), h = 220, base = 170
        let vals = nodes.map { $0.stats?.maxSteps ?? 0 }
        // Non-finite errors (NaN, ∞ from a degenerate scale) are drawn at full height.
        let top = max(1, vals.filter(\.isFinite).max() ?? 1)
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" role=\"img\" aria-label=\"max error per layer\">"
        svg += "<line x1=\"40\" y1=\"\(base)\" x2=\"\(w - 10)\" y2=\"\(base)\" stroke=\"#8c959f\"/><text x=\"4\" y=\"20\" font-size=\"11\">\(fmt(top)) steps</text><text x=\"4\" y=\"\(base)\" font-size=\"11\">0</text>"
        for (i, n) in nodes.enumerated() {
            let v = vals[i]
            let r = v.isFinite ? min(max(v / top, 0), 1) : 1
            let bh = v == 0 ? 1 : max(3, Int(Double(base - 20) * r))
            let fill = n.status == .ok ? "#2da44e" : (n.status == .ties ? "#d4a72c" : "#cf222e")
            let x = 50 + i * 44
            svg += "<rect x=\"\(x)\" y=\"\(base - bh)\" width=\"28\" height=\"\(bh)\" fill=\"\(fill)\"><title>\(esc(n.signature)): max \(fmt(v)) steps</title></rect>"
            svg += "<text x=\"\(x + 14)\" y=\"\(base + 12)\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-40 \(x + 14) \(base + 12))\">\(esc(String(n.signature.suffix(14))))</text>"
        }
        return svg + "</svg><figcaption>Max error per aligned point (steps of the candidate's scale); green equal, amber ties, red divergent.</figcaption></figure>"
    }

    /// Histogram of signed step differences at one node.
    static func histogram(_ n: NodeReport) -> String {
        let h = n.stepHistogram ?? [:]
        let keys = h.keys.compactMap(Int.init).sorted()
        guard let lo = keys.first, let hi = keys.last else { return "" }
        // Contiguous bins when the range is narrow; otherwise only the occupied ones (the 48 most
        // populated), so a degenerate scale's 10^18-step differences do not allocate 10^18 bins.
        let span = Double(max(hi, 1)) - Double(min(lo, -1)) <= 48 ? Array(min(lo, -1)...max(hi, 1))
            : Array(keys.sorted { (h[String($0)] ?? 0, $1) > (h[String($1)] ?? 0, $0) }.prefix(48)).sorted()
        let top = h.values.max() ?? 1
        let w = max(220, span.count * 18 + 40), hh = 160, base = 125
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(hh)\" role=\"img\" aria-label=\"step difference histogram\">"
        svg += "<line x1=\"20\" y1=\"\(base)\" x2=\"\(w - 10)\" y2=\"\(base)\" stroke=\"#8c959f\"/>"
        for (i, k) in span.enumerated() {
            let c = h[String(k)] ?? 0
            let bh = c == 0 ? 0 : max(2, Int(Double(base - 20) * Double(c) / Double(top)))
            let x = 24 + i * 18
            svg += "<rect x=\"\(x)\" y=\"\(base - bh)\" width=\"14\" height=\"\(bh)\" fill=\"#cf222e\"><title>\(k) steps: \(c) elements</title></rect>"
            if span.count <= 24 || k == lo || k == hi || k == 0 { svg += "<text x=\"\(x + 7)\" y=\"\(base + 12)\" font-size=\"9\" text-anchor=\"middle\">\(k)</text>" }
        }
        return svg + "</svg><figcaption><code>\(esc(n.candidate?.node ?? n.signature))</code>: candidate − reference, steps (\(n.differingBeyondTolerance) beyond tolerance)</figcaption></figure>"
    }
}
