#!/usr/bin/env python3
"""Writes Tests/Fixtures/ort_fusion/: onnxruntime quantize_static QDQ models from Reference/ whose
bias DQ parameters no longer match the QLinearConv/QGemm convention (bias scale = x_scale·w_scale,
zero point 0), run by onnxruntime at ORT_ENABLE_ALL on one thread. Its optimizer keeps such a Conv
group in float (outside a 1e-6 + 1e-2·|x_scale·w_scale| tolerance, or with a nonzero bias zero
point) but fuses a Gemm group whatever the bias DQ says, so the numbers depend on which.

Per case: <case>.onnx, <case>_inputs.npy (the fixture's calib_inputs), and <case>.npz with 'output'
(onnxruntime's outputs, stacked) and 'fused' (how many QLinearConv and QGemm the graph it optimized to has).
qverify's --ort-level enable must reproduce 'output' bit for bit (Tests/CLITests/RunTests).

Run on an AVX-512 VNNI host (the outputs are u8s8 products): .venv/bin/python scripts/make_ort_fusion_cases.py
"""
import pathlib
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper as nh

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "Tests/Fixtures/ort_fusion"
out.mkdir(parents=True, exist_ok=True)

# case -> (fixture, {initializer: (multiply by, or None) / replace with}, ...)
CASES = {
    # conv1's bias scale 37% off (kept float), conv2's 3% off (within tolerance: fused).
    "conv_bias_scale_off": ("residual", {"conv1_b_quantized_scale": 1.37, "conv2_b_quantized_scale": 1.03}),
    # conv2's bias zero point 1 (kept float); conv1 as quantize_static wrote it.
    "conv_bias_zero_point": ("residual", {"conv2_b_quantized_zero_point": "one"}),
    # Both Gemms' bias scales 37% off: onnxruntime fuses them anyway and ignores the scale.
    "gemm_bias_scale_off": ("digits", {"fc1_b_quantized_scale": 1.37, "fc2_b_quantized_scale": 0.6}),
}


def main():
    for case, (fixture, edits) in CASES.items():
        m = onnx.load(str(root / "Reference" / fixture / "ort_static_qdq.onnx"))
        inits = {i.name: i for i in m.graph.initializer}
        for name, how in edits.items():
            a = nh.to_array(inits[name]).copy()
            a = np.ones_like(a) if how == "one" else (a * np.float32(how)).astype(a.dtype)
            inits[name].CopyFrom(nh.from_array(a, name))
        path = out / f"{case}.onnx"
        onnx.save(m, str(path))
        x = np.load(root / "Reference" / fixture / "calib_inputs.npy")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        with tempfile.TemporaryDirectory() as t:
            so.optimized_model_filepath = f"{t}/o.onnx"
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            ops = [n.op_type for n in onnx.load(f"{t}/o.onnx").graph.node]
        y = np.stack([sess.run(None, {sess.get_inputs()[0].name: x[i]})[0] for i in range(len(x))])
        counts = np.array([ops.count("QLinearConv"), ops.count("QGemm")], np.int64)
        np.save(out / f"{case}_inputs.npy", x)
        np.savez(out / f"{case}.npz", output=y, fused=counts)
        print(f"{case}: {ops.count('QLinearConv')} QLinearConv, {ops.count('QGemm')} QGemm, {ops.count('Conv')} Conv")


if __name__ == "__main__":
    main()
