#!/usr/bin/env python3
"""Builds qverify's own Reference/ fixtures with the real Eclipse Aidge 0.10.1 and onnxruntime.

Deterministic: fixed seeds, fixed calibration inputs. For each fixture folder it writes
  float.onnx, calib_inputs.npy (8 samples, uniform [0,1)), ort_float.npy,
  aidge_quantized_folded.onnx (+ aidge_folded_inputs.npy, aidge_cpu_folded.npy, _intermediates.npz)
  aidge_quantized.onnx (rescale_inputs=True, fold_graph=False; + aidge_cpu_quantized.npy, _intermediates.npz)
  ort_static_qdq.onnx / ort_static_qop.onnx (onnxruntime quantize_static; + ort_static_*.npy)
and manifest.json: the exact calls, every Aidge quantizer (scaling factor, clip range, dtype),
what failed and why. Steps that fail in Aidge are recorded, not hidden.

Usage: scripts/make_reference.py [OUT_DIR] [--only NAME ...]   (run inside scripts/setup-python.sh's venv)
"""
import argparse
import hashlib
import os
import json
import pathlib
import traceback

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort

import aidge_core
import aidge_backend_cpu  # noqa: F401  (registers the CPU backend)
import aidge_onnx
import aidge_quantization as aq

N_SAMPLES = 8


# ---------------------------------------------------------------- float models (onnx.helper)

class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []

    def param(self, name, shape, fan_in=None, std=None):
        std = std if std is not None else np.sqrt(2.0 / fan_in)
        self.inits.append(numpy_helper.from_array(self.rng.normal(0, std, shape).astype(np.float32), name))
        return name

    def conv(self, name, x, cin, cout, k=3, pads=0, stride=1, group=1):
        w = self.param(f"{name}_w", [cout, cin // group, k, k], fan_in=cin // group * k * k)
        b = self.param(f"{name}_b", [cout], std=0.01)
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=[pads] * 4, group=group)
        self.nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}_out"], name=name, **attrs))
        return f"{name}_out"

    def op(self, op, name, inputs, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [f"{name}_out"], name=name, **attrs))
        return f"{name}_out"

    def fc(self, name, x, fin, fout, out=None):
        w = self.param(f"{name}_w", [fout, fin], fan_in=fin)
        b = self.param(f"{name}_b", [fout], std=0.01)
        y = out or f"{name}_out"
        self.nodes.append(helper.make_node("Gemm", [x, w, b], [y], name=name, transB=1))
        return y

    def model(self, in_shape, out_shape):
        g = helper.make_graph(self.nodes, "qverify_fixture",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qverify make_reference")
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m


def residual():
    """Conv(pad 1) + Relu + Conv(pad 1) + residual Add + Relu + MaxPool + Gemm."""
    b = Builder(11)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 1, 4, pads=1)])
    y = b.conv("conv2", x, 4, 4, pads=1)
    s = b.op("Relu", "relu2", [b.op("Add", "add", [x, y])])
    p = b.op("MaxPool", "pool", [s], kernel_shape=[2, 2], strides=[2, 2])
    f = b.op("Flatten", "flatten", [p], axis=1)
    b.fc("fc", f, 4 * 4 * 4, 10, out="output")
    return b.model([1, 1, 8, 8], [1, 10]), [1, 1, 8, 8]


def padded():
    """Strided, padded convs: Conv(3x3, pad 1, stride 2) + Relu + Conv(3x3, pad 1) + Relu + Gemm."""
    b = Builder(12)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 2, 6, pads=1, stride=2)])
    x = b.op("Relu", "relu2", [b.conv("conv2", x, 6, 8, pads=1)])
    f = b.op("Flatten", "flatten", [x], axis=1)
    b.fc("fc", f, 8 * 5 * 5, 10, out="output")
    return b.model([1, 2, 10, 10], [1, 10]), [1, 2, 10, 10]


def depthwise():
    """Conv + Relu + depthwise Conv(group=C, pad 1) + Relu + pointwise 1x1 Conv + Relu + Gemm."""
    b = Builder(13)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 1, 6)])
    x = b.op("Relu", "relu2", [b.conv("dwconv", x, 6, 6, pads=1, group=6)])
    x = b.op("Relu", "relu3", [b.conv("pwconv", x, 6, 8, k=1)])
    f = b.op("Flatten", "flatten", [x], axis=1)
    b.fc("fc", f, 8 * 6 * 6, 10, out="output")
    return b.model([1, 1, 8, 8], [1, 10]), [1, 1, 8, 8]


def lenet():
    """The shared lenet's architecture (used for the 4-bit and single_shift variants)."""
    b = Builder(0)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 1, 4)])
    x = b.op("MaxPool", "pool1", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Relu", "relu2", [b.conv("conv2", x, 4, 8)])
    f = b.op("Flatten", "flatten", [x], axis=1)
    b.fc("fc", f, 72, 10, out="output")
    return b.model([1, 1, 12, 12], [1, 10]), [1, 1, 12, 12]


def float_island():
    """Ops Aidge's PTQ leaves in float: a small CNN with a Sigmoid (after a 1x1 conv) and a Tanh
    (after a 3x3 conv). Aidge puts a rescaling quantizer (<op>_PrevScaling: Mul(sf), Add, Clip to
    +-FLT_MAX, no rounding; exported as QuantizeLinear with a float zero point) before each and a
    rounding one after. 3x16x16 input, 5 classes."""
    b = Builder(20)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 3, 8, pads=1)])
    x = b.op("Sigmoid", "sigmoid", [b.conv("conv2", x, 8, 8, k=1)])
    x = b.op("MaxPool", "pool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Tanh", "tanh", [b.conv("conv3", x, 8, 8, pads=1)])
    x = b.op("Relu", "relu4", [b.conv("conv4", x, 8, 8, pads=1)])
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [x])], axis=1)
    b.fc("fc", f, 8, 5, out="output")
    return b.model([1, 3, 16, 16], [1, 5]), [1, 3, 16, 16]


