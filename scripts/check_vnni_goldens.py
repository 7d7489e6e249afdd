#!/usr/bin/env python3
"""The Reference *_ort_exact.npz goldens (recorded by onnxruntime on an AVX-512 VNNI host) through
qverify run --target ort-vnni with QVERIFY_KERNEL_PATH=avx512f: every recorded tensor equal. With the
emulated build (scripts/emulated_avx512.sh builds .build-avx512/release/qverify) it checks the
AVX-512/VNNI kernels against the VNNI host's own results from an AVX2 machine.

Run: .venv/bin/python scripts/check_vnni_goldens.py QVERIFY"""
import glob, os, subprocess, numpy as np, onnx, shutil, sys
qv = sys.argv[1]; ok = bad = tensors = 0
for g in sorted(glob.glob('Reference/*/*_ort_exact.npz')):
    model = g.replace('_ort_exact.npz', '.onnx'); fx = os.path.dirname(g)
    shutil.rmtree('/tmp/vg', ignore_errors=True)
    r = subprocess.run([qv, 'run', model, '--inputs', fx + '/calib_inputs.npy', '--output-dir', '/tmp/vg', '--target', 'ort-vnni',
                        '--threads', '1', '--intermediates'], capture_output=True, text=True, env=dict(os.environ, QVERIFY_KERNEL_PATH='avx512f'))
    if r.returncode: print('FAIL', model, r.stderr[-200:]); bad += 1; continue
    ours = dict(np.load('/tmp/vg/intermediates.npz'))
    for p in glob.glob('/tmp/vg/*.npy'): ours.setdefault(os.path.basename(p)[:-4], np.load(p))
    gold = np.load(g); diff = []
    for k in gold.files:
        if k not in ours: continue
        a, b = ours[k].reshape(gold[k].shape), gold[k]
        d = (a.view(np.uint32) != b.view(np.uint32)) if b.dtype == np.float32 and a.dtype == np.float32 else (a.astype(np.float64) != b.astype(np.float64))
        tensors += 1
        if d.any(): diff.append((k, int(d.sum())))
    if diff: print('FAIL', model, diff[:3]); bad += 1
    else: ok += 1
print(f'vnni goldens: {ok} passed, {bad} failed, {tensors} tensors')
sys.exit(1 if bad or not ok else 0)
