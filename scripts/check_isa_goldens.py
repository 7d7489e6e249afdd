#!/usr/bin/env python3
"""Checks `qverify run --target ort-<isa> --ort-level disable|enable` against onnxruntime results
recorded on another host (Reference/ort-isa/<host>/, see its README): every recorded tensor at
ORT_DISABLE_ALL and every graph output at ORT_ENABLE_ALL, element for element.

Usage: check_isa_goldens.py QVERIFY_BINARY [ISA_DIR ...]
Prints one row per model and level and a closing 'N passed, N failed' line; exits 1 on a failure.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

TARGETS = {"x86_64-avx2": "ort-avx2", "x86_64-avx512": "ort-avx512", "x86_64-vnni": "ort-vnni"}


def main():
    qv = sys.argv[1]
    root = pathlib.Path(__file__).resolve().parent.parent
    dirs = [pathlib.Path(d) for d in sys.argv[2:]] or sorted((root / "Reference" / "ort-isa").glob("x86_64-*"))
    passed = failed = 0
    for d in dirs:
        manifest = json.loads((d / "manifest.json").read_text())
        target = TARGETS[manifest["host"]["tag"]]
        for e in manifest["entries"]:
            fx, name = e["fixture"], e["model"]
            model = (root / "Reference" / fx / f"{name}.onnx") if e["origin"] == "reference" else d / fx / f"{name}.onnx"
            x = root / "Reference" / fx / "calib_inputs.npy"
            for level in ("disable", "enable"):
                golden = np.load(d / fx / f"{name}__{level}_all.npz")
                with tempfile.TemporaryDirectory() as tmp:
                    cmd = [qv, "run", str(model), "--inputs", str(x), "--output-dir", tmp, "--target", target,
                           "--ort-level", level, "--threads", "1"] + (["--intermediates"] if level == "disable" else [])
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    if r.returncode != 0:
                        print(f"FAIL {fx}/{name} {level}: {r.stderr.strip().splitlines()[-1]}")
                        failed += 1
                        continue
                    ours = dict(np.load(f"{tmp}/intermediates.npz")) if level == "disable" else {}
                    for p in pathlib.Path(tmp).glob("*.npy"):
                        ours[p.stem] = np.load(p)
                    diffs, tensors, elements, missing = [], 0, 0, []
                    for k in golden.files:
                        if k not in ours:
                            missing.append(k)
                            continue
                        g, o = golden[k], ours[k].reshape(golden[k].shape)
                        tensors += 1
                        elements += g.size
                        n = int((g.astype(np.float64) != o.astype(np.float64)).sum())
                        if n:
                            diffs.append(f"{k} {n}/{g.size}")
                    ok = not diffs and not missing
                    passed += ok
                    failed += not ok
                    status = "ok" if ok else "FAIL"
                    print(f"{status} {fx}/{name} {target} {level}: {tensors} tensors, {elements} elements"
                          + (f"; differ: {', '.join(diffs)}" if diffs else "") + (f"; not produced: {', '.join(missing)}" if missing else ""))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