def fire():
    """SqueezeNet 1.1-style fire modules: conv3x3/2 + Relu + MaxPool 3x3/2 (ceil_mode), two fire
    modules (squeeze 1x1 + Relu, expand 1x1 and 3x3 + Relu each, Concat on channels) with a
    MaxPool 3x3/2 (ceil_mode) between them, a 1x1 classifier conv + Relu, GlobalAveragePool,
    Flatten. Concat joins two branches Aidge scales on their own. 3x32x32 input, 6 classes."""
    b = Builder(30)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 3, 16, stride=2)])
    x = b.op("MaxPool", "pool1", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    c = 16
    for k, (sq, ex) in enumerate([(8, 16), (12, 24)], start=1):
        s = b.op("Relu", f"fire{k}_srelu", [b.conv(f"fire{k}_squeeze", x, c, sq, k=1)])
        e1 = b.op("Relu", f"fire{k}_e1relu", [b.conv(f"fire{k}_expand1", s, sq, ex, k=1)])
        e3 = b.op("Relu", f"fire{k}_e3relu", [b.conv(f"fire{k}_expand3", s, sq, ex, pads=1)])
        x, c = b.op("Concat", f"fire{k}_concat", [e1, e3], axis=1), 2 * ex
        if k == 1:
            x = b.op("MaxPool", "pool2", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = b.op("Relu", "relu_cls", [b.conv("classifier", x, c, 6, k=1)])
    b.op("GlobalAveragePool", "gap", [x])
    b.nodes.append(helper.make_node("Flatten", ["gap_out"], ["output"], name="flatten", axis=1))
    return b.model([1, 3, 32, 32], [1, 6]), [1, 3, 32, 32]


def unet():
    """A two-level U-Net: encoder conv3x3 + Relu, MaxPool 2x2, conv3x3 + Relu, Resize (nearest, x2)
    back up, Concat with the skip, conv3x3 + Relu, a 1x1 segmentation head (3 classes). Resize picks
    integers without changing their step; Concat joins the upsampled path with the skip.
    3x16x16 input, 3x16x16 output."""
    b = Builder(31)
    e1 = b.op("Relu", "enc1_relu", [b.conv("enc1", "input", 3, 8, pads=1)])
    p = b.op("MaxPool", "pool", [e1], kernel_shape=[2, 2], strides=[2, 2])
    e2 = b.op("Relu", "enc2_relu", [b.conv("enc2", p, 8, 16, pads=1)])
    b.inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    u = b.op("Resize", "up", [e2, "", "up_scales"], mode="nearest")
    c = b.op("Concat", "skip_concat", [u, e1], axis=1)
    d = b.op("Relu", "dec_relu", [b.conv("dec", c, 24, 8, pads=1)])
    w = b.param("head_w", [3, 8, 1, 1], fan_in=8)
    hb = b.param("head_b", [3], std=0.01)
    b.nodes.append(helper.make_node("Conv", [d, w, hb], ["output"], name="head", kernel_shape=[1, 1]))
    return b.model([1, 3, 16, 16], [1, 3, 16, 16]), [1, 3, 16, 16]


def shuffle():
    """A ShuffleNet V2 unit: conv3x3 + Relu (16 channels), Split into two halves, one kept, the other
    through 1x1 conv + Relu, depthwise 3x3, 1x1 conv + Relu, Concat, channel shuffle (Reshape to
    groups, Transpose, Reshape back), GlobalAveragePool, Flatten, Gemm. 3x16x16 input, 5 classes."""
    b = Builder(32)
    x = b.op("Relu", "stem_relu", [b.conv("stem", "input", 3, 16, pads=1)])
    b.inits.append(numpy_helper.from_array(np.array([8, 8], np.int64), "split_sizes"))
    b.nodes.append(helper.make_node("Split", [x, "split_sizes"], ["half_a", "half_b"], name="split", axis=1))
    y = b.op("Relu", "pw1_relu", [b.conv("pw1", "half_b", 8, 8, k=1)])
    y = b.conv("dw", y, 8, 8, pads=1, group=8)
    y = b.op("Relu", "pw2_relu", [b.conv("pw2", y, 8, 8, k=1)])
    c = b.op("Concat", "concat", ["half_a", y], axis=1)
    b.inits.append(numpy_helper.from_array(np.array([1, 2, 8, 16, 16], np.int64), "groups_shape"))
    b.inits.append(numpy_helper.from_array(np.array([1, 16, 16, 16], np.int64), "flat_shape"))
    r = b.op("Reshape", "shuffle_reshape", [c, "groups_shape"])
    t = b.op("Transpose", "shuffle_transpose", [r], perm=[0, 2, 1, 3, 4])
    s = b.op("Reshape", "shuffle_back", [t, "flat_shape"])
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [s])], axis=1)
    b.fc("fc", f, 16, 5, out="output")
    return b.model([1, 3, 16, 16], [1, 5]), [1, 3, 16, 16]


def yolo():
    """A YOLO-style two-scale head: conv3x3/2 + LeakyRelu(0.1) twice (the stride-2 backbone), a
    3x3 conv + LeakyRelu at 1/4 scale feeding output head 1 (1x1 conv, 6 channels), a 1x1 conv +
    LeakyRelu, Resize (nearest, x2) and Concat with the 1/2-scale features (the route), a 3x3 conv
    + LeakyRelu and output head 2 (1x1 conv, 6 channels). 3x32x32 input; outputs 6x8x8 and 6x16x16."""
    b = Builder(33)
    lrelu = lambda name, x: b.op("LeakyRelu", name, [x], alpha=0.1)
    c1 = lrelu("c1_act", b.conv("c1", "input", 3, 8, pads=1, stride=2))
    c2 = lrelu("c2_act", b.conv("c2", c1, 8, 16, pads=1, stride=2))
    c3 = lrelu("c3_act", b.conv("c3", c2, 16, 16, pads=1))
    w1, b1 = b.param("head1_w", [6, 16, 1, 1], fan_in=16), b.param("head1_b", [6], std=0.01)
    b.nodes.append(helper.make_node("Conv", [c3, w1, b1], ["output"], name="head1", kernel_shape=[1, 1]))
    r = lrelu("route_act", b.conv("route", c3, 16, 8, k=1))
    b.inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    u = b.op("Resize", "up", [r, "", "up_scales"], mode="nearest")
    cat = b.op("Concat", "route_concat", [u, c1], axis=1)
    c4 = lrelu("c4_act", b.conv("c4", cat, 16, 8, pads=1))
    w2, b2 = b.param("head2_w", [6, 8, 1, 1], fan_in=8), b.param("head2_b", [6], std=0.01)
    b.nodes.append(helper.make_node("Conv", [c4, w2, b2], ["output2"], name="head2", kernel_shape=[1, 1]))
    g = helper.make_graph(b.nodes, "qverify_fixture",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 6, 8, 8]),
                           helper.make_tensor_value_info("output2", TensorProto.FLOAT, [1, 6, 16, 16])], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qverify make_reference")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m, [1, 3, 32, 32]


