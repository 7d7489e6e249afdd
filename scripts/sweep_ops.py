#!/usr/bin/env python3
"""Geometry sweep of qverify's kernels against onnxruntime, bit for bit.

Each case is a seeded random single-op model (geometry drawn over every parameter a kernel path
specialises on: widths and heights across each panel and tail boundary, kernels, strides, pads,
dilations, groups, depthwise, int8/uint8 activations, per-tensor/per-channel weights, ...). It is
run by onnxruntime (CPU, one thread, ORT_DISABLE_ALL) and by `qverify run --target <this CPU's
onnxruntime> --threads 1` once per kernel path this CPU has (QVERIFY_KERNEL_PATH=portable, avx2+fma, avx512f),
and every output element must be equal bit for bit (floats compared as bits). `ort-host` is the
semantics of the onnxruntime that runs here, int16 pair saturation of AVX2 hosts included, so the
sweep passes on AVX2 and VNNI hosts alike with live onnxruntime results.

Families (--ops): qlinearconv, depthwise, conv, convdepthwise, maxpool, averagepool,
globalaveragepool, qlinearaveragepool, qlinearglobalaveragepool, gemm, matmul, qgemm,
qlinearmatmul, unary (Sigmoid, Tanh), qlinearlookup (QLinearSigmoid, QLinearLeakyRelu), qlinearconcat,
and two-op/QDQ models: qdqconv (QuantizeLinear/DequantizeLinear around a float Conv,
weights and bias through DequantizeLinear, Relu or not), qdqconv2 (two of them chained), qdqunary
(DQ → Sigmoid | LeakyRelu | AveragePool → Q, which onnxruntime fuses at ORT_ENABLE_ALL). With
--level enable, onnxruntime runs ORT_ENABLE_ALL and qverify --ort-level enable: its graph fusions
(QDQ to QLinearConv when the bias scale allows) are emulated; float-only families are left out
there (NCHWc kernels, not claimed).

Run:  .venv/bin/python scripts/sweep_ops.py QVERIFY [--ops a,b] [--count N | --minutes M] [--seed S]
      [--paths portable,avx2+fma,avx512f] [--keep DIR] [--level disable|enable]
Prints one line per differing case (kept under --keep, default /tmp/qverify-sweep) and a closing
line 'sweep: N passed, N failed'; exit 1 when any case differs or qverify fails.
"""
import argparse
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP, helper, numpy_helper as nh

NPT = {TP.FLOAT: np.float32, TP.INT8: np.int8, TP.UINT8: np.uint8, TP.INT32: np.int32}
TPOF = {np.dtype(v): k for k, v in NPT.items()}


def init(name, a):
    return nh.from_array(np.asarray(a), name)


def model(nodes, inputs, outputs, inits, ms=False, opset=21):
    g = helper.make_graph(nodes, "sweep", [helper.make_tensor_value_info(n, TPOF[a.dtype], list(a.shape)) for n, a in inputs],
                          [helper.make_tensor_value_info(n, t, None) for n, t in outputs], inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    m = helper.make_model(g, opset_imports=imports, producer_name="qverify sweep_ops")
    m.ir_version = 10
    return m


# Widths/heights: every value up to 80 is reachable, biased to panel and tail boundaries.
EDGES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 27, 29, 31, 32, 33, 40, 47, 48, 49, 56, 63, 64, 65, 79, 80]


def extent(rng, hi=80):
    return rng.choice(EDGES) if rng.random() < 0.6 else rng.randint(1, hi)


def out_extent(rng, k, s, d, lo_out=1, hi_out=40):
    """An input extent and pads giving an output extent drawn over the boundaries."""
    o = min(extent(rng), hi_out) if rng.random() < 0.7 else rng.randint(lo_out, hi_out)
    eff = (k - 1) * d + 1
    pb, pe = (rng.randint(0, k - 1), rng.randint(0, k - 1)) if rng.random() < 0.6 else (0, 0)
    # o = floor((n + pb + pe - eff) / s) + 1  ->  n = (o - 1)·s + eff - pb - pe + r, 0 <= r < s
    n = (o - 1) * s + eff - pb - pe + rng.randint(0, s - 1)
    if n < 1:
        n, pb, pe = (o - 1) * s + eff, 0, 0
    return n, pb, pe


