import Foundation
import QVCompare
import QVGraph

/// The shape of a model's graph for the report's picture: its nodes (constant-only chains such as
/// weight quantizers left out) and which feeds which.
public struct GraphSketch: Sendable {
    public var nodes: [(name: String, op: String)]
    /// Edges as (producer index, consumer index) into `nodes`.
    public var edges: [(Int, Int)]

    public init(_ model: Model) {
        let g = model.graph
        var constant = Set(g.initializerOrder)
        var kept: [(String, String)] = [], edges: [(Int, Int)] = []
        var producer: [String: Int] = [:]
        // Nodes are in topological order in every model qverify writes or reads (checked on load).
        for n in g.nodes {
            let inputs = n.inputs.filter { !$0.isEmpty }
            if !inputs.isEmpty, inputs.allSatisfy(constant.contains) {
                constant.formUnion(n.outputs)  // a weight/bias chain: not drawn
                continue
            }
            let k = kept.count
            kept.append((n.name.isEmpty ? n.opType : n.name, n.opType))
            for p in Set(inputs.compactMap { producer[$0] }).sorted() { edges.append((p, k)) }
            for o in n.outputs where !o.isEmpty { producer[o] = k }
        }
        nodes = kept.map { (name: $0.0, op: $0.1) }
        self.edges = edges
    }
}

/// A self-contained HTML report: no network, no external script (a few lines of inline JS sort
/// and filter the node table); charts and the graph as inline SVG that fit any width.
enum HTML {
    static func esc(_ s: String) -> String { JUnit.esc(s) }

