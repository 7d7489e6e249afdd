#!/usr/bin/env python3
"""Full-size models against the real tools, every tensor: ResNet-18 and MobileNetV2 at 224x224
(scripts/make_reference.py's resnet18_224 and mobilenetv2_224, quantized by real Aidge 0.10.1 in
both export forms and by onnxruntime's quantize_static). Too large to commit (about 330 MB each
with Aidge's intermediates), they are built into .build-reference/ (about one minute each) and
reused while scripts/make_reference.py is unchanged.

For each fixture, `qverify run --intermediates` on
- the Aidge forms (unfolded on calib_inputs.npy, folded on Aidge's integer input), with the exact
  scaling factors (scripts/aidge_scaling_factors.py): every tensor Aidge's CPU backend exposes
  must be equal, element for element;
- the float, QDQ and QOP forms, --target <this CPU's onnxruntime>: every tensor of the graph must
  equal onnxruntime's (CPU, ORT_DISABLE_ALL, one thread, every tensor made a graph output) bit for
  bit, and with --ort-level enable the graph output must equal onnxruntime's at ORT_ENABLE_ALL.

Then `qverify verify` of the Aidge form: the output figures it reports for the QDQ and QOP
conversions on this CPU's onnxruntime target, at both levels, must be what onnxruntime running
those converted models shows against Aidge's CPU backend.

Run: .venv/bin/python scripts/check_full_size.py QVERIFY [--only resnet18_224 ...] [--rebuild]
Needs Aidge (scripts/setup.sh --aidge). Prints one line per model and 'full-size: N passed,
N failed'; exit 1 when any tensor differs.
"""
import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "scripts"))
from sweep_ops import host_target, ort_session  # noqa: E402

FIXTURES = ("resnet18_224", "mobilenetv2_224")


def generator_hash():
    return hashlib.sha256((root / "scripts/make_reference.py").read_bytes()).hexdigest()


