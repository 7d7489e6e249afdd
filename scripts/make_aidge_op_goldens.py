#!/usr/bin/env python3
"""Records Aidge 0.10.1's CPU backend on single integer ops whose integer kernel qverify models
from Aidge's source (Reference/aidge_ops/<op>.npz: 'x', and 'y_<alpha>' per attribute value).

LeakyReLU: Aidge's kernel is templated on the data type and casts the slope to it before
multiplying; its backend registers float32, float64 and int32. The int32 runs here are the oracle
for qverify's Aidge semantics of integer LeakyRelu (int8 has no kernel in Aidge).

Run: .venv/bin/python scripts/make_aidge_op_goldens.py   (after scripts/setup.sh --aidge)
"""
import pathlib

import numpy as np

import aidge_core
import aidge_backend_cpu  # noqa: F401  (registers the CPU backend)

out = pathlib.Path(__file__).resolve().parent.parent / "Reference" / "aidge_ops"
out.mkdir(parents=True, exist_ok=True)
x = np.concatenate([np.arange(-300, 301, dtype=np.int32), np.array([-2**31, 2**31 - 1, -2**20], np.int32)])[None, :]
arrays = {"x": x}
for alpha in (0.1, 0.01, 0.5, 1.5, 2.0, -2.5):
    op = aidge_core.LeakyReLU(alpha, name="leaky")
    g = aidge_core.GraphView()
    g.add(op)
    g.set_backend("cpu")
    g.set_datatype(aidge_core.dtype.int32)
    op.get_operator().set_input(0, aidge_core.Tensor(x))
    aidge_core.SequentialScheduler(g).forward()
    arrays[f"y_{alpha}"] = np.array(op.get_operator().get_output(0)).astype(np.int32)
np.savez(out / "leakyrelu_int32.npz", **arrays)
print({k: v[0, :3].tolist() for k, v in arrays.items()})
