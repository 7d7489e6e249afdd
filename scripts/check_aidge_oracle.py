#!/usr/bin/env python3
"""Checks qverify's Aidge semantics against Aidge's CPU backend on inputs the Reference goldens never
saw. For each fixture it redoes make_reference.py's PTQ with the real Aidge 0.10.1 (same float model,
options and calibration split; the export it yields is the committed one), runs Aidge on N new
inputs (uniform in [0, 1) from SEED; the digits fixture takes scikit-learn's images instead), and
runs `qverify run` on the committed export (with its .sf.json) on the same inputs: every output
element must be equal. Both export forms; a form Aidge cannot run is reported as such.

Run: .venv/bin/python scripts/check_aidge_oracle.py QVERIFY FIXTURES N SEED
     e.g. scripts/check_aidge_oracle.py .build/release/qverify residual,cnn,digits 64 77
Needs scripts/setup.sh --aidge. Exit 1 when any element differs.
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_reference as mr  # noqa: E402
import aidge_core  # noqa: E402

R = pathlib.Path(__file__).resolve().parent.parent / "Reference"


def new_inputs(name, shape, n, seed):
    if name == "digits":
        from sklearn.datasets import load_digits
        return (load_digits().data / 16.0).astype(np.float32).reshape(-1, 1, 64)[:n]
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def main():
    qv, names, n, seed = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
    differing = 0
    for name in names:
        make, precision, options = mr.FIXTURES[name]
        out = R / name
        if name in mr.DATA:
            _, _, x_calib = mr.DATA[name]()
        else:
            x_calib = np.load(out / "calib_inputs.npy")  # make_reference calibrates on them
        calib = [aidge_core.Tensor(x_calib[i]) for i in range(len(x_calib))]
        xn = new_inputs(name, np.load(out / "calib_inputs.npy").shape[1:], n, seed)
        act_bits = 4 if precision[0] == "int4" else 8
        for form in ("unfolded", "folded"):
            try:
                g = mr.aidge_graph(out / "float.onnx", precision, name in mr.FUSE_BN)
                if form == "unfolded":
                    mr.quantize(g, calib, dict(options, rescale_inputs=True, fold_graph=False))
                    xin, model = xn, out / "aidge_quantized.onnx"
                    y, _ = mr.run_aidge(g, xin)
                else:
                    mr.quantize(g, calib, options)
                    xin, model = np.floor(xn * (2 ** (act_bits - 1) - 1) + 0.5).astype(np.int8), out / "aidge_quantized_folded.onnx"
                    y, _ = mr.run_aidge(g, xin, getattr(aidge_core.dtype, precision[0]))
            except Exception as e:
                print(f"{name} {form}: Aidge cannot run it: {str(e).splitlines()[0][:120]}")
                continue
            with tempfile.TemporaryDirectory() as t:
                np.save(f"{t}/x.npy", xin)
                sf = model.with_suffix(".sf.json")
                cmd = [qv, "run", str(model), "--inputs", f"{t}/x.npy", "--output-dir", f"{t}/o"]
                cmd += ["--aidge-scaling-factors", str(sf)] if sf.exists() else []
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    print(f"{name} {form}: qverify failed: {r.stderr.strip()[-300:]}")
                    differing += 1
                    continue
                q = np.load(next(pathlib.Path(f"{t}/o").glob("*.npy"))).reshape(y.shape)
            d = int((q != y).sum())
            differing += d
            print(f"{name} {form}: {len(xn)} new samples, {d} of {y.size} output elements differ from Aidge", flush=True)
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
