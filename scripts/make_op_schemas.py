#!/usr/bin/env python3
"""Writes Tests/Fixtures/op_schemas.json: for every ONNX operator (onnx's schema registry, all
versions) and every com.microsoft operator onnxruntime registers, the opset versions at which its
definition changed ("since") and its input names in position order. OpSpecTests holds qverify's op
specs (Sources/QVGraph/Ops/) to it: the since-versions and named inputs are ONNX's, not typed in.

Usage: .venv/bin/python scripts/make_op_schemas.py
"""
import json
import pathlib

import onnx
import onnx.defs
import onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state as C

out = {"tools": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}, "ops": {}}
for s in onnx.defs.get_all_schemas_with_history():
    if s.domain not in ("", "ai.onnx"):
        continue
    e = out["ops"].setdefault("::" + s.name, {"since": [], "inputs": []})
    e["since"].append(s.since_version)
    if s.since_version == max(e["since"]):
        e["inputs"] = [i.name for i in s.inputs]
for s in C.get_all_operator_schema():
    if s.domain != "com.microsoft":
        continue
    e = out["ops"].setdefault("com.microsoft::" + s.name, {"since": [], "inputs": []})
    e["since"] = sorted(set(e["since"] + [s.since_version]))
    e["inputs"] = [i.name for i in s.inputs]
for e in out["ops"].values():
    e["since"] = sorted(set(e["since"]))
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/Fixtures/op_schemas.json"
path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
print(f"{path}: {len(out['ops'])} operators")