def build(name, out_root, rebuild):
    d = out_root / name
    stamp = d / ".generator"
    if not rebuild and stamp.exists() and stamp.read_text() == generator_hash():
        return d
    shutil.rmtree(d, ignore_errors=True)
    r = subprocess.run([sys.executable, str(root / "scripts/make_reference.py"), str(out_root), "--only", name],
                       capture_output=True, text=True)
    if r.returncode != 0 or "failures: []" not in r.stdout:
        sys.exit(f"check_full_size: building {name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    sf = root / "scripts/aidge_scaling_factors.py"
    subprocess.run([sys.executable, str(sf), str(d / "manifest.json"), "unfolded", "-o", str(d / "aidge_quantized.sf.json")],
                   check=True)
    subprocess.run([sys.executable, str(sf), str(d / "manifest.json"), "folded", "--steps-from",
                    str(d / "aidge_quantized.onnx"), "-o", str(d / "aidge_quantized_folded.sf.json")], check=True)
    stamp.write_text(generator_hash())
    return d


def qverify_run(qv, model, inputs, extra):
    out = pathlib.Path(tempfile.mkdtemp(prefix="qv-full-"))
    cmd = [qv, "run", str(model), "--inputs", str(inputs), "--output-dir", str(out), "--threads", "1", "--intermediates"]
    r = subprocess.run(cmd + extra, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(out, ignore_errors=True)
        return None, r.stderr.strip()[-400:]
    res = dict(np.load(out / "intermediates.npz"))
    for p in out.glob("*.npy"):
        res.setdefault(p.stem, np.load(p))
    shutil.rmtree(out, ignore_errors=True)
    return res, None


def ort_all_tensors(path, x, level):
    m = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    outputs = [o.name for o in m.graph.output]
    names = list(outputs)
    if level == "disable":
        typed = {v.name: v for v in m.graph.value_info}
        for n in m.graph.node:
            for o in n.output:
                if o and o in typed and o not in names:
                    m.graph.output.append(typed[o])
                    names.append(o)
    s = ort_session(m, level)
    iname = s.get_inputs()[0].name
    runs = [s.run(names, {iname: x[i]}) for i in range(len(x))]
    return {n: np.stack([r[j] for r in runs]) for j, n in enumerate(names)}


def compare(ours, golden, bits):
    """(tensors compared, elements compared, [(name, differing, of, max |d|)])."""
    tensors = elements = 0
    bad = []
    for name, g in golden.items():
        if name not in ours:
            continue  # Aidge's internal producers have no tensor in the ONNX graph
        q = ours[name].reshape(g.shape) if ours[name].size == g.size else ours[name]
        if q.shape != g.shape:
            bad.append((name, g.size, g.size, float("inf")))
            continue
        if bits and g.dtype == np.float32:
            d = q.astype(np.float32).view(np.uint32) != g.view(np.uint32)
        else:
            d = q.astype(np.float64) != g.astype(np.float64)
        tensors += 1
        elements += g.size
        if d.any():
            bad.append((name, int(d.sum()), g.size, float(np.abs(q.astype(np.float64) - g.astype(np.float64)).max())))
    return tensors, elements, bad


def output_step(model):
    """The real step of a converted model's graph output (the scale of the DequantizeLinear making
    it), or 1 when the output is the integers themselves."""
    g = model.graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if g.output[0].name in n.output and n.op_type == "DequantizeLinear":
            return float(inits[n.input[1]].reshape(-1)[0])
    return 1.0


def verify_oracle(qv, d, x, target):
    """`qverify verify` of the Aidge form: its QDQ/QOP output figures for this host's onnxruntime
    (differing elements, max steps, at both levels) must be what onnxruntime itself gives running
    the converted models, against Aidge's CPU backend's output."""
    rep = pathlib.Path(tempfile.mkdtemp(prefix="qv-full-verify-"))
    r = subprocess.run([qv, "verify", str(d / "aidge_quantized.onnx"), "--inputs", str(d / "calib_inputs.npy"),
                        "--aidge-scaling-factors", str(d / "aidge_quantized.sf.json"), "--report-dir", str(rep),
                        "--threads", "1"], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        return False, [f"FAIL {d.name} verify: exit {r.returncode}: {r.stderr.strip()[-300:]}"]
    import json
    report = json.loads((rep / "report.json").read_text())
    aidge = np.load(d / "aidge_cpu_quantized.npy").astype(np.float64)
    ok, lines = True, []
    for c in report["comparisons"]:
        path = rep / pathlib.Path(c["candidate"]["path"]).name
        m = onnx.load(str(path))
        step = output_step(m)
        for level in ("disable", "enable"):
            y = ort_all_tensors(path, x, level)[m.graph.output[0].name].astype(np.float64).reshape(aidge.shape)
            steps = np.abs(np.round(y / step) - aidge)
            truth = (int((steps > 0).sum()), float(steps.max()))
            row = next(t for t in c["targets"] if t["target"] == target and t["level"] == level)
            said = (row["outputDiffering"], float(row["outputMaxSteps"]))
            good = said == truth
            ok &= good
            lines.append(f"{'ok  ' if good else 'FAIL'} {d.name} verify {c['name']} {target} {level}: qverify says "
                         f"{said[0]}/{aidge.size} differ by up to {said[1]:g} steps; onnxruntime vs Aidge's CPU: "
                         f"{truth[0]}/{aidge.size}, {truth[1]:g}")
    shutil.rmtree(rep, ignore_errors=True)
    return ok, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qverify")
    ap.add_argument("--only", nargs="*", default=list(FIXTURES))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--dir", default=str(root / ".build-reference"))
    a = ap.parse_args()
    out_root = pathlib.Path(a.dir)
    out_root.mkdir(parents=True, exist_ok=True)
    target = host_target()
    passed = failed = 0
    for name in a.only:
        d = build(name, out_root, a.rebuild)
        x = np.load(d / "calib_inputs.npy")
        def aidge(model, tag):
            out = onnx.load(str(d / model), load_external_data=False).graph.output[0].name
            return {**dict(np.load(d / f"aidge_cpu_{tag}_intermediates.npz")), out: np.load(d / f"aidge_cpu_{tag}.npy")}

        checks = [
            ("aidge_quantized.onnx", "calib_inputs.npy", ["--aidge-scaling-factors", str(d / "aidge_quantized.sf.json")],
             lambda: aidge("aidge_quantized.onnx", "quantized")),
            ("aidge_quantized_folded.onnx", "aidge_folded_inputs.npy",
             ["--aidge-scaling-factors", str(d / "aidge_quantized_folded.sf.json")],
             lambda: aidge("aidge_quantized_folded.onnx", "folded")),
        ]
        # Float at ORT_ENABLE_ALL is not claimed bit for bit (onnxruntime's NCHWc kernels block the
        # sums otherwise): the float form is checked at ORT_DISABLE_ALL only.
        for model in ("float.onnx", "ort_static_qdq.onnx", "ort_static_qop.onnx"):
            checks.append((model, "calib_inputs.npy", ["--target", target],
                           lambda model=model: ort_all_tensors(d / model, x, "disable")))
            if model != "float.onnx":
                checks.append((model, "calib_inputs.npy", ["--target", target, "--ort-level", "enable"],
                               lambda model=model: ort_all_tensors(d / model, x, "enable")))
        for model, inputs, extra, golden in checks:
            label = f"{name}/{model} {' '.join(e for e in extra if not e.startswith('/'))}".strip()
            ours, err = qverify_run(a.qverify, d / model, d / inputs, extra)
            if ours is None:
                print(f"FAIL {label}: qverify: {err}")
                failed += 1
                continue
            tensors, elements, bad = compare(ours, golden(), bits=not model.startswith("aidge"))
            if bad or tensors == 0:
                failed += 1
                worst = sorted(bad, key=lambda b: -b[1])[:5]
                print(f"FAIL {label}: {len(bad)} of {tensors} tensors differ: "
                      + "; ".join(f"{n} {k}/{of} (max {m:.4g})" for n, k, of, m in worst))
            else:
                passed += 1
                print(f"ok   {label}: {tensors} tensors, {elements} elements equal")
        ok, lines = verify_oracle(a.qverify, d, x, target)
        for line in lines:
            print(line)
        passed, failed = passed + ok, failed + (not ok)
    print(f"full-size: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