def se_block():
    """A MobileNetV3/EfficientNet block, Relu twin (Aidge's PTQ refuses HardSwish and HardSigmoid):
    conv3x3 + Relu (16), 1x1 expand + Relu (32), depthwise 3x3 + Relu, squeeze-excite
    (GlobalAveragePool, 1x1 conv + Relu, 1x1 conv, Sigmoid, Mul with the features), 1x1 project
    (16), residual Add, GlobalAveragePool, Flatten, Gemm. Aidge leaves the Sigmoid in float; the
    Mul multiplies two activations.
    3x16x16 input, 5 classes."""
    b = Builder(34)
    x = b.op("Relu", "stem_relu", [b.conv("stem", "input", 3, 16, pads=1)])
    e = b.op("Relu", "expand_relu", [b.conv("expand", x, 16, 32, k=1)])
    d = b.op("Relu", "dw_relu", [b.conv("dw", e, 32, 32, pads=1, group=32)])
    sq = b.op("GlobalAveragePool", "se_pool", [d])
    s1 = b.op("Relu", "se_reduce_relu", [b.conv("se_reduce", sq, 32, 8, k=1)])
    gate = b.op("Sigmoid", "se_gate", [b.conv("se_expand", s1, 8, 32, k=1)])
    m = b.op("Mul", "se_mul", [d, gate])
    p = b.conv("project", m, 32, 16, k=1)
    r = b.op("Add", "residual", [p, x])
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [r])], axis=1)
    b.fc("fc", f, 16, 5, out="output")
    return b.model([1, 3, 16, 16], [1, 5]), [1, 3, 16, 16]


def pooling():
    """Averaging on integers: conv3x3 + Relu, AveragePool 2x2/2, conv3x3 + Relu, AveragePool 3x3/1
    with pad 1 (count_include_pad 0: 4, 6 or 9 values per window), conv3x3/2 + Relu,
    GlobalAveragePool, Flatten, Gemm. Aidge averages integers and rounds the means. (Aidge 0.10.1
    cannot take a Pad node: set_datatype turns its pads input to float32 and Pad then asserts Int64.)
    3x16x16 input, 5 classes."""
    b = Builder(35)
    x = b.op("Relu", "relu1", [b.conv("conv1", "input", 3, 8, pads=1)])
    x = b.op("AveragePool", "avg1", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Relu", "relu2", [b.conv("conv2", x, 8, 8, pads=1)])
    x = b.op("AveragePool", "avg2", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    x = b.op("Relu", "relu3", [b.conv("conv3", x, 8, 16, pads=1, stride=2)])
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [x])], axis=1)
    b.fc("fc", f, 16, 5, out="output")
    return b.model([1, 3, 16, 16], [1, 5]), [1, 3, 16, 16]


def _model(b, in_shape, outputs, opset):
    """Builder b's graph with one float input and the given (name, shape) outputs at `opset`."""
    g = helper.make_graph(b.nodes, "qverify_fixture",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="qverify make_reference")
    m.ir_version = 9
    onnx.checker.check_model(m, full_check=True)
    return m


def const(b, name, value, dtype=np.float32):
    b.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
    return name


def vit():
    """A ViT block (onnxruntime only: Aidge's PTQ refuses LayerNorm and ReduceMean and crashes on
    MatMul with a constant operand): 8x8/8 patch conv (3 -> 16 channels) on 3x32x32, tokens by
    Reshape [1,16,16] + Transpose (16 tokens x 16 features), LayerNormalization, Q/K/V MatMul + Add,
    attention MatMul(Q, Transpose(K)), Div by 4, Softmax, MatMul with V, output MatMul + Add,
    residual Add; a second LayerNorm written as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div, Mul,
    Add; an MLP MatMul + Add, Gelu (opset 20), MatMul + Add, residual Add; ReduceMean over the
    tokens; a Gemm head (5 classes)."""
    b = Builder(36)
    d, t = 16, 16
    p = b.conv("patch", "input", 3, d, k=8, stride=8)
    r = b.op("Reshape", "tokens_reshape", [p, const(b, "tokens_shape", [1, d, t], np.int64)])
    x = b.op("Transpose", "tokens", [r], perm=[0, 2, 1])
    ln = b.op("LayerNormalization", "ln1", [x, const(b, "ln1_g", b.rng.uniform(0.8, 1.2, d)),
                                             const(b, "ln1_b", b.rng.normal(0, 0.05, d))], axis=-1, epsilon=1e-5)

    def linear(name, x, fin, fout):
        w = b.param(f"{name}_w", [fin, fout], fan_in=fin)
        bias = b.param(f"{name}_b", [fout], std=0.01)
        return b.op("Add", f"{name}_add", [b.op("MatMul", name, [x, w]), bias])

    q, k, v = (linear(n, ln, d, d) for n in ("q", "k", "v"))
    kt = b.op("Transpose", "k_t", [k], perm=[0, 2, 1])
    s = b.op("Div", "scale", [b.op("MatMul", "qk", [q, kt]), const(b, "sqrt_d", 4.0)])
    a = b.op("Softmax", "attn", [s], axis=-1)
    o = linear("proj", b.op("MatMul", "av", [a, v]), d, d)
    x = b.op("Add", "res1", [x, o])
    mu = b.op("ReduceMean", "ln2_mean", [x, const(b, "ln_axes", [-1], np.int64)])
    c = b.op("Sub", "ln2_center", [x, mu])
    var = b.op("ReduceMean", "ln2_var", [b.op("Pow", "ln2_sq", [c, const(b, "two", 2.0)]), "ln_axes"])
    sd = b.op("Sqrt", "ln2_sd", [b.op("Add", "ln2_eps", [var, const(b, "eps", 1e-5)])])
    n2 = b.op("Div", "ln2_norm", [c, sd])
    n2 = b.op("Add", "ln2_shift", [b.op("Mul", "ln2_scale", [n2, const(b, "ln2_g", b.rng.uniform(0.8, 1.2, d))]),
                                   const(b, "ln2_b", b.rng.normal(0, 0.05, d))])
    h = b.op("Gelu", "mlp_gelu", [linear("mlp1", n2, d, 2 * d)])
    x = b.op("Add", "res2", [x, linear("mlp2", h, 2 * d, d)])
    pooled = b.op("ReduceMean", "pool", [x, const(b, "pool_axes", [1], np.int64)], keepdims=0)
    b.fc("head", pooled, d, 5, out="output")
    return _model(b, [1, 3, 32, 32], [("output", [1, 5])], 20), [1, 3, 32, 32]


