#!/usr/bin/env python3
"""Differential fuzz of qverify's onnxruntime semantics: perturb the quantization parameters of
Reference's valid QDQ/QOP models (each scale times e^u, u uniform in [-0.8, 0.8]; with probability
ZP a zero point redrawn in its type's range, int32 ones in [-2, 2]), run onnxruntime (one thread,
ORT_DISABLE_ALL or ORT_ENABLE_ALL) and `qverify run` (--target ort-host, with --ort-level enable for
the latter) on 4 calibration samples, and compare the graph output bit for bit. A differing model
is kept as /tmp/qverify-ortdiff/bad_<k>.onnx.

This is how the fused QLinearAdd arithmetic and onnxruntime's Conv bias-scale check were found.

Run: .venv/bin/python scripts/fuzz_ort_diff.py QVERIFY [--runs N] [--seed S] [--level disable|enable]
     [--zp P] [--models fixture/model.onnx,...]    (exit 1 when any run differs)
"""
import argparse
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper as nh

R = pathlib.Path(__file__).resolve().parent.parent / "Reference"
MODELS = ("residual/ort_static_qdq.onnx,residual/ort_static_qop.onnx,depthwise/ort_static_qdq.onnx,"
          "depthwise/ort_static_qop.onnx,digits/ort_static_qdq.onnx,digits/ort_static_qop.onnx,"
          "cnn/ort_static_qdq.onnx,cnn/ort_static_qop.onnx,resnet/ort_static_qdq.onnx,resnet/ort_static_qop.onnx,"
          "mobilenet/ort_static_qdq.onnx,mobilenet/ort_static_qop.onnx,mobilenet_relu6/ort_static_qdq.onnx,"
          "lenet/aidge_qdq_biasfix.onnx,lenet/aidge_qop_biasfix.onnx,mlp/aidge_qdq_biasfix.onnx")


def perturb(m, rng, zp_probability):
    for init in m.graph.initializer:
        a = nh.to_array(init).copy()
        if init.name.endswith("_scale") and a.dtype == np.float32:
            a = (a * np.exp(np.array([rng.uniform(-0.8, 0.8) for _ in range(a.size)], np.float32)).reshape(a.shape)).astype(np.float32)
        elif init.name.endswith("_zero_point") and a.dtype in (np.uint8, np.int8, np.int32) and rng.random() < zp_probability:
            lo, hi = (-2, 2) if a.dtype == np.int32 else (np.iinfo(a.dtype).min, np.iinfo(a.dtype).max)
            a = np.array([rng.randint(lo, hi) for _ in range(a.size)], a.dtype).reshape(a.shape)
        else:
            continue
        init.CopyFrom(nh.from_array(a, init.name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qverify")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--level", choices=("disable", "enable"), default="enable")
    ap.add_argument("--zp", type=float, default=0.3)
    ap.add_argument("--models", default=MODELS)
    a = ap.parse_args()
    tmp = pathlib.Path("/tmp/qverify-ortdiff")
    tmp.mkdir(exist_ok=True)
    rng = random.Random(a.seed)
    models = a.models.split(",")
    bad = 0
    for k in range(a.runs):
        rel = rng.choice(models)
        m = onnx.load(str(R / rel))
        perturb(m, rng, a.zp)
        path = tmp / f"m{k}.onnx"
        onnx.save(m, str(path))
        x = np.load(R / rel.split("/")[0] / "calib_inputs.npy")[:4]
        np.save(tmp / "x.npy", x)
        so = ort.SessionOptions()
        so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if a.level == "disable"
                                       else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        y = np.stack([s.run(None, {s.get_inputs()[0].name: x[i]})[0] for i in range(len(x))])
        cmd = [a.qverify, "run", str(path), "--inputs", str(tmp / "x.npy"), "--output-dir", str(tmp / "out"),
               "--threads", "1", "--target", "ort-host"] + (["--ort-level", "enable"] if a.level == "enable" else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{k} {rel}: qverify exit {r.returncode}: {r.stderr.strip()[-200:]}")
            bad += 1
            continue
        q = np.load(tmp / "out" / f"{m.graph.output[0].name}.npy").reshape(y.shape)
        d = int((q.view(np.uint32) != y.view(np.uint32)).sum()) if y.dtype == np.float32 else int((q != y).sum())
        if d:
            print(f"{k} {rel}: {d} of {y.size} output elements differ (max {np.abs(q.astype(float) - y.astype(float)).max():.4g})")
            os.replace(path, tmp / f"bad_{k}.onnx")
            bad += 1
        else:
            path.unlink()
    print(f"{a.runs} runs ({a.level}), {bad} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
