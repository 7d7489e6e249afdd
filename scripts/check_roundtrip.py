#!/usr/bin/env python3
"""Round-trip check: every Reference model, loaded and saved by `qverify resave`, must be the
same protobuf as the original; saved valid models must pass onnx.checker (full_check) and give
bit-identical onnxruntime outputs on the fixture's calibration inputs.

Usage: check_roundtrip.py QVERIFY_BINARY [REFERENCE_DIR]
Prints one line per model and a closing 'N passed, N failed' line; exits 1 on any failure.
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def feeds_for(model_path, model):
    """One sample of the fixture's calibration inputs (float), else zeros of the declared shape."""
    inits = {i.name for i in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    calib = model_path.parent / "calib_inputs.npy"
    feeds = {}
    for i in ins:
        t = i.type.tensor_type
        shape = [d.dim_value or 1 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if calib.exists() and len(ins) == 1 and dtype == np.float32:
            x = np.load(calib)[0]
            feeds[i.name] = x.reshape(shape).astype(dtype)
        else:
            feeds[i.name] = np.zeros(shape, dtype=dtype)
    return feeds


def main():
    qverify = sys.argv[1]
    ref = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "Reference")
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        # onnxruntime's *.optimized.onnx records (ort-isa/) are its own NHWC graphs, not models users hand qverify.
        for path in sorted(p for p in ref.rglob("*.onnx") if not p.name.endswith(".optimized.onnx")):
            out = pathlib.Path(tmp) / (path.parent.name + "_" + path.name)
            r = subprocess.run([qverify, "resave", str(path), "-o", str(out)], capture_output=True, text=True)
            problems = []
            if r.returncode != 0:
                problems.append("resave failed: " + r.stderr.strip())
            else:
                a, b = onnx.load(str(path), load_external_data=False), onnx.load(str(out), load_external_data=False)
                if a != b:
                    problems.append("protobuf differs after round trip")
                verdict = "same protobuf"
                try:
                    onnx.checker.check_model(a, full_check=True)
                    valid = True
                except Exception:
                    valid = False
                if valid:
                    try:
                        onnx.checker.check_model(b, full_check=True)
                    except Exception as e:
                        problems.append(f"saved file fails the checker: {e}")
                    try:
                        feeds = feeds_for(path, a)
                        ya, yb = ort_run(path, feeds), ort_run(out, feeds)
                        if any(x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes() for x, y in zip(ya, yb)):
                            problems.append("onnxruntime outputs differ")
                        verdict += ", checker ok, onnxruntime outputs identical"
                    except Exception as e:
                        verdict += f", onnxruntime cannot run it ({type(e).__name__})"
                else:
                    verdict += " (not valid ONNX; checker and onnxruntime skipped)"
            if problems:
                failed += 1
                print(f"FAIL {path}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {path}: {verdict}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
