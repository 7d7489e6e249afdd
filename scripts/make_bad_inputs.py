#!/usr/bin/env python3
"""Writes the malformed models of Tests/Fixtures/bad/ (deterministic), each a case qverify must
refuse with exit code 2 and one line naming the file and the problem."""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "Tests/Fixtures/bad"
out.mkdir(parents=True, exist_ok=True)
good = (root / "Reference/lenet/float.onnx").read_bytes()


def model(nodes, inits=(), inputs=("x",), outputs=("y",)):
    g = helper.make_graph(nodes, "bad",
                          [helper.make_tensor_value_info(i, TensorProto.FLOAT, [1, 4]) for i in inputs],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 4]) for o in outputs],
                          list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def save(name, m):
    (out / name).write_bytes(m if isinstance(m, bytes) else m.SerializeToString())


save("empty.onnx", b"")
save("garbage.onnx", np.random.default_rng(7).integers(0, 256, 512, dtype=np.uint8).tobytes())
save("truncated.onnx", good[: len(good) * 6 // 10])
save("dangling_input.onnx", model([helper.make_node("Relu", ["nowhere"], ["y"], name="relu_dangling")]))
save("cycle.onnx", model([helper.make_node("Add", ["x", "b"], ["a"], name="add_a"),
                          helper.make_node("Relu", ["a"], ["b"], name="relu_b"),
                          helper.make_node("Identity", ["a"], ["y"], name="out")]))
t = numpy_helper.from_array(np.ones(4, np.float32), "w")
t.data_type = 99
save("unknown_dtype.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [t]))
t = numpy_helper.from_array(np.ones(4, np.float32), "w")
t.raw_data = t.raw_data[:10]
save("length_mismatch.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [t]))
t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
save("absurd_dims.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [t]))
t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
t.external_data.add(key="location", value="../../../etc/passwd")
save("external_escape.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [t]))
save("unknown_op.onnx", model([helper.make_node("FrobnicateQuantized", ["x"], ["y"], name="frob", domain="")]))
print(f"wrote {len(list(out.iterdir()))} files to {out}")

# A good model whose weights live beside it (onnx's own external-data writer).
ext = out.parent / "external"
ext.mkdir(exist_ok=True)
m = onnx.load(str(root / "Reference/lenet/float.onnx"))
onnx.save_model(m, str(ext / "lenet_external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                location="lenet_external.weights", size_threshold=0)
print(f"wrote {ext}")

# Two ops qverify does not implement, to check that `run` lists every one at once.
save("two_unknown_ops.onnx", model([helper.make_node("FrobnicateQuantized", ["x"], ["a"], name="frob"),
                                    helper.make_node("Unfrobnicate", ["a"], ["y"], name="unfrob", domain="com.example")]))
m = onnx.load(str(out / "two_unknown_ops.onnx"))
m.opset_import.add(domain="com.example", version=1)
onnx.save(m, str(out / "two_unknown_ops.onnx"))

# An ONNX backend-test folder for Reference/lenet/float.onnx: two data sets from onnxruntime.
import onnxruntime as ort
bk = out.parent / "backend_lenet_float"
x = np.load(root / "Reference/lenet/calib_inputs.npy")
sess = ort.InferenceSession(str(root / "Reference/lenet/float.onnx"), providers=["CPUExecutionProvider"])
for k in range(2):
    d = bk / f"test_data_set_{k}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "input_0.pb").write_bytes(numpy_helper.from_array(x[k], "input").SerializeToString())
    (d / "output_0.pb").write_bytes(numpy_helper.from_array(sess.run(None, {"input": x[k]})[0], "output").SerializeToString())
print(f"wrote {bk}")