def mbv3():
    """A MobileNetV3 block (onnxruntime only: Aidge's PTQ refuses HardSwish and HardSigmoid):
    conv3x3/2 + HardSwish (16), 1x1 expand + HardSwish (48), depthwise 3x3 + HardSwish,
    squeeze-excite (GlobalAveragePool, 1x1 conv + Relu, 1x1 conv, HardSigmoid, Mul), 1x1 project
    (16), residual Add, GlobalAveragePool, Flatten, Gemm. 3x32x32 input, 5 classes."""
    b = Builder(37)
    x = b.op("HardSwish", "stem_hs", [b.conv("stem", "input", 3, 16, pads=1, stride=2)])
    e = b.op("HardSwish", "expand_hs", [b.conv("expand", x, 16, 48, k=1)])
    d = b.op("HardSwish", "dw_hs", [b.conv("dw", e, 48, 48, pads=1, group=48)])
    sq = b.op("GlobalAveragePool", "se_pool", [d])
    s1 = b.op("Relu", "se_reduce_relu", [b.conv("se_reduce", sq, 48, 12, k=1)])
    gate = b.op("HardSigmoid", "se_gate", [b.conv("se_expand", s1, 12, 48, k=1)], alpha=1 / 6, beta=0.5)
    m = b.op("Mul", "se_mul", [d, gate])
    r = b.op("Add", "residual", [b.conv("project", m, 48, 16, k=1), x])
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [r])], axis=1)
    b.fc("fc", f, 16, 5, out="output")
    return _model(b, [1, 3, 32, 32], [("output", [1, 5])], 14), [1, 3, 32, 32]


def unet_convt():
    """The U-Net with a learned upsampling (onnxruntime only: Aidge's PTQ refuses ConvTranspose):
    encoder conv3x3 + Relu (8), MaxPool 2x2, conv3x3 + Relu (16), ConvTranspose 2x2/2 (16 -> 8),
    Concat with the skip, conv3x3 + Relu, a 1x1 head (3 classes). 3x16x16 input and output."""
    b = Builder(38)
    e1 = b.op("Relu", "enc1_relu", [b.conv("enc1", "input", 3, 8, pads=1)])
    p = b.op("MaxPool", "pool", [e1], kernel_shape=[2, 2], strides=[2, 2])
    e2 = b.op("Relu", "enc2_relu", [b.conv("enc2", p, 8, 16, pads=1)])
    w, bias = b.param("up_w", [16, 8, 2, 2], fan_in=16), b.param("up_b", [8], std=0.01)
    u = b.op("ConvTranspose", "up", [e2, w, bias], kernel_shape=[2, 2], strides=[2, 2])
    c = b.op("Concat", "skip_concat", [u, e1], axis=1)
    d = b.op("Relu", "dec_relu", [b.conv("dec", c, 16, 8, pads=1)])
    hw, hb = b.param("head_w", [3, 8, 1, 1], fan_in=8), b.param("head_b", [3], std=0.01)
    b.nodes.append(helper.make_node("Conv", [d, hw, hb], ["output"], name="head", kernel_shape=[1, 1]))
    return b.model([1, 3, 16, 16], [1, 3, 16, 16]), [1, 3, 16, 16]


def mixed_ops():
    """A CNN of the other ops onnxruntime quantizes (onnxruntime only: Aidge's PTQ refuses Clip and
    cannot take Pad): Sub and Div by constants (input normalisation), Pad (reflect, 1), conv3x3 +
    unfused BatchNormalization + Clip(0, 6), AveragePool 2x2/2, Pad (constant 0.5), conv3x3 +
    LeakyRelu(0.2), conv1x1 + Sigmoid, conv1x1 + Tanh, Resize (linear, x2, half_pixel) back up,
    GlobalAveragePool, Flatten, Gemm. 3x16x16 input, 5 classes."""
    b = Builder(39)
    x = b.op("Div", "norm_div", [b.op("Sub", "norm_sub", ["input", const(b, "mean", [[[0.5]], [[0.45]], [[0.4]]])]),
                                 const(b, "std", [[[0.25]], [[0.22]], [[0.2]]])])
    x = b.op("Pad", "pad_reflect", [x, const(b, "pads1", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)], mode="reflect")
    x = b.op("Clip", "relu6", [bn(b, "bn1", b.conv("conv1", x, 3, 8), 8), const(b, "c0", 0.0), const(b, "c6", 6.0)])
    x = b.op("AveragePool", "avg", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Pad", "pad_const", [x, const(b, "pads2", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), const(b, "half", 0.5)],
             mode="constant")
    x = b.op("LeakyRelu", "lrelu", [b.conv("conv2", x, 8, 16)], alpha=0.2)
    x = b.op("Sigmoid", "sig", [b.conv("conv3", x, 16, 16, k=1)])
    x = b.op("Tanh", "tanh", [b.conv("conv4", x, 16, 16, k=1)])
    x = b.op("Resize", "up", [x, "", const(b, "up_scales", [1, 1, 2, 2])], mode="linear",
             coordinate_transformation_mode="half_pixel")
    f = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [x])], axis=1)
    b.fc("fc", f, 16, 5, out="output")
    return b.model([1, 3, 16, 16], [1, 5]), [1, 3, 16, 16]


def cnn():
    """Conv-heavy CNN for benchmarks: 3x64x64 input, six 3x3 convs (16, 16, 32, 32, 64, 64 channels,
    pad 1) with Relu and three 2x2 MaxPools, then Gemm(64*8*8 -> 10)."""
    b = Builder(14)
    x, c = "input", 3
    for k, (cout, pool) in enumerate([(16, False), (16, True), (32, False), (32, True), (64, False), (64, True)], start=1):
        x = b.op("Relu", f"relu{k}", [b.conv(f"conv{k}", x, c, cout, pads=1)])
        if pool:
            x = b.op("MaxPool", f"pool{k}", [x], kernel_shape=[2, 2], strides=[2, 2])
        c = cout
    f = b.op("Flatten", "flatten", [x], axis=1)
    b.fc("fc", f, 64 * 8 * 8, 10, out="output")
    return b.model([1, 3, 64, 64], [1, 10]), [1, 3, 64, 64]


def digits():
    """An MLP trained on real data: scikit-learn's load_digits (8x8 images, 10 classes, pixel/16),
    64 -> 32 (Relu) -> 10, trained with numpy (Adam, full batch) on 80%; the held-out 20%
    (360 images) are calib_inputs.npy with their classes in labels.npy."""
    w1, b1, w2, b2 = train_digits()
    b = Builder(15)
    b.inits += [numpy_helper.from_array(w1, "fc1_w"), numpy_helper.from_array(b1, "fc1_b"),
                numpy_helper.from_array(w2, "fc2_w"), numpy_helper.from_array(b2, "fc2_b")]
    b.nodes.append(helper.make_node("Gemm", ["input", "fc1_w", "fc1_b"], ["fc1_out"], name="fc1", transB=1))
    x = b.op("Relu", "relu1", ["fc1_out"])
    b.nodes.append(helper.make_node("Gemm", [x, "fc2_w", "fc2_b"], ["output"], name="fc2", transB=1))
    return b.model([1, 64], [1, 10]), [1, 64]


