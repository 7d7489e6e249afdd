#!/usr/bin/env python3
"""Byte-mutation fuzz of qverify inspect/run/convert on Reference models: every exit code must be
0, 1 or 2 (never a signal) and nothing may hang. Usage: fuzz_bytes.py SEED ITERATIONS (needs a release build)."""
import random, subprocess, sys, pathlib
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
qv = str(pathlib.Path(__file__).resolve().parent.parent / ".build/release/qverify")
seeds = ["Reference/lenet/float.onnx", "Reference/lenet/aidge_quantized_folded.onnx", "Reference/lenet/aidge_qdq.onnx", "Reference/residual/ort_static_qop.onnx"]
pathlib.Path("/tmp/qverify-fuzz").mkdir(exist_ok=True)
crashes = {}
for it in range(int(sys.argv[2]) if len(sys.argv) > 2 else 200):
    src = random.choice(seeds)
    b = bytearray(pathlib.Path(src).read_bytes())
    for _ in range(random.randint(1, 8)):
        i = random.randrange(len(b)); b[i] = random.randrange(256)
    p = pathlib.Path(f"/tmp/qverify-fuzz/m{it}.onnx"); p.write_bytes(bytes(b))
    for cmd in (["inspect", str(p)], ["run", str(p), "--inputs", "Reference/lenet/calib_inputs.npy", "--output-dir", "/tmp/qverify-fuzz/out"], ["convert", str(p), "--to", "qdq", "-o", "/tmp/qverify-fuzz/c.onnx"]):
        try:
            r = subprocess.run([qv] + cmd, capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            crashes.setdefault("hang " + cmd[0], []).append(str(p)); continue
        if r.returncode < 0 or r.returncode not in (0, 1, 2):
            err = r.stderr.decode(errors="replace")
            key = next((l.strip() for l in err.splitlines() if "Fatal error" in l or "Precondition" in l or "Illegal" in l or "Index out of range" in l or "error" in l.lower()), f"rc {r.returncode}")[:140]
            crashes.setdefault(cmd[0] + ": " + key, []).append(str(p))
for k, v in crashes.items(): print(len(v), k, v[0])
print("done", len(crashes), "distinct problems")
