#!/usr/bin/env python3
"""Writes Reference/<fixture>/qdq_loss_debug.json: onnxruntime's own per-tensor SQNR between a float
model and its quantize_static QDQ model (onnxruntime.quantization.qdq_loss_debug: xmodel_err, dB),
on the fixture's calibration inputs. The oracle for qverify compare's float-vs-QDQ alignment and
SQNR (Tests/QVCompareTests/VerdictRuleTests).

Run: .venv/bin/python scripts/make_qdq_loss_oracle.py [Reference]
"""
import json
import pathlib
import sys
import tempfile

import numpy as np
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error, create_activation_matching,
                                                     modify_model_output_intermediate_tensors)

root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "Reference"


class Reader(CalibrationDataReader):
    def __init__(self, x):
        self.it = iter([{"input": x[i]} for i in range(len(x))])

    def get_next(self):
        return next(self.it, None)


for qdq in sorted(root.glob("*/ort_static_qdq.onnx")):
    d = qdq.parent
    x = np.load(d / "calib_inputs.npy")
    with tempfile.TemporaryDirectory() as t:
        fa, qa = f"{t}/float_aug.onnx", f"{t}/qdq_aug.onnx"
        modify_model_output_intermediate_tensors(str(d / "float.onnx"), fa)
        modify_model_output_intermediate_tensors(str(qdq), qa)
        float_acts = collect_activations(fa, Reader(x))
        qdq_acts = collect_activations(qa, Reader(x))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    out = {name: float(e["xmodel_err"]) for name, e in sorted(errors.items()) if "xmodel_err" in e and np.isfinite(e["xmodel_err"])}
    (d / "qdq_loss_debug.json").write_text(json.dumps({"onnxruntime": onnxruntime.__version__, "metric": "xmodel_err (SQNR dB, float vs dequantized QDQ)",
                                                       "tensors": out}, indent=1) + "\n")
    print(f"{d.name}: {len(out)} tensors")