def digits_data():
    """(held-out inputs, their labels, calibration inputs for PTQ): the split train_digits uses."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    idx = np.random.default_rng(2024).permutation(len(x))
    test, train = idx[:360], idx[360:]
    return x[test].reshape(-1, 1, 64), d.target[test].astype(np.int64), x[train[:64]].reshape(-1, 1, 64)


def train_digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float64)
    idx = np.random.default_rng(2024).permutation(len(x))
    tr = idx[360:]
    X, Y = x[tr], np.eye(10)[d.target[tr]]
    rng = np.random.default_rng(7)
    params = [rng.normal(0, np.sqrt(2 / 64), (32, 64)), np.zeros(32), rng.normal(0, np.sqrt(2 / 32), (10, 32)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, 401):
        w1, b1, w2, b2 = params
        h = np.maximum(X @ w1.T + b1, 0)
        z = h @ w2.T + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - Y) / len(X)
        dh = (dz @ w2) * (h > 0)
        grads = [dh.T @ X, dh.sum(0), dz.T @ h, dz.sum(0)]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= 0.01 * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    return [p.astype(np.float32) for p in params]


def bn(b, name, x, c):
    """BatchNormalization with random (but plausible) statistics."""
    scale = b.param(f"{name}_scale", [c], std=0.1)
    b.inits[-1] = numpy_helper.from_array((1.0 + numpy_helper.to_array(b.inits[-1])).astype(np.float32), f"{name}_scale")
    bias = b.param(f"{name}_bias", [c], std=0.05)
    mean = b.param(f"{name}_mean", [c], std=0.05)
    var = f"{name}_var"
    b.inits.append(numpy_helper.from_array((1.0 + np.abs(b.rng.normal(0, 0.1, [c]))).astype(np.float32), var))
    return b.op("BatchNormalization", name, [x, scale, bias, mean, var], epsilon=1e-5)


def basic_resnet(b, stem, widths, block_name, classes, size):
    """A ResNet-18-style body on Builder b: conv7x7/2 (stem channels) + BatchNorm + Relu + MaxPool
    3x3/2, four stages of two BasicBlocks at `widths` (conv3x3-BN-Relu-conv3x3-BN, residual Add,
    Relu; the first block of stages 2-4 strides 2 with a 1x1/2 conv + BN skip), GlobalAveragePool,
    Flatten, Gemm to `classes`. block_name(stage, block) names each block's nodes."""
    x = b.op("Relu", "stem_relu", [bn(b, "stem_bn", b.conv("stem_conv", "input", 3, stem, k=7, pads=3, stride=2), stem)])
    x = b.op("MaxPool", "stem_pool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = stem
    for stage, width in enumerate(widths, start=1):
        for block in (1, 2):
            n = block_name(stage, block)
            stride = 2 if stage > 1 and block == 1 else 1
            y = b.op("Relu", f"{n}_relu1", [bn(b, f"{n}_bn1", b.conv(f"{n}_conv1", x, c, width, pads=1, stride=stride), width)])
            y = bn(b, f"{n}_bn2", b.conv(f"{n}_conv2", y, width, width, pads=1), width)
            skip = x if stride == 1 and c == width else bn(b, f"{n}_dsbn", b.conv(f"{n}_ds", x, c, width, k=1, stride=stride), width)
            x = b.op("Relu", f"{n}_relu2", [b.op("Add", f"{n}_add", [y, skip])])
            c = width
    g = b.op("GlobalAveragePool", "gap", [x])
    f = b.op("Flatten", "flatten", [g], axis=1)
    b.fc("fc", f, c, classes, out="output")
    return b.model([1, 3, size, size], [1, classes]), [1, 3, size, size]


def resnet():
    """A ResNet-18-style net at reduced width (basic_resnet): widths 8/16/32/64, 20 convs,
    3x64x64 input, 10 classes."""
    return basic_resnet(Builder(16), 8, [8, 16, 32, 64], lambda s, k: f"l{s}b{k}", 10, 64)


def resnet18_224():
    """ResNet-18 at full size (basic_resnet): widths 64/128/256/512, 1000 classes, 3x224x224 input,
    11.7 M parameters, He-normal weights. Its stride-2 3x3 convs make outputs 28, 14 and 7 wide
    (the VNNI copy lost lanes of 25-31-word rows), which the 64/96-pixel fixtures never reach."""
    return basic_resnet(Builder(18), 64, [64, 128, 256, 512], lambda s, k: f"layer{s}_{k - 1}", 1000, 224)


def mobilenet(relu6=False):
    """A MobileNetV2-style net at reduced width: conv3x3/2 + BN + activation, inverted residual
    blocks (1x1 expand + BN + activation, depthwise 3x3 + BN + activation, 1x1 linear bottleneck +
    BN; a residual Add when stride 1 and widths match), 1x1 head conv, GlobalAveragePool, Gemm.
    The activation is Relu (Aidge's PTQ does not quantize Clip); mobilenet_relu6 is the same net
    with ReLU6 as Clip(0, 6), for onnxruntime's quantize_static."""
    b = Builder(17)

    def act(name, x):
        if relu6:
            lo, hi = f"{name}_min", f"{name}_max"
            if not any(i.name == lo for i in b.inits):
                b.inits += [numpy_helper.from_array(np.array(0, np.float32), lo), numpy_helper.from_array(np.array(6, np.float32), hi)]
            return b.op("Clip", name, [x, lo, hi])
        return b.op("Relu", name, [x])

    x = act("stem_act", bn(b, "stem_bn", b.conv("stem_conv", "input", 3, 8, k=3, pads=1, stride=2), 8))
    c = 8
    # (expansion, out width, stride) per block
    for k, (t, width, stride) in enumerate([(1, 8, 1), (4, 12, 2), (4, 12, 1), (4, 16, 2), (4, 16, 1), (4, 24, 2), (4, 24, 1)], start=1):
        n = f"ir{k}"
        hidden = c * t
        y = x
        if t != 1:
            y = act(f"{n}_act1", bn(b, f"{n}_bn1", b.conv(f"{n}_expand", y, c, hidden, k=1), hidden))
        y = act(f"{n}_act2", bn(b, f"{n}_bn2", b.conv(f"{n}_dw", y, hidden, hidden, k=3, pads=1, stride=stride, group=hidden), hidden))
        y = bn(b, f"{n}_bn3", b.conv(f"{n}_project", y, hidden, width, k=1), width)
        x = b.op("Add", f"{n}_add", [y, x]) if stride == 1 and c == width else y
        c = width
    x = act("head_act", bn(b, "head_bn", b.conv("head_conv", x, c, 48, k=1), 48))
    g = b.op("GlobalAveragePool", "gap", [x])
    f = b.op("Flatten", "flatten", [g], axis=1)
    b.fc("fc", f, 48, 10, out="output")
    return b.model([1, 3, 96, 96], [1, 10]), [1, 3, 96, 96]


def mobilenet_relu6():
    return mobilenet(relu6=True)


def mobilenetv2_224():
    """MobileNetV2 at full size (width 1.0): conv3x3/2 (32) + BN + Relu, the 17 inverted residual
    blocks of the paper ((t, c, n, s): (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
    (6,160,3,2) (6,320,1,1); 1x1 expand + BN + Relu, depthwise 3x3 + BN + Relu, 1x1 linear
    bottleneck + BN, residual Add when stride 1 and widths match), 1x1 head conv to 1280,
    GlobalAveragePool, Gemm to 1000 classes. 3x224x224 input, 3.5 M parameters; Relu for ReLU6
    (Aidge's PTQ does not quantize Clip)."""
    b = Builder(19)
    x = b.op("Relu", "stem_relu", [bn(b, "stem_bn", b.conv("stem_conv", "input", 3, 32, k=3, pads=1, stride=2), 32)])
    c, k = 32, 0
    for t, width, reps, first_stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                                         (6, 160, 3, 2), (6, 320, 1, 1)]:
        for r in range(reps):
            k += 1
            n, stride, hidden = f"features_{k}", first_stride if r == 0 else 1, c * t
            y = x
            if t != 1:
                y = b.op("Relu", f"{n}_relu1", [bn(b, f"{n}_bn1", b.conv(f"{n}_expand", y, c, hidden, k=1), hidden)])
            y = b.op("Relu", f"{n}_relu2",
                     [bn(b, f"{n}_bn2", b.conv(f"{n}_dw", y, hidden, hidden, k=3, pads=1, stride=stride, group=hidden), hidden)])
            y = bn(b, f"{n}_bn3", b.conv(f"{n}_project", y, hidden, width, k=1), width)
            x = b.op("Add", f"{n}_add", [y, x]) if stride == 1 and c == width else y
            c = width
    x = b.op("Relu", "head_relu", [bn(b, "head_bn", b.conv("head_conv", x, c, 1280, k=1), 1280)])
    g = b.op("GlobalAveragePool", "gap", [x])
    f = b.op("Flatten", "flatten", [g], axis=1)
    b.fc("fc", f, 1280, 1000, out="output")
    return b.model([1, 3, 224, 224], [1, 1000]), [1, 3, 224, 224]


