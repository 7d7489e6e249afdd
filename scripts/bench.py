#!/usr/bin/env python3
"""qverify's benchmark: samples/s of `qverify run` (whole process: start-up, loading, writing
outputs) against onnxruntime (ORT_DISABLE_ALL and ORT_ENABLE_ALL), Aidge's CPU backend and
onnx.reference, one thread each, same inputs, same run (qverify and onnxruntime interleaved round by
round, each one's best round counting). Prints a table of ratios (qverify
throughput / peer throughput; > 1 means qverify is faster), then peak memory of `qverify run`
for 1 vs 512 samples and qverify's per-op profile with conv GFLOPS against a same-size sgemm.

On an AVX-512 host the run is repeated with qverify restricted to its AVX2 kernels, against the
same peers (a lower bound for AVX2-only hosts).

Then, per model with an Aidge-form export: `qverify verify` wall time (conversions to QDQ and
QOP, the Aidge-form model and both conversions run and compared; no per-target sweep) against the
sum of onnxruntime's run times (ORT_DISABLE_ALL, one thread) for the two converted models, and
peak memory of `verify` and `compare` (onnxruntime's QDQ vs QOP) at 8, 64 and 512 samples.

Usage: bench.py QVERIFY [--samples N (default 1024)] [--models cnn,lenet,resnet,mobilenet,<architecture families>] [--rounds R (default 5)]
       [--skip-aidge] [--json OUT]
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
# One fixture per architecture family (issue 24): Concat, Resize, Split/shuffle, LeakyRelu heads,
# squeeze-excite, integer pooling, float islands, attention, HardSwish, ConvTranspose, the rest.
ARCHITECTURES = "fire,unet,shuffle,yolo,se_block,pooling,float_island,vit,mbv3,unet_convt,mixed_ops"
REF = ROOT / "Reference"


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ort_timer(path, x, level):
    """A callable running onnxruntime (one thread, `level`) on every sample of x, after one warm-up run."""
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x[0]})
    return lambda: [sess.run(None, {name: x[i]}) for i in range(len(x))]


def ort_rate(path, x, level):
    return len(x) / best_of(ort_timer(path, x, level))


def qverify_timer(qv, path, inputs_file, tmp, kernel_path=None):
    """A callable running `qverify run` (whole process, one thread), after one warm-up run;
    `kernel_path` (avx2+fma) restricts qverify's kernels to that instruction set."""
    cmd = [qv, "run", str(path), "--inputs", str(inputs_file), "--output-dir", str(tmp / "out"), "--threads", "1"]
    env = dict(os.environ, QVERIFY_KERNEL_PATH=kernel_path) if kernel_path else None
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return lambda: subprocess.run(cmd, check=True, capture_output=True, env=env)


def interleaved_best(timers, rounds):
    """Best seconds of each timer over `rounds` rounds, each round running every timer once in
    turn: a slow spell of a shared host (this VM's speed moves ±30% and more) then slows every
    peer of a round, not one peer's every repeat, so the ratios hold where the absolute rates do not."""
    best = {k: float("inf") for k in timers}
    for _ in range(rounds):
        for k, fn in timers.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def cpu_flags():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def qverify_startup(qv, path, one_sample_file, tmp):
    """Seconds of `qverify run` on one sample: process start, model load, kernel preparation."""
    cmd = [qv, "run", str(path), "--inputs", str(one_sample_file), "--output-dir", str(tmp / "out1"), "--threads", "1"]
    subprocess.run(cmd, check=True, capture_output=True)
    return best_of(lambda: subprocess.run(cmd, check=True, capture_output=True))


def reference_rate(path, x, budget=20.0):
    from onnx.reference import ReferenceEvaluator
    try:
        ev = ReferenceEvaluator(str(path))
        name = ev.input_names[0]
        ev.run(None, {name: x[0]})
    except Exception as e:
        return None, f"cannot run: {type(e).__name__}"
    k, t0 = 0, time.perf_counter()
    while k < len(x) and time.perf_counter() - t0 < budget:
        ev.run(None, {name: x[k]})
        k += 1
    return k / (time.perf_counter() - t0), None


