#!/usr/bin/env python3
"""Value-mutation fuzz: scales and zero points set to 0, negative, NaN, ±inf, tiny, huge, and
type extremes in every quantized Reference model; `qverify run`, `check`, and `verify` (Aidge-form
sources) or `compare` against the original must exit 0, 1 or 2 (2 with one error line), never crash or hang.

usage: fuzz_values.py QVERIFY_BINARY   (FUZZ_RUNS=models to mutate, FUZZ_SEED=seed,
       FUZZ_MAX_ELEMENTS=largest initializer to mutate, default 64)
Guards the fixes for traps found by hand-made probes: a zero output scale (QLinearAdd, QGemm,
QLinearAveragePool) and NaN in Aidge's per-channel quantizer."""
import glob, os, random, subprocess, sys, pathlib, onnx, numpy as np
from onnx import numpy_helper
root = pathlib.Path(__file__).resolve().parent.parent
qv = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/release/qverify")
tmp = pathlib.Path("/tmp/qverify-vfuzz"); tmp.mkdir(exist_ok=True)
rng = random.Random(int(os.environ.get("FUZZ_SEED", "11")))
models = sorted(p for p in glob.glob(str(root / "Reference/*/*.onnx")) if "float" not in os.path.basename(p))
FLOATS = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-30, 1e30, -0.0]
crashes, runs, codes = [], 0, {}
n_runs = int(os.environ.get("FUZZ_RUNS", "400"))
# Scales, zero points and biases by default; FUZZ_MAX_ELEMENTS=1000000000 mutates weights too.
max_elements = int(os.environ.get("FUZZ_MAX_ELEMENTS", "64"))
for k in range(n_runs):
    path = rng.choice(models)
    m = onnx.load(path)
    candidates = [i for i in m.graph.initializer if np.prod(i.dims) <= max_elements]
    if not candidates: continue
    for _ in range(rng.choice([1, 1, 2, 3])):
        init = rng.choice(candidates)
        a = numpy_helper.to_array(init).copy()
        if a.dtype.kind == "f":
            a[...] = rng.choice(FLOATS)
        elif a.dtype.kind in "iu":
            info = np.iinfo(a.dtype)
            a[...] = rng.choice([info.min, info.max, 0, -1 if info.min < 0 else 1])
        else:
            continue
        init.CopyFrom(numpy_helper.from_array(a, init.name))
    out = tmp / f"m{k}.onnx"
    onnx.save(m, str(out))
    d = os.path.dirname(path)
    inputs = os.path.join(d, "aidge_folded_inputs.npy" if "folded" in path else "calib_inputs.npy")
    cmds = [["run", str(out), "--inputs", inputs, "--output-dir", str(tmp / "out")], ["check", str(out)]]
    if os.path.basename(path).startswith("aidge_quantized"):  # the recipe and the harness on Aidge-form sources
        cmds.append(["verify", str(out), "--inputs", inputs, "--report-dir", str(tmp / "report")])
    else:  # the harness between the original and its mutant
        cmds.append(["compare", path, str(out), "--inputs", inputs, "--report-dir", str(tmp / "report")])
    for cmd in cmds:
        runs += 1
        try:
            r = subprocess.run([qv] + cmd, capture_output=True, text=True, timeout=60)
            if r.returncode not in (0, 1, 2):
                crashes.append(f"{path} -> {out} {cmd[0]}: exit {r.returncode}: {r.stderr.strip().splitlines()[:1]}")
            codes[(cmd[0], r.returncode)] = codes.get((cmd[0], r.returncode), 0) + 1
            errs = [l for l in r.stderr.splitlines() if "error" in l]
            if r.returncode == 2 and len(errs) != 1:
                crashes.append(f"{path} -> {out} {cmd[0]}: exit 2 with {len(errs)} error lines: {r.stderr.strip()[:300]}")
        except subprocess.TimeoutExpired:
            crashes.append(f"{path} -> {out} {cmd[0]}: hang")
    if len(crashes) >= 10: break
print(f"{runs} runs, {len(crashes)} crashes/hangs; exit codes {dict(sorted(codes.items()))}")
for c in crashes: print("  ", c)
sys.exit(1 if crashes else 0)
