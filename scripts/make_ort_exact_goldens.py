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

The integers of u8xs8 models depend on the host's ISA (see README: deployment targets): run it on
an AVX-512 VNNI host, or record the host in Reference/ort-isa/reference-goldens.json and check the
goldens through the matching --target. It refuses to overwrite VNNI goldens from another host.

Run: .venv/bin/python scripts/make_ort_exact_goldens.py [Reference] [--only=FIXTURE/MODEL.onnx ...]
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

root = pathlib.Path(__file__).resolve().parent.parent
args = [a for a in sys.argv[1:] if not a.startswith("--")]
ref = pathlib.Path(args[0]) if args else root / "Reference"
LIMIT = 1 << 20


def host_is_vnni():
    flags = pathlib.Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


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


INTEGER_PRODUCTS = {"QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}
# Float kernels MLAS dispatches per ISA (Softmax sums in 16 lanes with AVX-512F).
ISA_FLOAT = {"Softmax", "LogSoftmax"}


def host_independent(path):
    """A model without integer products (float ops, QDQ at ORT_DISABLE_ALL: Q/DQ around float
    ops) runs the same kernels on every x86 host with FMA, Softmax excepted: its goldens can be
    made anywhere."""
    return not any(n.op_type in INTEGER_PRODUCTS | ISA_FLOAT for n in onnx.load(str(path)).graph.node)


def main():
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    if only:
        # --only=FIXTURE/MODEL.onnx (repeatable): just these models; on a host without VNNI only
        # host-independent ones.
        for rel in only:
            path = ref / rel
            if not host_is_vnni() and not host_independent(path):
                sys.exit(f"make_ort_exact_goldens: {rel} has integer products or ISA-dependent float kernels; its goldens need a VNNI host")
            res = run(path, np.load(path.parent / "calib_inputs.npy"))
            out = path.parent / f"{path.stem}_ort_exact.npz"
            np.savez(out, **res)
            print(f"{out.relative_to(ref)}: {len(res)} tensors, {sum(v.nbytes for v in res.values()) // 1024} KB")
        return
    if not host_is_vnni() and "--any-host" not in sys.argv:
        sys.exit("make_ort_exact_goldens: this host has no VNNI, so onnxruntime's u8xs8 results here are not the "
                 "ort-vnni goldens recorded in Reference/ort-isa/reference-goldens.json (pass --any-host and record the host)")
    for d in sorted(p for p in ref.iterdir() if p.is_dir() and (p / "calib_inputs.npy").exists()):
        x = np.load(d / "calib_inputs.npy")
        for path in valid_models(d):
            try:
                res = run(path, x)
            except Exception as e:  # e.g. Aidge's own set_to_qdq export with float zero points
                print(f"{path.relative_to(ref)}: skipped, onnxruntime refuses it: {str(e).splitlines()[0][:160]}")
                continue
            out = d / f"{path.stem}_ort_exact.npz"
            np.savez(out, **res)
            print(f"{out.relative_to(ref)}: {len(res)} tensors, {sum(v.nbytes for v in res.values()) // 1024} KB")


if __name__ == "__main__":
    main()