def aidge_rate(fixture, x, folded):
    """Aidge's CPU backend on its own quantized graph (rebuilt with the fixture's calls)."""
    import aidge_core
    import aidge_backend_cpu  # noqa: F401
    import aidge_onnx
    import aidge_quantization as aq
    man = json.loads((REF / fixture / "manifest.json").read_text())
    prec = man.get("precision", ["int8", "int8", "int32"])  # the shared fixtures use Aidge's 8-bit default
    g = aidge_onnx.load_onnx(str(REF / fixture / "float.onnx"))
    g.set_backend("cpu")
    g.set_datatype(aidge_core.dtype.float32)
    if any(n.op_type == "BatchNormalization" for n in onnx.load(str(REF / fixture / "float.onnx")).graph.node):
        aidge_core.fuse_batchnorm(g)  # as make_reference.py does: Aidge's PTQ leaves BN float
    aq.auto_assign_node_precision(g, *(getattr(aidge_core.dtype, p) for p in prec))
    calib = [aidge_core.Tensor(c) for c in np.load(REF / fixture / "calib_inputs.npy")]
    opts = dict(man.get("options", {}))
    if not folded:
        opts.update(rescale_inputs=True, fold_graph=False)
    aq.quantize_network(g, calib, **opts)
    feed = x
    if folded:
        g.forward_dtype([getattr(aidge_core.dtype, prec[0])])
        feed = np.floor(x * 127 + 0.5).astype(np.int8)
    sched = aidge_core.SequentialScheduler(g)
    tensors = [aidge_core.Tensor(np.ascontiguousarray(feed[i])) for i in range(len(feed))]
    for t in tensors:
        t.set_backend("cpu")
    sched.forward(data=[tensors[0]])
    return len(x) / best_of(lambda: [sched.forward(data=[t]) for t in tensors], repeats=2)


