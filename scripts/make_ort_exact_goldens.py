#!/usr/bin/env python3
"""Writes Reference/<fixture>/<model>_ort_exact.npz for every valid-ONNX Reference model: what
onnxruntime (CPU provider, ORT_DISABLE_ALL, one intra-op thread) computes on calib_inputs.npy,
sample by sample, stacked on a new axis 0. Keys are tensor names: every graph output, and every
intermediate tensor when the model's intermediates are small (< 1 MB in total), else only the
outputs and the tensors right in front of a QuantizeLinear (where float order decides rounding).

qverify's interpreter must reproduce every tensor in these files bit for bit, floats included:
its float Conv/Gemm/MatMul sum in onnxruntime's order (one thread; the thread count changes
MLAS's blocking). The ORT_ENABLE_ALL / default-thread goldens made by make_reference.py stay
as they are and are compared within 1e-5 relative.

Run: .venv/bin/python scripts/make_ort_exact_goldens.py [Reference]
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

root = pathlib.Path(__file__).resolve().parent.parent
ref = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "Reference"
LIMIT = 1 << 20


def valid_models(d):
    for p in sorted(d.glob("*.onnx")):
        if p.name.startswith("aidge_quantized"):
            continue  # Aidge-form exports are not valid ONNX; their goldens come from Aidge
        yield p


def run(path, x):
    m = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    typed = {v.name: v for v in list(m.graph.value_info) + list(m.graph.output)}
    outputs = [o.name for o in m.graph.output]
    produced = [o for n in m.graph.node for o in n.output if o and o in typed and o not in outputs]
    for name in produced:
        m.graph.output.append(typed[name])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = outputs + produced
    iname = sess.get_inputs()[0].name
    runs = [sess.run(names, {iname: x[i]}) for i in range(len(x))]
    res = {n: np.stack([r[j] for r in runs]) for j, n in enumerate(names)}
    if sum(v.nbytes for v in res.values()) > LIMIT:
        feeds_q = {n.input[0] for n in m.graph.node if n.op_type == "QuantizeLinear"}
        res = {n: v for n, v in res.items() if n in outputs or (n in feeds_q and v.nbytes <= LIMIT // 2)}
    return res


def main():
    for d in sorted(p for p in ref.iterdir() if p.is_dir()):
        x = np.load(d / "calib_inputs.npy")
        for path in valid_models(d):
            res = run(path, x)
            out = d / f"{path.stem}_ort_exact.npz"
            np.savez(out, **res)
            print(f"{out.relative_to(ref)}: {len(res)} tensors, {sum(v.nbytes for v in res.values()) // 1024} KB")


if __name__ == "__main__":
    main()
