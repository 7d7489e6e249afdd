#!/usr/bin/env python3
"""Semantic-mutation fuzz: invalid attributes, scales, zero points and shapes written with the onnx
package; qverify inspect/run/convert/check must exit 0, 1 or 2, never crash or hang. Needs a release build."""
import copy, subprocess, onnx, numpy as np, pathlib
pathlib.Path("/tmp/qverify-fuzz").mkdir(exist_ok=True)
from onnx import helper, numpy_helper
qv = str(pathlib.Path(__file__).resolve().parent.parent / ".build/release/qverify")
base = {"float": onnx.load("Reference/lenet/float.onnx"), "folded": onnx.load("Reference/lenet/aidge_quantized_folded.onnx"),
        "qdq": onnx.load("Reference/lenet/aidge_qdq.onnx"), "qop": onnx.load("Reference/residual/ort_static_qop.onnx")}
def set_attr(n, name, v):
    for a in list(n.attribute):
        if a.name == name: n.attribute.remove(a)
    n.attribute.append(helper.make_attribute(name, v))
muts = []
def first(m, op): return next(n for n in m.graph.node if n.op_type == op)
muts.append(("conv strides 0", "float", lambda m: set_attr(first(m, "Conv"), "strides", [0, 0])))
muts.append(("conv pads negative", "float", lambda m: set_attr(first(m, "Conv"), "pads", [-5, -5, -5, -5])))
muts.append(("conv group 0", "float", lambda m: set_attr(first(m, "Conv"), "group", 0)))
muts.append(("conv group 3", "float", lambda m: set_attr(first(m, "Conv"), "group", 3)))
muts.append(("conv dilation 0", "float", lambda m: set_attr(first(m, "Conv"), "dilations", [0, 0])))
muts.append(("conv kernel_shape wrong", "float", lambda m: set_attr(first(m, "Conv"), "kernel_shape", [7, 7])))
muts.append(("maxpool kernel 0", "float", lambda m: set_attr(first(m, "MaxPool"), "kernel_shape", [0, 0])))
muts.append(("maxpool kernel huge", "float", lambda m: set_attr(first(m, "MaxPool"), "kernel_shape", [100, 100])))
muts.append(("maxpool strides 0", "float", lambda m: set_attr(first(m, "MaxPool"), "strides", [0, 0])))
muts.append(("flatten axis 9", "float", lambda m: set_attr(first(m, "Flatten"), "axis", 9)))
muts.append(("flatten axis -9", "float", lambda m: set_attr(first(m, "Flatten"), "axis", -9)))
muts.append(("gemm transA", "float", lambda m: set_attr(first(m, "Gemm"), "transA", 1)))
muts.append(("auto_pad garbage", "float", lambda m: set_attr(first(m, "Conv"), "auto_pad", "SIDEWAYS")))
def retensor(m, op, k, f):
    """Replaces the initializer behind input k of the first `op` node by f(its current value)."""
    init = next(i for i in m.graph.initializer if i.name == first(m, op).input[k])
    init.CopyFrom(numpy_helper.from_array(f(numpy_helper.to_array(init)), init.name))
zero_scale = lambda m: retensor(m, "QuantizeLinear", 1, lambda a: np.array(0, np.float32))
muts.append(("quantize scale 0", "qdq", zero_scale))
muts.append(("aidge quantize scale 0", "folded", zero_scale))
muts.append(("dq scale wrong length", "qdq", lambda m: retensor(m, "DequantizeLinear", 1, lambda a: np.array([1.0, 2.0, 3.0], np.float32))))
def axis_bad(m):
    set_attr(first(m, "DequantizeLinear"), "axis", 7)
    retensor(m, "DequantizeLinear", 1, lambda a: np.array([1.0, 2.0], np.float32))
muts.append(("dq axis 7 per-axis", "qdq", axis_bad))
muts.append(("qlinearconv y_scale 0", "qop", lambda m: retensor(m, "QLinearConv", 6, lambda a: np.array(0, np.float32))))
muts.append(("qlinearconv w_zp wrong length", "qop", lambda m: retensor(m, "QLinearConv", 5, lambda a: np.array([1, 2, 3], np.int8))))
def input_rank(m):
    d = m.graph.input[0].type.tensor_type.shape.dim; del d[-1]
muts.append(("declared input rank 3", "float", input_rank))
def input_dim_neg(m):
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = -4
muts.append(("declared input dim -4", "float", input_dim_neg))
muts.append(("conv weight 1x1 shape", "folded",
             lambda m: retensor(m, "Conv", 1, lambda a: a.reshape(a.shape[0], -1, 1, 1)[:, :1] if a.ndim == 4 else a)))
def drop_zp(m):
    q = first(m, "QuantizeLinear"); del q.input[2]
muts.append(("aidge quantizer without zp", "folded", drop_zp))
muts.append(("folded bias non-integer float", "folded", lambda m: retensor(m, "Conv", 2, lambda a: a.astype(np.float32) + 0.5)))
short_bias = lambda m: retensor(m, "Conv", 2, lambda a: a[:2])
muts.append(("conv bias too short", "float", short_bias))
muts.append(("folded conv bias too short", "folded", short_bias))
muts.append(("qlinearconv bias too short", "qop", lambda m: retensor(m, "QLinearConv", 8, lambda a: a[:1])))
muts.append(("gemm bias too long", "float", lambda m: retensor(m, "Gemm", 2, lambda a: np.concatenate([a] * 3))))
problems = 0
for name, b, f in muts:
    m = copy.deepcopy(base[b]); f(m)
    p = pathlib.Path("/tmp/qverify-fuzz/s.onnx"); onnx.save(m, str(p))
    inputs = "Reference/lenet/calib_inputs.npy" if b != "qop" else "Reference/residual/calib_inputs.npy"
    for cmd in (["inspect", str(p)], ["run", str(p), "--inputs", inputs, "--output-dir", "/tmp/qverify-fuzz/out"], ["convert", str(p), "--to", "qop", "-o", "/tmp/qverify-fuzz/c.onnx"], ["check", str(p)]):
        try:
            r = subprocess.run([qv] + cmd, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            print("HANG", name, cmd[0]); problems += 1; continue
        err = r.stderr.decode(errors="replace").strip().splitlines()
        if r.returncode not in (0, 1, 2):
            problems += 1
            print("CRASH", name, cmd[0], r.returncode, next((l for l in err if "Fatal" in l or "Precondition" in l or "out of range" in l or "Illegal" in l), err[:1]))
print("problems:", problems)