def peak_kb(cmd):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    return int(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qverify")
    ap.add_argument("--samples", type=int, default=1024,
                    help="per CNN model (a calibration set's size: start-up is then a few percent); 32x for small models")
    ap.add_argument("--models", default="cnn,lenet,resnet,mobilenet," + ARCHITECTURES,
                    help="Reference fixtures (default: the benchmark models and one row per architecture family)")
    ap.add_argument("--skip-aidge", action="store_true", help="leave out Aidge's CPU backend (its PTQ takes minutes on MobileNet)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds of qverify and onnxruntime per model (each one's best round counts)")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    flags = cpu_flags()
    isa = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    # On an AVX-512 host, qverify also runs restricted to its AVX2 kernels: against onnxruntime's
    # AVX-512 (VNNI) kernels on the same core, which understates what an AVX2-only host would show
    # (onnxruntime loses its AVX-512 kernels there too).
    avx2_too = "avx512f" in flags and "avx2" in flags
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        for fixture in a.models.split(","):
            shape = onnx.load(str(REF / fixture / "float.onnx")).graph.input[0].type.tensor_type.shape
            dims = [d.dim_value for d in shape.dim]
            # Small models get 32x the samples so the whole-process time measures throughput, not start-up.
            n = a.samples if int(np.prod(dims)) > 4096 else a.samples * 32
            x = np.random.default_rng(7).random((n, *dims)).astype(np.float32)
            xf = tmp / f"{fixture}_x.npy"
            np.save(xf, x)
            xi = tmp / f"{fixture}_xi.npy"
            np.save(xi, np.floor(x * 127 + 0.5).astype(np.int8))
            np.save(tmp / f"{fixture}_x1.npy", x[:1])
            np.save(tmp / f"{fixture}_xi1.npy", np.floor(x[:1] * 127 + 0.5).astype(np.int8))
            models = [("float", "float.onnx", xf), ("QDQ (onnxruntime quantize_static)", "ort_static_qdq.onnx", xf),
                      ("QOP (onnxruntime quantize_static)", "ort_static_qop.onnx", xf),
                      ("Aidge-form folded", "aidge_quantized_folded.onnx", xi), ("Aidge-form unfolded", "aidge_quantized.onnx", xf)]
            for label, file, inputs in models:
                path = REF / fixture / file
                if not path.exists():
                    continue
                r = {"model": f"{fixture} {label}"}
                timers = {"qverify": qverify_timer(a.qverify, path, inputs, tmp)}
                if avx2_too:
                    timers["qverify_avx2"] = qverify_timer(a.qverify, path, inputs, tmp, "avx2+fma")
                if "Aidge-form" not in label:
                    timers["ort_off"] = ort_timer(path, x, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
                    timers["ort_on"] = ort_timer(path, x, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
                for k, sec in interleaved_best(timers, a.rounds).items():
                    r[k] = len(x) / sec
                r["startup_s"] = qverify_startup(a.qverify, path, tmp / inputs.name.replace(".npy", "1.npy"), tmp)
                r["samples"] = len(x)
                if "Aidge-form" in label and a.skip_aidge:
                    r["aidge_error"] = "skipped (--skip-aidge)"
                elif "Aidge-form" in label:
                    try:
                        r["aidge"] = aidge_rate(fixture, x, folded="folded" in label)
                    except Exception as e:
                        r["aidge_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
                else:
                    r["onnx_reference"], err = reference_rate(path, x)
                    if err:
                        r["onnx_reference_error"] = err
                rows.append(r)
                print(f"measured {r['model']}", flush=True)
        # Peak memory: 1 vs 512 samples of the CNN's float model.
        x1 = np.random.default_rng(1).random((1, 1, 3, 64, 64)).astype(np.float32)
        x512 = np.random.default_rng(1).random((512, 1, 3, 64, 64)).astype(np.float32)
        np.save(tmp / "x1.npy", x1)
        np.save(tmp / "x512.npy", x512)
        mem = {n: peak_kb([a.qverify, "run", str(REF / "cnn/float.onnx"), "--inputs", str(tmp / f"x{n}.npy"), "--output-dir", str(tmp / "m"), "--threads", "1"]) for n in (1, 512)}
        prof = subprocess.run([a.qverify, "profile", str(REF / "cnn/float.onnx"), "--inputs", str(tmp / "x1.npy"), "--repeat", "20"], capture_output=True, text=True)
        # verify vs onnxruntime, and memory at 8/64/512 samples, per Aidge-form model.
        verify_rows, memory_rows = [], []
        for fixture in a.models.split(","):
            src = REF / fixture / "aidge_quantized.onnx"
            if not src.exists():
                continue
            x = np.load(REF / fixture / "calib_inputs.npy")
            for n in (8, 64, 512):
                xn = np.concatenate([x] * (n // len(x) + 1))[:n]
                np.save(tmp / f"{fixture}_{n}.npy", xn)
            xs = tmp / f"{fixture}_64.npy"
            t0 = time.perf_counter()
            subprocess.run([a.qverify, "verify", str(src), "--inputs", str(xs), "--threads", "1", "--targets", "none"], capture_output=True)
            verify_s = time.perf_counter() - t0
            ort_s = 0.0
            for fmt_ in ("qdq", "qop"):
                out = tmp / f"{fixture}_{fmt_}.onnx"
                subprocess.run([a.qverify, "convert", str(src), "--to", fmt_, "-o", str(out)], check=True, capture_output=True)
                ort_s += 64 / ort_rate(out, np.load(xs), ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
            verify_rows.append((fixture, verify_s, ort_s))
            for n in (8, 64, 512):
                xn = tmp / f"{fixture}_{n}.npy"
                v = peak_kb([a.qverify, "verify", str(src), "--inputs", str(xn), "--threads", "1", "--targets", "none"])
                qdq, qop = REF / fixture / "ort_static_qdq.onnx", REF / fixture / "ort_static_qop.onnx"
                c = peak_kb([a.qverify, "compare", str(qdq), str(qop), "--inputs", str(xn), "--threads", "1"]) if qdq.exists() else None
                memory_rows.append((fixture, n, v, c))

    def fmt(v):
        return "–" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")

    def ratio(q, p):
        return "–" if (q is None or p is None) else f"{q / p:.2f}×"

    print()
    print(f"host: {isa} (onnxruntime's integer kernels: {'VNNI, exact' if 'avx512_vnni' in flags else 'u8s8 pairs saturate'})")
    print(f"samples/s, one thread, {a.samples} samples per CNN model, {a.samples * 32} per small model (qverify: whole process, "
          f"best of {a.rounds} rounds, each round running qverify and onnxruntime off and on in turn; start-up included; its start-up "
          "alone is the 1-sample run; the peers' session set-up is not timed)")
    print("| model | qverify | qverify start-up s | onnxruntime off | onnxruntime on | Aidge CPU | onnx.reference | vs ort off | vs ort on | vs Aidge | vs onnx.reference |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {fmt(r['qverify'])} | {r['startup_s']:.3f} | {fmt(r.get('ort_off'))} | {fmt(r.get('ort_on'))} | {fmt(r.get('aidge'))} | {fmt(r.get('onnx_reference'))} | "
              f"{ratio(r['qverify'], r.get('ort_off'))} | {ratio(r['qverify'], r.get('ort_on'))} | {ratio(r['qverify'], r.get('aidge'))} | {ratio(r['qverify'], r.get('onnx_reference'))} |")
    if avx2_too:
        print()
        print(f"qverify restricted to its AVX2 kernels (QVERIFY_KERNEL_PATH=avx2+fma) against the same peers, which use this "
              f"host's {isa} kernels: a lower bound for an AVX2-only host, where onnxruntime has only its AVX2 kernels too")
        print("| model | qverify AVX2 path | vs ort off | vs ort on | vs Aidge |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {fmt(r['qverify_avx2'])} | {ratio(r['qverify_avx2'], r.get('ort_off'))} | "
                  f"{ratio(r['qverify_avx2'], r.get('ort_on'))} | {ratio(r['qverify_avx2'], r.get('aidge'))} |")
    for r in rows:
        for k in ("aidge_error", "onnx_reference_error"):
            if k in r:
                print(f"  {r['model']}: {k.replace('_error', '')}: {r[k]}")
    print()
    print(f"peak memory of qverify run (cnn float): 1 sample {mem[1]} KB, 512 samples {mem[512]} KB, ratio {mem[512] / mem[1]:.2f}")
    print()
    print("verify (64 samples, one thread, no per-target sweep) against onnxruntime running the two conversions (ORT_DISABLE_ALL, one thread)")
    print("| model | qverify verify s | onnxruntime qdq + qop s | ratio |")
    print("|---|---|---|---|")
    for f, v, o in verify_rows:
        print(f"| {f} | {v:.2f} | {o:.2f} | {v / o:.1f}× the time |")
    print()
    print("peak memory (MB), one thread: verify of the Aidge-form export; compare of onnxruntime's QDQ vs QOP")
    print("| model | samples | verify | compare |")
    print("|---|---|---|---|")
    for f, n, v, c in memory_rows:
        print(f"| {f} | {n} | {fmt(v / 1024 if v else None)} | {fmt(c / 1024 if c else None)} |")
    print()
    print(prof.stdout if prof.returncode == 0 else f"profile failed: {prof.stderr.strip()}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"rows": rows, "memory_kb": mem, "verify": verify_rows, "memory_rows": memory_rows}, indent=1))


if __name__ == "__main__":
    main()