def image_crops(size=64, n_eval=8, n_calib=16):
    """(8 evaluation crops, no labels, 16 calibration crops): 64x64 crops of scikit-learn's two
    sample photographs, pixel/255, NCHW, from fixed positions."""
    from sklearn.datasets import load_sample_images
    imgs = load_sample_images().images
    rng = np.random.default_rng(99)
    crops = []
    for k in range(n_eval + n_calib):
        im = imgs[k % 2]
        y, x = rng.integers(0, im.shape[0] - size), rng.integers(0, im.shape[1] - size)
        crops.append(im[y:y + size, x:x + size].transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    crops = np.stack(crops)
    return crops[:n_eval], None, crops[n_eval:]


# Fixtures whose inputs are real data: name -> () -> (inputs, labels or None, PTQ calibration inputs).
DATA = {"digits": digits_data, "resnet": image_crops, "mobilenet": lambda: image_crops(96), "mobilenet_relu6": lambda: image_crops(96),
        "resnet18_224": lambda: image_crops(224, 4, 8), "mobilenetv2_224": lambda: image_crops(224, 4, 8)}

# fixture name -> (float model builder, precision (act, weight, bias), quantize_network options)
FIXTURES = {
    "residual": (residual, ("int8", "int8", "int32"), {}),
    "padded": (padded, ("int8", "int8", "int32"), {}),
    "depthwise": (depthwise, ("int8", "int8", "int32"), {}),
    "lenet4bit": (lenet, ("int4", "int4", "int16"), {}),
    "single_shift": (lenet, ("int8", "int8", "int32"), {"single_shift": True}),
    "fake_quantize": (lenet, ("int8", "int8", "int32"), {"fake_quantize": True}),
    "uint8_act": (lenet, ("uint8", "int8", "int32"), {}),
    "cnn": (cnn, ("int8", "int8", "int32"), {}),
    "float_island": (float_island, ("int8", "int8", "int32"), {}),
    "fire": (fire, ("int8", "int8", "int32"), {}),
    "unet": (unet, ("int8", "int8", "int32"), {}),
    "shuffle": (shuffle, ("int8", "int8", "int32"), {}),
    "yolo": (yolo, ("int8", "int8", "int32"), {}),
    "se_block": (se_block, ("int8", "int8", "int32"), {}),
    "pooling": (pooling, ("int8", "int8", "int32"), {}),
    "digits": (digits, ("int8", "int8", "int32"), {}),
    "resnet": (resnet, ("int8", "int8", "int32"), {}),
    "mobilenet": (mobilenet, ("int8", "int8", "int32"), {}),
    # Full size: too large to commit (47 and 14 MB of float weights per form); built in CI by
    # scripts/check_full_size.py into .build-reference/ (not committed).
    "resnet18_224": (resnet18_224, ("int8", "int8", "int32"), {}),
    "mobilenetv2_224": (mobilenetv2_224, ("int8", "int8", "int32"), {}),
    # onnxruntime-only: Aidge's PTQ leaves Clip float (it logs an error and returns a float graph).
    "mobilenet_relu6": (mobilenet_relu6, ("int8", "int8", "int32"), {"ort_only": True}),
    "vit": (vit, ("int8", "int8", "int32"), {"ort_only": True}),
    "mbv3": (mbv3, ("int8", "int8", "int32"), {"ort_only": True}),
    "unet_convt": (unet_convt, ("int8", "int8", "int32"), {"ort_only": True}),
    "mixed_ops": (mixed_ops, ("int8", "int8", "int32"), {"ort_only": True}),
}
FULL_SIZE = {"resnet18_224", "mobilenetv2_224"}
# Fixtures that also get Aidge's own QDQ rewrite (aidge_quantization.set_to_qdq) of the unfolded
# graph: with fake_quantize it writes float zero points, which onnxruntime refuses.
AIDGE_QDQ = {"fake_quantize"}
# Fixtures too large for committed intermediates (benchmark models).
NO_INTERMEDIATES = set() if os.environ.get("QV_ALL_INTERMEDIATES") else {"cnn", "digits", "resnet", "mobilenet"}
# Fixtures with BatchNormalization: Aidge's PTQ leaves BN float (its CPU run then fails), so the
# graph given to Aidge has BN fused into the convs first (aidge_core.fuse_batchnorm).
FUSE_BN = {"resnet", "mobilenet", "resnet18_224", "mobilenetv2_224"}


# ---------------------------------------------------------------- Aidge steps

def sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def aidge_graph(float_path, precision, fuse_bn=False):
    g = aidge_onnx.load_onnx(str(float_path))
    if fuse_bn:
        aidge_core.fuse_batchnorm(g)
    g.set_backend("cpu")
    g.set_datatype(aidge_core.dtype.float32)
    aq.auto_assign_node_precision(g, *(getattr(aidge_core.dtype, p) for p in precision))
    return g


def quantize(g, calib, options):
    opts = dict(clipping_mode=aq.Clipping.MAX, rescale_inputs=False, equalize=True, channel_wise=False,
                no_quant=False, optimize_signs=False, single_shift=False, fold_graph=True,
                fake_quantize=False, dequantize=False, verbose=False)
    opts.update(options)
    aq.quantize_network(g, calib, **opts)
    return {k: (str(v) if k == "clipping_mode" else v) for k, v in opts.items()}


def run_aidge(g, x, int_input_dtype=None):
    """Runs the graph on each sample; returns the stacked output and every node output."""
    outs, inter = [], {}
    if int_input_dtype is not None:
        g.forward_dtype([int_input_dtype])
    sched = aidge_core.SequentialScheduler(g)
    for i in range(len(x)):
        t = aidge_core.Tensor(np.ascontiguousarray(x[i]))
        t.set_backend("cpu")
        sched.forward(data=[t])
        node, k = g.get_ordered_outputs()[0]
        outs.append(np.array(node.get_operator().get_output(k)).copy())
        for n in g.get_nodes():
            if n.type() == "Producer":
                continue
            for j in range(n.get_nb_outputs()):
                o = n.get_operator().get_output(j)
                if o is not None and o.size > 0:
                    inter.setdefault(f"{n.name()}_out{j}", []).append(np.array(o).copy())
    return np.stack(outs), {k: np.stack(v) for k, v in inter.items() if len(v) == len(x)}


def quantizer_table(g):
    rows = []
    for n in sorted(g.get_nodes(), key=lambda n: n.name()):
        if n.type() not in ("Quantizer", "BitShiftQuantizer"):
            continue
        row = {"node": n.name(), "type": n.type(), "micro_graph": []}
        micro = n.get_operator().get_micro_graph() if hasattr(n.get_operator(), "get_micro_graph") else None
        if micro is not None:
            for m in sorted(micro.get_nodes(), key=lambda m: m.name()):
                entry = {"type": m.type(), "name": m.name()}
                if m.type() == "Producer":
                    v = np.array(m.get_operator().get_output(0))
                    entry["value"] = v.reshape(-1).tolist()[:4]
                    entry["dtype"] = str(v.dtype)
                    if "Scaling" in m.name() or m.name() == "ScalingFactor":
                        row["scaling_factor"] = float(v.reshape(-1)[0])
                for attr in ("rounding_mode", "target_type", "direction", "rounding"):
                    try:
                        entry[attr] = str(m.get_operator().attr.get_attr(attr))
                    except Exception:
                        pass
                row["micro_graph"].append(entry)
        rows.append(row)
    return rows


def canonicalize(path):
    """Aidge's exporter orders nodes and initializers by Python set order, which changes run to
    run. Rewrite the file with initializers and value_info sorted by name and nodes in a
    topological order whose ties break by node name; nothing else changes."""
    m = onnx.load(str(path))
    g = m.graph
    inits = sorted(g.initializer, key=lambda t: t.name)
    vis = sorted(g.value_info, key=lambda v: v.name)
    nodes = list(g.node)
    produced = {o: i for i, n in enumerate(nodes) for o in n.output}
    deps = [{produced[x] for x in n.input if x in produced} for n in nodes]
    done, order = set(), []
    while len(order) < len(nodes):
        ready = sorted((i for i in range(len(nodes)) if i not in done and deps[i] <= done), key=lambda i: nodes[i].name)
        order.append(ready[0])
        done.add(ready[0])
    for field, items in (("initializer", inits), ("value_info", vis), ("node", [nodes[i] for i in order])):
        del getattr(g, field)[:]
        getattr(g, field).extend(items)
    onnx.save(m, str(path))


def save_npz(path, arrays, onnx_path=None):
    if path.parent.name in NO_INTERMEDIATES:
        return
    """Saves intermediates keyed by the tensor names of the exported ONNX file (Aidge node
    `n` output `j` is `n_out{j}` unless the exporter named it after a graph output)."""
    if onnx_path is not None:
        rename = {}
        for node in onnx.load(str(onnx_path)).graph.node:
            for j, o in enumerate(node.output):
                rename[f"{node.name}_out{j}"] = o
        arrays = {rename.get(k, k): v for k, v in arrays.items()}
    np.savez(path, **{k: arrays[k] for k in sorted(arrays)})


def build_fixture(name, out_root, only=None):
    """Builds Reference/<name>. With `only` (a set of stage labels), runs just those stages and
    keeps the other stages' files and manifest entries as they are."""
    make, precision, options = FIXTURES[name]
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    old = json.loads((out / "manifest.json").read_text()) if only and (out / "manifest.json").exists() else None
    man = {"name": name, "about": make.__doc__, "precision": precision, "options": options,
           "versions": {m.__name__: getattr(m, "__version__", "?") for m in (np, onnx, ort)},
           "export": "aidge_onnx.export_onnx(graph, path, opset=21), then canonicalize(): initializers and value_info sorted by name, nodes in a topological order with ties broken by name", "stages": {}, "failures": []}
    # onnxruntime's integer kernels depend on the CPU (vpmaddubsw saturates u8xs8 pair sums on x86
    # without VNNI): the *_enable_all goldens of QDQ models are this host's.
    flags = pathlib.Path("/proc/cpuinfo").read_text().split() if pathlib.Path("/proc/cpuinfo").exists() else []
    man["host"] = {"avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_vnni": "avx512_vnni" in flags}
    for m in ("aidge_core", "aidge_backend_cpu", "aidge_onnx", "aidge_quantization"):
        try:
            import importlib.metadata as md
            man["versions"][m] = md.version(m.replace("_", "-"))
        except Exception:
            pass

    model, in_shape = make()
    fpath = out / "float.onnx"
    onnx.save(model, fpath)
    if name in DATA:
        x, labels, x_calib = DATA[name]()
        if labels is not None:
            np.save(out / "labels.npy", labels)
    else:
        x = np.random.default_rng(1000).random((N_SAMPLES, *in_shape)).astype(np.float32)
        labels, x_calib = None, x
    np.save(out / "calib_inputs.npy", x)
    sess = ort.InferenceSession(str(fpath), providers=["CPUExecutionProvider"])
    y_float = np.stack([sess.run(None, {"input": x[i]})[0] for i in range(len(x))])
    np.save(out / "ort_float.npy", y_float)
    if labels is not None:
        man["float_top1"] = float((y_float.reshape(len(x), -1).argmax(1) == labels).mean())

    if old is not None:
        man["stages"] = {k: v for k, v in old["stages"].items() if k not in only}
        man["failures"] = [f for f in old["failures"] if f["stage"] not in only]

    def stage(label, fn):
        if only and label not in only:
            return
        try:
            man["stages"][label] = fn() or {}
        except Exception as e:  # record, never hide
            man["failures"].append({"stage": label, "error": f"{type(e).__name__}: {e}".splitlines()[0][:300]})
            traceback.print_exc()

    act_bits = 4 if precision[0] == "int4" else 8
    calib = [aidge_core.Tensor(x_calib[i]) for i in range(len(x_calib))]

    def folded():
        g = aidge_graph(fpath, precision, name in FUSE_BN)
        opts = quantize(g, calib, options)
        aidge_onnx.export_onnx(g, str(out / "aidge_quantized_folded.onnx"), opset=21)
        canonicalize(out / "aidge_quantized_folded.onnx")
        info = {"calls": f"auto_assign_node_precision(g, {', '.join(precision)}); quantize_network(g, calib, **{options})",
                "quantize_network_options": opts, "quantizers": quantizer_table(g),
                "input_scale_implied": float(2 ** (act_bits - 1) - 1)}
        # Aidge's convention without rescale_inputs: feed round_half_up(x * (2^(n-1)-1)) as integers.
        xi = np.floor(x * (2 ** (act_bits - 1) - 1) + 0.5).astype(np.int8)
        np.save(out / "aidge_folded_inputs.npy", xi)
        y, inter = run_aidge(g, xi, getattr(aidge_core.dtype, precision[0]))
        np.save(out / "aidge_cpu_folded.npy", y)
        if labels is not None:
            info["aidge_top1"] = float((y.reshape(len(x), -1).argmax(1) == labels).mean())
        save_npz(out / "aidge_cpu_folded_intermediates.npz", inter, out / "aidge_quantized_folded.onnx")
        return info

    def unfolded():
        g = aidge_graph(fpath, precision, name in FUSE_BN)
        opts = quantize(g, calib, dict(options, rescale_inputs=True, fold_graph=False))
        aidge_onnx.export_onnx(g, str(out / "aidge_quantized.onnx"), opset=21)
        canonicalize(out / "aidge_quantized.onnx")
        info = {"quantize_network_options": opts, "quantizers": quantizer_table(g)}
        y, inter = run_aidge(g, x)
        np.save(out / "aidge_cpu_quantized.npy", y)
        if labels is not None:
            info["aidge_top1"] = float((y.reshape(len(x), -1).argmax(1) == labels).mean())
        save_npz(out / "aidge_cpu_quantized_intermediates.npz", inter, out / "aidge_quantized.onnx")
        return info

    if not options.get("ort_only"):
        stage("folded", folded)
        stage("unfolded", unfolded)
    if name in AIDGE_QDQ:
        stage("aidge_qdq", lambda: aidge_qdq_stage(out, fpath, precision, options, calib, x, name in FUSE_BN))
    if name in ("residual", "depthwise", "cnn", "fire", "unet", "shuffle", "yolo", "se_block", "pooling", "digits", "resnet", "mobilenet", "mobilenet_relu6", "vit", "mbv3", "unet_convt", "mixed_ops", "resnet18_224",
                "mobilenetv2_224"):
        stage("ort_quantize_static", lambda: ort_static(out, fpath, x, x_calib, labels))
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha(p)} for p in sorted(out.iterdir()) if p.name != "manifest.json"}
    man["files"] = files
    (out / "manifest.json").write_text(json.dumps(man, indent=1, default=str) + "\n")
    print(f"{name}: {len(files)} files, failures: {[f['stage'] for f in man['failures']]}")