    /// An element id for a comparison's point.
    static func anchor(_ comparison: String, _ signature: String) -> String {
        "n-" + comparison + "-" + signature.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    static func render(_ r: Report, graphs: [String: GraphSketch] = [:]) -> String {
        let color: String =
            switch r.verdict {
            case .equivalent: "#1a7f37"
            case .equivalentWithWarnings: "#9a6700"
            case .discrepancy: "#cf222e"
            }
        let title =
            r.command == "compare" && !r.comparisons.isEmpty
            ? "\(r.comparisons[0].reference.path) vs \(r.comparisons[0].candidate.path)" : r.model
        var b = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>qverify \(esc(r.command)): \(esc(title))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2328}
            main{max-width:1600px;margin:0 auto}
            h1{font-size:20px;margin:0 0 8px;overflow-wrap:anywhere} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px} h3{font-size:15px;margin:18px 0 6px}
            .verdict{display:inline-block;padding:4px 12px;border-radius:6px;color:#fff;font-weight:600;background:\(color)}
            .scroll{overflow-x:auto;max-width:100%}
            table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
            th{background:#f6f8fa;position:sticky;top:0;z-index:1} th.sort{cursor:pointer} th.sort:after{content:" ⇅";color:#8c959f}
            td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} td.nw{white-space:nowrap} code{font-size:12px}
            .error{color:#cf222e;font-weight:600}.warning{color:#9a6700;font-weight:600}.info{color:#57606a}
            tr.cause td{background:#fff1f0} tr.diverges td{background:#ffe3e0;font-weight:600} tr.downstream td{color:#57606a;background:#fafafa} tr.ties td{background:#fff8e6} tr.unmatched td{color:#8c959f}
            tr.consequence td{color:#6e7781;background:#fafafa;font-size:12px} details summary{cursor:pointer;color:#57606a}
            .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px} figure{margin:0} figcaption{font-size:12px;color:#57606a;overflow-wrap:anywhere}
            svg.fit{width:100%;height:auto;display:block} .graph{max-height:900px;overflow:auto;border:1px solid #d0d7de;border-radius:6px;padding:4px}
            .filters{margin:6px 0;display:flex;gap:8px;align-items:center} :target td{outline:2px solid #0969da}
            </style></head><body><main>
            <h1>qverify \(esc(r.command)): <code>\(esc(title))</code></h1>
            <p><span class="verdict">\(esc(headline(r)))</span> &nbsp; \(r.inputs.map { "inputs <code>\(esc($0))</code>," } ?? "") tolerance \(Tolerance.describe(r.tolerance.steps)) step(s), report schema \(r.schema), \(esc(r.tool))</p>
            """
        if !r.findings.isEmpty {
            b += "<h2>Model findings (\(r.findings.count))</h2>" + findingsTable(r.findings, comparison: nil)
        }
        for c in r.comparisons {
            b += "<h2 id=\"c-\(esc(c.name))\">\(esc(c.name)): \(esc(verdictLine(c.verdict)))</h2>"
            b +=
                "<p>Reference <code>\(esc(c.reference.path))</code> (\(esc(c.reference.kind)), \(esc(c.reference.semantics)) semantics) vs candidate <code>\(esc(c.candidate.path))</code> (\(esc(c.candidate.kind)), \(esc(c.candidate.semantics)) semantics), \(c.samples) samples."
            if let f = c.firstDivergence {
                let sig = c.nodes.first { $0.status == .diverges || $0.status == .ties }?.signature
                b +=
                    " First divergence: "
                    + (sig.map { "<a href=\"#\(anchor(c.name, $0))\"><code>\(esc(f))</code></a>" }
                        ?? "<code>\(esc(f))</code>") + "."
            }
            if let o = c.output {
                b +=
                    " Graph output: \(o.differing)/\(o.count) elements differ (\(percent(o.differing, o.count))), max \(fmt(o.maxSteps)) steps, SQNR \(fmt(o.sqnrDB)) dB."
            }
            if let a = c.accuracy {
                b += String(
                    format:
                        " Top-1 against the labels: reference %.2f%%, candidate %.2f%%, agreement %.2f%% over %d samples; %d prediction(s) flip",
                    100 * a.referenceTop1, 100 * a.candidateTop1, 100 * a.agreement, a.samples, a.flipCount)
                b +=
                    a.flips.isEmpty
                    ? "."
                    : ": "
                        + a.flips.prefix(20).map {
                            "sample \($0.sample) (label \($0.label): \($0.reference) → \($0.candidate))"
                        }.joined(separator: ", ") + "."
            }
            b += "</p>"
            b +=
                "<h3>Findings (\(c.findings.count))</h3>"
                + (c.findings.isEmpty ? "<p>None.</p>" : findingsTable(c.findings, comparison: c))
            if let rows = c.targets, !rows.isEmpty {
                b +=
                    "<h3>Deployment targets</h3><p>The candidate as onnxruntime runs it on each x86 instruction set and optimization level, graph output against the reference (see README: deployment targets).</p>"
                b +=
                    "<div class=\"scroll\"><table><tr><th>target</th><th>optimizations</th><th>output differs</th><th>max steps</th><th>changed by int16 saturation</th><th>saturating nodes (outputs changed)</th></tr>"
                for t in rows {
                    let cls = t.outputDiffering > 0 ? " class=\"diverges\"" : ""
                    b +=
                        "<tr\(cls)><td class=\"nw\"><code>\(esc(t.target))</code></td><td class=\"nw\">\(levelName(t.level))</td><td class=\"num\">\(t.outputDiffering)/\(t.outputCount)</td><td class=\"num\">\(fmt(t.outputMaxSteps))</td><td class=\"num\">\(t.outputChangedBySaturation)</td>"
                    b +=
                        "<td>\(t.saturating.isEmpty ? "–" : t.saturating.map { "<code>\(esc($0.node))</code> \($0.outputsChanged)/\($0.outputElements)" }.joined(separator: ", "))</td></tr>"
                }
                b += "</table></div>"
            }
            b += "<h3>Error per point</h3>" + layerPlot(c)
            b += histograms(c)
            if let sketch = graphs[c.name] {
                b +=
                    "<h3>Graph (candidate)</h3><p class=\"info\">Top to bottom; each node coloured by the error of the point it produces (green equal, amber rounding ties, red by steps), the first divergence outlined in blue and its cause in purple; click a node for its row. Weight and bias chains are left out.</p>"
                b += "<div class=\"graph\">" + graphSVG(sketch, c) + "</div>"
            }
            b += nodeTable(c)
        }
        return b + script + "</main></body></html>\n"
    }

    static func percent(_ k: Int, _ n: Int) -> String {
        guard n > 0 else { return "–" }
        let p = 100 * Double(k) / Double(n)
        if k == 0 { return "0%" }
        if k == n { return "100%" }
        return p >= 99.95 ? ">99.9%" : p < 0.05 ? "<0.1%" : String(format: "%.1f%%", p)
    }

    /// Findings with causes first and each cause's consequences greyed and collapsed under it.
    static func findingsTable(_ fs: [Finding], comparison c: ComparisonReport?) -> String {
        let causes = fs.byCause().sorted { $0.cause.severity > $1.cause.severity }
        var t = "<div class=\"scroll\"><table><tr><th>severity</th><th>code</th><th>node</th><th>message</th></tr>"
        func link(_ node: String) -> String {
            guard let c, let n = c.nodes.first(where: { $0.candidate?.node == node || $0.reference?.node == node })
            else { return "<code>\(esc(node))</code>" }
            return "<a href=\"#\(anchor(c.name, n.signature))\"><code>\(esc(node))</code></a>"
        }
        for (f, under) in causes {
            let cls = f.severity == .error || under.contains { $0.severity == .error } ? " class=\"cause\"" : ""
            t +=
                "<tr\(cls)><td class=\"\(f.severity.rawValue)\">\(f.severity.rawValue)</td><td class=\"nw\"><code>\(esc(f.code))</code></td><td>\(f.node.isEmpty ? "–" : link(f.node))</td><td>\(esc(f.message))"
            if !under.isEmpty {
                t += "<details><summary>\(under.count) consequence(s)</summary><table>"
                for g in under {
                    t +=
                        "<tr class=\"consequence\"><td class=\"\(g.severity.rawValue)\">\(g.severity.rawValue)</td><td class=\"nw\"><code>\(esc(g.code))</code></td><td>\(link(g.node))</td><td>\(esc(g.message))</td></tr>"
                }
                t += "</table></details>"
            }
            t += "</td></tr>"
        }
        return t + "</table></div>"
    }

    /// The per-point table: sortable by any column, filterable by text and status, sticky header,
    /// one anchor per point.
    static func nodeTable(_ c: ComparisonReport) -> String {
        let id = "t-\(c.name)"
        var t =
            "<h3>Points (\(c.nodes.count))</h3><div class=\"filters\"><input type=\"search\" placeholder=\"filter by name or op\" data-table=\"\(esc(id))\" class=\"qv-filter\">"
        t +=
            "<select data-table=\"\(esc(id))\" class=\"qv-status\"><option value=\"\">every status</option>"
            + ["diverges", "downstream", "ties", "ok", "unmatched"].map { "<option>\($0)</option>" }.joined()
            + "</select></div>"
        t +=
            "<div class=\"scroll\"><table id=\"\(esc(id))\"><thead><tr>"
            + [
                "point", "reference", "candidate", "dtype", "scale ref → cand", "zp", "max |Δ|", "mean |Δ|",
                "max steps", "mean steps", "differ", "SQNR dB", "cosine", "status",
            ].enumerated().map { "<th class=\"sort\" data-col=\"\($0.offset)\">\($0.element)</th>" }.joined()
            + "</tr></thead><tbody>"
        for n in c.nodes {
            let s = n.stats
            let refType = n.reference.map { $0.dtype ?? "float32" } ?? "–",
                candType = n.candidate.map { $0.dtype ?? "float32" } ?? "–"
            t +=
                "<tr id=\"\(anchor(c.name, n.signature))\" class=\"\(n.status.rawValue)\" data-status=\"\(n.status.rawValue)\"><td class=\"nw\"><code>\(esc(n.signature))</code></td><td><code>\(esc(n.reference.map { $0.node.isEmpty ? $0.tensor : $0.node } ?? "–"))</code></td><td><code>\(esc(n.candidate?.node ?? "–"))</code></td>"
            t +=
                "<td class=\"nw\">\(esc(refType)) → \(esc(candType))</td><td class=\"num\">\(fmt(n.reference?.scale)) → \(fmt(n.candidate?.scale))</td><td class=\"num\">\(n.reference?.zeroPoint.map(String.init) ?? "–") → \(n.candidate?.zeroPoint.map(String.init) ?? "–")</td>"
            t +=
                "<td class=\"num\" data-v=\"\(s?.maxAbs ?? -1)\">\(fmt(s?.maxAbs))</td><td class=\"num\" data-v=\"\(s?.meanAbs ?? -1)\">\(fmt(s?.meanAbs))</td><td class=\"num\" data-v=\"\(s?.maxSteps ?? -1)\">\(fmt(s?.maxSteps))</td><td class=\"num\" data-v=\"\(s?.meanSteps ?? -1)\">\(fmt(s?.meanSteps))</td>"
            t +=
                "<td class=\"num\" data-v=\"\(s?.differing ?? -1)\">\(s.map { "\($0.differing)/\($0.count) (\(percent($0.differing, $0.count)))" } ?? "–")</td><td class=\"num\" data-v=\"\(s?.sqnrDB ?? -1)\">\(fmt(s?.sqnrDB))</td><td class=\"num\" data-v=\"\(s?.cosine ?? -1)\">\(fmt(s?.cosine, 6))</td><td class=\"nw\">\(n.status.rawValue)</td></tr>"
        }
        return t + "</tbody></table></div>"
    }

    /// Sorting (click a header; numbers by value) and filtering, inline; the report works without it.
    static let script = """
        <script>
        document.querySelectorAll('th.sort').forEach(function(th){th.addEventListener('click',function(){
          var table=th.closest('table'),body=table.tBodies[0],col=+th.dataset.col,dir=th.dataset.dir==='asc'?'desc':'asc';th.dataset.dir=dir;
          var rows=Array.prototype.slice.call(body.rows);
          rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];var vx=x.dataset.v!==undefined?+x.dataset.v:x.textContent,vy=y.dataset.v!==undefined?+y.dataset.v:y.textContent;
            var r=(typeof vx==='number')?vx-vy:String(vx).localeCompare(String(vy));return dir==='asc'?r:-r;});
          rows.forEach(function(r){body.appendChild(r);});});});
        function qvFilter(id){var t=document.getElementById(id),q=(document.querySelector('.qv-filter[data-table="'+id+'"]').value||'').toLowerCase(),s=document.querySelector('.qv-status[data-table="'+id+'"]').value;
          Array.prototype.forEach.call(t.tBodies[0].rows,function(r){var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0)&&(!s||r.dataset.status===s);r.style.display=ok?'':'none';});}
        document.querySelectorAll('.qv-filter,.qv-status').forEach(function(e){e.addEventListener('input',function(){qvFilter(e.dataset.table);});});
        </script>
        """

    static func statusColor(_ n: NodeReport) -> String {
        switch n.status {
        case .ok: return "#2da44e"
        case .ties: return "#d4a72c"
        case .unmatched: return "#d0d7de"
        case .diverges, .downstream:
            // Red, darker with the error: 1, 10, 100+ steps.
            let s = n.stats?.maxSteps ?? 1
            let level = s.isFinite ? min(1, log10(max(1, s)) / 2) : 1
            return level > 0.66 ? "#82071e" : level > 0.33 ? "#a40e26" : "#cf222e"
        }
    }

    /// Max error in steps per aligned point: a bar per point on a log scale (0, 1, 10, 100, …
    /// steps) with axes; the SVG scales to the page, so any number of points fits.
    static func layerPlot(_ c: ComparisonReport) -> String {
        let nodes = c.nodes.filter { $0.stats != nil }
        guard !nodes.isEmpty else { return "<p>No compared points.</p>" }
        let vals = nodes.map { $0.stats?.maxSteps ?? 0 }
        if vals.allSatisfy({ $0 == 0 }) { return "<p>Every one of the \(nodes.count) points is equal (0 steps).</p>" }
        let finite = vals.filter(\.isFinite)
        let decades = max(1, Int(ceil(log10(max(1, finite.max() ?? 1)))))
        let w = 1000.0, left = 56.0, right = 10.0, top = 14.0, plotH = 180.0, labelH = 90.0
        let step = (w - left - right) / Double(nodes.count), bar = max(1, step * 0.7)
        func y(_ v: Double) -> Double {
            guard v.isFinite else { return top }
            // 0 at the axis, 1 step at the first tick, then one tick per decade.
            let t = v <= 0 ? 0 : (1 + log10(max(1, v))) / Double(decades + 1)
            return top + plotH * (1 - min(1, t))
        }
        var svg =
            "<svg class=\"fit\" viewBox=\"0 0 \(Int(w)) \(Int(top + plotH + labelH))\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"max error per point\" font-size=\"11\">"
        // y axis with ticks 0, 1, 10, …
        svg +=
            "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"#8c959f\"/><line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(w - right)\" y2=\"\(top + plotH)\" stroke=\"#8c959f\"/>"
        for (i, v) in ([0.0] + (0...decades).map { pow(10, Double($0)) }).enumerated() {
            let yy = y(v)
            svg +=
                "<line x1=\"\(left - 4)\" y1=\"\(yy)\" x2=\"\(w - right)\" y2=\"\(yy)\" stroke=\"\(i == 0 ? "#8c959f" : "#eaeef2")\"/><text x=\"\(left - 6)\" y=\"\(yy + 4)\" text-anchor=\"end\">\(fmt(v))</text>"
        }
        svg +=
            "<text x=\"12\" y=\"\(top + plotH / 2)\" transform=\"rotate(-90 12 \(top + plotH / 2))\" text-anchor=\"middle\">max steps (log)</text>"
        let labelEvery = max(1, Int(ceil(Double(nodes.count) / 60)))
        for (i, n) in nodes.enumerated() {
            let v = vals[i], x = left + Double(i) * step + (step - bar) / 2, yy = y(v)
            let hgt = max(v == 0 ? 1 : 2, top + plotH - yy)
            svg +=
                "<a href=\"#\(anchor(c.name, n.signature))\"><rect x=\"\(x)\" y=\"\(top + plotH - hgt)\" width=\"\(bar)\" height=\"\(hgt)\" fill=\"\(statusColor(n))\"><title>\(esc(n.signature)) (\(esc(n.candidate?.node ?? "–"))): max \(fmt(v)) steps, \(n.status.rawValue)</title></rect></a>"
            if i % labelEvery == 0 {
                let lx = x + bar / 2, ly = top + plotH + 8
                let label = n.signature.count > 24 ? String(n.signature.prefix(23)) + "…" : n.signature
                svg +=
                    "<text x=\"\(lx)\" y=\"\(ly)\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-60 \(lx) \(ly))\">\(esc(label))</text>"
            }
        }
        return svg
            + "</svg><p class=\"info\">Max error per aligned point in steps of the candidate's scale (log scale; green equal, amber rounding ties, red divergent, darker with more steps); \(labelEvery > 1 ? "every \(labelEvery)th point labelled; " : "")hover for the name, click for the row.</p>"
    }

    /// One histogram per differing point (up to 24, then a note of how many are left out).
    static func histograms(_ c: ComparisonReport) -> String {
        let differing = c.nodes.filter { $0.stepHistogram != nil && $0.status != .ok && $0.status != .unmatched }
        guard !differing.isEmpty else { return "" }
        let shown = differing.prefix(24)
        var s =
            "<h3>Step differences (\(differing.count) differing point(s))</h3><div class=\"charts\">"
            + shown.map { histogram($0, c) }.joined() + "</div>"
        if differing.count > shown.count {
            s +=
                "<p class=\"info\">\(differing.count - shown.count) more differing point(s) are not drawn (the first \(shown.count) in graph order are); every histogram is in report.json, <code>nodes[].stepHistogram</code>.</p>"
        }
        return s
    }

    /// Histogram of signed step differences at one point: the 0 bin included, counts on a log
    /// axis (1 element and 300,000 elements look different), amber for tie-only points.
    static func histogram(_ n: NodeReport, _ c: ComparisonReport) -> String {
        let h = n.stepHistogram ?? [:]
        let keys = h.keys.compactMap(Int.init).sorted()
        guard let lo = keys.first, let hi = keys.last else { return "" }
        let span =
            Double(max(hi, 1)) - Double(min(lo, -1)) <= 40
            ? Array(min(lo, -1)...max(hi, 1))
            : Array(Set(keys.sorted { (h[String($0)] ?? 0, $1) > (h[String($1)] ?? 0, $0) }.prefix(40) + [0])).sorted()
        let top = Double(h.values.max() ?? 1)
        let decades = max(1, Int(ceil(log10(max(1, top)))))
        let w = 320.0, left = 40.0, plotTop = 10.0, plotH = 120.0, bottom = 26.0
        let step = (w - left - 8) / Double(span.count), bar = max(1, step * 0.8)
        func y(_ count: Double) -> Double {
            count <= 0 ? plotTop + plotH : plotTop + plotH * (1 - (1 + log10(count)) / Double(decades + 1))
        }
        var svg =
            "<figure><svg class=\"fit\" viewBox=\"0 0 \(Int(w)) \(Int(plotTop + plotH + bottom))\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"step difference histogram\" font-size=\"9\">"
        svg +=
            "<line x1=\"\(left)\" y1=\"\(plotTop)\" x2=\"\(left)\" y2=\"\(plotTop + plotH)\" stroke=\"#8c959f\"/><line x1=\"\(left)\" y1=\"\(plotTop + plotH)\" x2=\"\(w - 4)\" y2=\"\(plotTop + plotH)\" stroke=\"#8c959f\"/>"
        for d in 0...decades {
            let v = pow(10, Double(d)), yy = y(v)
            svg +=
                "<line x1=\"\(left - 3)\" y1=\"\(yy)\" x2=\"\(w - 4)\" y2=\"\(yy)\" stroke=\"#eaeef2\"/><text x=\"\(left - 5)\" y=\"\(yy + 3)\" text-anchor=\"end\">\(fmt(v))</text>"
        }
        let fill = n.status == .ties ? "#d4a72c" : "#cf222e"
        for (i, k) in span.enumerated() {
            let cnt = Double(h[String(k)] ?? 0)
            let x = left + 2 + Double(i) * step, yy = y(cnt)
            if cnt > 0 {
                svg +=
                    "<rect x=\"\(x)\" y=\"\(yy)\" width=\"\(bar)\" height=\"\(plotTop + plotH - yy)\" fill=\"\(k == 0 ? "#8c959f" : fill)\"><title>\(k) steps: \(Int(cnt)) elements</title></rect>"
            }
            if span.count <= 16 || k == lo || k == hi || k == 0 {
                svg += "<text x=\"\(x + bar / 2)\" y=\"\(plotTop + plotH + 11)\" text-anchor=\"middle\">\(k)</text>"
            }
        }
        svg +=
            "<text x=\"\((left + w) / 2)\" y=\"\(plotTop + plotH + 23)\" text-anchor=\"middle\">candidate − reference (steps)</text>"
        let name = n.candidate?.node ?? n.signature
        return svg
            + "</svg><figcaption><a href=\"#\(anchor(c.name, n.signature))\"><code>\(esc(name))</code></a> (\(esc(n.signature))): \(n.differingBeyondTolerance) beyond tolerance, \(n.status.rawValue); element counts on a log axis</figcaption></figure>"
    }

    /// The candidate's graph as a top-to-bottom layered DAG: layer = longest path from an input,
    /// nodes coloured by the error of the point they produce, linked to their rows.
    static func graphSVG(_ g: GraphSketch, _ c: ComparisonReport) -> String {
        let n = g.nodes.count
        guard n > 0 else { return "" }
        var preds = [[Int]](repeating: [], count: n)
        for (a, b) in g.edges { preds[b].append(a) }
        var layer = [Int](repeating: 0, count: n)
        for i in 0..<n { layer[i] = (preds[i].map { layer[$0] + 1 }.max() ?? 0) }
        var rows: [[Int]] = Array(repeating: [], count: (layer.max() ?? 0) + 1)
        for i in 0..<n { rows[layer[i]].append(i) }
        let boxW = 150.0, boxH = 30.0, gapX = 18.0, gapY = 22.0
        let widest = rows.map(\.count).max() ?? 1
        let width = Double(widest) * (boxW + gapX) + gapX
        var pos = [(x: Double, y: Double)](repeating: (0, 0), count: n)
        for (r, ids) in rows.enumerated() {
            let rowWidth = Double(ids.count) * (boxW + gapX) - gapX
            for (k, i) in ids.enumerated() {
                pos[i] = ((width - rowWidth) / 2 + Double(k) * (boxW + gapX), gapY + Double(r) * (boxH + gapY))
            }
        }
        let height = Double(rows.count) * (boxH + gapY) + gapY
        // The point each node produces (candidate side), its status and the cause's node.
        var point: [String: NodeReport] = [:]
        for p in c.nodes { if let node = p.candidate?.node { point[node] = p } }
        let first = c.nodes.first { $0.status == .diverges }?.candidate?.node
        let causeNodes = Set(
            c.findings.filter { f in c.findings.contains { $0.code == "first-divergence" && $0.cause == f.key } }.map(
                \.node))
        var svg =
            "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"candidate graph\" font-size=\"10\">"
        for (a, b) in g.edges {
            let (x1, y1) = (pos[a].x + boxW / 2, pos[a].y + boxH), (x2, y2) = (pos[b].x + boxW / 2, pos[b].y)
            svg +=
                "<path d=\"M\(x1) \(y1) C\(x1) \(y1 + gapY / 2) \(x2) \(y2 - gapY / 2) \(x2) \(y2)\" fill=\"none\" stroke=\"#afb8c1\"/>"
        }
        for i in 0..<n {
            let (name, op) = g.nodes[i]
            let p = point[name]
            let fill = p.map(statusColor) ?? "#f6f8fa"
            let text = p == nil || p?.status == .unmatched ? "#1f2328" : "#ffffff"
            let stroke = name == first ? "#0969da" : causeNodes.contains(name) ? "#8250df" : "#8c959f"
            let sw = name == first || causeNodes.contains(name) ? 3 : 1
            let label = name.count > 22 ? String(name.prefix(21)) + "…" : name
            let tip =
                "\(name) (\(op))"
                + (p.map { ": \($0.signature), max \(fmt($0.stats?.maxSteps)) steps, \($0.status.rawValue)" } ?? "")
                + (causeNodes.contains(name) ? " — cause of the first divergence" : "")
            let box =
                "<rect x=\"\(pos[i].x)\" y=\"\(pos[i].y)\" width=\"\(boxW)\" height=\"\(boxH)\" rx=\"5\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(sw)\"><title>\(esc(tip))</title></rect>"
                + "<text x=\"\(pos[i].x + boxW / 2)\" y=\"\(pos[i].y + 12)\" text-anchor=\"middle\" fill=\"\(text)\">\(esc(label))</text>"
                + "<text x=\"\(pos[i].x + boxW / 2)\" y=\"\(pos[i].y + 24)\" text-anchor=\"middle\" fill=\"\(text)\" font-size=\"9\">\(esc(op))\(p.flatMap { $0.stats?.maxSteps }.map { ", \(fmt($0)) steps" } ?? "")</text>"
            svg += p.map { "<a href=\"#\(anchor(c.name, $0.signature))\">\(box)</a>" } ?? box
        }
        return svg + "</svg>"
    }
}
