#!/usr/bin/env python3
"""Writes the JSON of Aidge scaling factors that `qverify run/verify/compare
--aidge-scaling-factors FILE` reads: quantizer node name -> sf (a number, or a list per channel).

Aidge's ONNX export keeps only float32(1/sf) per quantizer, and two float32 sf can store the same
scale (127.00087 and 127.00088 both store 0.007873962), so an input on a rounding tie can go
either way. With the exact sf, qverify's Aidge semantics reproduce Aidge's CPU backend bit for bit.

From a live Aidge graph (after aidge_quantization.quantize_network), in your own script:

    from aidge_scaling_factors import from_graph
    json.dump(from_graph(graph), open("model.sf.json", "w"))

From a Reference manifest (the stage matches the export: "unfolded" -> aidge_quantized.onnx,
"folded" -> aidge_quantized_folded.onnx):

    scripts/aidge_scaling_factors.py Reference/cnn/manifest.json unfolded -o Reference/cnn/aidge_quantized.sf.json

A folded export keeps only integers: the real steps of its input and weights are not in it.
`--steps-from` reads them from Aidge's unfolded export of the same quantization (the scale of the
QuantizeLinear on each graph input, and of the one making each Conv/Gemm/MatMul's weights) and
adds them under "steps" (input steps by position, weight steps by node name; a folded stage's
input step is 1/input_scale_implied from the manifest, what its integer input means):

    scripts/aidge_scaling_factors.py Reference/cnn/manifest.json folded \
        --steps-from Reference/cnn/aidge_quantized.onnx -o Reference/cnn/aidge_quantized_folded.sf.json

From a live graph quantized with fold_graph=False, `steps_from_graph(graph)` gives the same.
"""
import argparse
import json
import sys

import numpy as np


def from_graph(graph):
    """{quantizer name: [sf, ...]} from the ScalingFactor producer of every Aidge Quantizer."""
    out = {}
    for n in graph.get_nodes():
        if n.type() != "Quantizer" or not hasattr(n.get_operator(), "get_micro_graph"):
            continue
        for m in n.get_operator().get_micro_graph().get_nodes():
            if m.type() == "Producer" and m.name() == "ScalingFactor":
                v = np.array(m.get_operator().get_output(0), dtype=np.float32).reshape(-1)
                out[n.name()] = [float(f) for f in v]
    return out


def from_manifest(manifest, stage):
    out = {}
    for q in manifest["stages"][stage].get("quantizers", []):
        if q["type"] != "Quantizer":
            continue  # bit-shift quantizers store exact powers of two
        for m in q["micro_graph"]:
            if m["type"] == "Producer" and m["name"] == "ScalingFactor":
                if len(m["value"]) >= 4:
                    sys.exit(f"{q['node']}: the manifest keeps only 4 values; export from the Aidge graph instead")
                out[q["node"]] = [float(np.float32(v)) for v in m["value"]]
    return out


def steps_from_onnx(path):
    """{"inputs": [step per graph input], "weights": {node: step}} from Aidge's unfolded export."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def scale(n):
        v = init[n.input[1]].reshape(-1).astype(np.float64)
        if len(set(v.tolist())) != 1:
            sys.exit(f"{path}: quantizer '{n.name}' is per channel; qverify takes one step per tensor")
        return float(v[0])

    inputs = []
    for i in g.input:
        if i.name in init:
            continue
        q = [n for n in consumers.get(i.name, []) if n.op_type == "QuantizeLinear"]
        if not q:
            sys.exit(f"{path}: input '{i.name}' is not quantized: is this Aidge's unfolded export?")
        inputs.append(scale(q[0]))
    weights = {}
    for n in g.node:
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1:
            p = producer.get(n.input[1])
            if p is not None and p.op_type == "QuantizeLinear" and p.input[0] in init:
                weights[n.name] = scale(p)
    return {"inputs": inputs, "weights": weights}


def steps_from_graph(graph):
    """The same from a live Aidge graph quantized with fold_graph=False: 1/sf of the input and
    weight quantizers (the step of what they write)."""
    inputs, weights = [], {}
    for n in graph.get_nodes():
        if n.type() != "Quantizer":
            continue
        sf = from_graph_node(n)
        if sf is None:
            continue
        if n.name() == "InputRescaling":
            inputs.append(1.0 / sf[0])
        for child in n.get_children():
            if child.type() in ("Conv2D", "FC", "MatMul") and n.name().endswith("_w_ProducerScaling"):
                weights[child.name()] = 1.0 / sf[0]
    return {"inputs": inputs, "weights": weights}


def from_graph_node(n):
    if not hasattr(n.get_operator(), "get_micro_graph"):
        return None
    for m in n.get_operator().get_micro_graph().get_nodes():
        if m.type() == "Producer" and m.name() == "ScalingFactor":
            return [float(f) for f in np.array(m.get_operator().get_output(0), dtype=np.float32).reshape(-1)]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("stage", choices=["folded", "unfolded"])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--steps-from", help="Aidge's unfolded export of the same quantization: add its input and weight steps")
    a = ap.parse_args()
    table = from_manifest(json.load(open(a.manifest)), a.stage)
    if a.steps_from:
        table["steps"] = steps_from_onnx(a.steps_from)
        # The folded stage records the input scale its quantization assumed (what its integer
        # input means); that, not the unfolded export's calibrated InputRescaling, is its step.
        implied = json.load(open(a.manifest))["stages"][a.stage].get("input_scale_implied")
        if a.stage == "folded" and implied:
            table["steps"]["inputs"] = [1.0 / float(implied)] * len(table["steps"]["inputs"])
    with open(a.output, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
    steps = table.get("steps", {})
    print(f"{a.output}: {len(table) - (1 if steps else 0)} quantizers"
          + (f", steps of {len(steps['inputs'])} inputs and {len(steps['weights'])} weights" if steps else ""))


if __name__ == "__main__":
    main()