def aidge_qdq_stage(out, fpath, precision, options, calib, x, fuse_bn=False):
    """aidge_qdq.onnx: Aidge's set_to_qdq on the unfolded quantization, and aidge_cpu_qdq.npy:
    Aidge's CPU backend on that rewritten graph (the oracle for running the file as written)."""
    g = aidge_graph(fpath, precision, fuse_bn)
    quantize(g, calib, dict(options, rescale_inputs=True, fold_graph=False))
    aq.set_to_qdq(g)
    aidge_onnx.export_onnx(g, str(out / "aidge_qdq.onnx"), opset=21)
    canonicalize(out / "aidge_qdq.onnx")
    y, _ = run_aidge(g, x)
    np.save(out / "aidge_cpu_qdq.npy", y)
    return {"calls": f"quantize_network(g, calib, **{dict(options, rescale_inputs=True, fold_graph=False)}); set_to_qdq(g); export_onnx(opset=21)"}


# ---------------------------------------------------------------- onnxruntime quantize_static

def ort_static(out, fpath, x, calib, labels=None):
    """quantize_static calibrated on `calib` (the same calibration split Aidge's PTQ gets; the
    evaluation inputs `x` stay held out), then run at both optimization levels on `x`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    info = {}
    for fmt, label in ((QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")):
        path = out / f"ort_static_{label}.onnx"
        quantize_static(str(fpath), str(path), Reader(), quant_format=fmt, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=(label == "qdq"))
        m = onnx.load(str(path))
        onnx.save(m, str(path))  # canonical single file
        for level, tag in ((ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "disable_all"),
                           (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "enable_all")):
            so = ort.SessionOptions()
            so.graph_optimization_level = level
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            y = np.stack([sess.run(None, {"input": x[i]})[0] for i in range(len(x))])
            np.save(out / f"ort_static_{label}_{tag}.npy", y)
            if labels is not None:
                info[f"{label}_{tag}_top1"] = float((y.reshape(len(x), -1).argmax(1) == labels).mean())
        info[label] = {"calls": f"quantize_static(float.onnx, calibration: {len(calib)} samples, quant_format={fmt}, activation_type=QUInt8, weight_type=QInt8, per_channel={label == 'qdq'})",
                       "ops": sorted({n.op_type for n in m.graph.node})}
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(pathlib.Path(__file__).resolve().parent.parent / "Reference"))
    ap.add_argument("--only", nargs="*", help="fixtures to build (default: all)")
    ap.add_argument("--stages", nargs="*", help="run only these stages (e.g. ort_quantize_static), keep the rest")
    a = ap.parse_args()
    for name in a.only or [n for n in FIXTURES if n not in FULL_SIZE]:
        build_fixture(name, pathlib.Path(a.out), set(a.stages) if a.stages else None)


if __name__ == "__main__":
    main()
