#!/usr/bin/env bash
# The AVX-512 and VNNI kernels on any x86-64 host with AVX2: builds qverify once more with those
# kernels compiled against SIMDe's AVX-512 (Debian libsimde-dev; QVERIFY_EMULATE_AVX512=1, scratch
# path .build-avx512, see Sources/_QVChainGemm/qv_isa.h) and runs the geometry sweep
# (scripts/sweep_ops.py) through them: QVERIFY_KERNEL_PATH=avx512f against this host's onnxruntime;
# then the Reference goldens recorded on a VNNI host (scripts/check_vnni_goldens.py) through them.
# Hosts with AVX-512 run the real kernels in scripts/test.sh's sweep as well; this makes AVX2-only
# hosts (CI's AMD EPYC) check them too. This build is for tests only.
#
# Usage: scripts/emulated_avx512.sh [sweep_ops.py options, default --count 30]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
grep -qw avx2 /proc/cpuinfo || { echo "emulated_avx512: this host has no AVX2; skipped"; exit 0; }
QVERIFY_EMULATE_AVX512=1 swift build -c release --product qverify --scratch-path .build-avx512 2>&1 \
  | grep -E "error|warning: unre|Compiling|Build" | grep -vE "^\[|Compiling" || true
[ -x .build-avx512/release/qverify ] || { echo "emulated_avx512: build failed" >&2; exit 1; }
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--count 30)
.venv/bin/python scripts/sweep_ops.py .build-avx512/release/qverify --paths avx512f "${args[@]}"
.venv/bin/python scripts/check_vnni_goldens.py .build-avx512/release/qverify
