#!/usr/bin/env python3
"""Per-target table for every Reference model: how each runs in onnxruntime on each x86 target
(ort-avx2, ort-avx512, ort-vnni) at ORT_DISABLE_ALL and ORT_ENABLE_*, as qverify predicts it.

- Aidge-form exports: `qverify verify` of the QDQ, QDQ --weight-type uint8 and QOP conversions;
  graph output elements that differ from the Aidge source (differing/total, max steps).
- valid ONNX models (onnxruntime's quantize_static QDQ/QOP, Aidge's own QDQ/QOP): graph output
  elements that differ from the ONNX spec (`--target onnx`).

Usage: isa_table.py QVERIFY_BINARY [REFERENCE_DIR]   (prints Markdown)
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

TARGETS = ["ort-avx2", "ort-avx512", "ort-vnni"]
LEVELS = ["disable", "enable"]


def main():
    qv = sys.argv[1]
    ref = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "Reference")
    cols = [f"{t} {l}" for l in LEVELS for t in TARGETS]
    print("| model | form | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(ref.glob("*/aidge_quantized*.onnx")):
            x = src.parent / "calib_inputs.npy"
            for to, extra, label in (("qdq", [], "qdq"), ("qdq", ["--weight-type", "uint8"], "qdq uint8 weights"), ("qop", [], "qop")):
                rd = pathlib.Path(tmp) / f"{src.parent.name}_{src.stem}_{label.replace(' ', '_')}"
                subprocess.run([qv, "verify", str(src), "--inputs", str(x), "--to", to, "--report-dir", str(rd), "--threads", "1"] + extra,
                               capture_output=True, text=True)
                try:
                    rows = json.loads((rd / "report.json").read_text())["comparisons"][0]["targets"]
                except Exception:
                    print(f"| {src.parent.name}/{src.name} | {label} | " + " | ".join(["refused"] * len(cols)) + " |")
                    continue
                cell = {f"{r['target']} {r['level']}": f"{r['outputDiffering']}/{r['outputCount']}" + (f" ({r['outputMaxSteps']:g})" if r['outputDiffering'] else "") for r in rows}
                print(f"| {src.parent.name}/{src.name} | {label} | " + " | ".join(cell.get(c, "–") for c in cols) + " |")
        for m in sorted(list(ref.glob("*/ort_static_q*.onnx")) + list(ref.glob("*/aidge_q[do]*.onnx"))):
            x = m.parent / "calib_inputs.npy"
            def run(target, level):
                out = pathlib.Path(tmp) / f"run_{m.parent.name}_{m.stem}_{target}_{level}"
                args = [qv, "run", str(m), "--inputs", str(x), "--output-dir", str(out), "--target", target, "--threads", "1"]
                if target != "onnx":
                    args += ["--ort-level", level]
                r = subprocess.run(args, capture_output=True, text=True)
                if r.returncode:
                    return None
                return np.load(sorted(out.glob("*.npy"))[0])
            spec = run("onnx", "disable")
            cells = []
            for c in cols:
                t, l = c.split()
                y = run(t, l)
                cells.append("fails" if y is None or spec is None else f"{int((y != spec).sum())}/{y.size}")
            print(f"| {m.parent.name}/{m.name} | vs ONNX spec | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