def conv_geometry(rng, depthwise=False, max_k=7):
    kh = rng.randint(1, max_k)
    kw = kh if rng.random() < 0.6 else rng.randint(1, max_k)
    sh = rng.choice([1, 1, 2, 2, 2, 3])
    sw = sh if rng.random() < 0.75 else rng.choice([1, 2, 3])
    dh = 2 if rng.random() < 0.15 else 1
    dw = dh if rng.random() < 0.8 else rng.choice([1, 2])
    h, pt, pb = out_extent(rng, kh, sh, dh, hi_out=rng.choice([8, 20, 40]))
    w, pl, pr = out_extent(rng, kw, sw, dw)
    if depthwise:
        c = rng.choice([1, 3, 4, 8, 15, 16, 17, 32, 33])
        groups, m = c, c * rng.choice([1, 1, 1, 2])
    else:
        groups = rng.choice([1, 1, 1, 1, 2, 4]) if rng.random() < 0.3 else 1
        c = groups * rng.choice([1, 1, 2, 3, 4, 5, 8, 16, 17, 31, 32, 64])
        m = groups * rng.choice([1, 2, 3, 7, 8, 15, 16, 17, 24, 32, 33, 48, 64, 128])
    if rng.random() < 0.1:  # stride 1, no padding, a kernel as wide as the input (MLAS's direct GEMMs)
        sh = sw = dh = dw = 1
        pt = pl = pb = pr = 0
        w = kw
        h = max(h, kh)
    if rng.random() < 0.15:  # one output pixel (squeeze-excite 1x1 convs, windows covering the input)
        h, w = rng.choice([(1, 1), (kh, kw), (kh, 1)])
        kw = 1 if w == 1 else kw
        sh = sw = dh = dw = 1
        if (h, w) == (1, 1):
            kh = kw = 1
        pt = pl = pb = pr = 0
    # Keep a case small enough to run fast: cap output pixels × channels × taps.
    while m * max(1, h * w // (sh * sw)) * (c // groups) * kh * kw > 6e6 and m > groups:
        m = max(groups, m // 2 // groups * groups)
    return dict(c=c, m=m, h=h, w=w, k=[kh, kw], s=[sh, sw], d=[dh, dw], pads=[pt, pl, pb, pr], group=groups)


def conv_attrs(g):
    return dict(kernel_shape=g["k"], strides=g["s"], dilations=g["d"], pads=g["pads"], group=g["group"])


def qlinearconv(rng, depthwise=False):
    g = conv_geometry(rng, depthwise)
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    n = rng.choice([1, 1, 2])
    nr = np.random.default_rng(rng.randrange(2**32))
    x = nr.integers(lo, hi + 1, (n, g["c"], g["h"], g["w"])).astype(xt)
    if rng.random() < 0.2:  # extremes: the int16 pair sums of AVX2 hosts saturate
        x = nr.choice([lo, hi], x.shape).astype(xt)
    cpg = g["c"] // g["group"]
    wt = np.int8
    w = nr.integers(-128, 128, (g["m"], cpg, *g["k"])).astype(wt)
    per_channel = rng.random() < 0.5
    ws = (nr.uniform(0.001, 0.02, g["m"]) if per_channel else np.array(nr.uniform(0.001, 0.02))).astype(np.float32)
    xs = np.float32(nr.uniform(0.005, 0.05))
    xz = xt(nr.integers(lo, hi + 1)) if rng.random() < 0.7 else xt(0 if xt == np.int8 else 128)
    acc_scale = float(xs) * float(np.max(ws)) * np.sqrt(cpg * g["k"][0] * g["k"][1]) * 60
    ys = np.float32(acc_scale / 60.0 * nr.uniform(0.5, 3.0))
    yz = xt(nr.integers(lo // 2, hi // 2 + 1))
    inits = [init("xs", xs), init("xz", np.array(xz, xt)), init("w", w), init("ws", ws), init("wz", np.zeros(ws.shape, wt)),
             init("ys", ys), init("yz", np.array(yz, xt))]
    ins = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if rng.random() < 0.7:
        inits.append(init("b", nr.integers(-20000, 20000, g["m"]).astype(np.int32)))
        ins.append("b")
    node = helper.make_node("QLinearConv", ins, ["y"], **conv_attrs(g))
    return model([node], [("x", x)], [("y", TPOF[np.dtype(xt)])], inits), {"x": x}, g


def conv(rng, depthwise=False):
    g = conv_geometry(rng, depthwise)
    n = rng.choice([1, 1, 2])
    nr = np.random.default_rng(rng.randrange(2**32))
    x = nr.standard_normal((n, g["c"], g["h"], g["w"])).astype(np.float32)
    w = (nr.standard_normal((g["m"], g["c"] // g["group"], *g["k"])) * 0.2).astype(np.float32)
    inits, ins = [init("w", w)], ["x", "w"]
    if rng.random() < 0.7:
        inits.append(init("b", nr.standard_normal(g["m"]).astype(np.float32)))
        ins.append("b")
    node = helper.make_node("Conv", ins, ["y"], **conv_attrs(g))
    return model([node], [("x", x)], [("y", TP.FLOAT)], inits), {"x": x}, g


def convtranspose_geometry(rng):
    """ConvTranspose over 1-D or 2-D inputs: groups and depthwise, kernels 1-5, strides 1-3,
    dilations, pads, output_padding, and auto_pad/output_shape now and then."""
    r = 1 if rng.random() < 0.2 else 2
    k = [rng.randint(1, 5) for _ in range(r)]
    if r == 2 and rng.random() < 0.6:
        k[1] = k[0]
    s = [rng.choice([1, 2, 2, 3]) for _ in range(r)]
    d = [2 if rng.random() < 0.15 else 1 for _ in range(r)]
    spatial = [min(extent(rng), 24) for _ in range(r)]
    pads = [rng.randint(0, k[i] - 1) if rng.random() < 0.5 else 0 for i in range(r)] + \
           [rng.randint(0, k[i] - 1) if rng.random() < 0.5 else 0 for i in range(r)]
    adj = [rng.randint(0, max(s[i], d[i]) - 1) if rng.random() < 0.3 else 0 for i in range(r)]
    kind = rng.random()
    if kind < 0.3:
        g = rng.choice([1, 3, 4, 8, 16, 17])
        c, m = g, g * rng.choice([1, 1, 2])
    else:
        g = rng.choice([1, 1, 1, 2, 4])
        c = g * rng.choice([1, 2, 3, 5, 8, 16, 17, 32, 64, 150])
        m = g * rng.choice([1, 2, 3, 7, 8, 16, 17, 32])
    attrs = dict(kernel_shape=k, strides=s, dilations=d, group=g)
    mode = rng.random()
    if mode < 0.1:
        attrs["auto_pad"] = rng.choice(["SAME_UPPER", "SAME_LOWER"])
    elif mode < 0.2:
        full = [(spatial[i] - 1) * s[i] + adj[i] + (k[i] - 1) * d[i] + 1 for i in range(r)]
        attrs["output_shape"] = [max(1, f + rng.randint(-2, 2)) for f in full]
        if rng.random() < 0.5:
            attrs["auto_pad"] = rng.choice(["SAME_UPPER", "SAME_LOWER"])
    else:
        attrs["pads"] = pads
    if any(adj):
        attrs["output_padding"] = adj
    return dict(c=c, m=m, spatial=spatial, group=g, attrs=attrs)


def convtranspose(rng):
    """Float ConvTranspose; the weights an initializer (onnxruntime pre-packs them transposed) or
    a graph input (its GEMM transposes them)."""
    g = convtranspose_geometry(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    n = rng.choice([1, 1, 2])
    x = nr.standard_normal((n, g["c"], *g["spatial"])).astype(np.float32)
    w = (nr.standard_normal((g["c"], g["m"] // g["group"], *g["attrs"]["kernel_shape"])) * 0.2).astype(np.float32)
    const_w = rng.random() < 0.6
    inits, ins, feeds = ([init("w", w)] if const_w else []), ["x", "w"], {"x": x}
    if not const_w:
        feeds["w"] = w
    if rng.random() < 0.7:
        inits.append(init("b", nr.standard_normal(g["m"]).astype(np.float32)))
        ins.append("b")
    node = helper.make_node("ConvTranspose", ins, ["y"], **g["attrs"])
    return model([node], list(feeds.items()), [("y", TP.FLOAT)], inits), feeds, dict(g, const_w=const_w)


def convtranspose_q(rng):
    """DequantizeLinear → ConvTranspose (float weights and bias initializers) → QuantizeLinear, as
    quantize_static's QOperator models leave it: at ORT_ENABLE_ALL onnxruntime quantizes the
    weights to int8 and the bias to int32 first (WeightBiasQuantization)."""
    g = convtranspose_geometry(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    n = rng.choice([1, 1, 2])
    x = nr.integers(0, 256, (n, g["c"], *g["spatial"])).astype(np.uint8)
    w = (nr.standard_normal((g["c"], g["m"] // g["group"], *g["attrs"]["kernel_shape"])) * 0.2).astype(np.float32)
    if rng.random() < 0.2:
        w = np.abs(w)
    xs = np.float32(nr.uniform(0.005, 0.05))
    ys = np.float32(xs * np.sqrt(g["c"] // g["group"]) * nr.uniform(0.1, 0.5))
    inits = [init("xs", xs), init("xz", np.uint8(nr.integers(0, 256))), init("w", w), init("ys", ys),
             init("yz", np.uint8(nr.integers(64, 192)))]
    ins = ["xf", "w"]
    if rng.random() < 0.8:
        inits.append(init("b", (nr.standard_normal(g["m"]) * 0.1).astype(np.float32)))
        ins.append("b")
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("ConvTranspose", ins, ["yf"], **g["attrs"]),
             helper.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["y"])]
    return model(nodes, [("x", x)], [("y", TP.UINT8)], inits), {"x": x}, g


def pool_geometry(rng, ceil_ok=True):
    kh = rng.randint(1, 5)
    kw = kh if rng.random() < 0.7 else rng.randint(1, 5)
    sh = rng.choice([1, 2, 2, 3])
    sw = sh if rng.random() < 0.75 else rng.choice([1, 2, 3])
    h, pt, pb = out_extent(rng, kh, sh, 1, hi_out=30)
    w, pl, pr = out_extent(rng, kw, sw, 1)
    # ONNX pools need each pad smaller than the kernel.
    pt, pb, pl, pr = min(pt, kh - 1), min(pb, kh - 1), min(pl, kw - 1), min(pr, kw - 1)
    ceil = ceil_ok and rng.random() < 0.3
    return dict(c=rng.choice([1, 2, 3, 8, 16, 17]), h=h, w=w, k=[kh, kw], s=[sh, sw], pads=[pt, pl, pb, pr], ceil=int(ceil))


def maxpool(rng):
    g = pool_geometry(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    x = nr.standard_normal((1, g["c"], g["h"], g["w"])).astype(np.float32)
    dil = 2 if rng.random() < 0.15 else 1
    if dil > 1:
        g["pads"] = [0, 0, 0, 0]
        g["ceil"] = 0
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=g["k"], strides=g["s"], pads=g["pads"], ceil_mode=g["ceil"],
                            dilations=[dil, dil])
    if g["h"] < (g["k"][0] - 1) * dil + 1 or g["w"] < (g["k"][1] - 1) * dil + 1:
        return maxpool(rng)
    return model([node], [("x", x)], [("y", TP.FLOAT)], []), {"x": x}, g


def averagepool(rng):
    g = pool_geometry(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    x = nr.standard_normal((rng.choice([1, 2]), g["c"], g["h"], g["w"])).astype(np.float32)
    g["cip"] = int(rng.random() < 0.5)
    # onnxruntime runs MlasPool before opset 19 (three kernels, picked by geometry), its own loop after.
    g["opset"] = rng.choice([11, 13, 17, 18, 19, 21, 22])
    attrs = dict(kernel_shape=g["k"], strides=g["s"], pads=g["pads"], ceil_mode=g["ceil"], count_include_pad=g["cip"])
    if g["opset"] >= 19 and rng.random() < 0.2:
        attrs["dilations"] = g["d"] = [rng.choice([1, 2]), rng.choice([1, 2])]
        # ONNX defines the output only where the dilated window fits the padded input (onnxruntime
        # returns an empty tensor otherwise, which no model means): draw again, as maxpool does.
        p = g["pads"]
        if g["h"] + p[0] + p[2] < (g["k"][0] - 1) * g["d"][0] + 1 or g["w"] + p[1] + p[3] < (g["k"][1] - 1) * g["d"][1] + 1:
            return averagepool(rng)
    if rng.random() < 0.15:  # the whole input as the window: MLAS's global kernel
        g["k"], g["s"], g["pads"] = [g["h"], g["w"]], [1, 1], [0, 0, 0, 0]
        attrs.update(kernel_shape=g["k"], strides=g["s"], pads=g["pads"], ceil_mode=0)
        attrs.pop("dilations", None)
    if rng.random() < 0.15:  # 1-D
        x = x[:, :, 0, :]
        attrs.update(kernel_shape=g["k"][1:], strides=g["s"][1:], pads=[g["pads"][1], g["pads"][3]])
        attrs.pop("dilations", None)
    node = helper.make_node("AveragePool", ["x"], ["y"], **attrs)
    return model([node], [("x", x)], [("y", TP.FLOAT)], [], opset=g["opset"]), {"x": x}, g


def globalaveragepool(rng):
    nr = np.random.default_rng(rng.randrange(2**32))
    g = dict(c=rng.choice([1, 3, 8, 16, 17, 64]), h=extent(rng, 40), w=extent(rng, 40))
    x = nr.standard_normal((rng.choice([1, 2]), g["c"], g["h"], g["w"])).astype(np.float32)
    return model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], [("x", x)], [("y", TP.FLOAT)], []), {"x": x}, g


def qparams(rng, nr, xt):
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    return np.float32(nr.uniform(0.005, 0.1)), xt(nr.integers(lo, hi + 1))


def qlinearaveragepool(rng):
    g = pool_geometry(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    x = nr.integers(lo, hi + 1, (1, g["c"], g["h"], g["w"])).astype(xt)
    xs, xz = qparams(rng, nr, xt)
    ys, yz = np.float32(xs * nr.uniform(0.5, 2.0)), xt(nr.integers(lo, hi + 1))
    g["cip"] = int(rng.random() < 0.5)
    inits = [init("xs", xs), init("xz", np.array(xz, xt)), init("ys", ys), init("yz", np.array(yz, xt))]
    node = helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                            kernel_shape=g["k"], strides=g["s"], pads=g["pads"], ceil_mode=g["ceil"], count_include_pad=g["cip"])
    return model([node], [("x", x)], [("y", TPOF[np.dtype(xt)])], inits, ms=True), {"x": x}, g


def qlinearglobalaveragepool(rng):
    nr = np.random.default_rng(rng.randrange(2**32))
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    g = dict(c=rng.choice([1, 3, 8, 16, 17, 64]), h=extent(rng, 40), w=extent(rng, 40))
    g["channels_last"] = int(rng.random() < 0.3)
    shape = (rng.choice([1, 2]), g["h"], g["w"], g["c"]) if g["channels_last"] else (rng.choice([1, 2]), g["c"], g["h"], g["w"])
    x = nr.integers(lo, hi + 1, shape).astype(xt)
    xs, xz = qparams(rng, nr, xt)
    ys, yz = np.float32(xs * nr.uniform(0.5, 2.0)), xt(nr.integers(lo, hi + 1))
    inits = [init("xs", xs), init("xz", np.array(xz, xt)), init("ys", ys), init("yz", np.array(yz, xt))]
    node = helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                            channels_last=g["channels_last"])
    return model([node], [("x", x)], [("y", TPOF[np.dtype(xt)])], inits, ms=True), {"x": x}, g


def mnk(rng):
    def one():
        return rng.choice(EDGES + [96, 127, 128, 129, 255, 256, 257, 300]) if rng.random() < 0.6 else rng.randint(1, 300)
    m, n, k = one(), one(), one()
    while m * n * k > 4e6:
        m = max(1, m // 2)
    return m, n, k


def gemm(rng):
    m, n, k = mnk(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    ta, tb = int(rng.random() < 0.3), int(rng.random() < 0.5)
    a = nr.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = (nr.standard_normal((n, k) if tb else (k, n)) * 0.1).astype(np.float32)
    inits, ins = [init("b", b)], ["a", "b"]
    if rng.random() < 0.7:
        inits.append(init("c", nr.standard_normal((n,) if rng.random() < 0.7 else (m, n)).astype(np.float32)))
        ins.append("c")
    node = helper.make_node("Gemm", ins, ["y"], transA=ta, transB=tb)
    return model([node], [("a", a)], [("y", TP.FLOAT)], inits), {"a": a}, dict(m=m, n=n, k=k, ta=ta, tb=tb)


def matmul(rng):
    m, n, k = mnk(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    batch = [rng.choice([1, 2, 3])] if rng.random() < 0.3 else []
    a = nr.standard_normal((*batch, m, k)).astype(np.float32)
    b = (nr.standard_normal((k, n)) * 0.1).astype(np.float32)
    if rng.random() < 0.5:  # both operands activations
        return (model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", a), ("b", b)], [("y", TP.FLOAT)], []),
                {"a": a, "b": b}, dict(m=m, n=n, k=k, batch=batch, b="input"))
    return (model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", a)], [("y", TP.FLOAT)], [init("b", b)]), {"a": a},
            dict(m=m, n=n, k=k, batch=batch, b="const"))


def int_operand(nr, t, shape, extremes):
    lo, hi = np.iinfo(t).min, np.iinfo(t).max
    return (nr.choice([lo, hi], shape) if extremes else nr.integers(lo, hi + 1, shape)).astype(t)


def qlinearmatmul(rng):
    m, n, k = mnk(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    at = np.uint8 if rng.random() < 0.5 else np.int8
    bt = np.int8 if rng.random() < 0.7 else np.uint8
    ext = rng.random() < 0.2
    a = int_operand(nr, at, (m, k), ext)
    b = int_operand(nr, bt, (k, n), ext)
    a_s, a_z = qparams(rng, nr, at)
    per_col = rng.random() < 0.4
    b_s = (nr.uniform(0.001, 0.02, n) if per_col else np.array(nr.uniform(0.001, 0.02))).astype(np.float32)
    b_z = (np.zeros(n, bt) if per_col else np.array(0 if bt == np.int8 else 128, bt))
    ys = np.float32(float(a_s) * float(b_s.max()) * np.sqrt(k) * 60 * nr.uniform(0.5, 3.0))
    yt = at
    yz = yt(nr.integers(np.iinfo(yt).min // 2, np.iinfo(yt).max // 2 + 1))
    inits = [init("as", a_s), init("az", np.array(a_z, at)), init("b", b), init("bs", b_s), init("bz", b_z), init("ys", ys),
             init("yz", np.array(yz, yt))]
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    return model([node], [("a", a)], [("y", TPOF[np.dtype(yt)])], inits), {"a": a}, dict(m=m, n=n, k=k, at=at.__name__,
                                                                                       bt=bt.__name__, per_col=per_col)


def qgemm(rng):
    m, n, k = mnk(rng)
    nr = np.random.default_rng(rng.randrange(2**32))
    at = np.uint8 if rng.random() < 0.5 else np.int8
    ext = rng.random() < 0.2
    a = int_operand(nr, at, (m, k), ext)
    tb = int(rng.random() < 0.5)
    b = int_operand(nr, np.int8, (n, k) if tb else (k, n), ext)
    a_s, a_z = qparams(rng, nr, at)
    per_col = rng.random() < 0.4
    b_s = (nr.uniform(0.001, 0.02, n) if per_col else np.array(nr.uniform(0.001, 0.02))).astype(np.float32)
    b_z = np.zeros(n, np.int8) if per_col else np.array(0, np.int8)
    ys = np.float32(float(a_s) * float(b_s.max()) * np.sqrt(k) * 60 * nr.uniform(0.5, 3.0))
    yz = at(nr.integers(np.iinfo(at).min // 2, np.iinfo(at).max // 2 + 1))
    inits = [init("as", a_s), init("az", np.array(a_z, at)), init("b", b), init("bs", b_s), init("bz", b_z)]
    ins = ["a", "as", "az", "b", "bs", "bz"]
    if rng.random() < 0.7:
        inits.append(init("c", nr.integers(-20000, 20000, n).astype(np.int32)))
        ins.append("c")
    else:
        ins.append("")
    inits += [init("ys", ys), init("yz", np.array(yz, at))]
    ins += ["ys", "yz"]
    node = helper.make_node("QGemm", ins, ["y"], domain="com.microsoft", transB=tb, alpha=1.0)
    return model([node], [("a", a)], [("y", TPOF[np.dtype(at)])], inits, ms=True), {"a": a}, dict(m=m, n=n, k=k, at=at.__name__,
                                                                                                 tb=tb, per_col=per_col)


def qdq(name, x_name, scale, zp, axis=None, dq_scale=None):
    """QuantizeLinear then DequantizeLinear of x_name (a QDQ pair as quantize_static writes it; the
    DequantizeLinear may read another scale, as a converted Aidge float island's does)."""
    attrs = {} if axis is None else {"axis": axis}
    return [helper.make_node("QuantizeLinear", [x_name, scale, zp], [f"{name}_q"], **attrs),
            helper.make_node("DequantizeLinear", [f"{name}_q", dq_scale or scale, zp], [f"{name}_dq"], **attrs)]


def qdq_conv(rng, chain=1):
    """Float Conv(s) between QDQ pairs, weights and int32 bias through DequantizeLinear (per-channel
    weights): at ORT_ENABLE_ALL onnxruntime fuses each group into QLinearConv (when the bias scale is
    x_scale·w_scale), at ORT_DISABLE_ALL it runs them in float. Two ops when chain = 2."""
    nr = np.random.default_rng(rng.randrange(2**32))
    at = np.uint8 if rng.random() < 0.6 else np.int8
    lo, hi = np.iinfo(at).min, np.iinfo(at).max
    g = conv_geometry(rng)
    g["group"], g["c"] = 1, max(1, g["c"] // g["group"])
    g["m"] = min(g["m"], 48)
    x = nr.uniform(-1, 2, (1, g["c"], g["h"], g["w"])).astype(np.float32)
    nodes, inits = [], []
    xs = np.float32(3.0 / 255)
    xz = at(85 if at == np.uint8 else -43)
    inits += [init("x_s", xs), init("x_z", np.array(xz, at))]
    nodes += qdq("x", "x", "x_s", "x_z")
    cur, cin, cur_s = "x_dq", g["c"], float(xs)
    for layer in range(chain):
        cout = g["m"] if layer == 0 else rng.choice([8, 16, 17])
        k = g["k"] if layer == 0 else [3, 3]
        w = nr.integers(-127, 128, (cout, cin, *k)).astype(np.int8)
        ws = nr.uniform(0.002, 0.02, cout).astype(np.float32)
        # The bias scale onnxruntime's fusion checks: x_scale·w_scale (perturbed now and then).
        bs = (cur_s * ws * (1.0 if rng.random() < 0.85 else 1.05)).astype(np.float32)
        b = nr.integers(-3000, 3000, cout).astype(np.int32)
        n = f"c{layer}"
        inits += [init(f"{n}_w", w), init(f"{n}_ws", ws), init(f"{n}_wz", np.zeros(cout, np.int8)),
                  init(f"{n}_b", b), init(f"{n}_bs", bs), init(f"{n}_bz", np.zeros(cout, np.int32))]
        nodes += [helper.make_node("DequantizeLinear", [f"{n}_w", f"{n}_ws", f"{n}_wz"], [f"{n}_wdq"], axis=0),
                  helper.make_node("DequantizeLinear", [f"{n}_b", f"{n}_bs", f"{n}_bz"], [f"{n}_bdq"], axis=0)]
        attrs = conv_attrs(g) if layer == 0 else dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        attrs["group"] = 1
        nodes.append(helper.make_node("Conv", [cur, f"{n}_wdq", f"{n}_bdq"], [f"{n}_y"], **attrs))
        relu = rng.random() < 0.5
        if relu:
            nodes.append(helper.make_node("Relu", [f"{n}_y"], [f"{n}_r"]))
            y_name = f"{n}_r"
        else:
            y_name = f"{n}_y"
        ys = np.float32(cur_s * float(ws.max()) * np.sqrt(cin * k[0] * k[1]) * 40 * nr.uniform(0.5, 2.0) / 255 * 4)
        # A zero point at the type's minimum after a Relu: onnxruntime drops the Relu and fuses the group.
        yz = at(lo) if relu and rng.random() < 0.5 else at(nr.integers(lo // 2, hi // 2 + 1))
        inits += [init(f"{n}_ys", ys), init(f"{n}_yz", np.array(yz, at))]
        # Now and then the DequantizeLinear's scale is an ulp or two off the QuantizeLinear's:
        # onnxruntime's int8 → uint8 pair rewrite compares zero points only.
        dq_s = ys
        if layer < chain - 1 and rng.random() < 0.3:
            dq_s = np.nextafter(ys, np.float32(1)) if rng.random() < 0.5 else np.nextafter(np.nextafter(ys, np.float32(0)), np.float32(0))
            inits.append(init(f"{n}_ys_dq", np.float32(dq_s)))
        nodes += qdq(f"{n}_out", y_name, f"{n}_ys", f"{n}_yz", dq_scale=f"{n}_ys_dq" if dq_s is not ys else None)
        cur, cin, cur_s = f"{n}_out_dq", cout, float(dq_s)
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    return model(nodes, [("x", x)], [("y", TP.FLOAT)], inits), {"x": x}, dict(g, chain=chain, act=at.__name__)


def unary_float(rng):
    """Sigmoid or Tanh (MLAS's rational approximations) over a random shape and value range: both
    clamping ranges, the polynomial's domain, tails, lengths across the 8-lane body and its tail."""
    nr = np.random.default_rng(rng.randrange(2**32))
    op = rng.choice(["Sigmoid", "Tanh"])
    n = rng.choice([1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000])
    spread = rng.choice([0.01, 1, 4, 10, 25, 100])
    x = (nr.standard_normal((rng.choice([1, 2]), n)) * spread).astype(np.float32)
    return model([helper.make_node(op, ["x"], ["y"])], [("x", x)], [("y", TP.FLOAT)], []), {"x": x}, dict(op=op, n=n, spread=spread)


def broadcast_pair(rng):
    """Two shapes that broadcast: a random output shape of rank 1-4, each operand keeping or
    collapsing to 1 each axis and possibly dropping leading axes (bias rows, squeeze-excite gates
    [N, C, 1, 1], scalars, same shapes)."""
    rank = rng.choice([1, 2, 3, 4])
    out = [rng.choice([1, 2, 3, 4, 7, 8, 9, 16, 17]) for _ in range(rank)]
    def operand():
        kind = rng.random()
        if kind < 0.2:
            return list(out)
        s = [d if rng.random() < 0.5 else 1 for d in out]
        drop = rng.randrange(0, rank + 1) if rng.random() < 0.4 else 0
        return s[drop:]
    a, b = operand(), operand()
    if rng.random() < 0.5:
        a, b = b, a
    return a, b


def binary(rng):
    """Broadcast binary ops: float Add/Sub/Mul/Div/Max/Min/Pow over random broadcast shapes, and
    com.microsoft QLinearAdd/QLinearMul (int8/uint8: onnxruntime's per-span operand order)."""
    nr = np.random.default_rng(rng.randrange(2**32))
    sa, sb = broadcast_pair(rng)
    op = rng.choice(["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "QLinearAdd", "QLinearMul", "QLinearAdd"])
    if not op.startswith("QLinear"):
        a = np.asarray(nr.standard_normal(sa) * rng.choice([0.5, 3, 100]), np.float32)
        b = np.asarray(nr.standard_normal(sb) * rng.choice([0.5, 3, 100]), np.float32)
        if op == "Pow":
            a = np.abs(a) + np.float32(0.01)
            b = np.asarray(nr.choice(np.array([2, 3, 0.5, -1.5, 1.7], np.float32), sb), np.float32)
        # B as an initializer in half the cases (a bias, a constant exponent).
        const_b = rng.random() < 0.5
        inits = [init("b", b)] if const_b else []
        ins = [("a", a)] + ([] if const_b else [("b", b)])
        return (model([helper.make_node(op, ["a", "b"], ["y"])], ins, [("y", TP.FLOAT)], inits), dict(ins),
                dict(op=op, a=sa, b=sb, const_b=const_b))
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    a = np.asarray(nr.integers(lo, hi + 1, sa), xt)
    b = np.asarray(nr.integers(lo, hi + 1, sb), xt)
    scale = lambda: np.float32(nr.uniform(0.005, 0.2))
    zero = lambda: np.array(nr.integers(lo, hi + 1), xt)
    inits = [init("as", scale()), init("az", zero()), init("bs", scale()), init("bz", zero()), init("cs", scale()),
             init("cz", zero())]
    node = helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"], domain="com.microsoft")
    ins = [("a", a), ("b", b)]
    return (model([node], ins, [("y", TPOF[np.dtype(xt)])], inits, ms=True), dict(ins),
            dict(op=op, a=sa, b=sb, type=np.dtype(xt).name))


def qlinear_lookup(rng):
    """com.microsoft QLinearSigmoid / QLinearLeakyRelu: 256-entry tables of the float function."""
    nr = np.random.default_rng(rng.randrange(2**32))
    op = rng.choice(["QLinearSigmoid", "QLinearLeakyRelu"])
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    x = np.arange(lo, hi + 1).astype(xt).reshape(1, -1)
    xs, xz = np.float32(nr.uniform(0.005, 0.2)), xt(nr.integers(lo, hi + 1))
    ys, yz = np.float32(nr.uniform(0.002, 0.05)), xt(nr.integers(lo, hi + 1))
    inits = [init("xs", xs), init("xz", np.array(xz, xt)), init("ys", ys), init("yz", np.array(yz, xt))]
    attrs = {"alpha": float(rng.choice([0.01, 0.1, 0.2, 0.3]))} if op == "QLinearLeakyRelu" else {}
    node = helper.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **attrs)
    return model([node], [("x", x)], [("y", TPOF[np.dtype(xt)])], inits, ms=True), {"x": x}, dict(op=op, **attrs)


def qlinear_concat(rng):
    """com.microsoft QLinearConcat of 2-4 inputs on channels (or another axis), each with its own scale
    and zero point (requantized into the output's), or all sharing the output's."""
    nr = np.random.default_rng(rng.randrange(2**32))
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    k = rng.choice([2, 2, 3, 4])
    h, w = extent(rng, 24), extent(rng, 24)
    axis = rng.choice([1, 1, 2, 3])
    ys, yz = np.float32(nr.uniform(0.01, 0.1)), xt(nr.integers(lo, hi + 1))
    shared = rng.random() < 0.25
    inputs, ins, inits = [], ["ys", "yz"], [init("ys", ys), init("yz", np.array(yz, xt))]
    for i in range(k):
        shape = [1, rng.choice([1, 3, 8]) if axis == 1 else 4, h if axis != 2 else extent(rng, 24), w if axis != 3 else extent(rng, 24)]
        xi = nr.integers(lo, hi + 1, shape).astype(xt)
        si, zi = (ys, yz) if shared else (np.float32(ys * nr.uniform(0.3, 3.0)), xt(nr.integers(lo, hi + 1)))
        inputs.append((f"x{i}", xi))
        inits += [init(f"s{i}", np.float32(si)), init(f"z{i}", np.array(zi, xt))]
        ins += [f"x{i}", f"s{i}", f"z{i}"]
    node = helper.make_node("QLinearConcat", ins, ["y"], domain="com.microsoft", axis=axis)
    return (model([node], inputs, [("y", TPOF[np.dtype(xt)])], inits, ms=True), dict(inputs),
            dict(k=k, axis=axis, shared=shared))


def qdq_unary(rng):
    """DequantizeLinear → Sigmoid | LeakyRelu | AveragePool → QuantizeLinear (8-bit): at ORT_ENABLE_ALL
    onnxruntime fuses the group into QLinearSigmoid / QLinearLeakyRelu / QLinearAveragePool."""
    nr = np.random.default_rng(rng.randrange(2**32))
    op = rng.choice(["Sigmoid", "LeakyRelu", "AveragePool"])
    xt = np.uint8 if rng.random() < 0.5 else np.int8
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    g = pool_geometry(rng) if op == "AveragePool" else dict(c=rng.choice([1, 3, 8]), h=extent(rng, 24), w=extent(rng, 24))
    x = nr.integers(lo, hi + 1, (1, g["c"], g["h"], g["w"])).astype(xt)
    xs, xz = np.float32(nr.uniform(0.005, 0.1)), xt(nr.integers(lo, hi + 1))
    ys, yz = (np.float32(nr.uniform(0.002, 0.01)) if op == "Sigmoid" else np.float32(xs * nr.uniform(0.5, 2.0))), xt(nr.integers(lo, hi + 1))
    inits = [init("xs", xs), init("xz", np.array(xz, xt)), init("ys", ys), init("yz", np.array(yz, xt))]
    if op == "AveragePool":
        g["cip"] = int(rng.random() < 0.5)
        attrs = dict(kernel_shape=g["k"], strides=g["s"], pads=g["pads"], ceil_mode=g["ceil"], count_include_pad=g["cip"])
    else:
        attrs = {"alpha": float(rng.choice([0.01, 0.1, 0.2]))} if op == "LeakyRelu" else {}
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]), helper.make_node(op, ["xf"], ["yf"], **attrs),
             helper.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["yq"]), helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return model(nodes, [("x", x)], [("y", TP.FLOAT)], inits), {"x": x}, dict(g, op=op, act=xt.__name__)


# Cases known to differ, by (level, family, case seed): printed as XFAIL (XPASS once they match),
# never hidden. Each names what is open.
KNOWN: dict = {}

def softmax_float(rng):
    """Softmax / LogSoftmax (MLAS: polynomial exp, sums in 8 lanes, or 16 with AVX-512F) over a
    random shape, axis and opset (before 13 the input is flattened at the axis)."""
    nr = np.random.default_rng(rng.randrange(2**32))
    rank = rng.choice([2, 2, 3, 4])
    shape = [rng.choice([1, 2, 3])] + [min(extent(rng), 70) for _ in range(rank - 1)]
    x = (nr.standard_normal(shape) * rng.choice([0.1, 1, 4, 30, 100])).astype(np.float32)
    if rng.random() < 0.2:
        x[..., :1] = nr.choice([-1e30, 1e3, -90.0], 1).astype(np.float32)
    op = rng.choice(["Softmax", "LogSoftmax"])
    opset = rng.choice([11, 13, 13, 21])
    axis = rng.randint(-rank, rank - 1)
    node = helper.make_node(op, ["x"], ["y"], axis=axis)
    return model([node], [("x", x)], [("y", TP.FLOAT)], [], opset=opset), {"x": x}, dict(op=op, shape=shape, axis=axis, opset=opset)


def normalize(rng):
    """ReduceMean over random axes (Eigen's packets, MLAS's one-row SGEMM, or a plain loop),
    LayerNormalization (MLAS's kernel from 8 elements a row, Welford below), or Erf/Gelu."""
    nr = np.random.default_rng(rng.randrange(2**32))
    rank = rng.choice([2, 3, 3, 4])
    shape = [rng.choice([1, 2, 3])] + [min(extent(rng), 40) for _ in range(rank - 1)]
    x = (rng.choice([0, 0, 100, 1000]) + nr.standard_normal(shape) * rng.choice([0.01, 1, 10])).astype(np.float32)
    kind = rng.choice(["ReduceMean", "ReduceMean", "LayerNormalization", "Gelu"])
    inits, ins = [], ["x"]
    if kind == "ReduceMean":
        axes = sorted(rng.sample(range(rank), rng.randint(1, rank)))
        inits.append(init("axes", np.array(axes, np.int64)))
        ins.append("axes")
        node = helper.make_node("ReduceMean", ins, ["y"], keepdims=rng.choice([0, 1]))
        geo = dict(kind=kind, shape=shape, axes=axes)
    elif kind == "LayerNormalization":
        axis = rng.randint(1, rank - 1)
        n = int(np.prod(shape[axis:]))
        inits.append(init("g", nr.uniform(0.5, 1.5, shape[axis:]).astype(np.float32)))
        ins.append("g")
        if rng.random() < 0.7:
            inits.append(init("b", nr.normal(0, 0.1, shape[axis:]).astype(np.float32)))
            ins.append("b")
        node = helper.make_node("LayerNormalization", ins, ["y"], axis=axis, epsilon=rng.choice([1e-5, 1e-6, 1e-3]))
        geo = dict(kind=kind, shape=shape, axis=axis, n=n)
    else:
        approx = rng.choice(["none", "tanh"])
        x = (nr.standard_normal(shape) * rng.choice([0.5, 2, 5])).astype(np.float32)
        node = helper.make_node("Gelu", ins, ["y"], approximate=approx)
        geo = dict(kind=kind, shape=shape, approximate=approx)
    return model([node], [("x", x)], [("y", TP.FLOAT)], inits, opset=21), {"x": x}, geo


def resize_linear(rng):
    """Resize mode=linear: 4-D NCHW (float or 8-bit, float weights), 4-D NHWC 8-bit (2^10 fixed
    point) or 2-D, from scales or sizes, every coordinate transformation."""
    nr = np.random.default_rng(rng.randrange(2**32))
    layout = rng.choice(["nchw", "nchw", "nhwc", "2d"])
    dt = rng.choice([np.float32, np.uint8, np.int8]) if layout != "nhwc" else rng.choice([np.uint8, np.int8])
    h, w = rng.randint(1, 20), rng.randint(1, 20)
    shape = {"nchw": [rng.randint(1, 2), rng.randint(1, 5), h, w], "nhwc": [1, h, w, rng.randint(1, 5)], "2d": [h, w]}[layout]
    x = nr.standard_normal(shape).astype(np.float32) * 3 if dt == np.float32 else \
        nr.integers(np.iinfo(dt).min, np.iinfo(dt).max + 1, shape).astype(dt)
    mode = rng.choice(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"])
    axes = {"nchw": (2, 3), "nhwc": (1, 2), "2d": (0, 1)}[layout]
    scales = [1.0] * len(shape)
    for a in axes:
        scales[a] = rng.choice([0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 2.5])
    inits = [init("roi", np.array([0.0] * len(shape) + [1.0] * len(shape), np.float32)) if mode != "tf_crop_and_resize"
             else init("roi", np.array([0.0] * len(shape) + [1.0] * len(shape), np.float32) +
                       np.array([0.1 if i % len(shape) in axes and i < len(shape) else 0 for i in range(2 * len(shape))], np.float32))]
    if rng.random() < 0.3:
        sizes = [max(1, int(s * d) + rng.randint(-1, 1)) if i in axes else d for i, (s, d) in enumerate(zip(scales, shape))]
        inits.append(init("sizes", np.array(sizes, np.int64)))
        ins = ["x", "roi", "", "sizes"]
    else:
        inits.append(init("scales", np.array(scales, np.float32)))
        ins = ["x", "roi", "scales"]
    node = helper.make_node("Resize", ins, ["y"], mode="linear", coordinate_transformation_mode=mode)
    return model([node], [("x", x)], [("y", TPOF[np.dtype(dt)])], inits, opset=19), {"x": x}, \
        dict(layout=layout, dtype=np.dtype(dt).name, shape=shape, mode=mode, scales=scales)


def resize_nearest(rng):
    """Resize mode=nearest over ranks 1-5 (float, int8, uint8): every nearest_mode and coordinate
    transformation, scales or sizes on any axes (axis 0 too), opset 10's two-input form."""
    nr = np.random.default_rng(rng.randrange(2**32))
    rank = rng.choice([1, 2, 3, 4, 4, 4, 5])
    shape = [rng.randint(1, 3) if d == 0 and rank >= 3 else rng.randint(1, 12) for d in range(rank)]
    dt = rng.choice([np.float32, np.uint8, np.int8])
    x = nr.standard_normal(shape).astype(np.float32) if dt == np.float32 else \
        nr.integers(np.iinfo(dt).min, np.iinfo(dt).max + 1, shape).astype(dt)
    scales = [1.0 if rng.random() < 0.4 else rng.choice([0.5, 0.6, 0.75, 1.5, 2.0, 3.0, 2.5, 1.25]) for _ in shape]
    if rng.random() < 0.15:
        node = helper.make_node("Resize", ["x", "scales"], ["y"], mode="nearest")
        return (model([node], [("x", x)], [("y", TPOF[np.dtype(dt)])], [init("scales", np.array(scales, np.float32))],
                      opset=10), {"x": x}, dict(opset=10, shape=shape, scales=scales))
    mode = rng.choice(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"])
    nearest = rng.choice(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
    inits = []
    if rng.random() < 0.3:
        sizes = [max(1, int(sc * d) + rng.randint(-1, 1)) for sc, d in zip(scales, shape)]
        inits.append(init("sizes", np.array(sizes, np.int64)))
        ins = ["x", "", "", "sizes"]
    else:
        inits.append(init("scales", np.array(scales, np.float32)))
        ins = ["x", "", "scales"]
    node = helper.make_node("Resize", ins, ["y"], mode="nearest", coordinate_transformation_mode=mode,
                            nearest_mode=nearest)
    return model([node], [("x", x)], [("y", TPOF[np.dtype(dt)])], inits, opset=19), {"x": x}, \
        dict(shape=shape, dtype=np.dtype(dt).name, mode=mode, nearest=nearest, scales=scales)


def qlinear_softmax(rng):
    """com.microsoft QLinearSoftmax (uint8/int8), or DequantizeLinear → Softmax → QuantizeLinear
    (fused into it at ORT_ENABLE_ALL)."""
    nr = np.random.default_rng(rng.randrange(2**32))
    xt = rng.choice([np.uint8, np.int8])
    lo, hi = np.iinfo(xt).min, np.iinfo(xt).max
    shape = [1, rng.randint(1, 6), min(extent(rng), 300)]
    x = nr.integers(lo, hi + 1, shape).astype(xt)
    xs = np.float32(nr.uniform(0.002, 0.2))
    ys, yz = np.float32(1 / 256), xt(lo)
    inits = [init("xs", xs), init("xz", np.array(nr.integers(lo, hi + 1), xt)), init("ys", ys), init("yz", np.array(yz, xt))]
    axis = rng.choice([-1, -1, 1])
    if rng.random() < 0.5:
        nodes = [helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                  axis=axis, opset=rng.choice([12, 13]))]
        ms = True
    else:
        nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
                 helper.make_node("Softmax", ["xf"], ["sf"], axis=axis),
                 helper.make_node("QuantizeLinear", ["sf", "ys", "yz"], ["y"])]
        ms = False
    return model(nodes, [("x", x)], [("y", TPOF[np.dtype(xt)])], inits, ms=ms), {"x": x}, dict(shape=shape, axis=axis, ms=ms)


FAMILIES = {
    "qlinearconv": qlinearconv,
    "depthwise": lambda rng: qlinearconv(rng, depthwise=True),
    "conv": conv,
    "convdepthwise": lambda rng: conv(rng, depthwise=True),
    "maxpool": maxpool,
    "averagepool": averagepool,
    "globalaveragepool": globalaveragepool,
    "qlinearaveragepool": qlinearaveragepool,
    "qlinearglobalaveragepool": qlinearglobalaveragepool,
    "gemm": gemm,
    "matmul": matmul,
    "qgemm": qgemm,
    "qlinearmatmul": qlinearmatmul,
    # Two-op and QDQ models: what onnxruntime's optimizer fuses at --level enable.
    "qdqconv": qdq_conv,
    "qdqconv2": lambda rng: qdq_conv(rng, chain=2),
    # The ops of the architecture families (issue 24).
    "unary": unary_float,
    "qlinearlookup": qlinear_lookup,
    "qlinearconcat": qlinear_concat,
    "qdqunary": qdq_unary,
    "convtranspose": convtranspose,
    "convtransposeq": convtranspose_q,
    "softmax": softmax_float,
    "normalize": normalize,
    "resizelinear": resize_linear,
    "resizenearest": resize_nearest,
    "qlinearsoftmax": qlinear_softmax,
    "binary": binary,
}
# Families whose float ops onnxruntime runs in its NCHWc kernels at ORT_ENABLE_ALL (another
# summation order, not claimed bit for bit): left out of --level enable.
FLOAT_ONLY = {"conv", "convdepthwise", "convtranspose", "softmax", "normalize", "resizelinear", "maxpool", "averagepool", "globalaveragepool", "gemm", "matmul", "unary"}


def ort_session(m, level="disable"):
    """onnxruntime's CPU provider on model m, one thread, ORT_DISABLE_ALL or ORT_ENABLE_ALL."""
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if level == "disable"
                                   else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    so.intra_op_num_threads = 1
    so.log_severity_level = 4
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_run(m, feeds, level="disable"):
    return ort_session(m, level).run(None, feeds)[0]


def cpu_flags():
    """The flags of /proc/cpuinfo ("" elsewhere), as a set."""
    import re
    text = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return set(re.findall(r"\w+", " ".join(l for l in text.splitlines() if l.startswith("flags"))))


def host_paths():
    flags = cpu_flags()
    return ["portable"] + (["avx2+fma"] if {"avx2", "fma"} <= flags else []) + (["avx512f"] if "avx512f" in flags else [])


def host_target():
    """The onnxruntime semantics of this CPU, named from /proc/cpuinfo (not from qverify, whose
    emulated-AVX-512 test build claims every feature)."""
    flags = cpu_flags()
    if "avx512_vnni" in flags or "avx_vnni" in flags:
        return "ort-vnni"
    if {"avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "ort-avx512"
    return "ort-avx2" if "avx2" in flags else "ort-host"


def differs(q, y):
    if q.shape != y.shape:
        return f"shape {q.shape} vs onnxruntime's {y.shape}"
    d = (q.view(np.uint32) != y.view(np.uint32)) if y.dtype == np.float32 else (q != y)
    n = int(d.sum())
    if not n:
        return None
    idx = np.argwhere(d)[0].tolist()
    return f"{n} of {y.size} differ (first at {idx}: {q[tuple(idx)]!r} vs {y[tuple(idx)]!r}, max {np.abs(q.astype(float) - y.astype(float)).max():.4g})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qverify")
    ap.add_argument("--ops", default=",".join(FAMILIES))
    ap.add_argument("--count", type=int, default=20, help="cases per family")
    ap.add_argument("--minutes", type=float, default=0, help="run each family this long instead of --count cases")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--paths", default=None, help="kernel paths (default: every one this CPU has)")
    ap.add_argument("--keep", default="/tmp/qverify-sweep")
    ap.add_argument("--level", choices=("disable", "enable"), default="disable",
                    help="onnxruntime's optimization level (enable: its graph fusions, emulated by --ort-level enable)")
    a = ap.parse_args()
    paths = a.paths.split(",") if a.paths else host_paths()
    target = host_target()
    keep = pathlib.Path(a.keep)
    keep.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qv-sweep-"))
    passed = failed = 0
    families = [f for f in a.ops.split(",") if not (a.level == "enable" and f in FLOAT_ONLY)]
    for fam in families:
        make = FAMILIES[fam]
        rng = random.Random(f"{a.seed}:{fam}")
        start, k, fam_pass, fam_fail, ort_refused, qv_refused = time.time(), 0, 0, 0, 0, 0
        while (k < a.count) if not a.minutes else (time.time() - start < a.minutes * 60):
            case_seed = rng.randrange(2**31)
            m, feeds, geo = make(random.Random(case_seed))
            k += 1
            try:
                y = ort_run(m, feeds, a.level)
            except Exception:
                ort_refused += 1
                continue
            mp = tmp / "m.onnx"
            onnx.save(m, str(mp))
            inputs = tmp / "x.npz"
            np.savez(inputs, **feeds)
            for path in paths:
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                env = dict(os.environ, QVERIFY_KERNEL_PATH=path)
                # One sample: the batch dimension is the model's own (axis 0 of every input).
                cmd = [a.qverify, "run", str(mp), "--inputs", str(inputs), "--output-dir", str(out), "--threads", "1",
                       "--target", target, "--batch", "1"] + (["--ort-level", "enable"] if a.level == "enable" else [])
                r = subprocess.run(cmd, capture_output=True, text=True, env=env)
                why = None
                if r.returncode == 2 and "is not modelled" in r.stderr:
                    # A named refusal where onnxruntime's arithmetic is not modelled: not a verdict, not a
                    # wrong number; counted apart.
                    qv_refused += 1
                    continue
                if r.returncode != 0:
                    why = f"qverify exit {r.returncode}: {r.stderr.strip()[-300:]}"
                else:
                    q = np.load(out / "y.npy")
                    q = q.reshape(q.shape[1:]) if q.shape[0] == 1 and q.ndim == y.ndim + 1 else q
                    why = differs(q, y)
                known = KNOWN.get((a.level, fam, case_seed))
                if known:
                    print(f"{'XFAIL' if why else 'XPASS'} {fam} case {case_seed} path {path}: {known}", flush=True)
                    continue
                if why:
                    failed += 1
                    fam_fail += 1
                    name = f"{fam}_{a.seed}_{case_seed}"
                    shutil.copy(mp, keep / f"{name}.onnx")
                    np.savez(keep / f"{name}.npz", **feeds, expected=y)
                    print(f"FAIL {fam} case {case_seed} path {path}: {geo}: {why}", flush=True)
                else:
                    passed += 1
                    fam_pass += 1
        print(f"{fam}: {k} models, {fam_pass} runs passed, {fam_fail} failed"
              + (f", {ort_refused} onnxruntime refused" if ort_refused else "")
              + (f", {qv_refused} runs refused by qverify (not modelled)" if qv_refused else "") + f" ({time.time() - start:.0f} s)", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"sweep: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
