#!/usr/bin/env python3
"""Builds Tests/Fixtures/ops/: one small ONNX model per case, its inputs and onnxruntime's
outputs (CPU, ORT_DISABLE_ALL, one thread). qverify's interpreter must reproduce every quantized
output exactly, every float output of a case named exact_* bit for bit (float products summed in
onnxruntime's order), and every other float output within 1e-5 relative.

Each case writes <name>.onnx and <name>.npz (inputs as 'in:<name>', expected outputs as
'out:<name>'). Cases onnxruntime cannot run are listed in SKIPPED.txt with the reason.
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP, helper, numpy_helper
import onnxruntime as ort

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "Tests/Fixtures/ops"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(2024)
skipped = []
NP = {TP.FLOAT: np.float32, TP.INT8: np.int8, TP.UINT8: np.uint8, TP.INT32: np.int32, TP.INT64: np.int64,
      TP.INT16: np.int16, TP.UINT16: np.uint16}


def case(name, nodes, inputs, outputs, inits=(), opset=21, ms=False):
    """inputs: list of (name, elem_type, np array); outputs: list of (name, elem_type)."""
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, list(a.shape)) for n, t, a in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        list(inits))
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    m = helper.make_model(g, opset_imports=imports, producer_name="qverify make_op_suite")
    m.ir_version = 10
    path = out / f"{name}.onnx"
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.intra_op_num_threads = 1  # MLAS's float blocking depends on the thread count
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        res = sess.run(None, {n: a for n, _, a in inputs})
    except Exception as e:
        skipped.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return
    onnx.save(m, str(path))
    arrays = {f"in:{n}": a for n, _, a in inputs}
    arrays.update({f"out:{n}": r for (n, _), r in zip(outputs, res)})
    np.savez(out / f"{name}.npz", **arrays)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def q(name, x, scale, zp, axis=None, block=None, opset=21, xtype=TP.FLOAT):
    zt = {np.int8: TP.INT8, np.uint8: TP.UINT8, np.int16: TP.INT16, np.uint16: TP.UINT16, np.int32: TP.INT32}[zp.dtype.type]
    attrs = {} if axis is None else {"axis": axis}
    if block is not None:
        attrs["block_size"] = block
    case(name, [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)], [("x", xtype, x)], [("y", zt)],
         [init("s", scale), init("z", zp)], opset=opset)


# ---- QuantizeLinear: ties at every k + 0.5, odd zero points, saturation at both ends
ties = (np.arange(-140, 140, dtype=np.float32) + 0.5) * np.float32(0.5)
q("quantize_ties_half_even_int8", ties, np.float32(0.5), np.int8(0))
q("quantize_ties_odd_zero_point_uint8", ties, np.float32(0.5), np.uint8(3))
q("quantize_saturates_int16", (rng.normal(0, 3e4, 64)).astype(np.float32), np.float32(0.25), np.int16(-5))
q("quantize_saturates_uint16", (rng.normal(0, 3e4, 64)).astype(np.float32), np.float32(0.5), np.uint16(17))
q("quantize_int32_input", rng.integers(-5000, 5000, 50).astype(np.int32), np.float32(16.0), np.int8(1), xtype=TP.INT32, opset=13)
q("quantize_per_axis_int8", rng.normal(0, 2, (2, 3, 4)).astype(np.float32), np.array([0.01, 0.02, 0.05], np.float32),
  np.array([0, 3, -2], np.int8), axis=1)
q("quantize_blocked_int8", rng.normal(0, 2, (2, 6)).astype(np.float32), np.array([[0.01, 0.03], [0.02, 0.05]], np.float32),
  np.array([[0, 1], [-1, 2]], np.int8), axis=1, block=3)
q("quantize_opset10_uint8", rng.normal(0, 2, 40).astype(np.float32), np.float32(0.03), np.uint8(128), opset=10)
# int4: zero point in INT4
x = rng.normal(0, 1, 40).astype(np.float32)
case("quantize_int4", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], [("x", TP.FLOAT, x)], [("y", TP.INT4)],
     [init("s", np.float32(0.2)), helper.make_tensor("z", TP.INT4, [], [1])])
case("quantize_uint4", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], [("x", TP.FLOAT, x)], [("y", TP.UINT4)],
     [init("s", np.float32(0.2)), helper.make_tensor("z", TP.UINT4, [], [8])])
case("quantize_int4_then_dequantize", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                                       helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
     [("x", TP.FLOAT, x)], [("y", TP.FLOAT)], [init("s", np.float32(0.2)), helper.make_tensor("z", TP.INT4, [], [-1])])

# ---- DequantizeLinear
for dt, z, nm in ((np.int8, np.int8(-3), "int8"), (np.uint8, np.uint8(200), "uint8"), (np.int32, np.int32(0), "int32")):
    info = np.iinfo(dt) if dt != np.int32 else np.iinfo(np.int16)
    xq = rng.integers(info.min, info.max, 50).astype(dt)
    case(f"dequantize_{nm}", [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])], [("x", {np.int8: TP.INT8, np.uint8: TP.UINT8, np.int32: TP.INT32}[dt], xq)],
         [("y", TP.FLOAT)], [init("s", np.float32(0.0123)), init("z", z)])
case("dequantize_per_axis", [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=0)],
     [("x", TP.INT8, rng.integers(-128, 127, (3, 5)).astype(np.int8))], [("y", TP.FLOAT)],
     [init("s", np.array([0.1, 0.2, 0.3], np.float32)), init("z", np.array([0, 1, -1], np.int8))])


# ---- QLinearConv: per-channel, padded, strided, depthwise, grouped, dilated, >2^24 accumulators
def qconv(name, xshape, wshape, xt=np.uint8, per_channel=True, big=False, **attrs):
    info = np.iinfo(xt)
    x = (np.full(xshape, info.max, xt) if big else rng.integers(info.min, info.max, xshape).astype(xt))
    w = (np.full(wshape, 127, np.int8) if big else rng.integers(-127, 127, wshape).astype(np.int8))
    m = wshape[0]
    ws = (rng.uniform(0.001, 0.02, m) if per_channel else rng.uniform(0.001, 0.02, 1)).astype(np.float32)
    wz = np.zeros(m if per_channel else 1, np.int8)
    if not per_channel:
        ws, wz = ws[0], wz[0]
    xz = xt(0 if big else (128 if xt == np.uint8 else -3))
    b = rng.integers(-20000, 20000, m).astype(np.int32)
    ys = np.float32(200.0 if big else 0.7)
    yz = xt(7 if xt == np.uint8 else -5)
    case(name, [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], **attrs)],
         [("x", TP.UINT8 if xt == np.uint8 else TP.INT8, x)], [("y", TP.UINT8 if xt == np.uint8 else TP.INT8)],
         [init("xs", np.float32(0.02)), init("xz", xz), init("w", w), init("ws", ws), init("wz", wz),
          init("ys", ys), init("yz", yz), init("b", b)], opset=13)


qconv("qlinearconv_per_channel_uint8", (1, 3, 7, 7), (4, 3, 3, 3))
qconv("qlinearconv_per_tensor_int8", (1, 3, 7, 7), (4, 3, 3, 3), xt=np.int8, per_channel=False)
qconv("qlinearconv_padded_strided", (2, 2, 9, 8), (5, 2, 3, 3), pads=[1, 2, 1, 0], strides=[2, 2])
qconv("qlinearconv_depthwise", (1, 6, 8, 8), (6, 1, 3, 3), group=6, pads=[1, 1, 1, 1])
qconv("qlinearconv_grouped_dilated", (1, 4, 9, 9), (6, 2, 3, 3), group=2, dilations=[2, 2])
qconv("qlinearconv_pointwise", (1, 8, 5, 5), (4, 8, 1, 1))
qconv("qlinearconv_same_upper", (1, 2, 6, 7), (3, 2, 3, 3), auto_pad="SAME_UPPER", strides=[2, 2])
qconv("qlinearconv_accumulator_beyond_2_24", (1, 64, 3, 3), (2, 64, 3, 3), big=True)

# ---- QLinearMatMul and com.microsoft QGemm
a = rng.integers(0, 255, (2, 3, 16)).astype(np.uint8)
bm = rng.integers(-127, 127, (16, 5)).astype(np.int8)
case("qlinearmatmul_batched", [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
     [("a", TP.UINT8, a)], [("y", TP.UINT8)],
     [init("as", np.float32(0.05)), init("az", np.uint8(120)), init("b", bm), init("bs", np.float32(0.01)),
      init("bz", np.int8(0)), init("ys", np.float32(0.9)), init("yz", np.uint8(100))], opset=13)
a2 = rng.integers(-128, 127, (4, 16)).astype(np.int8)
bg = rng.integers(-127, 127, (6, 16)).astype(np.int8)
cg = rng.integers(-3000, 3000, 6).astype(np.int32)
case("qgemm_int8_per_column_transB", [helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz", "c", "ys", "yz"], ["y"], domain="com.microsoft", transB=1)],
     [("a", TP.INT8, a2)], [("y", TP.INT8)],
     [init("as", np.float32(0.04)), init("az", np.int8(2)), init("b", bg), init("bs", rng.uniform(0.001, 0.01, 6).astype(np.float32)),
      init("bz", np.zeros(6, np.int8)), init("c", cg), init("ys", np.float32(0.3)), init("yz", np.int8(-4))], ms=True)
case("qgemm_float_output_alpha", [helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz", "c"], ["y"], domain="com.microsoft", transB=1, alpha=0.5)],
     [("a", TP.INT8, a2)], [("y", TP.FLOAT)],
     [init("as", np.float32(0.04)), init("az", np.int8(2)), init("b", bg), init("bs", np.float32(0.005)),
      init("bz", np.int8(0)), init("c", cg)], ms=True)

# ---- com.microsoft QLinear elementwise and pooling
for dt, tt, nm in ((np.uint8, TP.UINT8, "uint8"), (np.int8, TP.INT8, "int8")):
    info = np.iinfo(dt)
    A = rng.integers(info.min, info.max, (2, 3, 4, 5)).astype(dt)
    B = rng.integers(info.min, info.max, (1, 3, 1, 5)).astype(dt)
    zs = [dt(10 if dt == np.uint8 else -2), dt(130 if dt == np.uint8 else 3), dt(90 if dt == np.uint8 else 1)]
    for op in ("QLinearAdd", "QLinearMul"):
        case(f"{op.lower()}_broadcast_{nm}", [helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"], domain="com.microsoft")],
             [("a", tt, A), ("b", tt, B)], [("y", tt)],
             [init("as", np.float32(0.03)), init("az", zs[0]), init("bs", np.float32(0.05)), init("bz", zs[1]),
              init("cs", np.float32(0.07 if op == "QLinearAdd" else 0.4)), init("cz", zs[2])], ms=True)
    X = rng.integers(info.min, info.max, (2, 3, 5, 6)).astype(dt)
    case(f"qlinearglobalaveragepool_{nm}", [helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", channels_last=0)],
         [("x", tt, X)], [("y", tt)], [init("xs", np.float32(0.05)), init("xz", zs[0]), init("ys", np.float32(0.03)), init("yz", zs[2])], ms=True)
    case(f"qlinearaveragepool_{nm}", [helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                                       kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)],
         [("x", tt, X)], [("y", tt)], [init("xs", np.float32(0.05)), init("xz", zs[0]), init("ys", np.float32(0.04)), init("yz", zs[2])], ms=True)
    for op, extra in (("QLinearLeakyRelu", {"alpha": 0.1}), ("QLinearSigmoid", {})):
        case(f"{op.lower()}_{nm}", [helper.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **extra)],
             [("x", tt, X)], [("y", tt)], [init("xs", np.float32(0.05)), init("xz", zs[0]), init("ys", np.float32(0.01 if op == "QLinearSigmoid" else 0.04)), init("yz", zs[2])], ms=True)
    Y = rng.integers(info.min, info.max, (2, 2, 5, 6)).astype(dt)
    case(f"qlinearconcat_{nm}", [helper.make_node("QLinearConcat", ["ys", "yz", "x", "xs", "xz", "w", "ws", "wz"], ["y"], domain="com.microsoft", axis=1)],
         [("x", tt, X), ("w", tt, Y)], [("y", tt)],
         [init("ys", np.float32(0.06)), init("yz", zs[2]), init("xs", np.float32(0.05)), init("xz", zs[0]), init("ws", np.float32(0.08)), init("wz", zs[1])], ms=True)

# ---- float ops
X = rng.normal(0, 1, (2, 3, 8, 7)).astype(np.float32)
W = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
case("conv_padded_strided_dilated", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2])],
     [("x", TP.FLOAT, X)], [("y", TP.FLOAT)], [init("w", W), init("b", rng.normal(0, 0.1, 4).astype(np.float32))])
case("conv_depthwise_same_lower", [helper.make_node("Conv", ["x", "w"], ["y"], group=3, auto_pad="SAME_LOWER", strides=[2, 2])],
     [("x", TP.FLOAT, X)], [("y", TP.FLOAT)], [init("w", rng.normal(0, 0.3, (3, 1, 3, 3)).astype(np.float32))])
case("conv_1d", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1])],
     [("x", TP.FLOAT, rng.normal(0, 1, (2, 3, 10)).astype(np.float32))], [("y", TP.FLOAT)], [init("w", rng.normal(0, 0.3, (5, 3, 3)).astype(np.float32))])
case("gemm_transA_alpha_beta", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, alpha=0.7, beta=1.3)],
     [("a", TP.FLOAT, rng.normal(0, 1, (5, 3)).astype(np.float32))], [("y", TP.FLOAT)],
     [init("b", rng.normal(0, 1, (5, 4)).astype(np.float32)), init("c", rng.normal(0, 1, (1, 4)).astype(np.float32))])
case("matmul_batched_broadcast", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (2, 1, 3, 4)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (3, 4, 5)).astype(np.float32))], [("y", TP.FLOAT)])
case("maxpool_pads_ceil_indices", [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0], ceil_mode=1)],
     [("x", TP.FLOAT, X)], [("y", TP.FLOAT), ("i", TP.INT64)], opset=12)
case("maxpool_int8", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
     [("x", TP.INT8, rng.integers(-128, 127, (1, 2, 6, 6)).astype(np.int8))], [("y", TP.INT8)], opset=12)
case("averagepool_count_include_pad", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)],
     [("x", TP.FLOAT, X)], [("y", TP.FLOAT)])
case("averagepool_exclude_pad", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1])],
     [("x", TP.FLOAT, X)], [("y", TP.FLOAT)])
case("globalaveragepool", [helper.make_node("GlobalAveragePool", ["x"], ["y"])], [("x", TP.FLOAT, X)], [("y", TP.FLOAT)])
case("round_half_even", [helper.make_node("Round", ["x"], ["y"])], [("x", TP.FLOAT, (np.arange(-6, 6, dtype=np.float32) + 0.5))], [("y", TP.FLOAT)])
case("add_broadcast", [helper.make_node("Add", ["a", "b"], ["y"])], [("a", TP.FLOAT, X), ("b", TP.FLOAT, rng.normal(0, 1, (3, 1, 7)).astype(np.float32))], [("y", TP.FLOAT)])
case("sub_mul_div_int32", [helper.make_node("Sub", ["a", "b"], ["s"]), helper.make_node("Mul", ["s", "b"], ["m"]), helper.make_node("Div", ["m", "c"], ["y"])],
     [("a", TP.INT32, rng.integers(-1000, 1000, (4, 5)).astype(np.int32)), ("b", TP.INT32, rng.integers(-30, 30, (5,)).astype(np.int32))],
     [("y", TP.INT32)], [init("c", np.int32(7))])
case("clip_int8", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("x", TP.INT8, rng.integers(-128, 127, 40).astype(np.int8))], [("y", TP.INT8)],
     [init("lo", np.int8(-20)), init("hi", np.int8(33))])
case("cast_int32_to_int8_wraps", [helper.make_node("Cast", ["x"], ["y"], to=TP.INT8)], [("x", TP.INT32, np.array([-300, -129, -128, 127, 128, 200, 1000], np.int32))], [("y", TP.INT8)])
case("cast_float_to_int32_truncates", [helper.make_node("Cast", ["x"], ["y"], to=TP.INT32)], [("x", TP.FLOAT, np.array([-2.7, -2.5, -0.5, 0.5, 2.5, 2.7], np.float32))], [("y", TP.INT32)])
case("activations", [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("LeakyRelu", ["x"], ["l"], alpha=0.2),
                     helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Tanh", ["x"], ["t"]), helper.make_node("Softmax", ["x"], ["y"], axis=1)],
     [("x", TP.FLOAT, X)], [("r", TP.FLOAT), ("l", TP.FLOAT), ("s", TP.FLOAT), ("t", TP.FLOAT), ("y", TP.FLOAT)])
case("shape_ops", [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), helper.make_node("Reshape", ["t", "shp"], ["r"]),
                   helper.make_node("Unsqueeze", ["r", "ax"], ["u"]), helper.make_node("Squeeze", ["u", "ax"], ["s"]),
                   helper.make_node("Concat", ["s", "s"], ["c"], axis=1), helper.make_node("Pad", ["c", "pads", "pv"], ["p"]),
                   helper.make_node("Gather", ["p", "idx"], ["g"], axis=1), helper.make_node("Flatten", ["x"], ["f"], axis=2),
                   helper.make_node("Shape", ["x"], ["shape"])],
     [("x", TP.FLOAT, X)], [("g", TP.FLOAT), ("f", TP.FLOAT), ("shape", TP.INT64)],
     [init("shp", np.array([2, -1], np.int64)), init("ax", np.array([1], np.int64)), init("pads", np.array([0, 1, 1, 2], np.int64)),
      init("pv", np.float32(-1.5)), init("idx", np.array([0, 3, 5, 2], np.int64))])
case("batchnorm", [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"])], [("x", TP.FLOAT, X)], [("y", TP.FLOAT)],
     [init(n, rng.uniform(0.5, 1.5, 3).astype(np.float32)) for n in ("g", "b", "m", "v")])
case("bitshift_uint8", [helper.make_node("BitShift", ["x", "s"], ["y"], direction="RIGHT")],
     [("x", TP.UINT8, rng.integers(0, 255, 20).astype(np.uint8)), ("s", TP.UINT8, rng.integers(0, 8, 20).astype(np.uint8))], [("y", TP.UINT8)])


# ---- degenerate scales: a zero output scale makes an infinite multiplier and 0·inf = NaN; the
# requantization must saturate (NaN to the lower bound, as MLAS's max-then-min) and never trap.
A8 = rng.integers(-128, 127, (2, 8)).astype(np.int8)
for op in ("QLinearAdd", "QLinearMul"):
    case(f"{op.lower()}_zero_c_scale", [helper.make_node(op, ["a", "as", "az", "a", "as", "az", "cs", "cz"], ["y"], domain="com.microsoft")],
         [("a", TP.INT8, A8)], [("y", TP.INT8)],
         [init("as", np.float32(0.03)), init("az", np.int8(A8[0, 0])), init("cs", np.float32(0.0)), init("cz", np.int8(5))], ms=True)
case("qlinearmatmul_zero_y_scale", [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
     [("a", TP.INT8, A8)], [("y", TP.INT8)],
     [init("as", np.float32(0.03)), init("az", np.int8(A8[0, 0])), init("b", rng.integers(-3, 3, (8, 3)).astype(np.int8)),
      init("bs", np.float32(0.02)), init("bz", np.int8(0)), init("ys", np.float32(0.0)), init("yz", np.int8(-7))])
case("qgemm_zero_y_scale", [helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz", "", "ys", "yz"], ["y"], domain="com.microsoft")],
     [("a", TP.INT8, A8)], [("y", TP.INT8)],
     [init("as", np.float32(0.03)), init("az", np.int8(A8[0, 0])), init("b", rng.integers(-3, 3, (8, 3)).astype(np.int8)),
      init("bs", np.float32(0.02)), init("bz", np.int8(0)), init("ys", np.float32(0.0)), init("yz", np.int8(-7))], ms=True)
X8 = rng.integers(-128, 127, (1, 2, 4, 4)).astype(np.int8)
case("qlinearaveragepool_zero_y_scale", [helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                                          kernel_shape=[2, 2], strides=[2, 2])],
     [("x", TP.INT8, X8)], [("y", TP.INT8)], [init("xs", np.float32(0.05)), init("xz", np.int8(X8[0, 0, 0, 0])),
                                              init("ys", np.float32(0.0)), init("yz", np.int8(3))], ms=True)
# Integer Pow beyond int32/int64 and with negative exponents.
case("pow_int32_overflow", [helper.make_node("Pow", ["x", "e"], ["y"])],
     [("x", TP.INT32, np.array([2, 3, -2, 10, 0, 7, 1, -1], np.int32)), ("e", TP.INT32, np.array([3, 40, 31, 30, -1, -2, 100, 101], np.int32))], [("y", TP.INT32)])


# ---- float products summed in onnxruntime's order (names start with exact_: compared bit for bit).
# One-row Gemm/MatMul take MLAS's one-row AVX kernels (8 lanes reduced by the output's position in
# groups of 4/2/1; groups of 4/2/1 consecutive k), a constant B is pre-packed (256-deep blocks),
# small-output convs block K by 128..1024 depending on the output pixel count.
A1 = rng.normal(0, 1, (1, 37)).astype(np.float32)
case("exact_gemm_one_row_transb", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)],
     [("a", TP.FLOAT, A1), ("b", TP.FLOAT, rng.normal(0, 1, (7, 37)).astype(np.float32)), ("c", TP.FLOAT, rng.normal(0, 1, (7,)).astype(np.float32))],
     [("y", TP.FLOAT)])
case("exact_matmul_one_row", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (1, 39)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (39, 21)).astype(np.float32))], [("y", TP.FLOAT)])
case("exact_matmul_one_column", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (5, 33)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (33, 1)).astype(np.float32))], [("y", TP.FLOAT)])
case("exact_gemm_packed_b_k600", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)],
     [("a", TP.FLOAT, rng.normal(0, 1, (3, 600)).astype(np.float32))], [("y", TP.FLOAT)],
     [init("b", rng.normal(0, 1, (9, 600)).astype(np.float32)), init("c", rng.normal(0, 1, (9,)).astype(np.float32))])
case("exact_gemm_alpha_beta", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.37, beta=0.61)],
     [("a", TP.FLOAT, rng.normal(0, 1, (4, 300)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (300, 20)).astype(np.float32)),
      ("c", TP.FLOAT, rng.normal(0, 1, (4, 20)).astype(np.float32))], [("y", TP.FLOAT)])
XC = rng.normal(0, 1, (1, 16, 10, 10)).astype(np.float32)
case("exact_conv_k144_100_pixels", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
     [("x", TP.FLOAT, XC), ("w", TP.FLOAT, rng.normal(0, 1, (16, 16, 3, 3)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (16,)).astype(np.float32))],
     [("y", TP.FLOAT)])
case("exact_conv_k576_16_pixels", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
     [("x", TP.FLOAT, rng.normal(0, 1, (1, 64, 4, 4)).astype(np.float32)), ("w", TP.FLOAT, rng.normal(0, 1, (8, 64, 3, 3)).astype(np.float32))],
     [("y", TP.FLOAT)])
case("exact_conv_one_filter_k144", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
     [("x", TP.FLOAT, XC), ("w", TP.FLOAT, rng.normal(0, 1, (1, 16, 3, 3)).astype(np.float32))], [("y", TP.FLOAT)])
case("exact_conv_depthwise", [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=16, pads=[1, 1, 1, 1], strides=[2, 2])],
     [("x", TP.FLOAT, XC), ("w", TP.FLOAT, rng.normal(0, 1, (16, 1, 3, 3)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (16,)).astype(np.float32))],
     [("y", TP.FLOAT)])
case("exact_conv_pointwise", [helper.make_node("Conv", ["x", "w"], ["y"])],
     [("x", TP.FLOAT, XC), ("w", TP.FLOAT, rng.normal(0, 1, (24, 16, 1, 1)).astype(np.float32))], [("y", TP.FLOAT)])

case("exact_matmul_packed_b_k300", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (1, 300)).astype(np.float32))], [("y", TP.FLOAT)],
     [init("b", rng.normal(0, 1, (300, 12)).astype(np.float32))])
case("exact_gemm_two_rows_k300", [helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)],
     [("a", TP.FLOAT, rng.normal(0, 1, (2, 300)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (5, 300)).astype(np.float32))],
     [("y", TP.FLOAT)])

# Output rows a multiple of 16 wide take the direct (panel-free) kernel; vertical stride and dilation.
case("exact_conv_direct_strided_dilated", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1], dilations=[2, 1])],
     [("x", TP.FLOAT, rng.normal(0, 1, (1, 8, 20, 32)).astype(np.float32)), ("w", TP.FLOAT, rng.normal(0, 1, (12, 8, 3, 3)).astype(np.float32)),
      ("b", TP.FLOAT, rng.normal(0, 1, (12,)).astype(np.float32))], [("y", TP.FLOAT)])
case("exact_conv_direct_half_block", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 1, 0, 1])],
     [("x", TP.FLOAT, rng.normal(0, 1, (1, 5, 5, 16)).astype(np.float32)), ("w", TP.FLOAT, rng.normal(0, 1, (9, 5, 3, 3)).astype(np.float32))],
     [("y", TP.FLOAT)])
# The AVX2 forms (own generator, so the cases above keep their values): direct blocks of 16 pixels
# whose last has one 8-pixel half (8-wide rows, 24 pixels), 13 filters (6-row blocks and a rest);
# stride-2 panels of a padded copy whose runs cross rows and panels (11×20 pixels).
rng2 = np.random.default_rng(2026_12_01)
case("exact_conv_direct_avx2_half_block", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[0, 1, 0, 1])],
     [("x", TP.FLOAT, rng2.normal(0, 1, (1, 6, 5, 8)).astype(np.float32)), ("w", TP.FLOAT, rng2.normal(0, 1, (13, 6, 3, 3)).astype(np.float32)),
      ("b", TP.FLOAT, rng2.normal(0, 1, (13,)).astype(np.float32))], [("y", TP.FLOAT)])
case("exact_conv_panel_stride2", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[2, 2, 2, 2], strides=[2, 2])],
     [("x", TP.FLOAT, rng2.normal(0, 1, (1, 3, 21, 40)).astype(np.float32)), ("w", TP.FLOAT, rng2.normal(0, 1, (5, 3, 5, 5)).astype(np.float32))],
     [("y", TP.FLOAT)])


# Every op with a kernel has a case (OpSpecTests checks each spec's listed cases contain its op).
XU = rng.normal(0, 2, (2, 3, 4, 5)).astype(np.float32)
XU[0, 0, 0, :] = [-0.0, 0.0, 2.5, -2.5, 3.0]
case("unary_exact_ops", [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Sqrt", ["a"], ["q"]),
                         helper.make_node("Floor", ["x"], ["f"]), helper.make_node("Ceil", ["x"], ["c"]), helper.make_node("Identity", ["x"], ["i"]),
                         helper.make_node("Sign", ["x"], ["s"])],
     [("x", TP.FLOAT, XU)], [("n", TP.FLOAT), ("q", TP.FLOAT), ("f", TP.FLOAT), ("c", TP.FLOAT), ("i", TP.FLOAT), ("s", TP.FLOAT)])
case("unary_exp", [helper.make_node("Exp", ["x"], ["y"])], [("x", TP.FLOAT, XU)], [("y", TP.FLOAT)])
case("dropout_inference", [helper.make_node("Dropout", ["x"], ["y"], seed=1)], [("x", TP.FLOAT, XU)], [("y", TP.FLOAT)])
case("max_min_broadcast", [helper.make_node("Max", ["a", "b"], ["mx"]), helper.make_node("Min", ["a", "b"], ["mn"])],
     [("a", TP.FLOAT, XU), ("b", TP.FLOAT, rng.normal(0, 2, (4, 1)).astype(np.float32))], [("mx", TP.FLOAT), ("mn", TP.FLOAT)])
case("globalmaxpool", [helper.make_node("GlobalMaxPool", ["x"], ["y"])], [("x", TP.FLOAT, XU)], [("y", TP.FLOAT)])
case("constant_gather", [helper.make_node("Constant", [], ["idx"], value=numpy_helper.from_array(np.array([3, 0, 3], np.int64), "idx")),
                         helper.make_node("Gather", ["x", "idx"], ["y"], axis=2)],
     [("x", TP.FLOAT, XU)], [("y", TP.FLOAT)])

# ---- QLinearAdd's float arithmetic, on every 8-bit pair: MLAS's AVX2 kernel contracts its
# expressions into FMAs, and onnxruntime swaps the operands on spans where A is one broadcast
# value. Scale sets that separate the fused from the unfused arithmetic (measured: each gives
# 1-4 differing pairs of 65,536 under the unfused one); the last is Reference/mobilenet's ir3 add.
ADD_SETS = [(0.16197557747364044, 0.16254845261573792, 0.10548848658800125, 161, 73, 250),
            (0.0175218153744936, 0.13744039833545685, 0.17466725409030914, 225, 87, 58),
            (0.16221198439598083, 0.06670815497636795, 0.034062523394823074, 71, 178, 148),
            (0.16071204841136932, 0.042834967374801636, 0.08113949000835419, 96, 40, 204),
            (0.038004547357559204, 0.017981430515646935, 0.04923996329307556, 123, 100, 100)]


def qladd_nodes(pairs, dt):
    """One QLinearAdd per (A name, B name, scale set) with its own initializers; outputs y0, y1, ..."""
    nodes, inits = [], []
    for k, (an, bn, (sa, sb, sc, za, zb, zc)) in enumerate(pairs):
        shift = 128 if dt == np.int8 else 0
        names = [f"{p}{k}" for p in ("as", "az", "bs", "bz", "cs", "cz")]
        nodes.append(helper.make_node("QLinearAdd", [an, names[0], names[1], bn, names[2], names[3], names[4], names[5]], [f"y{k}"],
                                      domain="com.microsoft"))
        inits += [init(names[0], np.float32(sa)), init(names[1], dt(za - shift)), init(names[2], np.float32(sb)),
                  init(names[3], dt(zb - shift)), init(names[4], np.float32(sc)), init(names[5], dt(zc - shift))]
    return nodes, inits


for dt, tt, nm in ((np.uint8, TP.UINT8, "uint8"), (np.int8, TP.INT8, "int8")):
    allv = np.arange(np.iinfo(dt).min, np.iinfo(dt).max + 1).astype(dt)
    nodes, inits = qladd_nodes([("a", "b", st) for st in ADD_SETS], dt)
    case(f"qlinearadd_every_pair_{nm}", nodes, [("a", tt, np.repeat(allv, 256)), ("b", tt, np.tile(allv, 256))],
         [(f"y{k}", tt) for k in range(len(ADD_SETS))], inits, ms=True)
allv = np.arange(256).astype(np.uint8)
# A one value per span (column + row), B one value per span (row + column), a trailing 1 in every
# shape (16x16x1 + 16x1x1), and a one-element output.
nodes, inits = qladd_nodes([("col", "row", ADD_SETS[0]), ("col", "row", ADD_SETS[2]), ("col", "row", ADD_SETS[3]),
                            ("row", "col", ADD_SETS[1]), ("row", "col", ADD_SETS[4]), ("sq", "vec", ADD_SETS[2]),
                            ("one", "one2", ADD_SETS[3])], np.uint8)
case("qlinearadd_spans_uint8", nodes,
     [("col", TP.UINT8, allv.reshape(256, 1)), ("row", TP.UINT8, allv.reshape(1, 256)), ("sq", TP.UINT8, allv.reshape(16, 16, 1)),
      ("vec", TP.UINT8, allv[::17].reshape(16, 1, 1)[:16]), ("one", TP.UINT8, np.array([201], np.uint8)),
      ("one2", TP.UINT8, np.array([[77]], np.uint8))],
     [(f"y{k}", TP.UINT8) for k in range(7)], inits, ms=True)

# ---- ops for the architectures beyond ResNet/MobileNetV2 (own generator: the cases above keep
# their draws). HardSigmoid/HardSwish on a dense grid and random values (every rounding of the
# product and the sum), Split (attribute, input, num_outputs with a short last part), Pad modes.
arch = np.random.default_rng(2412)
HX = np.concatenate([np.linspace(-4, 4, 4001, dtype=np.float32), (arch.standard_normal(4000) * 3).astype(np.float32)]).reshape(1, 8001)
case("exact_hard_activations", [helper.make_node("HardSigmoid", ["x"], ["hs"]), helper.make_node("HardSigmoid", ["x"], ["hs2"], alpha=1.0 / 6, beta=0.5),
                          helper.make_node("HardSwish", ["x"], ["y"])],
     [("x", TP.FLOAT, HX)], [("hs", TP.FLOAT), ("hs2", TP.FLOAT), ("y", TP.FLOAT)])
SX = arch.standard_normal((2, 7, 5, 6)).astype(np.float32)
case("exact_split_ops", [helper.make_node("Split", ["x", "sp"], ["a", "b", "c"], axis=1), helper.make_node("Split", ["x"], ["d", "e"], axis=-1, num_outputs=2),
                   helper.make_node("Split", ["x"], ["f", "g", "h"], axis=2, num_outputs=3)],
     [("x", TP.FLOAT, SX)], [(n, TP.FLOAT) for n in "abcdefgh"], [init("sp", np.array([2, 4, 1], np.int64))], opset=18)
case("split_ops_opset11", [helper.make_node("Split", ["x"], ["a", "b"], axis=3, split=[1, 5])],
     [("x", TP.INT8, arch.integers(-128, 127, (1, 3, 4, 6)).astype(np.int8))], [("a", TP.INT8), ("b", TP.INT8)], opset=11)
PX = arch.standard_normal((1, 2, 5, 4)).astype(np.float32)
case("exact_pad_modes", [helper.make_node("Pad", ["x", "p"], ["r"], mode="reflect"), helper.make_node("Pad", ["x", "p"], ["e"], mode="edge"),
                   helper.make_node("Pad", ["x", "p2"], ["w"], mode="wrap"), helper.make_node("Pad", ["x", "p3", "", "ax"], ["c"])],
     [("x", TP.FLOAT, PX)], [("r", TP.FLOAT), ("e", TP.FLOAT), ("w", TP.FLOAT), ("c", TP.FLOAT)],
     [init("p", np.array([0, 0, 2, 3, 0, 1, 4, 3], np.int64)), init("p2", np.array([0, 0, 1, 2, 0, 0, 3, 1], np.int64)),
      init("p3", np.array([1, 2, 0, 1], np.int64)), init("ax", np.array([2, 3], np.int64))], opset=21)

# Resize, nearest: every coordinate transformation and nearest mode, up- and downscales that put
# output coordinates on .5 ties, scales and sizes inputs, opsets 10-19, int8 data.
RX = arch.standard_normal((1, 2, 5, 7)).astype(np.float32)
resize_nodes, resize_outs, resize_inits = [], [], []
for k, (ctm, nm, sc) in enumerate([("half_pixel", "round_prefer_floor", [1, 1, 2, 2]), ("half_pixel", "round_prefer_ceil", [1, 1, 0.5, 0.6]),
                                   ("asymmetric", "floor", [1, 1, 2.5, 1.5]), ("asymmetric", "ceil", [1, 1, 0.6, 3]),
                                   ("align_corners", "round_prefer_floor", [1, 1, 1.6, 0.72]), ("pytorch_half_pixel", "round_prefer_ceil", [1, 1, 3, 0.3]),
                                   ("tf_half_pixel_for_nn", "round_prefer_floor", [1, 1, 1.5, 2]), ("half_pixel", "floor", [1, 1, 4, 4])]):
    resize_inits.append(init(f"sc{k}", np.array(sc, np.float32)))
    resize_nodes.append(helper.make_node("Resize", ["x", "", f"sc{k}"], [f"y{k}"], mode="nearest", coordinate_transformation_mode=ctm, nearest_mode=nm))
    resize_outs.append((f"y{k}", TP.FLOAT))
resize_inits += [init("sz", np.array([1, 2, 8, 3], np.int64)), init("roi", np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7], np.float32)),
                 init("sc_crop", np.array([1, 1, 1.4, 1.6], np.float32))]
resize_nodes += [helper.make_node("Resize", ["x", "", "", "sz"], ["ys"], mode="nearest"),
                 helper.make_node("Resize", ["x", "roi", "sc_crop"], ["yc"], mode="nearest", coordinate_transformation_mode="tf_crop_and_resize",
                                  extrapolation_value=-9.0)]
case("exact_resize_nearest", resize_nodes, [("x", TP.FLOAT, RX)], resize_outs + [("ys", TP.FLOAT), ("yc", TP.FLOAT)], resize_inits, opset=19)
case("exact_resize_nearest_opset10", [helper.make_node("Resize", ["x", "s"], ["y"], mode="nearest")], [("x", TP.FLOAT, RX)], [("y", TP.FLOAT)],
     [init("s", np.array([1, 1, 2, 1.5], np.float32))], opset=10)
case("resize_nearest_int8", [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
     [("x", TP.INT8, arch.integers(-128, 127, (1, 3, 4, 4)).astype(np.int8))], [("y", TP.INT8)],
     [init("s", np.array([1, 1, 2, 2], np.float32))], opset=13)

# A batched A times a matrix B: onnxruntime folds A's leading dims into M (MatMulComputeHelper),
# so a one-row A per batch is not a GEMV and a one-column B meets M > 1; with B an initializer too.
case("exact_matmul_batched_one_row", [helper.make_node("MatMul", ["a", "b"], ["y"]), helper.make_node("MatMul", ["a", "bc"], ["yc"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (3, 1, 37)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (1, 37, 19)).astype(np.float32))],
     [("y", TP.FLOAT), ("yc", TP.FLOAT)], [init("bc", rng.normal(0, 1, (37, 19)).astype(np.float32))])
case("exact_matmul_batched_one_column", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [("a", TP.FLOAT, rng.normal(0, 1, (2, 3, 5, 41)).astype(np.float32)), ("b", TP.FLOAT, rng.normal(0, 1, (41, 1)).astype(np.float32))],
     [("y", TP.FLOAT)])
# onnxruntime's float Sigmoid and Tanh are MLAS's rational approximations (FMA3 kernels on x86):
# a dense sweep over both clamping ranges, the polynomial's whole domain and the tails.
ST = np.concatenate([np.linspace(-20, 20, 16001), rng.normal(0, 3, 4000), rng.uniform(-1e-3, 1e-3, 500),
                     [0.0, -0.0, 9.0, -9.0, 18.0, -18.0, 1e30, -1e30, np.inf, -np.inf]]).astype(np.float32)
case("exact_sigmoid_tanh", [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Tanh", ["x"], ["t"])],
     [("x", TP.FLOAT, ST)], [("s", TP.FLOAT), ("t", TP.FLOAT)])
# ConvTranspose: a GEMM over the group's input channels (MLAS's order; a constant filter is
# pre-packed transposed, a filter input is transposed by the GEMM, which then keeps K blocks at 128),
# then col2im in kernel-position order, then the bias. 150 input channels cross a K block.
CT_X = rng.normal(0, 1, (1, 150, 5, 7)).astype(np.float32)
CT_W = (rng.normal(0, 1, (150, 4, 3, 3)) * 0.2).astype(np.float32)
case("exact_conv_transpose",
     [helper.make_node("ConvTranspose", ["x", "wc", "b"], ["y"], strides=[2, 2], pads=[1, 0, 1, 1], output_padding=[1, 0]),
      helper.make_node("ConvTranspose", ["x", "w"], ["yw"], strides=[2, 3], dilations=[1, 2]),
      helper.make_node("ConvTranspose", ["x", "wg"], ["yg"], group=3, auto_pad="SAME_UPPER", strides=[2, 2]),
      helper.make_node("ConvTranspose", ["x", "wg", "bg"], ["ys"], group=3, strides=[3, 2], output_shape=[15, 13])],
     [("x", TP.FLOAT, CT_X), ("w", TP.FLOAT, CT_W)], [("y", TP.FLOAT), ("yw", TP.FLOAT), ("yg", TP.FLOAT), ("ys", TP.FLOAT)],
     [init("wc", CT_W), init("b", rng.normal(0, 1, 4).astype(np.float32)),
      init("wg", (rng.normal(0, 1, (150, 2, 2, 3)) * 0.2).astype(np.float32)), init("bg", rng.normal(0, 1, 6).astype(np.float32))])
# Softmax/LogSoftmax are MLAS's: exp by a polynomial, sums in 8 lanes (16 with AVX-512F), (1/S)·e;
# Erf is MLAS's piecewise polynomial, Gelu its fixed order on top of Erf or Tanh. Row lengths cross
# the lane boundaries; values span both exp clamps.
SM_ROWS = rng.normal(0, 4, (67, 41)).astype(np.float32)
SM_ROWS[:, :3] *= 30
SM_4D = rng.normal(0, 10, (2, 9, 5, 17)).astype(np.float32)
GE = np.concatenate([np.linspace(-6, 6, 12001), rng.normal(0, 2, 4000), rng.uniform(-1e-3, 1e-3, 500),
                     [0.0, -0.0, 0.921875, -0.921875, 3.925, -3.925, 1e30, -1e30, np.inf, -np.inf]]).astype(np.float32)
GB = rng.normal(0, 1, GE.shape).astype(np.float32)
case("exact_softmax_erf_gelu",
     [helper.make_node("Softmax", ["r"], ["sm"]), helper.make_node("LogSoftmax", ["r"], ["lsm"]),
      helper.make_node("Softmax", ["t"], ["sm1"], axis=1), helper.make_node("LogSoftmax", ["t"], ["lsm2"], axis=-2),
      helper.make_node("Softmax", ["t"], ["sm3"], axis=3),
      helper.make_node("Erf", ["g"], ["erf"]), helper.make_node("Gelu", ["g"], ["gelu"]),
      helper.make_node("Gelu", ["g"], ["gelu_tanh"], approximate="tanh"),
      helper.make_node("Gelu", ["g"], ["ms_gelu"], domain="com.microsoft"),
      helper.make_node("FastGelu", ["g", "gb"], ["fast_gelu"], domain="com.microsoft"),
      helper.make_node("BiasGelu", ["g", "gb"], ["bias_gelu"], domain="com.microsoft")],
     [("r", TP.FLOAT, SM_ROWS), ("t", TP.FLOAT, SM_4D), ("g", TP.FLOAT, GE)],
     [("sm", TP.FLOAT), ("lsm", TP.FLOAT), ("sm1", TP.FLOAT), ("lsm2", TP.FLOAT), ("sm3", TP.FLOAT), ("erf", TP.FLOAT),
      ("gelu", TP.FLOAT), ("gelu_tanh", TP.FLOAT), ("ms_gelu", TP.FLOAT), ("fast_gelu", TP.FLOAT), ("bias_gelu", TP.FLOAT)],
     [init("gb", GB)], ms=True)
# Before opset 13, Softmax flattens the input at `axis` into rows.
case("exact_softmax_opset11", [helper.make_node("Softmax", ["t"], ["sm"]), helper.make_node("LogSoftmax", ["t"], ["lsm"], axis=2)],
     [("t", TP.FLOAT, SM_4D)], [("sm", TP.FLOAT), ("lsm", TP.FLOAT)], opset=11)
# ReduceMean in onnxruntime's orders (Eigen's 4-float packets with an alignment-peeled head, the
# one-row SGEMM for [D0, R, D2], a sequential loop otherwise), LayerNormalization (MLAS's kernel
# from 8 elements a row: mean in double lanes, squares in 8 float lanes; Welford below), Pow's
# x·x and (x·x)·x shortcuts and powf. Values offset by 1000 so that every order shows.
RL = (1000 + rng.normal(0, 1, (3, 7, 37))).astype(np.float32)
RS = rng.normal(0, 3, (5, 6)).astype(np.float32)
case("exact_reduce_layernorm",
     [helper.make_node("ReduceMean", ["x", "ax_last"], ["m_last"]),
      helper.make_node("ReduceMean", ["x", "ax_mid"], ["m_mid"], keepdims=0),
      helper.make_node("ReduceMean", ["x", "ax_first"], ["m_first"]),
      helper.make_node("ReduceMean", ["x", "ax_outer"], ["m_outer"]),
      helper.make_node("ReduceMean", ["x"], ["m_all"], keepdims=0),
      helper.make_node("LayerNormalization", ["x", "g37", "b37"], ["ln"], epsilon=1e-5),
      helper.make_node("LayerNormalization", ["x", "g259"], ["ln2"], axis=1),
      helper.make_node("LayerNormalization", ["s", "g6", "b6"], ["ln_short"]),
      helper.make_node("Pow", ["s", "two"], ["sq"]), helper.make_node("Pow", ["s", "three"], ["cube"]),
      helper.make_node("Pow", ["sabs", "half"], ["root"])],
     [("x", TP.FLOAT, RL), ("s", TP.FLOAT, RS), ("sabs", TP.FLOAT, np.abs(RS))],
     [(n, TP.FLOAT) for n in ("m_last", "m_mid", "m_first", "m_outer", "m_all", "ln", "ln2", "ln_short", "sq", "cube", "root")],
     [init("ax_last", np.array([-1], np.int64)), init("ax_mid", np.array([1], np.int64)),
      init("ax_first", np.array([0], np.int64)), init("ax_outer", np.array([0, 2], np.int64)),
      init("g37", rng.uniform(0.5, 1.5, 37).astype(np.float32)), init("b37", rng.normal(0, 0.1, 37).astype(np.float32)),
      init("g259", rng.uniform(0.5, 1.5, (7, 37)).astype(np.float32)),
      init("g6", rng.uniform(0.5, 1.5, 6).astype(np.float32)), init("b6", rng.normal(0, 0.1, 6).astype(np.float32)),
      init("two", np.array(2.0, np.float32)), init("three", np.array(3.0, np.float32)), init("half", np.array(0.5, np.float32))],
     opset=18)
# com.microsoft QLinearSoftmax: a double-precision exp table, float32 row sums, a double quotient.
QS_U = rng.integers(0, 256, (4, 7, 33)).astype(np.uint8)
QS_S = rng.integers(-128, 128, (3, 5, 300)).astype(np.int8)
case("qlinearsoftmax_uint8_int8",
     [helper.make_node("QLinearSoftmax", ["u", "us", "uz", "ys", "yzu"], ["yu"], domain="com.microsoft", opset=13),
      helper.make_node("QLinearSoftmax", ["u", "us2", "uz", "ys", "yzu"], ["yu1"], domain="com.microsoft", axis=1, opset=13),
      helper.make_node("QLinearSoftmax", ["s", "ss", "sz", "ys", "yzs"], ["ys_"], domain="com.microsoft", opset=13),
      helper.make_node("QLinearSoftmax", ["s", "ss", "sz", "ys", "yzs"], ["ys12"], domain="com.microsoft", axis=1, opset=12)],
     [("u", TP.UINT8, QS_U), ("s", TP.INT8, QS_S)],
     [("yu", TP.UINT8), ("yu1", TP.UINT8), ("ys_", TP.INT8), ("ys12", TP.INT8)],
     [init("us", np.array(0.05, np.float32)), init("us2", np.array(0.013, np.float32)), init("uz", np.array(128, np.uint8)),
      init("ss", np.array(0.021, np.float32)), init("sz", np.array(0, np.int8)), init("ys", np.array(1 / 256, np.float32)),
      init("yzu", np.array(0, np.uint8)), init("yzs", np.array(-128, np.int8))], ms=True)
(out / "SKIPPED.txt").write_text("".join(s + "\n" for s in skipped))
print(f"wrote {len(list(out.glob('*.onnx')))} cases to {out}; skipped {len(skipped)}")
for s in skipped:
    print("  skipped", s)
