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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("stage", choices=["folded", "unfolded"])
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    table = from_manifest(json.load(open(a.manifest)), a.stage)
    with open(a.output, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{a.output}: {len(table)} quantizers")


if __name__ == "__main__":
    main()
